// Command hotline is the 12348 public legal service hotline softswitch.
// `hotline --help` lists its commands and their flags (usage.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "time/tzdata" // day boundaries in Asia/Shanghai even in a scratch container

	"github.com/hotline12348/hotline/internal/app"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/cluster"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/demo"
	"github.com/hotline12348/hotline/internal/sip"
	"github.com/hotline12348/hotline/internal/store"
	"github.com/hotline12348/hotline/internal/ticket"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			cmd, args = "help", args[1:]
		default:
			if !strings.HasPrefix(args[0], "-") {
				cmd, args = args[0], args[1:]
			}
		}
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "user":
		if len(args) == 0 || args[0] != "add" {
			fmt.Fprintln(stderr, "hotline user: want `hotline user add`; see hotline --help")
			return 2
		}
		return userAdd(args[1:], stdin, stdout, stderr)
	case "reconcile":
		return reconcile(args, stdout, stderr)
	case "healthcheck":
		return healthcheck(args, stdout, stderr)
	case "demo":
		return runDemo(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "hotline", version)
		return 0
	case "help":
		printUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hotline: unknown command %q\n\n", cmd)
		printUsage(stderr)
		return 2
	}
}

// configPath resolves --config: default ./configs/hotline.yaml if it exists,
// else "" (the embedded default).
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if _, err := os.Stat("configs/hotline.yaml"); err == nil {
		return "configs/hotline.yaml"
	}
	return ""
}

func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(configPath(path), os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	return cfg, true
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// configFlag is --config of every command but check-config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration `FILE` (default ./configs/hotline.yaml, else the built-in one)")
}

func serveFlags(fs *flag.FlagSet) (cfgPath, ready *string) {
	return configFlag(fs), fs.String("ready-file", "", "write the bound addresses as JSON to this `FILE` once serving")
}

func serve(args []string, stderr io.Writer) int {
	fs := newFlagSet("serve", stderr)
	cfgPath, ready := serveFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	// The same validation as check-config, said the same way.
	if _, err := app.Check(cfg, time.Now(), true); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := newLogger(cfg, stderr)
	// Parts of sipgo log through slog's default logger: give it ours, with
	// caller numbers masked. This is the only place that sets a process-wide default.
	slog.SetDefault(sip.RedactingLogger(log.With("component", "sipgo")))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := app.Run(ctx, app.Options{Config: cfg, Logger: log, ReadyFile: *ready}); err != nil {
		log.Error("hotline failed", "error", err)
		return 1
	}
	return 0
}

// runDemo is `hotline demo`: serve as `hotline serve` does, plus simulated
// callers, seats and a shift manager (internal/demo), so that a newcomer
// sees calls on the console without a softphone.
func demoFlags(fs *flag.FlagSet) (cfgPath, ready *string, perMinute *float64, seats *int, busy *bool) {
	cfgPath = fs.String("config", "", "configuration `FILE` (default ./configs/hotline.yaml, else the built-in one; data then goes to "+demo.DefaultDataDir+")")
	ready = fs.String("ready-file", "", "write the bound addresses as JSON to this `FILE` once serving")
	perMinute = fs.Float64("calls-per-minute", -1, "simulated calls per minute on average (Poisson arrivals); 0 for none; default: a good day for the seats (Erlang C: the service level near acd.target_service_level)")
	busy = fs.Bool("busy", false, "simulate an overloaded hour (more calls than the seats can take) instead of a good day")
	seats = fs.Int("seats", 6, "how many of the configured seats get a simulated phone")
	return
}

func runDemo(args []string, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	cfgPath, ready, perMinute, seats, busy := demoFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	rateSet := false
	fs.Visit(func(f *flag.Flag) { rateSet = rateSet || f.Name == "calls-per-minute" })
	if rateSet && (*perMinute < 0 || *perMinute > 600) {
		fmt.Fprintln(stderr, "hotline demo: --calls-per-minute: want 0 to 600")
		return 2
	}
	if rateSet && *busy {
		fmt.Fprintln(stderr, "hotline demo: --busy and --calls-per-minute: choose one")
		return 2
	}
	if !rateSet {
		*perMinute = -1 // the good day's (or the busy hour's) rate
	}
	if *seats < 0 {
		fmt.Fprintln(stderr, "hotline demo: --seats: want 0 or more")
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	dataNote := "data_dir from --config: simulated calls, tickets and recordings are stored there"
	resetHint := fmt.Sprintf("hotline user add --config %s --name %s --role manager --seat %s --replace (new password on stdin)", *cfgPath, demo.DemoUser, demo.DemoSeat)
	if *cfgPath == "" {
		// A demo never mixes simulated tickets with real ones in ./data.
		cfg.DataDir = demo.DefaultDataDir
		dataNote = "simulated calls, tickets and recordings go to " + demo.DefaultDataDir + ", never to the real data_dir; delete it to start afresh"
		resetHint = "stop the demo, delete " + demo.DefaultDataDir + " and start it again (a new password is printed)"
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(sip.RedactingLogger(log.With("component", "sipgo")))
	log.Info("hotline demo: the hotline plus simulated callers and seats", "data_dir", cfg.DataDir, "note", dataNote)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	err := demo.Run(ctx, demo.Options{Config: cfg, Logger: log, ReadyFile: *ready, CallsPerMinute: *perMinute, Busy: *busy, Seats: *seats, ResetHint: resetHint})
	if err != nil {
		log.Error("hotline demo failed", "error", err)
		return 1
	}
	return 0
}

// configList is a repeatable --config.
type configList []string

func (c *configList) String() string     { return strings.Join(*c, ",") }
func (c *configList) Set(v string) error { *c = append(*c, v); return nil }

func checkConfigFlags(fs *flag.FlagSet) (*configList, *bool) {
	var paths configList
	fs.Var(&paths, "config", "configuration `FILE`; repeat it to check the nodes of a cluster against each other")
	return &paths, fs.Bool("print", false, "print the effective configuration, secrets masked")
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config", stderr)
	pathsFlag, print := checkConfigFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	paths := *pathsFlag
	if len(paths) == 0 {
		paths = configList{""}
	}
	var cfgs []*config.Config
	bad := false
	for _, p := range paths {
		cfg, ok := loadConfig(p, stderr)
		if !ok {
			bad = true
			continue
		}
		warnings, err := app.Check(cfg, time.Now(), len(paths) == 1)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		if *print {
			fmt.Fprint(stdout, cfg.String())
		}
		name := configPath(p)
		if name == "" {
			name = "built-in configs/hotline.yaml"
		}
		fmt.Fprintf(stdout, "%s: ok\n", name)
		for _, k := range app.DefaultedSecrets(cfg) {
			fmt.Fprintf(stdout, "warning: %s: its environment variable is not set; the default in the file is used\n", k)
		}
		for _, w := range warnings {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		cfgs = append(cfgs, cfg)
	}
	if bad {
		return 1
	}
	if problems := app.CheckCluster(cfgs, paths); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	for _, note := range app.ProbeCluster(context.Background(), cfgs) {
		fmt.Fprintln(stdout, note)
	}
	return 0
}

type userAddOpts struct {
	cfgPath, name, role, seat *string
	replace                   *bool
}

func userAddFlags(fs *flag.FlagSet) userAddOpts {
	return userAddOpts{
		cfgPath: configFlag(fs),
		name:    fs.String("name", "", "user `NAME` (required)"),
		role:    fs.String("role", "", "`ROLE`: operator, manager or admin (required)"),
		seat:    fs.String("seat", "", "the seat `ID` the user answers calls at (required for an operator)"),
		replace: fs.Bool("replace", false, "reset the password (and role, seat) of an existing user"),
	}
}

func userAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("user add", stderr)
	o := userAddFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	cfgPath, name, role, seat, replace := o.cfgPath, o.name, o.role, o.seat, o.replace
	if *name == "" || *role == "" {
		fmt.Fprintln(stderr, "hotline user add: --name and --role are required")
		fs.Usage()
		return 2
	}
	if *role == auth.RoleOperator && *seat == "" {
		fmt.Fprintln(stderr, "hotline user add: --seat: an operator answers calls at a seat: give its id (seats[].id)")
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	if *seat != "" {
		found, manager := false, false
		for _, s := range cfg.Seats {
			if s.ID == *seat {
				found, manager = true, s.IsManager()
			}
		}
		if !found {
			fmt.Fprintf(stderr, "hotline user add: --seat %s: no such seat in the configuration\n", *seat)
			return 1
		}
		if manager && *role == auth.RoleOperator {
			fmt.Fprintf(stderr, "hotline user add: --seat %s is a manager's phone (role: manager), never offered calls: give an operator a seat of role operator\n", *seat)
			return 1
		}
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hotline user add: reading the password:", err)
		return 1
	}
	ctx := context.Background()
	db, err := store.Open(ctx, app.DBPath(cfg))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer db.Close()
	users := auth.NewStore(db, nil)
	if err := users.AddUser(ctx, auth.User{Name: *name, Role: *role, SeatID: *seat}, password, *replace); err != nil {
		fmt.Fprintln(stderr, "hotline user add:", err)
		return 1
	}
	fmt.Fprintf(stdout, "user %s (%s) saved in %s\n", *name, *role, app.DBPath(cfg))
	if cfg.ACD.Backend == "redis" {
		// One call centre: the user logs in on every node at once (the
		// nodes would otherwise take it from here within 30 s).
		if err := shareUsers(ctx, cfg, users); err != nil {
			fmt.Fprintf(stdout, "warning: not shared with the other nodes now (%v); this node shares it once it runs and reaches Redis\n", err)
		} else {
			fmt.Fprintln(stdout, "shared with every node of the cluster")
		}
	}
	return 0
}

// shareUsers pushes this node's users to the cluster's shared store.
func shareUsers(ctx context.Context, cfg *config.Config, users *auth.Store) error {
	rdb, err := app.RedisClient(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	users.SetShared(cluster.NewUsers(rdb, ""), slog.New(slog.DiscardHandler))
	return users.SyncUsers(ctx)
}

func reconcileFlags(fs *flag.FlagSet) (cfgPath, date *string) {
	return configFlag(fs), fs.String("date", "", "the day, `YYYY-MM-DD` (default today, in timezone)")
}

func reconcile(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reconcile", stderr)
	cfgPath, date := reconcileFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	loc := app.Location(cfg)
	day := time.Now().In(loc)
	if *date != "" {
		d, err := time.ParseInLocation("2006-01-02", *date, loc)
		if err != nil {
			fmt.Fprintln(stderr, "hotline reconcile: --date: want YYYY-MM-DD")
			return 2
		}
		day = d
	}
	ctx := context.Background()
	db, err := store.Open(ctx, app.DBPath(cfg))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer db.Close()
	rep, err := ticket.NewStore(db, cfg.NodeID, loc, nil).Reconcile(ctx, day)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	if rep.TicketsDelivered < rep.Tickets {
		return 3 // something of that day has not reached the work-order system (yet)
	}
	return 0
}

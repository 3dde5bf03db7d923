// Package demo is `hotline demo`: the hotline served exactly as by
// `hotline serve`, plus, in the same process, simulated people so a
// newcomer sees calls flow through the console within a minute, with no
// softphone: six operator seats, citizens calling at random, and a shift
// manager who sends an operator on a break now and then.
//
// The simulated phones are honest SIP and RTP peers of the switch, on
// 127.0.0.1 only: the seats REGISTER with digest authentication from their
// own UDP ports and answer the INVITEs the ACD sends them; the citizens
// come in through a simulated carrier trunk, press menu keys with SIP INFO
// and answer the survey; audio flows as RTP through media.Leg. The shift
// manager uses the console's HTTP API. Nothing here reaches into the ACD,
// the tickets or the database of the running switch, except creating the
// console users before it starts (what `hotline user add` does).
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline12348/hotline/internal/app"
	"github.com/hotline12348/hotline/internal/auth"
	"github.com/hotline12348/hotline/internal/config"
	"github.com/hotline12348/hotline/internal/media"
	"github.com/hotline12348/hotline/internal/store"
)

// demoGrace is shutdown.grace in the demo: on a stop the switch ends the
// simulated calls still waiting after this long.
const demoGrace = 2 * time.Second

// DefaultDataDir is where the demo keeps its database and recordings when
// no --config is given: never the real ./data.
const DefaultDataDir = "./data-demo"

// Console users the demo creates.
const (
	// DemoUser is for the newcomer: a manager (wallboard, tickets,
	// recordings) who is also operator of seat 8001's desk.
	DemoUser = "demo"
	DemoSeat = "8001"
	// botUser is the simulated shift manager's own login (its password is
	// new at every start and never shown: only this process uses it).
	botUser = "demo-bot"
)

// Options are what `hotline demo` passes in.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// ReadyFile as for app.Options (the demo starts its phones once the
	// switch is ready); "" uses a temporary file.
	ReadyFile string
	// CallsPerMinute is the mean rate of simulated calls (a Poisson
	// process); 0: no callers; negative: the good day's rate (GoodDay), or
	// with Busy the busy hour's (Busy), for the seats simulated.
	CallsPerMinute float64
	// Busy: an overloaded hour (with a negative CallsPerMinute).
	Busy bool
	// Seats is how many of the configured seats get a simulated phone
	// (the first ones); more than configured means all of them.
	Seats int
	// ResetHint tells the newcomer how to get a new password for the demo
	// user when it already exists (depends on how the config was chosen).
	ResetHint string
}

// Run serves the hotline with the simulation until ctx ends, then stops
// the simulation (its calls end, its phones unregister, its goroutines
// are waited for) and the hotline, as after SIGTERM.
func Run(ctx context.Context, opt Options) error {
	cfg := opt.Config
	log := opt.Logger.With("component", "demo")
	sipAddr, err := loopbackSIP(cfg)
	if err != nil {
		return err
	}
	if !trusts(cfg, netip.MustParseAddr("127.0.0.1")) {
		return errors.New("demo: sip.trusted_sources must include 127.0.0.1: the simulated calls come from there")
	}
	if len(cfg.SIP.HotlineNumbers) == 0 {
		return errors.New("demo: sip.hotline_numbers is empty")
	}
	seats := min(max(opt.Seats, 0), len(cfg.Seats))
	if opt.Seats > len(cfg.Seats) {
		log.Warn("fewer seats configured than asked for: simulating all of them", "asked", opt.Seats, "configured", len(cfg.Seats))
	}

	perMinute := opt.CallsPerMinute
	if perMinute < 0 {
		load, what := GoodDay(seats, cfg.ACD.WrapUp.D(), cfg.ACD.ServiceLevelSeconds, cfg.ACD.TargetServiceLevel), "a good day"
		if opt.Busy {
			load, what = Busy(seats, cfg.ACD.WrapUp.D(), cfg.ACD.ServiceLevelSeconds), "a busy hour (more calls than the seats can take)"
		}
		perMinute = math.Round(load.CallsPerMinute*100) / 100
		log.Info("demo traffic: "+what, "calls_per_minute", perMinute, "seats", seats, "handle_seconds", load.HandleSeconds,
			"erlangs", load.Erlangs, "occupancy", math.Round(load.Occupancy*100)/100, "erlang_c_service_level", math.Round(load.ServiceLevel*1000)/1000)
	}
	// The demo's stop ends its calls at once (sim doc): the switch's grace
	// for calls in progress is short here.
	if cfg.Shutdown.Grace.D() > demoGrace {
		cfg.Shutdown.Grace = config.Duration(demoGrace)
	}

	userPassword, created, botPassword, err := ensureUsers(ctx, cfg)
	if err != nil {
		return err
	}

	readyFile := opt.ReadyFile
	if readyFile == "" {
		dir, err := os.MkdirTemp("", "hotline-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		readyFile = filepath.Join(dir, "ready.json")
	}
	_ = os.Remove(readyFile) // a stale one would say ready before we are

	// The hotline runs on its own context: on a signal the simulation ends
	// its calls first, then the hotline drains and stops.
	appCtx, stopApp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApp()
	appDone := make(chan error, 1)
	go func() {
		appDone <- app.Run(appCtx, app.Options{Config: cfg, Logger: opt.Logger, ReadyFile: readyFile})
	}()
	ready, err := waitReady(ctx, readyFile, appDone)
	if err != nil {
		stopApp()
		select {
		case aerr := <-appDone:
			if aerr != nil {
				return aerr
			}
		case <-time.After(time.Minute):
		}
		if ctx.Err() != nil {
			return nil // stopped before it was up: a normal stop
		}
		return err
	}
	if ready.SIPUDP != "" {
		if ap, err := netip.ParseAddrPort(ready.SIPUDP); err == nil {
			sipAddr = netip.AddrPortFrom(sipAddr.Addr(), ap.Port())
		}
	}
	httpBase := "http://" + loopbackHostPort(ready.HTTP)

	if created {
		what := "manager"
		if hasSeat(cfg, DemoSeat) {
			what += ", also operator of seat " + DemoSeat
		}
		log.Warn("DEMO: open the console and log in ("+what+")",
			"url", httpBase+"/", "user", DemoUser, "password", userPassword)
	} else {
		log.Warn("DEMO: open the console and log in as "+DemoUser+" with the password printed when the user was created",
			"url", httpBase+"/", "user", DemoUser, "forgot_it", opt.ResetHint)
	}

	s, err := startSim(ctx, simConfig{
		cfg: cfg, log: log, sipAddr: sipAddr, httpBase: httpBase, seats: seats,
		callsPerMinute: perMinute, botPassword: botPassword,
	})
	if err != nil {
		stopApp()
		<-appDone
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("stopping the demo: no new caller, the simulated operators end their calls and go not ready; then the hotline stops and ends the calls still waiting (interrupted, not abandoned)")
		s.quiesce()
		stopApp()
		err := <-appDone
		s.stop(true)
		return err
	case err := <-appDone:
		s.stop(false)
		if err == nil {
			err = errors.New("demo: the hotline stopped by itself")
		}
		return err
	}
}

// loopbackSIP is the switch's UDP listener as the simulated phones reach
// it: on 127.0.0.1 (the port is filled in from the ready file).
func loopbackSIP(cfg *config.Config) (netip.AddrPort, error) {
	for _, l := range cfg.SIP.Listen {
		u, err := url.Parse(l)
		if err != nil || u.Scheme != "udp" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil || !hostIsLocal(host) {
			continue
		}
		a := netip.MustParseAddr("127.0.0.1")
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			a = ip
		}
		return netip.AddrPortFrom(a, 0), nil
	}
	return netip.AddrPort{}, errors.New(`demo: sip.listen needs a UDP listener on 127.0.0.1 or 0.0.0.0 (e.g. "udp://127.0.0.1:5060"): the simulated phones talk to the switch over loopback only`)
}

func trusts(cfg *config.Config, ip netip.Addr) bool {
	for _, s := range cfg.SIP.TrustedSources {
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// loopbackHostPort turns 0.0.0.0:8080 into 127.0.0.1:8080.
func loopbackHostPort(hp string) string {
	ap, err := netip.ParseAddrPort(hp)
	if err != nil {
		return hp
	}
	if ap.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
	}
	return hp
}

// waitReady waits for the ready file; when the hotline stops first, its
// result is put back on appDone for the caller.
func waitReady(ctx context.Context, path string, appDone chan error) (app.Ready, error) {
	for {
		var r app.Ready
		if b, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(b, &r); err == nil && r.HTTP != "" {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case err := <-appDone:
			appDone <- err
			return r, errors.New("demo: the hotline stopped before serving")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureUsers creates the newcomer's console user if absent (returning its
// new password) and (re)creates the simulated shift manager's.
func ensureUsers(ctx context.Context, cfg *config.Config) (password string, created bool, botPassword string, err error) {
	db, err := store.Open(ctx, app.DBPath(cfg))
	if err != nil {
		return "", false, "", err
	}
	defer db.Close()
	users := auth.NewStore(db, nil)
	seat := DemoSeat
	if !hasSeat(cfg, seat) {
		seat = ""
	}
	password = readablePassword()
	err = users.AddUser(ctx, auth.User{Name: DemoUser, Role: auth.RoleManager, SeatID: seat}, password, false)
	switch {
	case errors.Is(err, auth.ErrUserExists):
		password = ""
	case err != nil:
		return "", false, "", fmt.Errorf("demo: console user %s: %w", DemoUser, err)
	default:
		created = true
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	botPassword = base64.RawURLEncoding.EncodeToString(raw)
	if err := users.AddUser(ctx, auth.User{Name: botUser, Role: auth.RoleManager}, botPassword, true); err != nil {
		return "", false, "", fmt.Errorf("demo: console user %s: %w", botUser, err)
	}
	return password, created, botPassword, nil
}

func hasSeat(cfg *config.Config, id string) bool {
	for _, s := range cfg.Seats {
		if s.ID == id {
			return true
		}
	}
	return false
}

// readablePassword is 12 characters in three groups, without look-alikes
// (about 60 bits): easy to type from the log.
func readablePassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	var b strings.Builder
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}

// env is what every simulated phone shares.
type env struct {
	ctx     context.Context // ends when the demo stops
	log     *slog.Logger
	engine  *media.Engine
	world   *world
	voices  voices
	sipAddr netip.AddrPort // the switch's UDP listener
	domain  string         // sip.domain: the seats' realm and AOR host
	number  string         // the hotline number dialled
	calls   *tracker       // the seat phones' calls
	callers *tracker       // the simulated citizens' calls
	rnd     *lockedRand
	// stopping: the demo is stopping; callers no longer hang up on their
	// own before a seat answered (the switch ends their calls).
	stopping atomic.Bool
	// switchGone: the switch has stopped; the seat phones do not unregister.
	switchGone atomic.Bool
}

// tracker counts the goroutines of calls so that stopping waits for them.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) done() { t.wg.Done() }

// closeAndWait refuses new goroutines and waits (bounded) for the others.
func (t *tracker) closeAndWait(d time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

type simConfig struct {
	cfg            *config.Config
	log            *slog.Logger
	sipAddr        netip.AddrPort
	httpBase       string
	seats          int
	callsPerMinute float64
	botPassword    string
}

// sim is the running simulation.
//
// Stopping (quiesce, then the switch, then finish) ends the callers
// without counting them as abandoned: no new caller, the shift manager
// sends every simulated operator on a break (logged in, not ready: a
// caller waiting stays in the queue rather than going to voicemail), the
// operators end the conversations they are in, the callers stop hanging
// up on their own; then the switch stops and ends the calls still waiting
// itself (outcome "interrupted", SPEC: the switch cut the call); then the
// phones close.
type sim struct {
	env                                                   *env
	cancelArrivals, cancelCalls, cancelCallers, cancelReg context.CancelFunc
	seats                                                 []*seatPhone
	trunk                                                 *trunk
	sup                                                   *supervisor
	loops                                                 sync.WaitGroup // registration loops
	arrivalLoops                                          sync.WaitGroup // arrivals, shift manager
	log                                                   *slog.Logger
}

// maxSimultaneousCallers bounds the simulated callers in progress.
const maxSimultaneousCallers = 60

func startSim(parent context.Context, c simConfig) (*sim, error) {
	voices, err := loadVoices()
	if err != nil {
		return nil, err
	}
	engine, err := media.NewEngine(media.Config{BindIP: netip.MustParseAddr("127.0.0.1"), PacerShards: 1}, c.log.With("component", "demo-media"), nil)
	if err != nil {
		return nil, err
	}
	// Not cancelled by parent: stopping ends each in turn (sim doc).
	regCtx, cancelReg := context.WithCancel(context.WithoutCancel(parent))
	ctx, cancelCalls := context.WithCancel(regCtx)
	callerCtx, cancelCallers := context.WithCancel(context.WithoutCancel(parent))
	arrCtx, cancelArrivals := context.WithCancel(ctx)
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	e := &env{
		ctx: ctx, log: c.log, engine: engine, world: newWorld(), voices: voices,
		sipAddr: c.sipAddr, domain: c.cfg.SIP.Domain, number: c.cfg.SIP.HotlineNumbers[0],
		calls: &tracker{}, callers: &tracker{}, rnd: newLockedRand(leUint64(seed[:8]), leUint64(seed[8:])),
	}
	s := &sim{env: e, cancelArrivals: cancelArrivals, cancelCalls: cancelCalls, cancelCallers: cancelCallers, cancelReg: cancelReg, log: c.log}
	fail := func(err error) (*sim, error) {
		s.stop(false)
		return nil, err
	}
	for _, sc := range c.cfg.Seats[:c.seats] {
		p, err := newSeatPhone(e, sc.ID, sc.Password)
		if err != nil {
			return fail(err)
		}
		s.seats = append(s.seats, p)
		if err := p.ua.serve(ctx); err != nil {
			return fail(err)
		}
	}
	if c.callsPerMinute > 0 {
		t, err := newTrunk(e)
		if err != nil {
			return fail(err)
		}
		s.trunk = t
		if err := t.ua.serve(callerCtx); err != nil {
			return fail(err)
		}
	}
	ids := make([]string, 0, len(s.seats))
	for _, p := range s.seats {
		ids = append(ids, p.id)
		s.loops.Go(func() { p.run(regCtx) })
	}
	c.log.Info("simulation starting: every phone below is simulated by this process and talks SIP/RTP to the switch on 127.0.0.1",
		"seat_phones", strings.Join(ids, ","), "calls_per_minute", c.callsPerMinute, "data_dir", c.cfg.DataDir)
	// Let the seats register before the first citizen calls (else: voicemail).
	deadline := time.After(5 * time.Second)
	for _, p := range s.seats {
		select {
		case <-p.firstReg:
		case <-deadline:
		case <-parent.Done():
		}
	}
	if s.trunk != nil {
		s.arrivalLoops.Go(func() { s.arrivals(arrCtx, callerCtx, c.callsPerMinute) })
	}
	s.sup = &supervisor{
		base: c.httpBase, user: botUser, password: c.botPassword, seats: ids,
		log: c.log.With("sim", "shift-manager"), rnd: e.rnd.child(), http: &http.Client{Timeout: 15 * time.Second},
	}
	if len(s.seats) > 1 {
		s.arrivalLoops.Go(func() { s.sup.run(arrCtx) })
	}
	return s, nil
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := range 8 {
		v |= uint64(b[i]) << (8 * i)
	}
	return v
}

// arrivals starts simulated calls at random (a Poisson process) until ctx
// ends; each call runs on callerCtx.
func (s *sim) arrivals(ctx, callerCtx context.Context, perMinute float64) {
	rnd := s.env.rnd.child()
	first := true
	for {
		wait := NextArrival(rnd, perMinute)
		if first {
			wait = min(wait, 2*time.Second) // the newcomer sees a call at once
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if s.env.world.size() >= maxSimultaneousCallers {
			s.log.Debug("simulated callers: too many in progress, skipping one")
			continue
		}
		var (
			plan   CallerPlan
			events chan talkEvent
			ok     bool
		)
		for range 10 {
			plan = PickCaller(rnd)
			if events, ok = s.env.world.join(plan.Number); ok {
				break
			}
		}
		if !ok {
			continue
		}
		if !s.env.callers.add() {
			s.env.world.leave(plan.Number)
			return
		}
		crnd := s.env.rnd.child()
		go func() {
			defer s.env.callers.done()
			defer s.env.world.leave(plan.Number)
			s.trunk.call(callerCtx, plan, events, crnd)
		}()
	}
}

// quiesce is the first step of stopping, while the switch still runs: no
// new caller, every simulated operator not ready, the conversations ended
// by the operators, the callers no longer hanging up on their own.
func (s *sim) quiesce() {
	s.env.stopping.Store(true)
	s.cancelArrivals()
	s.arrivalLoops.Wait()
	if len(s.seats) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.sup.endShift(ctx)
		cancel()
	}
	s.cancelCalls()
	if !s.env.calls.closeAndWait(15 * time.Second) {
		s.log.Warn("simulated seat calls still running 15 s after the stop")
	}
}

// stop ends the simulation, after the switch when switchStopped (the
// demo's own stop: the switch has ended the calls still waiting), else
// (the switch stopped by itself) by hanging up the callers; it waits for
// all of it (bounded).
func (s *sim) stop(switchStopped bool) {
	if !s.env.stopping.Load() {
		s.quiesce()
	}
	s.env.switchGone.Store(switchStopped)
	s.cancelCallers()
	if !s.env.callers.closeAndWait(20 * time.Second) {
		s.log.Warn("simulated calls still running 20 s after the stop")
	}
	s.cancelReg()
	s.loops.Wait()
	for _, p := range s.seats {
		p.ua.close()
	}
	if s.trunk != nil {
		s.trunk.ua.close()
	}
	_ = s.env.engine.Close()
	s.log.Info("simulation stopped")
}

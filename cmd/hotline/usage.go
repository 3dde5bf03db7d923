package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand. Its flags are declared once, by flags, which
// both parses them and prints them in the usage (hotline --help), so the
// usage cannot drift from what the command takes.
type command struct {
	name  string // as typed: "user add"
	args  string // the synopsis after the name, e.g. "[--config FILE]"
	about string // what it does, one or two lines
	flags func(fs *flag.FlagSet)
}

// commands are the subcommands in the order the usage lists them.
var commands = []command{
	{"serve", "[--config FILE] [--ready-file FILE]",
		"answer calls (the default command): SIP, media, the console and API, until SIGTERM or SIGINT\n" +
			"(then no new calls; calls in progress may go on for shutdown.grace)",
		func(fs *flag.FlagSet) { serveFlags(fs) }},
	{"check-config", "[--config FILE]... [--print]",
		"check the configuration as serve would (the file, the menu and prompts, the TLS certificate,\n" +
			"data_dir, the listen addresses) and list every problem by its key; several --config:\n" +
			"the nodes of one cluster, checked against each other too",
		func(fs *flag.FlagSet) { checkConfigFlags(fs) }},
	{"user add", "--name NAME --role operator|manager|admin [--seat ID] [--replace] [--config FILE]",
		"create a console user (an operator needs --seat); the password is asked for without echo\n" +
			"on a terminal, else read from the first line of standard input",
		func(fs *flag.FlagSet) { userAddFlags(fs) }},
	{"reconcile", "[--config FILE] [--date YYYY-MM-DD]",
		"a day's tickets against what reached the work-order system (exit 3: something has not, yet)",
		func(fs *flag.FlagSet) { reconcileFlags(fs) }},
	{"healthcheck", "[--config FILE] [--url URL] [--timeout 3s]",
		"GET the running hotline's /healthz: exit 0 when it answers 200, 1 otherwise\n" +
			"(for a container's HEALTHCHECK: the image has no curl)",
		func(fs *flag.FlagSet) { healthcheckFlags(fs) }},
	{"demo", "[--config FILE] [--busy | --calls-per-minute N] [--seats 6] [--ready-file FILE]",
		"serve plus simulated callers and seat phones on 127.0.0.1; data in ./data-demo unless\n" +
			"--config says otherwise; the log says how to log in to the console",
		func(fs *flag.FlagSet) { demoFlags(fs) }},
	{"version", "", "print the version", nil},
	{"help", "", "print this text (also -h, --help)", nil},
}

// printUsage writes the usage of every command, flags included.
func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: hotline COMMAND [flags]\n\n"+
		"The 12348 public legal service hotline softswitch. Without --config a command uses\n"+
		"./configs/hotline.yaml when present, else the copy built into the binary; ${VAR}\n"+
		"in it are read from the environment.\n\ncommands:\n")
	for _, c := range commands {
		printCommand(w, c)
	}
}

// printCommand writes one command's synopsis, description and flags.
func printCommand(w io.Writer, c command) {
	fmt.Fprintf(w, "\n  %s\n", strings.TrimSpace("hotline "+c.name+" "+c.args))
	for _, l := range strings.Split(c.about, "\n") {
		fmt.Fprintf(w, "      %s\n", l)
	}
	if c.flags == nil {
		return
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// newFlagSet is the flag set of the command named name: its errors and its
// -h go to stderr, with the command's own usage.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				printCommand(fs.Output(), c)
			}
		}
	}
	return fs
}

// parse parses args; done is true when the command must end with code
// (0 after -h, 2 after a bad flag or a stray argument).
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "hotline %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return 2, true
	}
	return 0, false
}

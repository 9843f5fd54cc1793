package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // bad input, failed work
	exitUsage = 2 // bad usage
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env carries the process's standard streams to a command.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the gateway", cmdServe},
		{"migrate", "apply the store's migrations", cmdMigrate},
		{"ari-replay", "serve a recorded ARI stream as a simulated Asterisk", cmdARIReplay},
		{"validate", "check a config file", cmdValidate},
		{"normalize", "print input records as cdrgw events, one JSON object per line", cmdNormalize},
		{"render", "print the exact HTTP requests a webhook would send for input records", cmdRender},
		{"replay", "feed recorded CDRs through the webhooks and report the outcome", cmdReplay},
		{"deliveries", "list a running gateway's deliveries", cmdDeliveries},
		{"resend", "send a delivery once more through a running gateway", cmdResend},
		{"send-test", "send a sample record to a webhook through a running gateway", cmdSendTest},
		{"version", "print the version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "cdrgw is a telephony CDR ingestion gateway.\n\nUsage:\n  cdrgw COMMAND [flags] [args]\n\nCommands:\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'cdrgw COMMAND --help' for a command's flags.\n")
}

// run is the whole CLI: it parses args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "--version", "-version":
		return cmdVersion(ctx, e, nil)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "cdrgw: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// newFlagSet returns a flag set that prints its usage with the command's
// synopsis and description.
func newFlagSet(e env, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: cdrgw %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args, allowing flags after positional arguments ("--" ends
// flags). It returns the positional arguments, and when parsing ends the
// command, the exit status and false.
func parse(fs *flag.FlagSet, e env, args []string) ([]string, int, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return nil, exitOK, false
		}
	}
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdVersion(_ context.Context, e env, _ []string) int {
	fmt.Fprintf(e.stdout, "cdrgw %s\n", version)
	return exitOK
}

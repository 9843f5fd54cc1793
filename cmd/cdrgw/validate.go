package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/cdrgw/cdrgw/config"
)

func cmdValidate(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "validate", "-c FILE", `
Checks a config file: YAML shape, ${VAR} expansion, durations, URLs, event
types, time zones and every parameter-map expression. Prints
"ok: N webhooks, M sources", or every error found with its path.`)
	path := fs.String("c", "cdrgw.yaml", "config file")
	rest, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(e.stderr, "cdrgw validate: unexpected arguments %q\n", rest)
		return exitUsage
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, ce := range errs {
				fmt.Fprintln(e.stderr, ce)
			}
			fmt.Fprintf(e.stderr, "%s: %d error(s)\n", *path, len(errs))
		} else {
			fmt.Fprintf(e.stderr, "cdrgw validate: %v\n", err)
		}
		return exitFail
	}
	fmt.Fprintf(e.stdout, "ok: %d webhooks, %d sources\n", len(cfg.Webhooks), len(cfg.Sources))
	return exitOK
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"

	"github.com/cdrgw/cdrgw/cdr"
)

func cmdNormalize(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "normalize", "[--input-format teams|csv|jsonl] [--tz ZONE] FILE...", `
Reads Teams CDR JSON, Asterisk Master.csv or cdrgw JSON lines and prints one
cdrgw event per line as JSON. "-" reads standard input. The format is detected
from the content unless --input-format is given. Bad records are reported on
standard error with file and line or record number; the rest are still
printed. Exit status 1 if any record failed.`)
	var in inputFlags
	in.register(fs)
	files, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintln(e.stderr, "cdrgw normalize: no input files (use - for standard input)")
		fs.Usage()
		return exitUsage
	}
	opts, err := in.options()
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw normalize: %v\n", err)
		return exitUsage
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	bad, err := readInputs(ctx, e, files, opts, func(ev cdr.Event) error { return enc.Encode(ev) })
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw normalize: %v\n", err)
		return exitFail
	}
	if bad > 0 {
		return exitFail
	}
	return exitOK
}

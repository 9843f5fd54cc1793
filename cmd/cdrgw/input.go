package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/file"
)

// inputFlags are the input flags shared by normalize, render and replay.
type inputFlags struct {
	format string
	tz     string
}

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "input-format", "", "input format: teams, csv or jsonl (default: detected from content)")
	fs.StringVar(&f.tz, "tz", "", "time zone of Master.csv times, e.g. Europe/Kyiv (default: local)")
}

// options checks the flags and returns the reader options they describe.
func (f *inputFlags) options() (file.Options, error) {
	var opts file.Options
	if f.format != "" {
		format, err := file.ParseFormat(f.format)
		if err != nil {
			return opts, fmt.Errorf("--input-format: %w", err)
		}
		opts.Format = format
	}
	opts.Location = time.Local
	if f.tz != "" {
		loc, err := time.LoadLocation(f.tz)
		if err != nil {
			return opts, fmt.Errorf("--tz: unknown time zone %q", f.tz)
		}
		opts.Location = loc
	}
	return opts, nil
}

// readInputs reads every named input ("-" is standard input) and calls emit
// for each event. Bad records are reported on stderr and counted; reading
// goes on with the next record. It returns the number of bad records and the
// first error that stopped reading (I/O, cancellation, or emit's error).
func readInputs(ctx context.Context, e env, names []string, opts file.Options, emit func(cdr.Event) error) (bad int, err error) {
	for _, name := range names {
		var r io.Reader
		if name == "-" {
			r = e.stdin
			opts.Name = "stdin"
		} else {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintf(e.stderr, "cdrgw: %v\n", err)
				bad++
				continue
			}
			r = f
			opts.Name = name
			defer f.Close()
		}
		err := file.Read(ctx, r, opts, emit, func(err error) {
			bad++
			fmt.Fprintf(e.stderr, "%v\n", err)
		})
		if err != nil {
			return bad, fmt.Errorf("%s: %w", opts.Name, err)
		}
	}
	return bad, nil
}

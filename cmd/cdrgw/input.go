package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/ari"
	"github.com/cdrgw/cdrgw/ingest/file"
	"github.com/cdrgw/cdrgw/ingest/siptap"
)

// adapterReader reads a recording of a live source (ARI events, HEP, pcap).
type adapterReader func(ctx context.Context, r io.Reader, opts file.Options, emit func(cdr.Event) error, onErr func(error)) error

// adapterReaders are the input formats read by the live adapters' offline
// readers rather than by package file.
var adapterReaders = map[file.Format]adapterReader{
	"ari": func(ctx context.Context, r io.Reader, opts file.Options, emit func(cdr.Event) error, onErr func(error)) error {
		return ari.ReadRecording(ctx, r, ari.Options{Source: cdr.SourceRef{Kind: "ari", Name: opts.Name}}, emit, onErr)
	},
	"hep": func(ctx context.Context, r io.Reader, opts file.Options, emit func(cdr.Event) error, onErr func(error)) error {
		return siptap.ReadHEP(ctx, r, siptap.Options{Source: cdr.SourceRef{Kind: "hep", Name: opts.Name}}, emit, onErr)
	},
	"pcap": func(ctx context.Context, r io.Reader, opts file.Options, emit func(cdr.Event) error, onErr func(error)) error {
		return siptap.ReadPcap(ctx, r, siptap.Options{Source: cdr.SourceRef{Kind: "sip", Name: opts.Name}}, emit, onErr)
	},
}

// formatNames lists every --input-format value.
func formatNames() []string {
	names := []string{string(file.FormatTeams), string(file.FormatCSV), string(file.FormatJSONL)}
	for f := range adapterReaders {
		names = append(names, string(f))
	}
	slices.Sort(names[3:])
	return names
}

// detectAdapter recognises recordings of the live adapters from their first
// bytes, and returns "" for the formats package file detects.
func detectAdapter(head []byte) file.Format {
	switch {
	case bytes.HasPrefix(head, []byte("HEP3")):
		return "hep"
	case len(head) >= 4 && (bytes.Equal(head[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}) || bytes.Equal(head[:4], []byte{0xa1, 0xb2, 0xc3, 0xd4}) ||
		bytes.Equal(head[:4], []byte{0x4d, 0x3c, 0xb2, 0xa1}) || bytes.Equal(head[:4], []byte{0xa1, 0xb2, 0x3c, 0x4d}) ||
		bytes.Equal(head[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a})):
		return "pcap" // pcap (µs and ns, either byte order) or pcapng
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	// An ARI event: a JSON object with Asterisk's asterisk_id, or an
	// application with a timestamp, and no cdrgw record.
	if bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) && !bytes.Contains(line, []byte(`"record"`)) &&
		(bytes.Contains(line, []byte(`"asterisk_id"`)) || (bytes.Contains(line, []byte(`"application"`)) && bytes.Contains(line, []byte(`"timestamp"`)))) {
		return "ari"
	}
	return ""
}

// inputFlags are the input flags shared by normalize, render and replay.
type inputFlags struct {
	format string
	tz     string
}

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "input-format", "", "input format: "+strings.Join(formatNames(), ", ")+" (default: detected from content)")
	fs.StringVar(&f.tz, "tz", "", "time zone of Master.csv times, e.g. Europe/Kyiv (default: local)")
}

// options checks the flags and returns the reader options they describe.
func (f *inputFlags) options() (file.Options, error) {
	var opts file.Options
	if f.format != "" {
		if _, ok := adapterReaders[file.Format(f.format)]; ok {
			opts.Format = file.Format(f.format)
		} else {
			format, err := file.ParseFormat(f.format)
			if err != nil {
				return opts, fmt.Errorf("--input-format: %q is not one of %s", f.format, strings.Join(formatNames(), ", "))
			}
			opts.Format = format
		}
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
		onErr := func(err error) {
			bad++
			fmt.Fprintf(e.stderr, "%v\n", err)
		}
		br := bufio.NewReaderSize(r, 64<<10)
		format := opts.Format
		if format == "" {
			head, _ := br.Peek(4096)
			format = detectAdapter(head)
		}
		var err error
		if read, ok := adapterReaders[format]; ok {
			err = read(ctx, br, opts, emit, func(err error) { onErr(fmt.Errorf("%s: %w", opts.Name, err)) })
		} else {
			err = file.Read(ctx, br, opts, emit, onErr)
		}
		if err != nil {
			return bad, fmt.Errorf("%s: %w", opts.Name, err)
		}
	}
	return bad, nil
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/mapping"
)

func cmdRender(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "render", "-c FILE -w WEBHOOK [--input-format teams|csv|jsonl] [--tz ZONE] [--json] FILE...", `
Prints the exact HTTP request webhook WEBHOOK would send for each input event
it subscribes to and its "when" filter accepts, without sending anything: as
HTTP/1.1 text by default, or with --json as one object per line
{"webhook","event_id","event_type","method","url","headers","body"}.
Events the webhook skips are counted on standard error. The input flags are
those of normalize. Exit status 1 if any record or request failed.`)
	path := fs.String("c", "cdrgw.yaml", "config file")
	name := fs.String("w", "", "webhook name (required)")
	asJSON := fs.Bool("json", false, "print one JSON object per request")
	var in inputFlags
	in.register(fs)
	files, code, ok := parse(fs, e, args)
	if !ok {
		return code
	}
	if *name == "" || len(files) == 0 {
		fmt.Fprintln(e.stderr, "cdrgw render: -w WEBHOOK and at least one input FILE are required")
		fs.Usage()
		return exitUsage
	}
	opts, err := in.options()
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw render: %v\n", err)
		return exitUsage
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw render: %v\n", err)
		return exitFail
	}
	wh, found := cfg.Webhook(*name)
	if !found {
		fmt.Fprintf(e.stderr, "cdrgw render: no webhook %q in %s\n", *name, *path)
		return exitFail
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	var rendered, skipped, failed int
	bad, err := readInputs(ctx, e, files, opts, func(ev cdr.Event) error {
		req, err := wh.Compiled.Render(ev, "")
		switch {
		case errors.Is(err, mapping.ErrSkipped):
			skipped++
			return nil
		case err != nil:
			failed++
			fmt.Fprintf(e.stderr, "event %s (%s): %v\n", ev.ID, ev.Type, err)
			return nil
		}
		rendered++
		if *asJSON {
			return writeRequestJSON(out, wh.Spec.Name, ev, req)
		}
		if rendered > 1 {
			out.WriteString("\n")
		}
		return writeRequestText(out, req)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw render: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stderr, "%d rendered, %d skipped by webhook %q, %d failed\n", rendered, skipped, *name, failed+bad)
	if bad > 0 || failed > 0 {
		return exitFail
	}
	return exitOK
}

// writeRequestText writes req as HTTP/1.1 text: request line, headers sorted
// by name, a blank line and the body.
func writeRequestText(w io.Writer, req *mapping.Request) error {
	u, err := url.Parse(req.URL)
	if err != nil {
		return fmt.Errorf("rendered url %q: %w", req.URL, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", req.Method, u.RequestURI())
	headers := flatHeaders(req)
	headers["Host"] = u.Host
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\r\n", k, headers[k])
	}
	b.WriteString("\r\n")
	b.Write(req.Body)
	if len(req.Body) > 0 && req.Body[len(req.Body)-1] != '\n' {
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func flatHeaders(req *mapping.Request) map[string]string {
	headers := make(map[string]string, len(req.Header)+2)
	for k, v := range req.Header {
		headers[k] = strings.Join(v, ", ")
	}
	if len(req.Body) > 0 {
		headers["Content-Length"] = fmt.Sprint(len(req.Body))
	}
	return headers
}

func writeRequestJSON(w io.Writer, webhook string, ev cdr.Event, req *mapping.Request) error {
	line, err := json.Marshal(struct {
		Webhook   string            `json:"webhook"`
		EventID   string            `json:"event_id"`
		EventType cdr.Type          `json:"event_type"`
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		Body      string            `json:"body"`
	}{webhook, ev.ID, ev.Type, req.Method, req.URL, flatHeaders(req), string(req.Body)})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

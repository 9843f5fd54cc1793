package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// result is the outcome of one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the output (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

const sample = "../../testdata/samples/teams-batch.json"

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"no args", nil, exitUsage, "", "Usage:"},
		{"help", []string{"--help"}, exitOK, "Commands:", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, exitOK, "cdrgw ", ""},
		{"validate help", []string{"validate", "--help"}, exitOK, "Usage: cdrgw validate -c FILE", ""},
		{"normalize help", []string{"normalize", "-h"}, exitOK, "--input-format", ""},
		{"render help", []string{"render", "--help"}, exitOK, "-w string", ""},
		{"validate bad flag", []string{"validate", "--nope"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"validate extra arg", []string{"validate", "-c", "testdata/render.yaml", "x"}, exitUsage, "", "unexpected arguments"},
		{"normalize no files", []string{"normalize"}, exitUsage, "", "no input files"},
		{"normalize bad format", []string{"normalize", "--input-format", "xls", sample}, exitUsage, "", "--input-format"},
		{"normalize bad tz", []string{"normalize", "--tz", "Mars/Olympus", sample}, exitUsage, "", `--tz: unknown time zone "Mars/Olympus"`},
		{"render without webhook", []string{"render", "-c", "testdata/render.yaml", sample}, exitUsage, "", "-w WEBHOOK"},
		{"render unknown webhook", []string{"render", "-c", "testdata/render.yaml", "-w", "nope", sample}, exitFail, "", `no webhook "nope"`},
		{"render bad config", []string{"render", "-c", "testdata/bad.yaml", "-w", "crm", sample}, exitFail, "", "stor: unknown key"},
		{"normalize missing file", []string{"normalize", "testdata/does-not-exist.json"}, exitFail, "", "no such file"},
		{"flags after files", []string{"normalize", sample, "--input-format", "teams"}, exitOK, `"type":"queue.ended"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.wantOut) {
				t.Fatalf("stdout %q does not contain %q", r.stdout, tt.wantOut)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("stderr %q does not contain %q", r.stderr, tt.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	r := runCLI(t, "", "validate", "-c", "testdata/render.yaml")
	if r.code != exitOK || r.stdout != "ok: 5 webhooks, 1 sources\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", "validate", "-c", "testdata/bad.yaml")
	if r.code != exitFail {
		t.Fatalf("exit %d, want 1", r.code)
	}
	// Every error is reported, not just the first.
	golden(t, "validate-bad.golden", r.stderr)
	for _, want := range []string{"stor:", "admin_token", "webhooks[0].url", `"queue.end"`, `"Europe/Kyev"`, "webhooks[0].params.start_at: line 1, column"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("errors do not mention %s:\n%s", want, r.stderr)
		}
	}
}

// checkEvents checks that out holds one schema-valid event per line and returns them.
func checkEvents(t *testing.T, out string) []cdr.Event {
	t.Helper()
	var events []cdr.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if err := schemas.ValidateEventJSON(sc.Bytes()); err != nil {
			t.Fatalf("line %d is not a valid event: %v\n%s", n, err, sc.Text())
		}
		var ev cdr.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		events = append(events, ev)
	}
	return events
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		golden string
		count  int
	}{
		{"teams", "", []string{"normalize", sample}, "normalize-teams.golden", 2},
		{"asterisk csv in UTC", "", []string{"normalize", "--tz", "UTC", "testdata/Master.csv"}, "normalize-csv.golden", 0},
		{"csv in Kyiv time", "", []string{"normalize", "--input-format", "csv", "--tz", "Europe/Kyiv", "testdata/Master.csv"}, "normalize-csv-kyiv.golden", 0},
		{"ari recording, detected", "", []string{"normalize", "../../ingest/ari/testdata/ari-events.jsonl"}, "normalize-ari.golden", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, tt.args...)
			if r.code != exitOK || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			events := checkEvents(t, r.stdout)
			if tt.count > 0 && len(events) != tt.count {
				t.Fatalf("%d events, want %d", len(events), tt.count)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

func TestNormalizeRoundTripThroughStdin(t *testing.T) {
	first := runCLI(t, "", "normalize", "--tz", "UTC", "testdata/Master.csv", sample)
	if first.code != exitOK {
		t.Fatalf("exit %d: %s", first.code, first.stderr)
	}
	// cdrgw's own JSON lines are an input too: normalizing them again is the identity.
	second := runCLI(t, first.stdout, "normalize", "-")
	if second.code != exitOK {
		t.Fatalf("exit %d: %s", second.code, second.stderr)
	}
	if first.stdout != second.stdout {
		t.Fatalf("jsonl round trip changed the events:\n%s\n---\n%s", first.stdout, second.stdout)
	}
}

func TestNormalizeBadRowsAreReportedAndTheRestProcessed(t *testing.T) {
	r := runCLI(t, "", "normalize", "--tz", "UTC", "testdata/bad.csv")
	if r.code != exitFail {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if n := len(checkEvents(t, r.stdout)); n != 2 {
		t.Fatalf("%d events printed, want the 2 good rows", n)
	}
	if !strings.HasPrefix(r.stderr, "testdata/bad.csv:2: start: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("stderr = %q, want one error naming line 2 and column start", r.stderr)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		webhook string
		input   string
		json    bool
		golden  string
		skipped string
	}{
		{"crm", sample, false, "render-crm.golden", `1 rendered, 1 skipped`},
		{"crm", sample, true, "render-crm-json.golden", `1 rendered, 1 skipped`},
		{"calls", "testdata/Master.csv", false, "render-calls-query.golden", " 0 skipped"},
		{"ivr", sample, false, "render-ivr-jsonrpc.golden", "1 rendered, 1 skipped"},
		{"xml", sample, false, "render-xml.golden", "2 rendered, 0 skipped"},
		{"form", sample, false, "render-form.golden", "1 rendered, 1 skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			args := []string{"render", "-c", "testdata/render.yaml", "-w", tt.webhook, "--tz", "UTC", tt.input}
			if tt.json {
				args = append(args, "--json")
			}
			r := runCLI(t, "", args...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.skipped) {
				t.Fatalf("stderr %q does not contain %q", r.stderr, tt.skipped)
			}
			golden(t, tt.golden, r.stdout)
			if tt.json {
				for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Fatalf("not JSON: %s", line)
					}
					for _, k := range []string{"webhook", "event_id", "event_type", "method", "url", "headers", "body"} {
						if _, ok := v[k]; !ok {
							t.Fatalf("line lacks %q: %s", k, line)
						}
					}
				}
			}
		})
	}
}

// TestBinary runs the real binary to check the process exit statuses.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "cdrgw")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"validate", "-c", "testdata/render.yaml"}, 0},
		{[]string{"validate", "-c", "testdata/bad.yaml"}, 1},
		{[]string{"validate", "--bogus"}, 2},
	} {
		err := exec.Command(bin, tc.args...).Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("cdrgw %v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
}

// TestNormalizeCaptures reads the SIP recordings (gzipped in ingest/siptap)
// through stdin with the format detected: one call.ended per Call-ID.
func TestNormalizeCaptures(t *testing.T) {
	for _, name := range []string{"hep3.bin.gz", "capture.pcapng.gz"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("../../ingest/siptap/testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, string(raw), "normalize", "-")
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			ended := map[string]bool{}
			for _, ev := range checkEvents(t, r.stdout) {
				if ev.Type == cdr.TypeCallEnded {
					ended[ev.Record.RecordID()] = true
				}
			}
			if len(ended) != 221 {
				t.Fatalf("%d calls ended, want the recording's 221 Call-IDs", len(ended))
			}
		})
	}
}

func TestARIReplayServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var out, errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"ari-replay", "--listen", addr, "--speed", "0", "../../ingest/ari/testdata/ari-events.jsonl"}, strings.NewReader(""), &out, &errb)
	}()
	var status int
	for range 50 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/ari/asterisk/info", nil)
		req.SetBasicAuth("gw", "gw")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/ari/channels")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != exitOK || status != 200 || resp.StatusCode != 401 {
		t.Fatalf("exit %d, info with auth %d, channels without auth %d; stderr %s", code, status, resp.StatusCode, errb.String())
	}
	if r := runCLI(t, "", "ari-replay"); r.code != exitUsage {
		t.Fatalf("no file: exit %d, want 2", r.code)
	}
}

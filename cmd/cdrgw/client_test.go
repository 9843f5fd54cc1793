package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storeurl"
)

// binPath is the cdrgw binary built once by TestMain for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cdrgw-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "cdrgw")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cdrgw: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "t0ken-for-tests"

// testSecret is a Standard Webhooks signing secret used in the test configs.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// forEachStore runs f as a subtest on a fresh SQLite file and on a fresh
// PostgreSQL schema.
func forEachStore(t *testing.T, f func(t *testing.T, storeURL string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, "sqlite://"+filepath.Join(t.TempDir(), "cdrgw.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, pgtest.URL(t))
	})
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// hookYAML is one webhook of a test config.
type hookYAML struct {
	name, url, events string
	attempts          int
}

// writeConfig writes a gateway config for the store, listen address, token
// and webhooks and returns its path.
func writeConfig(t *testing.T, storeURL, listen, token string, hooks ...hookYAML) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "store: %q\nlisten: %s\nadmin_token: %q\nallow_private_targets: true\nshutdown_timeout: 5s\n", storeURL, listen, token)
	b.WriteString("sources:\n  - {name: teams, type: teams}\nwebhooks:\n")
	for _, h := range hooks {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    events: [%s]\n    encoding: json\n", h.name, h.url, h.events)
		b.WriteString("    params: {call: record.call_id, type: event.type}\n")
		fmt.Fprintf(&b, "    retry: {attempts: %d, schedule: fixed, interval: 50ms, jitter: 0}\n    timeout: 2s\n", h.attempts)
		fmt.Fprintf(&b, "    secrets: [%q]\n", testSecret)
	}
	path := filepath.Join(t.TempDir(), "cdrgw.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gateway is a running `cdrgw serve`.
type gateway struct {
	url    string
	cfg    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startGateway runs the binary's serve on cfg (listening on listen) until
// the test ends, and waits until it answers /healthz.
func startGateway(t *testing.T, cfg, listen string) *gateway {
	t.Helper()
	g := &gateway{url: "http://" + listen, cfg: cfg, stderr: &bytes.Buffer{}}
	g.cmd = exec.Command(binPath, "serve", "-c", cfg, "--log-format", "json", "--log-level", "warn")
	g.cmd.Stderr = g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gateway exited with %v\n%s", err, g.stderr)
			}
		case <-time.After(15 * time.Second):
			_ = g.cmd.Process.Kill()
			t.Errorf("gateway did not stop within 15s\n%s", g.stderr)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(g.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("gateway exited at start: %v\n%s", err, g.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not up after 20s\n%s", g.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes an admin API request with the token (none when "") and returns
// the status and body.
func (g *gateway) call(t *testing.T, method, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, body
}

// get calls the API with the test token, wants status want and decodes the body into out.
func (g *gateway) get(t *testing.T, method, path string, want int, out any) {
	t.Helper()
	status, body := g.call(t, method, path, testToken)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
}

// postTeams posts a Teams body to the gateway's ingest endpoint.
func (g *gateway) postTeams(t *testing.T, body []byte) {
	t.Helper()
	resp, err := http.Post(g.url+"/ingest/teams", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: %d", resp.StatusCode)
	}
}

// binResult is the outcome of one run of the binary.
type binResult struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary with args, the admin token in its environment
// (unless token is "-") and returns its outcome.
func runBin(t *testing.T, token string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), tokenEnv+"="+token)
	if token == "-" {
		cmd.Env = append(os.Environ(), tokenEnv+"=")
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cdrgw %v: %v", args, err)
	}
	return binResult{code, out.String(), errb.String()}
}

// openStore opens (and migrates) the store for seeding and checks.
func openTestStore(t *testing.T, storeURL string) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := storeurl.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// seedEvent returns a valid queue.ended (even i) or ivr.ended (odd i) event
// with a record id of its own.
func seedEvent(i int) cdr.Event {
	if i%2 == 0 {
		ev := mapping.SampleEvent(cdr.TypeQueueEnded)
		q := *ev.Record.(*cdr.Queue)
		q.ID, q.CallID = fmt.Sprintf("teams:queue:seed-%d", i), fmt.Sprintf("seed-%d", i)
		return cdr.NewEvent(ev.Type, ev.Time, ev.Source, &q)
	}
	ev := mapping.SampleEvent(cdr.TypeIVREnded)
	r := *ev.Record.(*cdr.IVR)
	r.ID, r.CallID = fmt.Sprintf("teams:ivr:seed-%d", i), fmt.Sprintf("seed-%d", i)
	return cdr.NewEvent(ev.Type, ev.Time, ev.Source, &r)
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

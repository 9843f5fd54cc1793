package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to inspect a killed gateway's store

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

// teamsToken is the bearer token of the Teams source in every generated config.
const teamsToken = "e2e-teams-token"

// gatewayConfig is what varies between the generated configs.
type gatewayConfig struct {
	Store           string        // store URL
	Listen          string        // host:port; freeAddr when empty
	Receiver        string        // base URL of the webhook receiver
	Concurrency     int           // webhook concurrency (default 16)
	Timeout         time.Duration // webhook timeout (default 2s: the lease is timeout+30s)
	ShutdownTimeout time.Duration // default 5s
	MaxBody         string        // default 1MiB
	ExtraSources    string        // YAML list items added after the Teams source
	Events          string        // the webhook's event types (default "queue.ended, ivr.ended")
}

// yaml returns the config file text: one Teams source with a token and one
// webhook that posts {"id": event.id} as JSON, with the replica's name from
// the environment in the X-Replica header.
func (c gatewayConfig) yaml() string {
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.MaxBody == "" {
		c.MaxBody = "1MiB"
	}
	if c.Events == "" {
		c.Events = "queue.ended, ivr.ended"
	}
	return fmt.Sprintf(`store: %q
listen: %q
allow_private_targets: true
shutdown_timeout: %s
max_body: %s
sources:
  - {name: teams, type: teams, token: %q}
%swebhooks:
  - name: sink
    url: %q
    events: [%s]
    method: POST
    encoding: json
    params:
      id: event.id
      call_id: record.call_id
    headers:
      X-Replica: 'env("CDRGW_REPLICA")'
    retry: {attempts: 20, schedule: fixed, interval: 1s, max_interval: 1s, jitter: 0}
    timeout: %s
    concurrency: %d
`, c.Store, c.Listen, c.ShutdownTimeout, c.MaxBody, teamsToken, c.ExtraSources, c.Receiver+"/cdr", c.Events, c.Timeout, c.Concurrency)
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sqliteURL returns the store URL of a fresh SQLite file in the test's
// temporary directory.
func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "cdrgw.db")
}

// gateway is one cdrgw serve process, restartable on the same config.
type gateway struct {
	t       testing.TB
	name    string
	dir     string
	cfgPath string
	URL     string   // http://host:port
	env     []string // extra environment, NAME=VALUE
	args    []string // extra serve flags

	mu   sync.Mutex
	proc *process
	logs []string // one file per start
}

// process is one run of a gateway.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // from cmd.Wait, valid after done
}

// newGateway writes the config and returns a gateway that is not started.
// The process is killed, and its logs checked for data races (and printed
// when the test failed), when the test ends.
func newGateway(t testing.TB, name string, c gatewayConfig, env ...string) *gateway {
	t.Helper()
	if c.Listen == "" {
		c.Listen = freeAddr(t)
	}
	dir := t.TempDir()
	g := &gateway{t: t, name: name, dir: dir, cfgPath: filepath.Join(dir, "cdrgw.yaml"), URL: "http://" + c.Listen,
		env: env, args: []string{"--log-format", "json"}}
	if err := os.WriteFile(g.cfgPath, []byte(c.yaml()), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	t.Cleanup(g.cleanup)
	return g
}

func (g *gateway) cleanup() {
	g.mu.Lock()
	p := g.proc
	g.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	for _, path := range g.logs {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte("WARNING: DATA RACE")) {
			g.t.Errorf("%s: data race in the gateway, log %s:\n%s", g.name, filepath.Base(path), tail(data, 200))
		} else if g.t.Failed() {
			g.t.Logf("%s: last lines of %s:\n%s", g.name, filepath.Base(path), tail(data, 30))
		}
	}
}

// tail returns the last n lines of data.
func tail(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// start starts the process and waits until /readyz answers 200. It is safe
// to call from any goroutine (it returns errors instead of failing the test).
func (g *gateway) start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc != nil {
		select {
		case <-g.proc.done:
		default:
			return fmt.Errorf("%s: already running", g.name)
		}
	}
	logPath := filepath.Join(g.dir, fmt.Sprintf("%s-%d.log", g.name, len(g.logs)+1))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	g.logs = append(g.logs, logPath)
	cmd := exec.Command(binary, append([]string{"serve", "-c", g.cfgPath}, g.args...)...)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: start: %w", g.name, err)
	}
	p := &process{cmd: cmd, log: f, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	g.proc = p
	return g.waitReady(p, 60*time.Second)
}

// mustStart is start that fails the test on error.
func (g *gateway) mustStart() {
	g.t.Helper()
	if err := g.start(); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) waitReady(p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		resp, err := client.Get(g.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s: exited before ready (%v); log:\n%s", g.name, p.err, g.lastLog())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %s; log:\n%s", g.name, timeout, g.lastLog())
		}
	}
}

func (g *gateway) lastLog() string {
	if len(g.logs) == 0 {
		return ""
	}
	data, _ := os.ReadFile(g.logs[len(g.logs)-1])
	return tail(data, 30)
}

// kill sends SIGKILL and waits for the process to be gone; it returns the
// process id.
func (g *gateway) kill() int {
	g.mu.Lock()
	p := g.proc
	g.mu.Unlock()
	p.cmd.Process.Kill()
	<-p.done
	return p.cmd.Process.Pid
}

// stop sends sig and waits up to timeout for the process to exit; it
// returns the exit status and how long the exit took.
func (g *gateway) stop(sig syscall.Signal, timeout time.Duration) (int, time.Duration, error) {
	g.mu.Lock()
	p := g.proc
	g.mu.Unlock()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return -1, 0, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		return -1, time.Since(t0), fmt.Errorf("%s: still running %s after %v", g.name, timeout, sig)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(t0), nil
}

// logLines returns the lines of every log written so far.
func (g *gateway) logLines() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, path := range g.logs {
		data, _ := os.ReadFile(path)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
	}
	return out
}

// teamsResponse is the body of POST /ingest/teams.
type teamsResponse struct {
	Accepted []string `json:"accepted"`
	Rejected []struct {
		Record   int    `json:"record"`
		Property string `json:"property"`
		Error    string `json:"error"`
	} `json:"rejected"`
	Error string `json:"error"`
}

// postTeams posts body to the gateway's Teams endpoint with token.
func postTeams(ctx context.Context, client *http.Client, base, token string, body []byte) (int, teamsResponse, error) {
	var tr teamsResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ingest/teams", bytes.NewReader(body))
	if err != nil {
		return 0, tr, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, tr, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, tr, err
	}
	if err := json.Unmarshal(data, &tr); err != nil {
		return resp.StatusCode, tr, fmt.Errorf("response %d %q: %w", resp.StatusCode, data, err)
	}
	return resp.StatusCode, tr, nil
}

// queueRecord returns a Teams App.QueueWebhook record with the given CallId.
func queueRecord(callID string, i int) map[string]any {
	start := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return map[string]any{
		"EventType":       "App.QueueWebhook",
		"CallId":          callID,
		"ScenarioId":      "8c1f0e9a-3b7d-4c55-a1e2-77d0b5e4c3f0",
		"CallDirection":   "Inbound",
		"CallerName":      "Caller " + strconv.Itoa(i),
		"CallerNumber":    fmt.Sprintf("+1555%07d", i),
		"StartDateTime":   start.Format(time.RFC3339Nano),
		"EndDateTime":     start.Add(165 * time.Second).Format(time.RFC3339Nano),
		"CallLength":      165,
		"WaitTime":        "00:00:42",
		"TalkTime":        "00:02:03",
		"QueueId":         "42",
		"QueueName":       "Support",
		"MetServiceLevel": "True",
		"AgentName":       "Agent One",
		"LeaveReason":     "Agent answered",
	}
}

// queueEventID is the event id the gateway must give the queue record with callID.
func queueEventID(callID string) string {
	return cdr.EventID(cdr.TypeQueueEnded, "teams:queue:"+callID)
}

// mustJSON encodes v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// delivery is one request the receiver recorded, decoded.
type delivery struct {
	EventID    string // from the body's "id"
	DeliveryID string // webhook-id header
	Replica    string // X-Replica header
}

// deliveries decodes the receiver's requests.
func deliveries(t testing.TB, reqs []receiver.Request) []delivery {
	t.Helper()
	out := make([]delivery, 0, len(reqs))
	for _, r := range reqs {
		var body struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.ID == "" {
			t.Fatalf("receiver got a body without an event id: %q (%v)", r.Body, err)
		}
		out = append(out, delivery{EventID: body.ID, DeliveryID: r.Header.Get("webhook-id"), Replica: r.Header.Get("X-Replica")})
	}
	return out
}

// metrics fetches /metrics and returns, per metric name, the sum of its
// samples (over all labels).
func metrics(client *http.Client, base string) (map[string]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// waitQueueEmpty waits until the gateway's cdrgw_queue_depth is 0.
func waitQueueEmpty(client *http.Client, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		m, err := metrics(client, base)
		if err == nil {
			depth, ok := m["cdrgw_queue_depth"]
			if ok && depth == 0 {
				return nil
			}
			err = fmt.Errorf("cdrgw_queue_depth %v", depth)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("queue not empty after %s: %w", timeout, last)
}

// claimedBy returns the ids of the deliveries that the gateway process pid
// holds leased and has not finished (status pending, its lease owner), in
// id order. After a SIGKILL these are the jobs it had claimed: those queued
// (claimed ahead, never sent) and those it had sent without writing their
// result. Lease owners are host:pid:random#n.
func claimedBy(ctx context.Context, storeURL string, pid int) ([]string, error) {
	q := fmt.Sprintf(`SELECT id FROM deliveries WHERE status = 'pending' AND lease_owner LIKE '%%:%d:%%' ORDER BY id`, pid)
	var ids []string
	err := queryStore(ctx, storeURL, q, func(scan func(...any) error) error {
		var id string
		if err := scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// queryStore runs q on the store at storeURL (sqlite:// or postgres://),
// opened for this one query beside the gateway, and calls each with every
// row's Scan.
func queryStore(ctx context.Context, storeURL, q string, each func(scan func(...any) error) error) error {
	if path, ok := strings.CutPrefix(storeURL, "sqlite://"); ok {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	conn, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

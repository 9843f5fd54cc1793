package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/store"
)

// reportRow parses the replay report's line for webhook: delivered, failed,
// dead, skipped, pending.
func reportRow(t *testing.T, stdout, webhook string) [5]int {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(webhook) + `\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$`)
	m := re.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no report line for %s in:\n%s", webhook, stdout)
	}
	var out [5]int
	for i := range out {
		out[i], _ = strconv.Atoi(m[i+1])
	}
	return out
}

// countCallEnded counts the call.ended events normalize reads from csv.
func countCallEnded(t *testing.T, csv string) int {
	t.Helper()
	r := runCLI(t, "", "normalize", "--tz", "UTC", csv)
	if r.code != exitOK {
		t.Fatalf("normalize: %s", r.stderr)
	}
	return strings.Count(r.stdout, `"type":"call.ended"`)
}

func TestReplay(t *testing.T) {
	const csv = "testdata/Master.csv"
	calls := countCallEnded(t, csv)
	if calls == 0 {
		t.Fatal("no calls in " + csv)
	}
	forEachStore(t, func(t *testing.T, storeURL string) {
		recv := receiver.Start(t, nil)
		bad := receiver.Start(t, func(*receiver.Request) receiver.Response { return receiver.Response{Status: 503} })
		cfg := writeConfig(t, storeURL, "127.0.0.1:0", "",
			hookYAML{name: "teams", url: recv.URL + "/teams", events: "queue.ended, ivr.ended", attempts: 3},
			hookYAML{name: "queues", url: recv.URL + "/queues", events: "queue.ended", attempts: 3},
			hookYAML{name: "calls", url: recv.URL + "/calls", events: "call.ended", attempts: 3},
			hookYAML{name: "bad", url: bad.URL, events: "queue.ended", attempts: 2},
		)
		main := []string{"--webhook", "teams", "--webhook", "queues", "--webhook", "calls"}
		replay := func(extra ...string) binResult {
			args := append([]string{"replay", "-c", cfg, "--tz", "UTC"}, extra...)
			return runBin(t, "", append(args, sample, csv)...)
		}
		pathIDs := func(path string) map[string]bool {
			ids := map[string]bool{}
			for _, q := range recv.Requests() {
				if q.Path == path {
					ids[q.Header.Get("webhook-id")] = true
				}
			}
			return ids
		}

		t.Run("dry run", func(t *testing.T) {
			r := replay(append(main, "--dry-run")...)
			if r.code != 0 || strings.Count(r.stdout, "# webhook ") != 2+1+calls || !strings.Contains(r.stdout, "POST /queues HTTP/1.1") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if recv.Count() != 0 {
				t.Fatal("dry run sent requests")
			}
			st := openTestStore(t, storeURL)
			if ds, _, err := st.ListDeliveries(context.Background(), store.Filter{}); err != nil || len(ds) != 0 {
				t.Fatalf("dry run stored %d deliveries (%v)", len(ds), err)
			}
		})

		var first map[string]int
		t.Run("first run delivers", func(t *testing.T) {
			r := replay(main...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for _, c := range []struct {
				hook string
				want [5]int
			}{{"teams", [5]int{2, 0, 0, 0, 0}}, {"queues", [5]int{1, 0, 0, 0, 0}}, {"calls", [5]int{calls, 0, 0, 0, 0}}} {
				if got := reportRow(t, r.stdout, c.hook); got != c.want {
					t.Errorf("%s: %v, want %v\n%s", c.hook, got, c.want, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "bad ") || bad.Count() != 0 {
				t.Fatalf("replayed to an unselected webhook:\n%s", r.stdout)
			}
			if recv.Count() != 3+calls {
				t.Fatalf("receiver got %d requests, want %d", recv.Count(), 3+calls)
			}
			if !strings.Contains(r.stderr, "accepted") || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("want one summary line off a terminal, got:\n%s", r.stderr)
			}
			first = recv.IDs()
		})

		t.Run("second run skips everything", func(t *testing.T) {
			before := recv.Count()
			r := replay(main...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			for hook, n := range map[string]int{"teams": 2, "queues": 1, "calls": calls} {
				if got := reportRow(t, r.stdout, hook); got != [5]int{0, 0, 0, n, 0} {
					t.Errorf("%s: %v, want %d skipped", hook, got, n)
				}
			}
			if !strings.Contains(r.stderr, " 0 accepted, "+strconv.Itoa(2+calls)+" skipped") {
				t.Errorf("summary: %s", r.stderr)
			}
			time.Sleep(200 * time.Millisecond)
			if recv.Count() != before {
				t.Fatalf("second run sent %d requests", recv.Count()-before)
			}
		})

		t.Run("force delivers again under new ids", func(t *testing.T) {
			before := recv.Count()
			r := replay(append(main, "--force")...)
			if r.code != 0 || reportRow(t, r.stdout, "teams") != [5]int{2, 0, 0, 0, 0} || reportRow(t, r.stdout, "calls") != [5]int{calls, 0, 0, 0, 0} {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			reqs := recv.Requests()[before:]
			if len(reqs) != 3+calls {
				t.Fatalf("--force sent %d requests, want %d", len(reqs), 3+calls)
			}
			for _, q := range reqs {
				if id := q.Header.Get("webhook-id"); first[id] > 0 || id == "" {
					t.Fatalf("--force reused delivery id %q", id)
				}
			}
		})

		t.Run("webhook selection and time window", func(t *testing.T) {
			before := len(pathIDs("/queues"))
			// The Teams records are of 2026-11-23: none before 2026.
			r := replay("--webhook", "queues", "--force", "--until", "2026-01-01T00:00:00Z")
			if r.code != 0 || reportRow(t, r.stdout, "queues") != [5]int{0, 0, 0, 0, 0} || !strings.Contains(r.stderr, strconv.Itoa(2+calls)+" out of range") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			r = replay("--webhook", "queues", "--force", "--since", "2026-01-01T00:00:00Z", "--rate", "1000")
			if r.code != 0 || reportRow(t, r.stdout, "queues") != [5]int{1, 0, 0, 0, 0} || strings.Contains(r.stdout, "teams") {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if got := len(pathIDs("/queues")); got != before+1 {
				t.Fatalf("queues got %d new deliveries, want 1", got-before)
			}
		})

		t.Run("dead deliveries fail the run", func(t *testing.T) {
			r := replay("--webhook", "bad")
			if r.code != 1 || reportRow(t, r.stdout, "bad") != [5]int{0, 0, 1, 0, 0} {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if bad.Count() != 2 {
				t.Fatalf("bad receiver got %d requests, want 2 attempts", bad.Count())
			}
			// Not delivered, so a second run tries again (not skipped).
			r = replay("--webhook", "bad")
			if r.code != 1 || reportRow(t, r.stdout, "bad") != [5]int{0, 0, 1, 0, 0} {
				t.Fatalf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		})
	})
}

func TestReplayUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no inputs", []string{"replay", "-c", "testdata/render.yaml"}, exitUsage, "no input files"},
		{"bad since", []string{"replay", "-c", "testdata/render.yaml", "--since", "today", sample}, exitUsage, `--since: "today"`},
		{"until before since", []string{"replay", "-c", "testdata/render.yaml", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z", sample}, exitUsage, "not after"},
		{"negative rate", []string{"replay", "-c", "testdata/render.yaml", "--rate", "-1", sample}, exitUsage, "--rate"},
		{"unknown webhook", []string{"replay", "-c", "testdata/render.yaml", "--webhook", "nope", sample}, exitFail, `no webhook "nope"`},
		{"bad config", []string{"replay", "-c", "testdata/bad.yaml", sample}, exitFail, "stor: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q lacks %q", r.code, tc.code, r.stderr, tc.want)
			}
		})
	}
}

func TestReplayProgressLine(t *testing.T) {
	tests := []struct {
		name                           string
		read, total, created, finished int64
		readDone                       bool
		elapsed                        time.Duration
		want                           string
	}{
		{"reading, total unknown", 10, 0, 0, 0, false, time.Second, "[........................] reading: 10 read, 0 accepted, 0 skipped, 0/0 deliveries finished · 10 ev/s · ETA --"},
		{"reading a quarter", 25, 100, 0, 0, false, 10 * time.Second, "[######..................] reading: 25 read, 0 accepted, 0 skipped, 0/0 deliveries finished · 2 ev/s · ETA 30s"},
		{"delivering half", 100, 100, 40, 20, true, 20 * time.Second, "[############............] delivering: 100 read, 0 accepted, 0 skipped, 20/40 deliveries finished · 5 ev/s · ETA 20s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &replayer{}
			r.read.Store(tt.read)
			r.total.Store(tt.total)
			r.created.Store(tt.created)
			r.finished.Store(tt.finished)
			r.readDone.Store(tt.readDone)
			if got := r.progressLine(tt.elapsed); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Replay feeds the webhooks stored in the database (created at run time)
// as well as the config file's: by default, with --webhook and in a dry
// run. A stored webhook that does not load is reported and skipped, and
// naming it is an error. (Not parallel: t.Setenv, which the binary
// inherits.)
func TestReplayStoredWebhooks(t *testing.T) {
	t.Setenv("CDRGW_T7_REPLAY_TAG", "tag-7")
	t.Setenv("CDRGW_T7_DB_PASSWORD", "db-pa55")
	ctx := context.Background()
	recv := receiver.Start(t, nil)
	storeURL := "sqlite://" + filepath.Join(t.TempDir(), "cdrgw.db")
	cfgPath := writeConfig(t, storeURL, "127.0.0.1:0", "",
		hookYAML{name: "from-file", url: recv.URL + "/file", events: "queue.ended", attempts: 2})
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("webhook_env: [CDRGW_T7_REPLAY_*]\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg, err := config.LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	// Created as the admin API and the console create them; and one that
	// reads a variable outside webhook_env, as a gateway with a wider
	// webhook_env might have stored it.
	st := openTestStore(t, storeURL)
	set := webhookset.New(cfg, st, nopEngine{}, nil)
	if err := set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Create(ctx, []byte(`{"name": "stored-q", "url": "`+recv.URL+`/stored", "events": ["queue.ended"],
		"params": {"call": "record.call_id"}, "headers": {"X-Tag": "env(\"CDRGW_T7_REPLAY_TAG\")"},
		"retry": {"attempts": 2, "schedule": "fixed", "interval": "50ms", "jitter": 0}}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.PutWebhook(ctx, store.StoredWebhook{Name: "leaky", Spec: []byte(`{"name": "leaky", "url": "` + recv.URL + `/leaky",
		"events": ["queue.ended"], "headers": {"X-Tag": "env(\"CDRGW_T7_DB_PASSWORD\")"}}`)}); err != nil {
		t.Fatal(err)
	}
	const skipped = `stored webhook "leaky" skipped: it does not load: `
	replay := func(args ...string) binResult {
		return runBin(t, "", append(append([]string{"replay", "-c", cfgPath}, args...), sample)...)
	}
	paths := func() map[string]int {
		n := map[string]int{}
		for _, q := range recv.Requests() {
			n[q.Path]++
			if tag := q.Header.Get("X-Tag"); q.Path == "/stored" && tag != "tag-7" {
				t.Errorf("stored webhook sent X-Tag %q, want tag-7", tag)
			}
		}
		return n
	}

	t.Run("dry run renders stored webhooks", func(t *testing.T) {
		r := replay("--dry-run")
		if r.code != exitOK || !strings.Contains(r.stdout, "# webhook stored-q, event ") || !strings.Contains(r.stdout, "X-Tag: tag-7") ||
			!strings.Contains(r.stdout, "# webhook from-file, event ") || strings.Contains(r.stdout, "leaky") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, skipped) || !strings.Contains(r.stderr, "not in webhook_env") {
			t.Fatalf("the broken stored webhook is not reported:\n%s", r.stderr)
		}
		if recv.Count() != 0 {
			t.Fatal("dry run sent requests")
		}
	})
	t.Run("default feeds stored webhooks", func(t *testing.T) {
		r := replay()
		if r.code != exitOK || reportRow(t, r.stdout, "stored-q") != [5]int{1, 0, 0, 0, 0} ||
			reportRow(t, r.stdout, "from-file") != [5]int{1, 0, 0, 0, 0} || strings.Contains(r.stdout, "leaky") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, skipped) {
			t.Fatalf("the broken stored webhook is not reported:\n%s", r.stderr)
		}
		if got := paths(); got["/stored"] != 1 || got["/file"] != 1 || got["/leaky"] != 0 {
			t.Fatalf("receiver got %v", got)
		}
	})
	t.Run("--webhook selects a stored webhook", func(t *testing.T) {
		r := replay("--webhook", "stored-q", "--force")
		if r.code != exitOK || reportRow(t, r.stdout, "stored-q") != [5]int{1, 0, 0, 0, 0} || strings.Contains(r.stdout, "from-file") ||
			strings.Contains(r.stderr, "leaky") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if got := paths(); got["/stored"] != 2 || got["/file"] != 1 {
			t.Fatalf("receiver got %v", got)
		}
	})
	t.Run("--webhook naming a stored webhook that does not load", func(t *testing.T) {
		r := replay("--webhook", "leaky")
		if r.code != exitFail || !strings.Contains(r.stderr, `--webhook: stored webhook "leaky" does not load: `) ||
			!strings.Contains(r.stderr, `env("CDRGW_T7_DB_PASSWORD"): not in webhook_env`) || strings.Contains(r.stderr, "db-pa55") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		r = replay("--webhook", "nope", "--dry-run")
		if r.code != exitFail || !strings.Contains(r.stderr, `--webhook: no webhook "nope" in `+cfgPath+" or in the store") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if got := paths(); got["/leaky"] != 0 || got["/stored"] != 2 {
			t.Fatalf("receiver got %v", got)
		}
	})
}

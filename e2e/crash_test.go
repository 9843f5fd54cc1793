package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
)

// crashGate skips the crash tests under -short: each takes some 40 s, most
// of it waiting for the leases of the killed processes to expire.
func crashGate(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("crash test: skipped with -short (make crash-test runs it)")
	}
}

// seed returns CDRGW_E2E_SEED, or a new seed, and logs it.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("CDRGW_E2E_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CDRGW_E2E_SEED: %q is not a number", v)
		}
		s = n
	}
	t.Logf("seed %d (CDRGW_E2E_SEED=%d replays the random choices)", s, s)
	return s
}

// TestCrashSQLite kills the gateway three times while it takes and delivers
// 5,000 Teams records on SQLite, and checks that nothing acknowledged is lost.
func TestCrashSQLite(t *testing.T) {
	crashGate(t)
	runCrash(t, sqliteURL(t))
}

// TestCrashPostgres is TestCrashSQLite on PostgreSQL.
func TestCrashPostgres(t *testing.T) {
	crashGate(t)
	runCrash(t, pgtest.URL(t))
}

// kill is one SIGKILL of the crash test.
type kill struct {
	at      time.Duration // since the start of posting
	pid     int
	claimed int // deliveries claimed and not finished by the killed process
}

func runCrash(t *testing.T, storeURL string) {
	const (
		records     = 5000
		maxBatch    = 50
		posters     = 4
		concurrency = 16
		kills       = 3
		postWindow  = 8 * time.Second // how long the posters are paced to take
	)
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 1))

	// The receiver answers 200 after 0-19 ms, so that attempts are in flight
	// at every kill.
	var rmu sync.Mutex
	rrng := rand.New(rand.NewPCG(s, 2))
	rcv := receiver.Start(t, func(*receiver.Request) receiver.Response {
		rmu.Lock()
		d := time.Duration(rrng.IntN(20)) * time.Millisecond
		rmu.Unlock()
		return receiver.Response{Delay: d}
	})
	gw := newGateway(t, "gw", gatewayConfig{Store: storeURL, Receiver: rcv.URL, Concurrency: concurrency})
	gw.mustStart()

	// 5,000 distinct records in batches of 1-50.
	var batches [][]string // CallIds
	want := make(map[string]bool, records)
	for i := 0; i < records; {
		n := min(1+rng.IntN(maxBatch), records-i)
		b := make([]string, n)
		for j := range b {
			b[j] = fmt.Sprintf("crash-%d-%05d", s, i+j)
			want[queueEventID(b[j])] = true
		}
		batches = append(batches, b)
		i += n
	}
	pace := postWindow * posters / time.Duration(len(batches))

	// Three kill moments, one in each third of the posting window.
	var plan []time.Duration
	for k := range kills {
		third := postWindow / kills
		plan = append(plan, time.Duration(k)*third+third/10+time.Duration(rng.Int64N(int64(third*8/10))))
	}
	t.Logf("%d records in %d batches, %d posters pacing %s, kills planned at %v", records, len(batches), posters, pace, plan)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		retried  int   // posts sent again after a failure
		postErr  error // first unexpected answer
	)
	work := make(chan []string)
	go func() {
		defer close(work)
		for _, b := range batches {
			select {
			case work <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range posters {
		wg.Go(func() {
			for b := range work {
				recs := make([]any, len(b))
				for j, id := range b {
					recs[j] = queueRecord(id, j)
				}
				body := mustJSON(t, recs)
				for try := 0; ; try++ {
					status, tr, err := postTeams(ctx, client, gw.URL, teamsToken, body)
					if err == nil && status == http.StatusAccepted {
						mu.Lock()
						retried += min(try, 1)
						for j, id := range tr.Accepted {
							if j >= len(b) || id != queueEventID(b[j]) {
								postErr = cmpOr(postErr, fmt.Errorf("batch %v: accepted %v, want the ids of its records in order", b, tr.Accepted))
							}
							accepted[id] = true
						}
						if len(tr.Accepted) != len(b) {
							postErr = cmpOr(postErr, fmt.Errorf("batch of %d: accepted %d", len(b), len(tr.Accepted)))
						}
						mu.Unlock()
						break
					}
					// A dead gateway refuses or resets the connection; one
					// that is stopping may answer 503. Anything else is a bug.
					if err == nil && status != http.StatusServiceUnavailable {
						mu.Lock()
						postErr = cmpOr(postErr, fmt.Errorf("POST /ingest/teams: status %d: %+v", status, tr))
						mu.Unlock()
						return
					}
					if ctx.Err() != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(pace)
			}
		})
	}

	var done []kill
	var killErr error
	for _, at := range plan {
		time.Sleep(time.Until(start.Add(at)))
		pid := gw.kill()
		k := kill{at: time.Since(start), pid: pid}
		n, err := claimedBy(ctx, storeURL, pid)
		if err != nil {
			killErr = fmt.Errorf("count claimed deliveries of pid %d: %w", pid, err)
			break
		}
		k.claimed = n
		done = append(done, k)
		if err := gw.start(); err != nil {
			killErr = err
			break
		}
		t.Logf("killed pid %d at %s with %d deliveries claimed; restarted after %s", pid, k.at.Round(time.Millisecond), n,
			(time.Since(start) - k.at).Round(time.Millisecond))
	}
	wg.Wait()
	if killErr != nil {
		t.Fatal(killErr)
	}
	if postErr != nil {
		t.Fatal(postErr)
	}
	t.Logf("posting done after %s; %d posts retried after a failure", time.Since(start).Round(time.Millisecond), retried)
	if len(accepted) != records {
		t.Fatalf("%d records accepted, want %d (ctx: %v)", len(accepted), records, ctx.Err())
	}
	for id := range accepted {
		if !want[id] {
			t.Fatalf("accepted unknown event id %s", id)
		}
	}

	// Every accepted event must arrive; the leases of the killed processes
	// (webhook timeout + 30s) expire within the wait.
	waitStart := time.Now()
	missing := records
	for time.Since(waitStart) < 2*time.Minute {
		got := map[string]bool{}
		for _, d := range deliveries(t, rcv.Requests()) {
			got[d.EventID] = true
		}
		missing = 0
		for id := range accepted {
			if !got[id] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if missing > 0 {
		t.Fatalf("%d of %d accepted events never reached the receiver after %s", missing, records, time.Since(waitStart))
	}
	// Deliveries left claimed by a killed process are sent again when their
	// lease expires: wait for them before counting duplicates.
	if err := waitQueueEmpty(client, gw.URL, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("all delivered %s after posting (%s in all)", time.Since(waitStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	got := deliveries(t, rcv.Requests())
	perEvent := map[string]map[string]int{} // event id → delivery id → requests
	for _, d := range got {
		if !accepted[d.EventID] {
			t.Fatalf("receiver got event %s, which was never accepted", d.EventID)
		}
		if perEvent[d.EventID] == nil {
			perEvent[d.EventID] = map[string]int{}
		}
		perEvent[d.EventID][d.DeliveryID]++
	}
	// Posts retried after an unclear failure must not create deliveries:
	// the event id is derived from the record and the store keeps one.
	for id, ds := range perEvent {
		if len(ds) != 1 {
			t.Errorf("event %s has %d deliveries, want 1: %v", id, len(ds), ds)
		}
	}
	bound := 0
	for _, k := range done {
		bound += k.claimed
	}
	dups := len(got) - len(perEvent)
	// A claim lasts until its result is written, so a kill may find more
	// claims than the webhook's concurrency: results waiting to be written
	// hold theirs too.
	t.Logf("%d requests for %d events: %d duplicates; %d deliveries were claimed by the killed processes (%d × concurrency = %d)",
		len(got), len(perEvent), dups, bound, kills, kills*concurrency)
	if dups > bound {
		t.Errorf("%d duplicate deliveries, more than the %d attempts in flight at the kills %+v", dups, bound, done)
	}
	if !slices.ContainsFunc(done, func(k kill) bool { return k.claimed > 0 }) {
		t.Logf("no kill found an attempt in flight (seed %d); the run checked crash recovery of ingest only", s)
	}
}

// cmpOr returns a if it is not nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

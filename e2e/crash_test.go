package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
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
// 5,000 Teams records on SQLite, and checks that nothing acknowledged is lost
// and that only attempts in flight at the kills were repeated (see runCrash).
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
	replica string // CDRGW_REPLICA of the killed process: the X-Replica of its requests
	// leased are the deliveries the killed process held leased and had not
	// finished (claimedBy, read once it was dead).
	leased []string
	// seen are those of leased that the receiver had recorded a request of
	// from the killed process in its snapshot, taken after the process was
	// dead and the receiver's longest delay had passed.
	seen int
	// inFlight are those of leased with a request from the killed process
	// among all the requests the receiver recorded by the end of the test
	// (a request may be recorded after the snapshot): sent, and killed
	// before its result was written. The others (ahead) were claimed ahead
	// and never sent, or sent and cut off before the receiver answered,
	// which the receiver does not record: neither can be a duplicate.
	inFlight map[string]bool
	ahead    int
}

// runCrash starts the gateway on storeURL with a webhook to a loopback
// receiver, posts 5,000 Teams records in batches from several posters
// (retrying a post that failed), kills the gateway with SIGKILL at three
// seeded random moments and restarts it. At each kill, once the process is
// dead, it reads the deliveries the process held leased. At the end it
// checks that
//   - every record was accepted once, with the event id derived from it,
//     and every accepted event reached the receiver, through one delivery
//     (the store holds one per event, each delivered), and nothing else did;
//   - (a) the duplicate requests are no more than the attempts in flight at
//     the kills: deliveries the killed process held leased and had sent
//     (the receiver recorded its request), result not written;
//   - (b) per delivery: each request but the last was in flight at a
//     distinct kill (or is a failed attempt written, normally none).
//
// Deliveries leased but not seen by the receiver (claimed ahead and queued,
// or cut off before the receiver answered) are counted apart and logged.
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

	// The receiver answers 200 after 0-19 ms (maxDelay), so that attempts
	// are in flight at every kill. It records a request when it answers it:
	// one whose client vanished during the delay is not recorded.
	const maxDelay = 20 * time.Millisecond
	var rmu sync.Mutex
	rrng := rand.New(rand.NewPCG(s, 2))
	rcv := receiver.Start(t, func(*receiver.Request) receiver.Response {
		rmu.Lock()
		d := time.Duration(rrng.Int64N(int64(maxDelay/time.Millisecond))) * time.Millisecond
		rmu.Unlock()
		return receiver.Response{Delay: d}
	})
	// Each start of the gateway gets its own CDRGW_REPLICA, which the
	// webhook sends as X-Replica: every request the receiver records names
	// the process that sent it.
	run := 1
	replica := func() string { return fmt.Sprintf("crash-run-%d", run) }
	gw := newGateway(t, "gw", gatewayConfig{Store: storeURL, Receiver: rcv.URL, Concurrency: concurrency}, "CDRGW_REPLICA="+replica())
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
		pid := gw.kill() // returns once the process has exited
		k := kill{at: time.Since(start), pid: pid, replica: replica()}
		// Nothing new can come from the dead process, but the receiver
		// records a request only when it answers, after its delay: wait
		// that out before the snapshot.
		time.Sleep(2 * maxDelay)
		snap := map[string]bool{} // deliveries with a request from the killed process
		for _, r := range rcv.Requests() {
			if r.Header.Get("X-Replica") == k.replica {
				snap[r.Header.Get("webhook-id")] = true
			}
		}
		leased, err := claimedBy(ctx, storeURL, pid)
		if err != nil {
			killErr = fmt.Errorf("read the deliveries leased by pid %d: %w", pid, err)
			break
		}
		k.leased = leased
		for _, id := range leased {
			if snap[id] {
				k.seen++
			}
		}
		done = append(done, k)
		run++
		gw.mu.Lock()
		gw.env = []string{"CDRGW_REPLICA=" + replica()}
		gw.mu.Unlock()
		if err := gw.start(); err != nil {
			killErr = err
			break
		}
		t.Logf("killed pid %d at %s holding %d deliveries leased, %d of them seen by the receiver (in flight); restarted after %s",
			pid, k.at.Round(time.Millisecond), len(leased), k.seen, (time.Since(start) - k.at).Round(time.Millisecond))
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
	received := map[string]int{}            // delivery id → requests
	sentBy := map[string]map[string]bool{}  // X-Replica → delivery ids it sent
	for _, d := range got {
		if !accepted[d.EventID] {
			t.Fatalf("receiver got event %s, which was never accepted", d.EventID)
		}
		if d.DeliveryID == "" || d.Replica == "" {
			t.Fatalf("receiver got a request of event %s without a webhook-id or an X-Replica: %+v", d.EventID, d)
		}
		if perEvent[d.EventID] == nil {
			perEvent[d.EventID] = map[string]int{}
		}
		perEvent[d.EventID][d.DeliveryID]++
		received[d.DeliveryID]++
		if sentBy[d.Replica] == nil {
			sentBy[d.Replica] = map[string]bool{}
		}
		sentBy[d.Replica][d.DeliveryID] = true
	}
	// Posts retried after an unclear failure must not create deliveries:
	// the event id is derived from the record and the store keeps one.
	for id, ds := range perEvent {
		if len(ds) != 1 {
			t.Errorf("event %s has %d deliveries, want 1: %v", id, len(ds), ds)
		}
	}
	// The store must agree: one delivery per accepted event, each delivered
	// and received. Its attempts are the attempts whose result was written.
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	stored, err := deliveryStates(qctx, storeURL)
	if err != nil {
		t.Fatalf("read the deliveries: %v", err)
	}
	if len(stored) != records {
		t.Errorf("the store has %d deliveries, want %d", len(stored), records)
	}
	retriesWritten := 0 // attempts written that did not deliver
	for id, st := range stored {
		if st.status != "delivered" || st.attempts < 1 || received[id] == 0 {
			t.Errorf("delivery %s: %s after %d attempts, received %d times; want delivered and received", id, st.status, st.attempts, received[id])
		}
		retriesWritten += max(0, st.attempts-1)
	}

	// An attempt in flight at a kill is a delivery that the killed process
	// held leased (its result not written) and that the receiver recorded a
	// request of from that process, at any time: the X-Replica header names
	// the sender, so a request recorded after the kill's snapshot counts
	// too. A delivery is sent again only when its result is not written, so
	// every request of a delivery but its last is one of
	//   - an attempt in flight at a kill, or
	//   - an attempt whose result was written and was not "delivered" (a
	//     timeout or network error, then a retry; or one canceled by a
	//     graceful stop, due again at once): counted in its attempts.
	// Nothing else sends a delivery twice: a claim that failed is given back
	// unsent, jobs claimed ahead go back unsent at Stop or when their lease
	// runs short, and a lease (webhook timeout + 30 s) runs out under a live
	// process only if its result cannot be written for that long (the
	// engine logs "giving up"), which fails this check, as it should on a
	// healthy local store.
	inFlightAt := map[string]int{} // delivery id → kills it was in flight at
	sumLeased, sumInFlight, sumAhead, late := 0, 0, 0, 0
	for i := range done {
		k := &done[i]
		k.inFlight = map[string]bool{}
		for _, id := range k.leased {
			if sentBy[k.replica][id] {
				k.inFlight[id] = true
				inFlightAt[id]++
			} else {
				k.ahead++
			}
		}
		sumLeased += len(k.leased)
		sumInFlight += len(k.inFlight)
		sumAhead += k.ahead
		late += len(k.inFlight) - k.seen
		t.Logf("kill %d (pid %d at %s): %d leased, %d in flight (%d recorded after the snapshot), %d claimed ahead (never sent, or cut off before the receiver answered)",
			i+1, k.pid, k.at.Round(time.Millisecond), len(k.leased), len(k.inFlight), len(k.inFlight)-k.seen, k.ahead)
	}
	dups := len(got) - len(perEvent)
	// Attempts in flight may outnumber the webhook's concurrency: a lease
	// lasts until the result is written, so answered attempts whose results
	// wait to be written count too.
	t.Logf("%d requests for %d events: %d duplicates; at the kills %d deliveries leased, %d attempts in flight (%d recorded after the snapshots), %d claimed ahead (%d kills × concurrency %d = %d); %d failed attempts written",
		len(got), len(perEvent), dups, sumLeased, sumInFlight, late, sumAhead, kills, concurrency, kills*concurrency, retriesWritten)
	// (a) In all: no more duplicates than attempts in flight at the kills
	// (and failed attempts written, normally none: the receiver answers 200).
	if dups > sumInFlight+retriesWritten {
		t.Errorf("%d duplicate deliveries, more than the %d attempts in flight at the kills (+ %d failed attempts written)", dups, sumInFlight, retriesWritten)
	}
	// (b) Per delivery: each request but the last is accounted for by a kill
	// it was in flight at or by a failed attempt written.
	for id, n := range received {
		extra, allowed := n-1, inFlightAt[id]+max(0, stored[id].attempts-1)
		if extra > allowed {
			t.Errorf("delivery %s received %d times: in flight at %d kills, %d attempts written (%d failed)", id, n, inFlightAt[id], stored[id].attempts, max(0, stored[id].attempts-1))
		}
	}
	if sumInFlight == 0 {
		t.Logf("no kill found an attempt in flight (seed %d); the run checked crash recovery of ingest only", s)
	}
}

// deliveryState is a delivery's status and number of attempts written.
type deliveryState struct {
	status   string
	attempts int
}

// deliveryStates reads every delivery's state from the store at storeURL
// (sqlite:// or postgres://), by delivery id.
func deliveryStates(ctx context.Context, storeURL string) (map[string]deliveryState, error) {
	const q = `SELECT id, status, attempts FROM deliveries`
	out := map[string]deliveryState{}
	err := queryStore(ctx, storeURL, q, func(scan func(...any) error) error {
		var id string
		var st deliveryState
		if err := scan(&id, &st.status, &st.attempts); err != nil {
			return err
		}
		out[id] = st
		return nil
	})
	return out, err
}

// cmpOr returns a if it is not nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

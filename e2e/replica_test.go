package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/internal/receiver"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
)

// TestReplicasShareWork starts three gateways on one PostgreSQL database,
// posts records to all of them and checks that the three share the
// deliveries and that each delivery is sent exactly once.
func TestReplicasShareWork(t *testing.T) {
	const (
		replicas = 3
		records  = 3000
		posters  = 6
	)
	dsn := pgtest.URL(t)
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, 3))
	rcv := receiver.Start(t, func(*receiver.Request) receiver.Response {
		return receiver.Response{Delay: 2 * time.Millisecond}
	})
	gws := make([]*gateway, replicas)
	for i := range gws {
		name := fmt.Sprintf("r%d", i)
		gws[i] = newGateway(t, name, gatewayConfig{Store: dsn, Receiver: rcv.URL, Concurrency: 8}, "CDRGW_REPLICA="+name)
	}
	// Start them together, as a deployment would: they race to migrate.
	errs := make(chan error, replicas)
	for _, g := range gws {
		go func() { errs <- g.start() }()
	}
	for range gws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	var batches [][]string
	want := map[string]bool{}
	for i := 0; i < records; {
		n := min(1+rng.IntN(50), records-i)
		b := make([]string, n)
		for j := range b {
			b[j] = fmt.Sprintf("replica-%d-%05d", s, i+j)
			want[queueEventID(b[j])] = true
		}
		batches = append(batches, b)
		i += n
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu      sync.Mutex
		postErr error
	)
	var wg sync.WaitGroup
	for p := range posters {
		wg.Go(func() {
			g := gws[p%replicas]
			for bi := p; bi < len(batches); bi += posters {
				b := batches[bi]
				recs := make([]any, len(b))
				for j, id := range b {
					recs[j] = queueRecord(id, j)
				}
				status, tr, err := postTeams(ctx, client, g.URL, teamsToken, mustJSON(t, recs))
				if err == nil && (status != http.StatusAccepted || len(tr.Accepted) != len(b)) {
					err = fmt.Errorf("status %d, %d of %d accepted: %+v", status, len(tr.Accepted), len(b), tr)
				}
				if err != nil {
					mu.Lock()
					postErr = cmpOr(postErr, fmt.Errorf("POST to %s: %w", g.name, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if postErr != nil {
		t.Fatal(postErr)
	}
	rcv.WaitT(t, records, time.Minute)
	for _, g := range gws {
		if err := waitQueueEmpty(client, g.URL, 30*time.Second); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
	}

	got := deliveries(t, rcv.Requests())
	byReplica := map[string]int{}
	perDelivery := map[string]int{}
	perEvent := map[string]map[string]bool{}
	for _, d := range got {
		byReplica[d.Replica]++
		perDelivery[d.DeliveryID]++
		if !want[d.EventID] {
			t.Fatalf("receiver got event %s, which was never posted", d.EventID)
		}
		if perEvent[d.EventID] == nil {
			perEvent[d.EventID] = map[string]bool{}
		}
		perEvent[d.EventID][d.DeliveryID] = true
	}
	t.Logf("%d requests; per replica %v", len(got), byReplica)
	if len(perEvent) != records {
		t.Fatalf("%d distinct events delivered, want %d", len(perEvent), records)
	}
	for id, n := range perDelivery {
		if n != 1 {
			t.Errorf("delivery %s sent %d times, want once", id, n)
		}
	}
	for id, ds := range perEvent {
		if len(ds) != 1 {
			t.Errorf("event %s has %d deliveries, want 1", id, len(ds))
		}
	}
	for _, g := range gws {
		if byReplica[g.name] == 0 {
			t.Errorf("replica %s delivered nothing: %v", g.name, byReplica)
		}
	}
	if len(byReplica) != replicas {
		t.Errorf("requests came from %v, want only the replicas r0..r%d", byReplica, replicas-1)
	}
}

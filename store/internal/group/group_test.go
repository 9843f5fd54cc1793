package group

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

func batch(ids ...string) []store.NewEvent {
	out := make([]store.NewEvent, len(ids))
	for i, id := range ids {
		out[i] = store.NewEvent{Event: cdr.Event{ID: id}}
	}
	return out
}

// fake records the transactions it was given; an event id "bad" fails the
// whole transaction, and "old" is reported as not new.
type fake struct {
	mu   sync.Mutex
	txs  [][]string
	gate chan struct{} // when not nil, the first transaction waits for it
}

func (f *fake) accept(_ context.Context, b []store.NewEvent) ([]bool, error) {
	f.mu.Lock()
	gate := f.gate
	f.gate = nil
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	ids := make([]string, len(b))
	fresh := make([]bool, len(b))
	for i, ne := range b {
		if ne.Event.ID == "bad" {
			return nil, errors.New("bad event")
		}
		ids[i], fresh[i] = ne.Event.ID, ne.Event.ID != "old"
	}
	f.mu.Lock()
	f.txs = append(f.txs, ids)
	f.mu.Unlock()
	return fresh, nil
}

func TestAcceptAlone(t *testing.T) {
	f := &fake{}
	c := New(f.accept)
	fresh, err := c.Accept(t.Context(), batch("a", "old"))
	if err != nil || len(fresh) != 2 || !fresh[0] || fresh[1] {
		t.Fatalf("fresh %v, err %v; want [true false], nil", fresh, err)
	}
	if len(f.txs) != 1 {
		t.Fatalf("%d transactions, want 1", len(f.txs))
	}
}

// While one transaction is being written, the batches that arrive are
// written together in the next, each caller getting its own results, and a
// failing batch fails only its caller.
func TestAcceptCombines(t *testing.T) {
	gate := make(chan struct{})
	f := &fake{gate: gate}
	c := New(f.accept)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.Accept(context.Background(), batch("first")); err != nil {
			t.Error(err)
		}
	})
	waitBusy(t, c)
	const n = 20
	var (
		errs  [n]error
		fresh [n][]bool
	)
	for i := range n {
		wg.Go(func() {
			id := "e" + strconv.Itoa(i)
			switch i {
			case 3:
				id = "bad"
			case 4:
				id = "old"
			}
			fresh[i], errs[i] = c.Accept(context.Background(), batch(id, id+"-2"))
		})
	}
	for waitQueued(c) < n {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i := range n {
		switch {
		case i == 3:
			if errs[i] == nil {
				t.Errorf("batch %d: no error, want the bad event's", i)
			}
		case errs[i] != nil:
			t.Errorf("batch %d: %v", i, errs[i])
		case len(fresh[i]) != 2 || fresh[i][0] != (i != 4) || !fresh[i][1]:
			t.Errorf("batch %d: fresh %v", i, fresh[i])
		}
	}
	// first alone; then one failed combined write; then each of the 20 alone
	// (19 succeed): with no failure it would have been 2 transactions.
	if len(f.txs) != 1+n-1 {
		t.Errorf("%d transactions written, want %d", len(f.txs), n)
	}
}

func TestAcceptCombinedOnce(t *testing.T) {
	gate := make(chan struct{})
	f := &fake{gate: gate}
	c := New(f.accept)
	var wg sync.WaitGroup
	wg.Go(func() { c.Accept(context.Background(), batch("first")) })
	waitBusy(t, c)
	for i := range 10 {
		wg.Go(func() {
			if _, err := c.Accept(context.Background(), batch("e"+strconv.Itoa(i))); err != nil {
				t.Error(err)
			}
		})
	}
	for waitQueued(c) < 10 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if len(f.txs) != 2 || len(f.txs[1]) != 10 {
		t.Fatalf("transactions %v, want [first] and the 10 others together", f.txs)
	}
}

func TestAcceptCanceledWhileQueued(t *testing.T) {
	gate := make(chan struct{})
	f := &fake{gate: gate}
	c := New(f.accept)
	var wg sync.WaitGroup
	wg.Go(func() { c.Accept(context.Background(), batch("first")) })
	waitBusy(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := c.Accept(ctx, batch("gone")); done <- err }()
	for waitQueued(c) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	close(gate)
	wg.Wait()
	for _, tx := range f.txs {
		for _, id := range tx {
			if id == "gone" {
				t.Fatal("a batch canceled while queued was written")
			}
		}
	}
}

func waitBusy(t *testing.T, c *Committer) {
	t.Helper()
	for range 5000 {
		c.mu.Lock()
		busy := c.busy
		c.mu.Unlock()
		if busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the first Accept never started writing")
}

func waitQueued(c *Committer) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

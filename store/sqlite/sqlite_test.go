package sqlite_test

import (
	"fmt"
	"time"

	"path/filepath"
	"testing"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/sqlite"
	"github.com/cdrgw/cdrgw/store/storetest"
)

func open(t testing.TB) *sqlite.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "cdrgw.db"))
}

func openAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkAccept(b *testing.B) { storetest.BenchAccept(b, open(b)) }

func BenchmarkClaimFinish(b *testing.B) { storetest.BenchClaimFinish(b, open(b)) }

// What Accept returned is still there after the process goes away, and a
// claim whose owner vanished comes back when its lease runs out.
func TestReopenKeepsOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cdrgw.db")
	s := openAt(t, path)
	ctx := t.Context()
	if _, err := s.Accept(ctx, []store.NewEvent{{Event: storetest.Event(1, "c1"), Deliveries: []store.NewDelivery{{ID: "d1", Webhook: "crm", Key: "c1", NotBefore: storetest.T0}}}}); err != nil {
		t.Fatal(err)
	}
	if jobs, err := s.Claim(ctx, store.ClaimParams{Owner: "gone", Now: storetest.T0, Limit: 1, Lease: time.Minute}); err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %v", jobs, err)
	}
	s.Close()
	s = openAt(t, path)
	jobs, err := s.Claim(ctx, store.ClaimParams{Owner: "new", Now: storetest.T0.Add(2 * time.Minute), Limit: 1, Lease: time.Minute})
	if err != nil || len(jobs) != 1 || jobs[0].Delivery.ID != "d1" {
		t.Fatalf("claim after reopen: %v, %v", jobs, err)
	}
}

func BenchmarkClaimOtherBacklog(b *testing.B) {
	for _, backlog := range []int{0, 5000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) { storetest.BenchClaimOtherBacklog(b, open(b), backlog) })
	}
}

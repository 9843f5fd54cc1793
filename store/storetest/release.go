package storetest

import (
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
)

// testRelease checks that a released delivery is claimable again at the
// given time, with no attempt logged or counted, and that Release leaves
// alone what the owner does not hold.
func testRelease(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "crm", "c2", T0), dlv("d3", "crm", "c3", T0)}})
	equalIDs(t, "claim by a", jobIDs(claim(t, s, "a", T0, 2)), []string{"d1", "d2"})
	equalIDs(t, "claim by b", jobIDs(claim(t, s, "b", T0, 2)), []string{"d3"})
	finish(t, s, "a", "d2", store.StatusDelivered, T0)
	// d2 is final, d3 is b's and "nope" does not exist: none of them change.
	check(t, s.Release(ctx(t), "a", []string{"d1", "d2", "d3", "nope"}, T0.Add(time.Minute)))
	check(t, s.Release(ctx(t), "a", nil, T0))

	d1, as1 := getDelivery(t, s, "d1")
	if d1.Status != store.StatusPending || d1.LeaseOwner != "" || !d1.LeaseUntil.IsZero() || d1.Attempts != 0 || len(as1) != 0 {
		t.Fatalf("released d1: status %s owner %q until %v attempts %d, %d logged", d1.Status, d1.LeaseOwner, d1.LeaseUntil, d1.Attempts, len(as1))
	}
	if d2, _ := getDelivery(t, s, "d2"); d2.Status != store.StatusDelivered || d2.Attempts != 1 {
		t.Fatalf("released a delivered delivery: %+v", d2)
	}
	if d3, _ := getDelivery(t, s, "d3"); d3.LeaseOwner != "b" {
		t.Fatalf("released another owner's lease: owner %q", d3.LeaseOwner)
	}
	equalIDs(t, "before the release time", jobIDs(claim(t, s, "c", T0.Add(59*time.Second), 10)), nil)
	equalIDs(t, "at the release time", jobIDs(claim(t, s, "c", T0.Add(time.Minute), 10)), []string{"d1"})
	if s.Release(ctx(t), "", []string{"d1"}, T0) == nil {
		t.Fatal("release without an owner: no error")
	}
}

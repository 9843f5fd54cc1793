package storetest

import (
	"reflect"
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

// testReleaseOwner checks that ReleaseOwner gives back exactly the pending
// deliveries one owner token holds, keeping their attempts and attempt log,
// leaves every other row as it was (other tokens, one sharing the prefix,
// a delivery made final by a manual resend while leased), and that a
// second call, or one for a token that holds nothing, changes nothing.
func testReleaseOwner(t *testing.T, s store.Store) {
	accept(t, s, store.NewEvent{Event: Event(1, "c1"), Deliveries: []store.NewDelivery{
		dlv("d1", "crm", "c1", T0), dlv("d2", "crm", "c2", T0), dlv("d3", "erp", "c3", T0),
		dlv("d4", "crm", "c4", T0), dlv("d5", "crm", "c5", T0)}})
	// d1 has had a failed attempt and is due again.
	equalIDs(t, "claim by x", jobIDs(claim(t, s, "x", T0, 1)), []string{"d1"})
	finish(t, s, "x", "d1", store.StatusPending, T0)
	// gw#1 is the claim whose answer was lost; gw#10 shares its prefix.
	equalIDs(t, "claim by gw#1", jobIDs(claim(t, s, "gw#1", T0, 3)), []string{"d1", "d2", "d3"})
	equalIDs(t, "claim by gw#10", jobIDs(claim(t, s, "gw#10", T0, 1)), []string{"d4"})
	equalIDs(t, "claim by other", jobIDs(claim(t, s, "other", T0, 1)), []string{"d5"})
	// d2 is delivered by a manual resend while gw#1 holds it.
	check(t, s.AddAttempt(ctx(t), store.Attempt{DeliveryID: "d2", At: T0, Manual: true,
		Request: store.HTTPRequest{Method: "POST", URL: "http://x/"}, Response: &store.HTTPResponse{Status: 200}}, true))
	untouched := map[string]store.Delivery{}
	for _, id := range []string{"d2", "d4", "d5"} {
		untouched[id], _ = getDelivery(t, s, id)
	}

	next := T0.Add(time.Minute)
	check(t, s.ReleaseOwner(ctx(t), "gw#1", next))
	for _, tc := range []struct {
		id       string
		attempts int
	}{{"d1", 1}, {"d3", 0}} {
		d, as := getDelivery(t, s, tc.id)
		if d.Status != store.StatusPending || d.LeaseOwner != "" || !d.LeaseUntil.IsZero() || !d.NextAttemptAt.Equal(next) ||
			d.Attempts != tc.attempts || len(as) != tc.attempts {
			t.Errorf("%s after release: status %s, owner %q until %v, due %v, attempts %d, %d logged; want pending, no lease, due %v, %d attempts logged",
				tc.id, d.Status, d.LeaseOwner, d.LeaseUntil, d.NextAttemptAt, d.Attempts, len(as), next, tc.attempts)
		}
	}
	for id, want := range untouched {
		if got, _ := getDelivery(t, s, id); !reflect.DeepEqual(got, want) {
			t.Errorf("%s changed by a release of gw#1:\n got %+v\nwant %+v", id, got, want)
		}
	}

	// Again, later, and for a token that holds nothing: no change.
	check(t, s.ReleaseOwner(ctx(t), "gw#1", next.Add(time.Hour)))
	check(t, s.ReleaseOwner(ctx(t), "nobody", next.Add(time.Hour)))
	if d1, _ := getDelivery(t, s, "d1"); !d1.NextAttemptAt.Equal(next) {
		t.Fatalf("second release moved d1 to %v, want it due at %v", d1.NextAttemptAt, next)
	}
	equalIDs(t, "before the release time", jobIDs(claim(t, s, "c", next.Add(-time.Second), 10)), nil)
	equalIDs(t, "at the release time", jobIDs(claim(t, s, "c", next, 10)), []string{"d1", "d3"})
	if s.ReleaseOwner(ctx(t), "", next) == nil {
		t.Fatal("release without an owner: no error")
	}
}

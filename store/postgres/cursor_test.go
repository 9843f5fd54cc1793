package postgres_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/storetest"
)

// A full claim of a webhook makes the next one start after its last row;
// rows behind that point that become claimable again (leases that expired)
// are taken by the first claim from the front, which follows a claim that
// was not full or a cursor older than a second.
func TestClaimCursor(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	for i := range 30 {
		ev := storetest.Event(900+i, fmt.Sprint("cursor-", i))
		if _, err := s.Accept(ctx, []store.NewEvent{{Event: ev, Deliveries: []store.NewDelivery{{ID: fmt.Sprintf("d%02d", i), Webhook: "w", Key: ev.Record.Key()}}}}); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(owner string, limit int, lease time.Duration) []string {
		t.Helper()
		jobs, err := s.Claim(ctx, store.ClaimParams{Owner: owner, Now: time.Now(), Limit: limit, Lease: lease, Webhook: "w"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range jobs {
			ids = append(ids, j.Delivery.ID)
		}
		return ids
	}
	want := func(from, to int) []string {
		var ids []string
		for i := from; i < to; i++ {
			ids = append(ids, fmt.Sprintf("d%02d", i))
		}
		return ids
	}
	check := func(step string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: claimed %v, want %v", step, got, want)
		}
	}

	// d00-d09 leased for a moment only: a crashed replica's claim.
	check("first claim", claim("a", 10, 50*time.Millisecond), want(0, 10))
	time.Sleep(100 * time.Millisecond)
	// From the cursor: d10-d19, although d00-d09 are claimable again.
	check("claim from the cursor", claim("b", 10, time.Minute), want(10, 20))
	// Not full: the cursor goes.
	check("last rows", claim("b", 20, time.Minute), want(20, 30))
	check("claim from the front", claim("c", 20, time.Minute), want(0, 10))

	// A cursor older than a second is not used.
	if err := s.Release(ctx, "b", want(10, 30), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, "c", want(0, 10), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("claim to set a cursor", claim("d", 10, 50*time.Millisecond), want(0, 10))
	time.Sleep(postgres.CursorMaxAge + 50*time.Millisecond)
	check("claim after the cursor aged", claim("e", 10, time.Minute), want(0, 10))
}

// Ordered deliveries never leave a cursor: the next delivery of a key
// becomes claimable behind it when the earlier one finishes.
func TestClaimCursorOrdered(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	// o0 and o1 share a key, o2 has its own.
	for i, key := range []string{"a", "a", "b"} {
		ev := storetest.Event(950+i, "ordered-"+key)
		if _, err := s.Accept(ctx, []store.NewEvent{{Event: ev, Deliveries: []store.NewDelivery{{ID: fmt.Sprintf("o%d", i), Webhook: "w", Key: ev.Record.Key(), Ordered: true}}}}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(jobs []store.Job) (out []string) {
		for _, j := range jobs {
			out = append(out, j.Delivery.ID)
		}
		return out
	}
	jobs, err := s.Claim(ctx, store.ClaimParams{Owner: "a", Now: time.Now(), Limit: 2, Lease: time.Minute, Webhook: "w"})
	if err != nil {
		t.Fatal(err)
	}
	// A full claim, but o1 waits for o0.
	if got := ids(jobs); !slices.Equal(got, []string{"o0", "o2"}) {
		t.Fatalf("first claim: %v, want [o0 o2]", got)
	}
	var res []store.Result
	for _, j := range jobs {
		res = append(res, store.Result{Owner: "a", Status: store.StatusDelivered, Attempt: store.Attempt{DeliveryID: j.Delivery.ID, N: 1, At: time.Now()}})
	}
	if err := s.Finish(ctx, res); err != nil {
		t.Fatal(err)
	}
	jobs, err = s.Claim(ctx, store.ClaimParams{Owner: "b", Now: time.Now(), Limit: 2, Lease: time.Minute, Webhook: "w"})
	if err != nil {
		t.Fatal(err)
	}
	// o1, behind o2, is claimable now that o0 is delivered.
	if got := ids(jobs); !slices.Equal(got, []string{"o1"}) {
		t.Fatalf("second claim: %v, want [o1]", got)
	}
}

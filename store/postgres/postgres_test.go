package postgres_test

import (
	"fmt"
	"testing"

	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/postgres"
	"github.com/cdrgw/cdrgw/store/postgres/pgtest"
	"github.com/cdrgw/cdrgw/store/storetest"
)

func open(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkAccept(b *testing.B) { storetest.BenchAccept(b, open(b)) }

func BenchmarkClaimFinish(b *testing.B) { storetest.BenchClaimFinish(b, open(b)) }

func BenchmarkClaimOtherBacklog(b *testing.B) {
	for _, backlog := range []int{0, 5000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) { storetest.BenchClaimOtherBacklog(b, open(b), backlog) })
	}
}

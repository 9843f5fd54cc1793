package store_test

import (
	"math"
	"testing"

	"github.com/cdrgw/cdrgw/store"
)

func TestCursor(t *testing.T) {
	for _, seq := range []int64{1, 35, 36, 137, 1 << 40, math.MaxInt64} {
		got, err := store.DecodeCursor(store.EncodeCursor(seq))
		if err != nil || got != seq {
			t.Fatalf("round trip of %d: %d, %v", seq, got, err)
		}
	}
	if seq, err := store.DecodeCursor(""); seq != 0 || err != nil {
		t.Fatalf(`DecodeCursor("") = %d, %v`, seq, err)
	}
	for _, c := range []string{"s", "x1", "s0", "s-1", "S1", "s01", "s1 ", "szzzzzzzzzzzzzz", "s1.5"} {
		if _, err := store.DecodeCursor(c); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", c)
		}
	}
}

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, store.DefaultLimit}, {-5, store.DefaultLimit}, {7, 7}, {store.MaxLimit + 1, store.MaxLimit}} {
		if got := (store.Filter{Limit: tc.in}).PageLimit(); got != tc.want {
			t.Errorf("PageLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", "s1", "s3t", "s0", "x", "s-1", "s1y2p0ij32e8e7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		seq, err := store.DecodeCursor(c)
		if err != nil {
			return
		}
		if c == "" {
			if seq != 0 {
				t.Fatalf("empty cursor gave %d", seq)
			}
			return
		}
		if seq <= 0 || store.EncodeCursor(seq) != c {
			t.Fatalf("DecodeCursor(%q) = %d, which encodes to %q", c, seq, store.EncodeCursor(seq))
		}
	})
}

func BenchmarkDecodeCursor(b *testing.B) {
	b.ReportAllocs()
	c := store.EncodeCursor(123456789)
	for b.Loop() {
		if _, err := store.DecodeCursor(c); err != nil {
			b.Fatal(err)
		}
	}
}

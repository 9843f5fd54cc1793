package delivery

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewIDFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at       time.Time
		wantTime string // first 10 base32 digits, from the ULID spec's encoding
		wantBack time.Time
	}{
		{time.UnixMilli(0), "0000000000", time.UnixMilli(0)},
		{time.Unix(-5, 0), "0000000000", time.UnixMilli(0)},
		{time.UnixMilli(1), "0000000001", time.UnixMilli(1)},
		{time.UnixMilli(32), "0000000010", time.UnixMilli(32)},
		{time.UnixMilli(1<<48 - 1), "7ZZZZZZZZZ", time.UnixMilli(1<<48 - 1)},
		{time.UnixMilli(1 << 50), "7ZZZZZZZZZ", time.UnixMilli(1<<48 - 1)},
		// 1469918176385 ms is the ULID spec's example time 01ARYZ6S41.
		{time.UnixMilli(1469918176385), "01ARYZ6S41", time.UnixMilli(1469918176385)},
	}
	for _, tt := range tests {
		id := NewID(tt.at)
		if len(id) != 30 || !strings.HasPrefix(id, "dlv_") {
			t.Fatalf("NewID = %q, want dlv_ and 26 characters", id)
		}
		if got := id[4:14]; got != tt.wantTime {
			t.Errorf("NewID(%d ms) time digits = %s, want %s", tt.at.UnixMilli(), got, tt.wantTime)
		}
		back, err := IDTime(id)
		if err != nil || !back.Equal(tt.wantBack) {
			t.Errorf("IDTime(%q) = %s, %v; want %s", id, back, err, tt.wantBack)
		}
	}
}

func TestNewIDSortableAndUnique(t *testing.T) {
	t.Parallel()
	const n = 100_000
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	seen := make(map[string]struct{}, n)
	for i := range ids {
		ids[i] = NewID(start.Add(time.Duration(i) * time.Millisecond))
		if _, dup := seen[ids[i]]; dup {
			t.Fatalf("duplicate id %s", ids[i])
		}
		seen[ids[i]] = struct{}{}
	}
	if !slices.IsSorted(ids) {
		t.Fatal("ids made at increasing milliseconds do not sort by time")
	}
	// Same millisecond: still unique.
	clear(seen)
	for range n {
		id := NewID(start)
		if _, dup := seen[id]; dup {
			t.Fatalf("duplicate id %s within one millisecond", id)
		}
		seen[id] = struct{}{}
	}
}

func TestIDTimeErrors(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "dlv_", "evt_01ARYZ6S41TSV4RRFFQ69G5FAV", "dlv_01ARYZ6S41TSV4RRFFQ69G5FA", "dlv_81ARYZ6S41TSV4RRFFQ69G5FAV", "dlv_01ARYZ6S4UTSV4RRFFQ69G5FAV", "dlv_01ARYZ6S41TSV4RRFFQ69G5FAu"} {
		if _, err := IDTime(id); err == nil || !strings.Contains(err.Error(), "delivery id") {
			t.Errorf("IDTime(%q) error = %v, want one naming the id", id, err)
		}
	}
}

func FuzzIDTime(f *testing.F) {
	f.Add(NewID(time.UnixMilli(1469918176385)))
	f.Add("dlv_7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
	f.Add("dlv_")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		tm, err := IDTime(id)
		if err != nil {
			return
		}
		if ms := tm.UnixMilli(); ms < 0 || ms > maxIDMillis {
			t.Fatalf("IDTime(%q) = %s out of range", id, tm)
		}
		if again := NewID(tm); again[:14] != id[:14] {
			t.Fatalf("IDTime(%q) = %s does not round-trip: %s", id, tm, again)
		}
	})
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		_ = NewID(now)
	}
}

package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

func TestBoardCountsAndStates(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	b := NewBoard(func() time.Time { return now })
	b.Register("teams", "teams")
	b.Register("pbx1", "ari")

	st := b.Snapshot()
	if len(st) != 2 || st[0].Name != "pbx1" || st[1].Name != "teams" {
		t.Fatalf("snapshot order: %+v", st)
	}
	if st[0].Connected || !st[0].Since.IsZero() {
		t.Errorf("ari source before any report: %+v", st[0])
	}
	if !st[1].Connected {
		t.Errorf("teams source should count as connected: %+v", st[1])
	}

	r := b.For("pbx1")
	r.Disconnected(errors.New("dial tcp 127.0.0.1:8088: connection refused"))
	now = now.Add(5 * time.Second)
	r.Connected()
	b.Count("pbx1", 3)
	now = now.Add(30 * time.Second)
	b.Count("pbx1", 2)
	now = now.Add(40 * time.Second) // the first 3 are now older than a minute
	got := b.Snapshot()[0]
	if !got.Connected || !got.Since.Equal(time.Date(2026, 12, 4, 10, 0, 5, 0, time.UTC)) {
		t.Errorf("connected since: %+v", got)
	}
	if got.LastError != "dial tcp 127.0.0.1:8088: connection refused" {
		t.Errorf("last error %q", got.LastError)
	}
	if got.EventsLastMinute != 2 || got.EventsLastHour != 5 {
		t.Errorf("events last minute/hour = %d/%d, want 2/5", got.EventsLastMinute, got.EventsLastHour)
	}
	now = now.Add(2 * time.Hour)
	got = b.Snapshot()[0]
	if got.EventsLastMinute != 0 || got.EventsLastHour != 0 {
		t.Errorf("after two hours: %d/%d, want 0/0", got.EventsLastMinute, got.EventsLastHour)
	}
	// A repeated report does not move Since.
	since := got.Since
	now = now.Add(time.Minute)
	r.Connected()
	if got := b.Snapshot()[0]; !got.Since.Equal(since) {
		t.Errorf("Since moved on a repeated report: %v -> %v", since, got.Since)
	}
}

func TestBoardSinkCountsOnlyAccepted(t *testing.T) {
	b := NewBoard(nil)
	fail := true
	next := SinkFunc(func(context.Context, []cdr.Event) error {
		if fail {
			return errors.New("store down")
		}
		return nil
	})
	s := b.Sink("sbc", next)
	if err := s.Accept(context.Background(), make([]cdr.Event, 4)); err == nil {
		t.Fatal("want the error of the next sink")
	}
	fail = false
	if err := s.Accept(context.Background(), make([]cdr.Event, 2)); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot()[0].EventsLastMinute; got != 2 {
		t.Errorf("counted %d events, want 2 (only accepted ones)", got)
	}
}

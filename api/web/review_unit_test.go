package web

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An indented line continues the previous expression even when it starts
// with "#" (expr's current element in closures such as filter(xs, # > 1)).
func TestParseLinesContinuationWithHash(t *testing.T) {
	t.Parallel()
	pairs, errs := parseLines("params", "big: filter(record.legs,\n  # .duration > 30)\n# a comment\nn: 1")
	if len(errs) > 0 {
		t.Fatalf("errors %q", errs)
	}
	want := []kv{{K: "big", V: "filter(record.legs,\n# .duration > 30)", Line: 1}, {K: "n", V: "1", Line: 4}}
	if len(pairs) != len(want) || pairs[0] != want[0] || pairs[1] != want[1] {
		t.Errorf("pairs %+v, want %+v", pairs, want)
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.1:80": true, "[::1]:8080": true, "::1": true, "localhost": true, "LOCALHOST:1": true,
		"": false, "evil.example": false, "127.0.0.1.nip.io": false, "0.0.0.0": false, "[::ffff:127.0.0.1]:80": true,
		"10.0.0.1": false, "localhost.evil.example": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// A name holding ":" (an XML element such as soap:Body), or one that would
// read as a comment or a continuation, is written quoted and read back
// whole; values keep their own colons (a ? b : c, "12:30").
func TestLinesQuotedNames(t *testing.T) {
	t.Parallel()
	pairs := []kv{
		{K: "soap:Body.call", V: "record.call_id"},
		{K: "#tag", V: `"x"`},
		{K: ` padded `, V: "1"},
		{K: `say "hi"`, V: `a ? "b" : "c"`},
		{K: "time", V: `"12:30"`},
	}
	text := formatLines(pairs)
	got, errs := parseLines("params", text)
	if len(errs) > 0 {
		t.Fatalf("errors %q for:\n%s", errs, text)
	}
	if len(got) != len(pairs) {
		t.Fatalf("got %+v from:\n%s", got, text)
	}
	for i := range pairs {
		if got[i].K != pairs[i].K || got[i].V != pairs[i].V {
			t.Errorf("pair %d: %q: %q, want %q: %q (text:\n%s)", i, got[i].K, got[i].V, pairs[i].K, pairs[i].V, text)
		}
	}
	// Typed by hand.
	got, errs = parseLines("params", "\"ns:a\": 1\nb: x ? y : z\n\"bad: 2")
	if len(got) != 2 || got[0].K != "ns:a" || got[1].V != "x ? y : z" || len(errs) != 1 {
		t.Errorf("pairs %+v, errors %q", got, errs)
	}
}

// The background count stops when the console's context ends (the
// gateway shuts down), rather than running on for up to outcomesTimeout.
func TestOutcomesQueryStopsWithConsole(t *testing.T) {
	t.Parallel()
	base, cancel := context.WithCancel(t.Context())
	g := &gatedOutcomes{gate: make(chan struct{})} // never answers
	c := &outcomesCache{base: base, st: g, now: time.Now, wait: time.Millisecond}
	since := time.Now().Truncate(time.Hour)
	if v, _, err := c.get(t.Context(), since); v != nil || err != nil {
		t.Fatalf("while counting: %v, %v", v, err)
	}
	cancel()
	waitFor(t, func() bool { _, _, err := c.get(t.Context(), since); return errors.Is(err, context.Canceled) })
}

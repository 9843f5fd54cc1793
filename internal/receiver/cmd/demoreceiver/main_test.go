package main

import (
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/internal/receiver"
)

func TestLine(t *testing.T) {
	at := time.Date(2026, 12, 4, 18, 30, 1, 234e6, time.UTC)
	tests := []struct {
		name string
		q    receiver.Request
		want string
	}{
		{"json compacted", receiver.Request{Method: "POST", Path: "/calls", Body: []byte("{\n  \"type\": \"call.ended\"\n}"), At: at},
			`18:30:01.234 POST /calls {"type":"call.ended"}`},
		{"form kept, query shown", receiver.Request{Method: "GET", Path: "/q", Query: "a=1", Body: []byte("x=1&y=2"), At: at},
			`18:30:01.234 GET /q?a=1 x=1&y=2`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := line(&tc.q); got != tc.want {
				t.Errorf("line = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:1", "10.0.0.1:80", "localhost:80", ":80"} {
		if err := run(addr, nil); err == nil {
			t.Errorf("run(%q) accepted a non-loopback address", addr)
		}
	}
}

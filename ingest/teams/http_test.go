package teams

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// recordingSink stores what it accepts, or fails with err.
type recordingSink struct {
	mu     sync.Mutex
	events []cdr.Event
	err    error
}

func (s *recordingSink) Accept(_ context.Context, events []cdr.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, events...)
	return nil
}

func TestHandler(t *testing.T) {
	good, err := os.ReadFile("../../testdata/samples/teams-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	mixed := `[{"CallId":"a1","QueueId":"1","StartDateTime":"2026-11-23T06:30:25Z"},` +
		`{"CallId":"a2","QueueId":"1","StartDateTime":"yesterday"},` +
		`{"CallId":"a3","IvrId":"2","StartDateTime":"2026-11-23T06:31:25Z"}]`
	tests := []struct {
		name       string
		token      string
		auth       string
		maxBody    int64
		body       string
		sinkErr    error
		wantStatus int
		wantStored int
		wantIn     string // substring of the response body
	}{
		{name: "batch accepted", body: string(good), wantStatus: 202, wantStored: 2, wantIn: `"accepted":["evt_`},
		{name: "token ok", token: "s3cret", auth: "Bearer s3cret", body: string(good), wantStatus: 202, wantStored: 2},
		{name: "token case-insensitive scheme", token: "s3cret", auth: "bearer s3cret", body: string(good), wantStatus: 202, wantStored: 2},
		{name: "token missing", token: "s3cret", body: string(good), wantStatus: 401, wantIn: "bearer token"},
		{name: "token wrong", token: "s3cret", auth: "Bearer nope", body: string(good), wantStatus: 401},
		{name: "body too large", maxBody: 64, body: string(good), wantStatus: 413, wantIn: "larger than 64 bytes"},
		{name: "not JSON", body: `{"CallId":`, wantStatus: 400, wantIn: "not JSON"},
		{name: "single bad record", body: `{"CallId":"x","QueueId":"1","StartDateTime":"yesterday"}`, wantStatus: 400,
			wantIn: `record 0: StartDateTime: \"yesterday\" is not an ISO 8601 time`},
		{name: "mixed batch keeps valid records", body: mixed, wantStatus: 202, wantStored: 2, wantIn: `"rejected":[{"record":1,"property":"StartDateTime"`},
		{name: "store down", body: string(good), sinkErr: errors.New("db gone"), wantStatus: 503, wantIn: "retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recordingSink{err: tt.sinkErr}
			h := &Handler{Source: cdr.SourceRef{Kind: "teams", Name: "teams"}, Token: tt.token, MaxBody: tt.maxBody, Sink: sink}
			req := httptest.NewRequest(http.MethodPost, "/ingest/teams", strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, body)
			}
			if got := len(sink.events); got != tt.wantStored {
				t.Fatalf("stored %d events, want %d", got, tt.wantStored)
			}
			if !strings.Contains(string(body), tt.wantIn) {
				t.Fatalf("body %s does not contain %s", body, tt.wantIn)
			}
			var resp struct {
				Accepted []string `json:"accepted"`
			}
			if err := json.Unmarshal(body, &resp); err != nil {
				t.Fatalf("response is not JSON: %v", err)
			}
			if tt.wantStatus == 202 {
				if len(resp.Accepted) != tt.wantStored {
					t.Fatalf("accepted %d ids, want %d", len(resp.Accepted), tt.wantStored)
				}
				for i, id := range resp.Accepted {
					if id != sink.events[i].ID {
						t.Fatalf("accepted[%d] = %s, stored %s", i, id, sink.events[i].ID)
					}
				}
			}
			if tt.wantStatus == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

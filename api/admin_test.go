package api

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/store"
)

func TestParseFilter(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		query   string
		want    store.Filter
		wantErr string // substring; "" means no error
	}{
		{"", store.Filter{}, ""},
		{"webhook=crm&status=dead&event_type=App.QueueWebhook&since=2026-01-02T03:04:05Z&limit=7&cursor=s1z",
			store.Filter{Webhook: "crm", Status: store.StatusDead, EventType: cdr.TypeQueueEnded, Since: since, Limit: 7, Cursor: "s1z"}, ""},
		{"until=2026-01-02T05:04:05%2B02:00", store.Filter{Until: since}, ""},
		{"status=sent", store.Filter{}, `status: "sent"`},
		{"event_type=x", store.Filter{}, `event_type: "x"`},
		{"since=2026-01-02", store.Filter{}, `since: "2026-01-02"`},
		{"since=2026-01-02T00:00:00Z&until=2026-01-02T00:00:00Z", store.Filter{}, "until"},
		{"limit=-1", store.Filter{}, `limit: "-1"`},
		{"limit=1001", store.Filter{}, `limit: "1001"`},
		{"cursor=s0", store.Filter{}, `cursor: cursor "s0"`},
		{"webhooks=crm", store.Filter{}, `unknown parameter "webhooks"`},
		{"limit=1&limit=2", store.Filter{}, "limit: given 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFilter(q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) || !got.Until.Equal(tt.want.Until) {
				t.Fatalf("times %v %v, want %v %v", got.Since, got.Until, tt.want.Since, tt.want.Until)
			}
			got.Since, got.Until, tt.want.Since, tt.want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "status=dead", "limit=10&cursor=s1", "since=2026-01-02T03:04:05Z&until=2027-01-01T00:00:00Z", "event_type=App.IvrWebhook", "x=1&x=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := ParseFilter(q)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if fl.Status != "" && !fl.Status.Valid() {
			t.Fatalf("invalid status %q accepted", fl.Status)
		}
		if fl.Limit < 0 || fl.Limit > store.MaxLimit {
			t.Fatalf("limit %d accepted", fl.Limit)
		}
		if _, err := store.DecodeCursor(fl.Cursor); err != nil {
			t.Fatalf("bad cursor accepted: %v", err)
		}
		if !fl.Since.IsZero() && !fl.Until.IsZero() && !fl.Until.After(fl.Since) {
			t.Fatal("empty time range accepted")
		}
	})
}

func BenchmarkParseFilter(b *testing.B) {
	q, _ := url.ParseQuery("webhook=crm&status=dead&event_type=queue.ended&since=2026-01-02T03:04:05Z&limit=100&cursor=s1z")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFilter(q); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseEventFilter(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		query   string
		want    store.EventFilter
		wantErr string // substring; "" means no error
	}{
		{"", store.EventFilter{}, ""},
		{"caller=%2B380441234567&call_id=c1&type=App.IvrWebhook&source=pbx1&since=2026-01-02T03:04:05Z&limit=50&cursor=s1z",
			store.EventFilter{CallerNumber: "+380441234567", CallID: "c1", Type: cdr.TypeIVREnded, Source: "pbx1", Since: since, Limit: 50, Cursor: "s1z"}, ""},
		{"type=call.nope", store.EventFilter{}, `type: "call.nope"`},
		{"caller_number=1", store.EventFilter{}, `unknown parameter "caller_number"`},
		{"caller=1&caller=2", store.EventFilter{}, "caller: given 2 times"},
		{"until=2026-01-02", store.EventFilter{}, `until: "2026-01-02"`},
		{"limit=1001", store.EventFilter{}, `limit: "1001"`},
		{"cursor=x", store.EventFilter{}, `cursor: cursor "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEventFilter(q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) {
				t.Fatalf("since %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

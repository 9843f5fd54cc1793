package teams

import (
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// TestEventIDs holds eventIDs to cdr.EventID, including keys too long for
// its stack buffer.
func TestEventIDs(t *testing.T) {
	for _, tc := range []struct {
		typ    cdr.Type
		prefix string
		key    string
	}{
		{cdr.TypeQueueEnded, "teams:queue:", "77e0a5b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
		{cdr.TypeIVREnded, "teams:ivr:", "x"},
		{cdr.TypeTest, "teams:test:", ""},
		{cdr.TypeQueueEnded, "teams:queue:", strings.Repeat("k", 256-len("queue.ended\x00teams:queue:"))},
		{cdr.TypeQueueEnded, "teams:queue:", strings.Repeat("k", 257-len("queue.ended\x00teams:queue:"))},
		{cdr.TypeIVREnded, "teams:ivr:", strings.Repeat("é", 400)},
	} {
		id, eventID := eventIDs(tc.typ, tc.prefix, tc.key)
		if want := tc.prefix + tc.key; id != want {
			t.Fatalf("eventIDs(%s, %q) id = %q, want %q", tc.typ, tc.key, id, want)
		}
		if want := cdr.EventID(tc.typ, id); eventID != want {
			t.Fatalf("eventIDs(%s, %q) event id = %q, want %q", tc.typ, tc.key, eventID, want)
		}
	}
}

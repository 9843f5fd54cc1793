package file

import (
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// TestDispositionFastPath holds disposition to cdr.ParseAsteriskDisposition.
func TestDispositionFastPath(t *testing.T) {
	for _, s := range []string{
		"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION",
		"answered", " no answer ", "Busy", "", "CANCEL", "ANSWERED ", "NOANSWER",
	} {
		got, gotOK := disposition(s)
		want, wantOK := cdr.ParseAsteriskDisposition(s)
		if got != want || gotOK != wantOK {
			t.Fatalf("disposition(%q) = %q, %v; want %q, %v", s, got, gotOK, want, wantOK)
		}
	}
}

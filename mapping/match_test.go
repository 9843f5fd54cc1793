package mapping

import (
	"errors"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

// TestMatchAgreesWithRender checks that Match gives Render's verdict
// (skipped or not) for every event type and several filters.
func TestMatchAgreesWithRender(t *testing.T) {
	for _, when := range []string{"", "true", "false", `event.type == "queue.ended"`, `webhook.name == "m"`, `event.source.kind != "teams"`} {
		w, err := Compile(Spec{Name: "m", URL: "https://example.com/x", Events: []cdr.Type{cdr.TypeQueueEnded, cdr.TypeCallEnded, cdr.TypeIVREnded},
			When: when, Params: []Param{{Name: "id", Expr: "event.id"}}})
		if err != nil {
			t.Fatalf("when %q: %v", when, err)
		}
		for _, typ := range cdr.Types {
			ev := SampleEvent(typ)
			ok, err := w.Match(ev)
			if err != nil {
				t.Fatalf("when %q, %s: Match error %v", when, typ, err)
			}
			_, rerr := w.Render(ev, "")
			if skipped := errors.Is(rerr, ErrSkipped); ok == skipped {
				t.Errorf("when %q, %s: Match = %v, Render skipped = %v (%v)", when, typ, ok, skipped, rerr)
			}
		}
	}
}

// TestMatchRuntimeError checks that a filter failing at run time matches
// (the delivery is made, and fails when rendered) and reports the error.
func TestMatchRuntimeError(t *testing.T) {
	w, err := Compile(Spec{Name: "m", URL: "https://example.com/x", Events: []cdr.Type{cdr.TypeIVREnded},
		When: `record.inputs[5].value == "1"`, Params: []Param{{Name: "id", Expr: "event.id"}}})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := w.Match(SampleEvent(cdr.TypeIVREnded))
	var re *RenderError
	if !ok || !errors.As(err, &re) || re.Field != "when" {
		t.Fatalf("Match = %v, %v; want true and a when RenderError", ok, err)
	}
}

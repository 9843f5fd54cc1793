package teams

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// testSource is the source every golden test decodes with.
var testSource = cdr.SourceRef{Kind: "teams", Name: "contoso"}

// render returns the golden form of a Decode result: one event JSON per line,
// then "error: ..." when there is an error.
func render(t *testing.T, events []cdr.Event, err error) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, ev := range events {
		line, merr := json.Marshal(ev)
		if merr != nil {
			t.Fatalf("marshal event %s: %v", ev.ID, merr)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err != nil {
		b.WriteString("error: " + err.Error() + "\n")
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.json inputs")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			events, derr := Decode(body, testSource)
			for _, ev := range events {
				if err := ev.Validate(); err != nil {
					t.Fatalf("event %s does not validate: %v", ev.Record.RecordID(), err)
				}
				checkRoundTrip(t, ev)
			}
			got := render(t, events, derr)
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Decode(%s) differs from %s:\ngot:\n%s\nwant:\n%s", in, golden, got, want)
			}
		})
	}
}

// checkRoundTrip asserts that ev survives cdr's own JSON decoding unchanged.
func checkRoundTrip(t *testing.T, ev cdr.Event) {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back cdr.Event
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("round trip changed the event:\n got %#v\nwant %#v", back.Record, ev.Record)
	}
}

// The shared fixture other packages use must decode cleanly too.
func TestSharedSample(t *testing.T) {
	body, err := os.ReadFile("../../testdata/samples/teams-batch.json")
	if err != nil {
		t.Skipf("shared sample not present: %v", err)
	}
	events, err := Decode(body, testSource)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != cdr.TypeQueueEnded || events[1].Type != cdr.TypeIVREnded {
		t.Fatalf("got %d events, want a queue.ended and an ivr.ended", len(events))
	}
}

package file

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/teams"
)

func TestTeams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		format Format
	}{
		{"teams_queue.json", FormatTeams},
		{"teams_queue.json", ""}, // detected
		{"teams_bad_batch.json", FormatTeams},
		{"teams_bad_batch.json", ""},
	} {
		in, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if tc.format == "" {
			if got := Detect(in); got != FormatTeams {
				t.Fatalf("%s: Detect = %q, want teams", tc.file, got)
			}
		}
		// What ingest/teams decodes directly is what Read must give,
		// events and errors alike.
		wantEvents, decErr := teams.Decode(in, cdr.SourceRef{Kind: "teams", Name: tc.file})
		var wantErrs []string
		var de *teams.DecodeError
		if errors.As(decErr, &de) {
			for _, re := range de.Records {
				wantErrs = append(wantErrs, tc.file+": "+re.Error())
			}
		}
		var lineErrs []*LineError
		events, errs := readAll(t, in, Options{Format: tc.format, Name: tc.file})
		_ = Read(t.Context(), bytes.NewReader(in), Options{Format: tc.format, Name: tc.file}, func(cdr.Event) error { return nil },
			func(err error) { lineErrs = append(lineErrs, err.(*LineError)) })
		if string(render(t, events, errs)) != string(render(t, wantEvents, wantErrs)) {
			t.Errorf("%s (format %q):\n got %s\nwant %s", tc.file, tc.format, render(t, events, errs), render(t, wantEvents, wantErrs))
		}
		for _, le := range lineErrs {
			var re *teams.RecordError
			if !le.Record || !errors.As(le, &re) || re.Index != le.Line {
				t.Errorf("%s: error %v is not a record error unwrapping to *teams.RecordError", tc.file, le)
			}
		}
		if len(events) == 0 {
			t.Errorf("%s: no events", tc.file)
		}
	}
	// The bad batch has bad records at known places.
	in, _ := os.ReadFile(filepath.Join("testdata", "teams_bad_batch.json"))
	_, errs := readAll(t, in, Options{Name: "q.json"})
	if len(errs) == 0 || errs[0] != `q.json: record 1: StartDateTime: "yesterday" is not an ISO 8601 time` {
		t.Errorf("errors %q", errs)
	}
	_, errs = readAll(t, []byte("{not json"), Options{Format: FormatTeams, Name: "q.json"})
	if len(errs) != 1 {
		t.Errorf("non-JSON body: errors %q, want one", errs)
	}
}

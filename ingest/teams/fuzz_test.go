package teams

import (
	"encoding/json"
	"errors"
	"github.com/cdrgw/cdrgw/internal/jsonscan"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.json")
	for _, in := range inputs {
		body, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `[{}]`, `"x"`, `[1,"a",null,true]`,
		record(queueBase), record(ivrBase),
		record(queueBase, "CallLength", `"1.02:03:04.5"`, "EndDateTime", `"2025-01-01T00:00:01.123456789012+05:30"`),
		record(ivrBase, "IvrInputs", `[{"ID":1,"InputDateTime":"2025-01-01T00:00:00"},null,3]`, "DataValue20", `"\ud83d\ude00"`),
		record(queueBase, "StartDateTime", `"0000-01-01T00:00:00+01:00"`),
		record(queueBase, "CallId", `"\u0000\"\\"`, "CallerName", "\"\xff\xfe\""),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := Decode(body, testSource)
		// Decode must refuse exactly the bodies encoding/json refuses.
		notJSON := err != nil && strings.HasPrefix(err.Error(), "teams: body is not JSON: ")
		if notJSON == json.Valid(body) {
			t.Fatalf("json.Valid = %v but Decode error = %v", json.Valid(body), err)
		}
		var de *DecodeError
		if err != nil && !errors.As(err, &de) && events != nil {
			t.Fatalf("body-level error %v came with %d events", err, len(events))
		}
		if de != nil {
			if len(de.Records) == 0 {
				t.Fatal("DecodeError with no records")
			}
			for _, re := range de.Records {
				if re.Index < 0 || re.Msg == "" {
					t.Fatalf("malformed record error %+v", re)
				}
			}
		}
		for _, ev := range events {
			if err := ev.Validate(); err != nil {
				t.Fatalf("event %s does not validate: %v", ev.ID, err)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event %s does not marshal: %v", ev.ID, err)
			}
			checkRoundTrip(t, ev)
		}
	})
}

// FuzzUnquote holds unquote to encoding/json's reading of the same string.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{``, `plain`, `caf\u00e9`, `\"q\" \\ \/ \b\f\n\r\t`, `\ud83d\ude00`, `\ud83d`, `\ude00x`, `\ud83d\u0041`, "caf\xc3\xa9", "\xff\xfe", `\u002B1555`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v := `"` + raw + `"`
		if end, ok, _ := jsonscan.String(v, 0); !ok || end != len(v) {
			if json.Valid([]byte(v)) {
				t.Fatalf("scanString refuses %q, which json.Valid accepts", v)
			}
			return
		}
		var want string
		if err := json.Unmarshal([]byte(v), &want); err != nil {
			t.Fatalf("scanString accepts %q, which encoding/json refuses: %v", v, err)
		}
		if got := unquote(v); got != want {
			t.Fatalf("unquote(%q) = %q, want %q", v, got, want)
		}
	})
}

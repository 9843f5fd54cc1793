package file

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

func TestCSVGolden(t *testing.T) {
	t.Parallel()
	newYork := mustLoad(t, "America/New_York")
	for _, tc := range []struct {
		file string
		loc  *time.Location
	}{
		{"master.csv", time.UTC},
		{"cols16.csv", time.UTC},
		{"cols17.csv", time.UTC},
		{"quoted.csv", time.UTC},
		{"tz_new_york.csv", newYork},
		{"unanswered.csv", time.UTC},
		{"bad.csv", time.UTC},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			events, errs := readAll(t, in, Options{Format: FormatCSV, Location: tc.loc, Name: tc.file})
			for _, ev := range events {
				if err := ev.Validate(); err != nil {
					t.Fatalf("%s: %v", ev.ID, err)
				}
			}
			checkGolden(t, filepath.Join("testdata", strings.TrimSuffix(tc.file, ".csv")+".golden"), render(t, events, errs))
		})
	}
}

// TestCSVMasterMatchesRows checks the real Asterisk file field by field
// against the rows as encoding/csv reads them, independently of the golden.
func TestCSVMasterMatchesRows(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "master.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	events, errs := readAll(t, in, Options{Format: FormatCSV, Location: time.UTC, Name: "Master.csv"})
	if len(errs) != 0 || len(events) != len(rows) {
		t.Fatalf("%d events, errors %q; want %d, none", len(events), errs, len(rows))
	}
	disp := map[string]cdr.Disposition{"ANSWERED": cdr.DispositionAnswered, "NO ANSWER": cdr.DispositionNoAnswer,
		"BUSY": cdr.DispositionBusy, "FAILED": cdr.DispositionFailed, "CONGESTION": cdr.DispositionCongestion}
	ids := map[string]int{}
	for i, row := range rows {
		ev := events[i]
		c, ok := ev.Record.(*cdr.Call)
		if !ok {
			t.Fatalf("row %d: record is %T", i+1, ev.Record)
		}
		ids[c.ID]++
		dur, _ := strconv.Atoi(row[12])
		bill, _ := strconv.Atoi(row[13])
		start, _ := time.Parse(timeLayout, row[9])
		end, _ := time.Parse(timeLayout, row[11])
		if c.Duration != dur || c.Billsec != bill {
			t.Errorf("row %d: duration/billsec %d/%d, want %d/%d", i+1, c.Duration, c.Billsec, dur, bill)
		}
		if c.Disposition != disp[row[14]] {
			t.Errorf("row %d: disposition %q, want %q", i+1, c.Disposition, disp[row[14]])
		}
		if c.CallID != row[16] || c.UserField != row[17] || c.Caller.Number != row[1] || c.Callee.Number != row[2] {
			t.Errorf("row %d: call_id %q user_field %q caller %q callee %q", i+1, c.CallID, c.UserField, c.Caller.Number, c.Callee.Number)
		}
		if !c.StartedAt.Equal(start) || !c.EndedAt.Equal(end) || !ev.Time.Equal(end) || c.StartedAt.Location() != time.UTC {
			t.Errorf("row %d: times %v..%v (event %v), want %v..%v UTC", i+1, c.StartedAt, c.EndedAt, ev.Time, start, end)
		}
		if (row[10] == "") != (c.AnsweredAt == nil) {
			t.Errorf("row %d: answer %q but answered_at %v", i+1, row[10], c.AnsweredAt)
		}
		if want := 1 + boolInt(row[6] != ""); len(c.Legs) != want || c.Legs[0].Channel != row[5] || c.Legs[0].UniqueID != row[16] {
			t.Errorf("row %d: legs %+v", i+1, c.Legs)
		}
		if c.Custom["lastapp"] != row[7] || c.Custom["dcontext"] != row[3] {
			t.Errorf("row %d: custom %v", i+1, c.Custom)
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("record id %s used by %d rows", id, n)
		}
	}
	// Asterisk wrote two different CDRs for channel 1795415449.9 (the Dial,
	// then Hangup(17)); the first keeps the plain id.
	if events[7].Record.RecordID() != "csv:1795415449.9" || !strings.HasPrefix(events[8].Record.RecordID(), "csv:1795415449.9:") {
		t.Errorf("ids of the two 1795415449.9 rows: %s, %s", events[7].Record.RecordID(), events[8].Record.RecordID())
	}
	if c := events[0].Record.(*cdr.Call); c.Caller.Name != "Alice" {
		t.Errorf("caller name %q, want Alice", c.Caller.Name)
	}
}

func TestCallEndedIDs(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "1795415425.0", strings.Repeat("9", 300), "\x00\xff"} {
		id, eventID := callEndedIDs("csv:", key, ":ab")
		if id != "csv:"+key+":ab" || eventID != cdr.EventID(cdr.TypeCallEnded, id) {
			t.Errorf("callEndedIDs(%q) = %s, %s; want %s, %s", key, id, eventID, "csv:"+key+":ab", cdr.EventID(cdr.TypeCallEnded, id))
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCSVTimeZone checks the UTC conversion of America/New_York times, DST
// included, against instants computed by hand.
func TestCSVTimeZone(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "tz_new_york.csv"))
	if err != nil {
		t.Fatal(err)
	}
	events, errs := readAll(t, in, Options{Format: FormatCSV, Location: mustLoad(t, "America/New_York")})
	if len(errs) != 0 || len(events) != 3 {
		t.Fatalf("%d events, errors %q", len(events), errs)
	}
	want := []struct{ start, answer, end string }{
		{"2026-07-01T14:00:00Z", "2026-07-01T14:00:04Z", "2026-07-01T14:01:04Z"}, // EDT, UTC-4
		{"2026-01-16T04:59:30Z", "", "2026-01-16T05:00:10Z"},                     // EST, UTC-5, across midnight
		{"2026-03-08T06:59:50Z", "2026-03-08T07:00:00Z", "2026-03-08T07:00:20Z"}, // across the spring-forward gap
	}
	for i, w := range want {
		c := events[i].Record.(*cdr.Call)
		var answer string
		if c.AnsweredAt != nil {
			answer = c.AnsweredAt.Format(time.RFC3339)
		}
		got := [3]string{c.StartedAt.Format(time.RFC3339), answer, c.EndedAt.Format(time.RFC3339)}
		if got != [3]string{w.start, w.answer, w.end} {
			t.Errorf("row %d: %v, want %v", i+1, got, w)
		}
	}
	// The default zone is time.Local.
	events, _ = readAll(t, in, Options{Format: FormatCSV})
	if got, want := events[0].Record.(*cdr.Call).StartedAt, time.Date(2026, 7, 1, 10, 0, 0, 0, time.Local); !got.Equal(want) {
		t.Errorf("default zone: start %v, want %v", got, want)
	}
}

// row builds an 18-column row with the given columns replaced.
func row(repl map[int]string) string {
	cols := []string{"", "+15550001001", "2001", "internal", `"Alice" <+15550001001>`, "SIP/a-1", "", "Dial", "SIP/b",
		"2026-11-23 06:30:25", "2026-11-23 06:30:27", "2026-11-23 06:30:32", "7", "5", "ANSWERED", "DOCUMENTATION", "1.1", ""}
	for i, v := range repl {
		cols[i] = v
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(cols)
	w.Flush()
	return b.String()
}

func TestCSVErrors(t *testing.T) {
	t.Parallel()
	good := row(nil)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"month 13", row(map[int]string{colStart: "2026-13-01 00:00:00"}), `calls.csv:2: start: "2026-13-01 00:00:00" is not a time (2006-01-02 15:04:05)`},
		{"february 30", row(map[int]string{colEnd: "2026-02-30 00:00:00"}), `calls.csv:2: end: "2026-02-30 00:00:00" is not a time (2006-01-02 15:04:05)`},
		{"iso time", row(map[int]string{colAnswer: "2026-11-23T06:30:27"}), `calls.csv:2: answer: "2026-11-23T06:30:27" is not a time (2006-01-02 15:04:05)`},
		{"hour 24", row(map[int]string{colAnswer: "2026-11-23 24:00:00"}), `calls.csv:2: answer: "2026-11-23 24:00:00" is not a time (2006-01-02 15:04:05)`},
		{"empty start", row(map[int]string{colStart: ""}), `calls.csv:2: start: "" is not a time (2006-01-02 15:04:05)`},
		{"billsec x", row(map[int]string{colBillsec: "x"}), `calls.csv:2: billsec: "x" is not a whole number`},
		{"negative duration", row(map[int]string{colDuration: "-7"}), `calls.csv:2: duration: "-7" is not a whole number`},
		{"fraction", row(map[int]string{colDuration: "7.5"}), `calls.csv:2: duration: "7.5" is not a whole number`},
		{"empty billsec", row(map[int]string{colBillsec: ""}), `calls.csv:2: billsec: "" is not a whole number`},
		{"huge", row(map[int]string{colBillsec: "99999999999999999999"}), `calls.csv:2: billsec: "99999999999999999999" is not a whole number`},
		{"disposition", row(map[int]string{colDisposition: "HUNG UP"}), `calls.csv:2: disposition: "HUNG UP" is not an Asterisk disposition (ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION)`},
		{"end before start", row(map[int]string{colEnd: "2026-11-23 06:30:24"}), `calls.csv:2: end: "2026-11-23 06:30:24" is before start "2026-11-23 06:30:25"`},
		{"answer before start", row(map[int]string{colAnswer: "2026-11-23 06:30:00"}), `calls.csv:2: answer: "2026-11-23 06:30:00" is before start "2026-11-23 06:30:25"`},
		{"12 columns", `"","1","2","c","x","SIP/a","","Dial","d","2026-11-23 06:30:25","","2026-11-23 06:30:25"` + "\n", `calls.csv:2: 12 columns, want 16, 17 or 18`},
		{"19 columns", strings.TrimSuffix(row(nil), "\n") + `,"extra"` + "\n", `calls.csv:2: 19 columns, want 16, 17 or 18`},
		{"bare quote", `"",1,2,c,Al"ice,SIP/a` + "\n", `calls.csv:2: column 12: bare " in non-quoted-field`},
		{"quote in quoted field", `"","1","2","c","Al"ice","SIP/a"` + "\n", `calls.csv:2: column 19: extraneous or missing " in quoted-field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A good row before and after: the bad one is reported by line and
			// the read goes on.
			in := good + tc.in + good
			events, errs := readAll(t, []byte(in), Options{Format: FormatCSV, Location: time.UTC, Name: "calls.csv"})
			if len(errs) != 1 || errs[0] != tc.want {
				t.Fatalf("errors %q, want [%q]", errs, tc.want)
			}
			if len(events) != 2 {
				t.Fatalf("%d events, want the 2 good rows", len(events))
			}
		})
	}
}

func TestCSVLineNumbers(t *testing.T) {
	t.Parallel()
	// A quoted field spanning lines shifts later line numbers; blank lines count.
	in := row(map[int]string{colUserField: "two\nlines"}) + "\n" + row(map[int]string{colBillsec: "x"})
	_, errs := readAll(t, []byte(in), Options{Format: FormatCSV, Location: time.UTC, Name: "m.csv"})
	if want := `m.csv:4: billsec: "x" is not a whole number`; len(errs) != 1 || errs[0] != want {
		t.Fatalf("errors %q, want [%q]", errs, want)
	}
}

func TestCSVFallbackID(t *testing.T) {
	t.Parallel()
	r16 := strings.Join(strings.Split(strings.TrimSuffix(row(nil), "\n"), ",")[:16], ",") + "\n"
	r18 := row(map[int]string{colUniqueID: ""})
	events, errs := readAll(t, []byte(r16+r16+r18), Options{Format: FormatCSV, Location: time.UTC})
	if len(errs) != 0 || len(events) != 3 {
		t.Fatalf("%d events, errors %q", len(events), errs)
	}
	a, b, c := events[0].Record.(*cdr.Call), events[1].Record.(*cdr.Call), events[2].Record.(*cdr.Call)
	if a.ID != b.ID || events[0].ID != events[1].ID {
		t.Errorf("identical rows got ids %s and %s", a.ID, b.ID)
	}
	if a.ID == c.ID {
		t.Errorf("different rows share id %s", a.ID)
	}
	if len(a.ID) != len("csv:")+16 || a.CallID != strings.TrimPrefix(a.ID, "csv:") || a.Legs[0].UniqueID != "" {
		t.Errorf("fallback id %q call_id %q leg uniqueid %q", a.ID, a.CallID, a.Legs[0].UniqueID)
	}
}

func TestCSVDuplicateUniqueID(t *testing.T) {
	t.Parallel()
	a := row(nil)
	b := row(map[int]string{colLastApp: "Hangup", colLastData: "17"})
	events, _ := readAll(t, []byte(a+b+a+b), Options{Format: FormatCSV, Location: time.UTC})
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.Record.RecordID()
	}
	if ids[0] != "csv:1.1" || ids[2] != ids[0] || ids[3] != ids[1] || !strings.HasPrefix(ids[1], "csv:1.1:") || len(ids[1]) != len("csv:1.1:")+16 {
		t.Fatalf("ids %q: want csv:1.1, csv:1.1:<hash>, then the same again", ids)
	}
	if c := events[1].Record.(*cdr.Call); c.CallID != "1.1" || c.Legs[0].UniqueID != "1.1" {
		t.Errorf("duplicate row call_id %q leg uniqueid %q, want 1.1", c.CallID, c.Legs[0].UniqueID)
	}
	// After many other uniqueids this one is forgotten (its slot reused).
	var in strings.Builder
	in.WriteString(a)
	for i := range 4 * dupSlots {
		in.WriteString(row(map[int]string{colUniqueID: fmt.Sprint("2.", i)}))
	}
	in.WriteString(b)
	events, _ = readAll(t, []byte(in.String()), Options{Format: FormatCSV, Location: time.UTC})
	if got := events[len(events)-1].Record.RecordID(); got != "csv:1.1" {
		t.Errorf("after %d other uniqueids: id %s, want csv:1.1", 4*dupSlots, got)
	}
}

// TestParseClock holds the hand-written parser to time.ParseInLocation.
func TestParseClock(t *testing.T) {
	t.Parallel()
	newYork := mustLoad(t, "America/New_York")
	for _, s := range []string{
		"0000-01-01 00:00:00", "0000-03-01 00:00:00", "1969-12-31 23:59:59", "1970-01-01 00:00:00", "2000-02-29 12:00:00",
		"2024-02-29 23:59:59", "2026-11-23 06:30:25", "2100-03-01 00:00:00", "9999-12-31 23:59:59",
		"2026-03-08 02:30:00", "2026-11-01 01:30:00", // New York's DST gap and overlap
		"2023-02-29 00:00:00", "2100-02-29 00:00:00", "2026-04-31 00:00:00", "2026-00-10 00:00:00", "2026-01-00 00:00:00",
		"2026-01-01 23:60:00", "2026-01-01 23:00:60", "2026-1-01 00:00:00", "+026-01-01 00:00:00",
		"2026-01-01 00:00:00Z", "",
	} {
		for _, loc := range []*time.Location{time.UTC, newYork} {
			want, werr := time.ParseInLocation(timeLayout, s, loc)
			got, ok := parseClock(s, loc)
			if ok != (werr == nil) || (ok && !got.Equal(want)) || (ok && got.Location() != time.UTC) {
				t.Errorf("parseClock(%q, %s) = %v, %v; time.ParseInLocation = %v, %v", s, loc, got, ok, want, werr)
			}
		}
	}
}

func TestCLIDName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`"Alice" <+15550001001>`, "Alice"},
		{`"" <>`, ""},
		{``, ""},
		{`Alice <1001>`, "Alice"},
		{`Alice Smith<1001>`, "Alice Smith"},
		{`<1001>`, ""},
		{`"Smith, Alice ""Al""" <1>`, `Smith, Alice "Al"`},
		{`"O\"Brien" <1>`, `O"Brien`},
		{`"Back\\slash" <1>`, `Back\slash`},
		{`"Alice"`, "Alice"},
		{`"unterminated <1>`, "unterminated"},
		{`"Smith, Alice "Al"" <1>`, `Smith, Alice "Al"`},
		{`"A <b>" <1>`, "A <b>"},
		{`"`, ""},
		{`+1 (555) 000-1001`, ""},
		{`Reception`, "Reception"},
		{`"\`, `\`},
		{`"a""`, `a"`},
	} {
		if got := clidName(tc.in); got != tc.want {
			t.Errorf("clidName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzCSV(f *testing.F) {
	for _, name := range []string{"master.csv", "cols16.csv", "cols17.csv", "quoted.csv", "unanswered.csv", "bad.csv"} {
		in, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(in)
	}
	f.Add([]byte(row(map[int]string{colCLID: `"a\"" <`})))
	f.Add([]byte(row(map[int]string{colUniqueID: ""})))
	f.Fuzz(func(t *testing.T, in []byte) {
		err := Read(context.Background(), bytes.NewReader(in), Options{Format: FormatCSV, Location: time.UTC, Name: "f.csv"},
			func(ev cdr.Event) error {
				if err := ev.Validate(); err != nil {
					t.Fatalf("emitted an invalid event: %v", err)
				}
				if ev.ID != cdr.EventID(ev.Type, ev.Record.RecordID()) {
					t.Fatalf("event id %s is not derived from record id %s", ev.ID, ev.Record.RecordID())
				}
				return nil
			},
			func(err error) {
				if _, ok := err.(*LineError); !ok {
					t.Fatalf("onErr got %T", err)
				}
			})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	})
}

func BenchmarkCSV(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("testdata", "master.csv"))
	if err != nil {
		b.Fatal(err)
	}
	// Repeat the real file, giving each copy new uniqueids so the duplicate
	// window sees realistic traffic.
	const copies = 300
	var buf bytes.Buffer
	for i := range copies {
		buf.Write(bytes.ReplaceAll(in, []byte(`,"17954`), fmt.Appendf(nil, `,"%d`, 17954+i*10)))
	}
	data := buf.Bytes()
	rows := bytes.Count(data, []byte("\n"))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	n := 0
	for b.Loop() {
		err := Read(ctx, bytes.NewReader(data), Options{Format: FormatCSV, Location: time.UTC, Name: "Master.csv"},
			func(cdr.Event) error { n++; return nil }, func(err error) { b.Fatal(err) })
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != rows*b.N {
		b.Fatalf("%d events, want %d", n, rows*b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
}

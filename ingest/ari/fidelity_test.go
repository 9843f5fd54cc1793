package ari

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testOptions are the options the fidelity and golden tests replay with.
func testOptions(t testing.TB) Options {
	t.Helper()
	var info struct {
		System struct {
			EntityID string `json:"entity_id"`
		} `json:"system"`
	}
	data, err := os.ReadFile("testdata/asterisk-info.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &info); err != nil || info.System.EntityID == "" {
		t.Fatalf("asterisk-info.json: no system.entity_id (%v)", err)
	}
	return Options{
		System:        info.System.EntityID,
		Source:        cdr.SourceRef{Kind: "ari", Name: "pbx1"},
		IVRVariables:  []string{"IVR_CHOICE", "READSTATUS"},
		KeepVariables: []string{"SCENARIO", "CUSTOMER_ID", "IVR_ROUTE"},
	}
}

// replay runs a recording through ReadRecording and returns every event,
// failing on any decode error or invalid event.
func replay(t testing.TB, data []byte, o Options) []cdr.Event {
	t.Helper()
	var out []cdr.Event
	err := ReadRecording(context.Background(), bytes.NewReader(data), o, func(e cdr.Event) error {
		if err := e.Validate(); err != nil {
			t.Errorf("invalid %s event for %s: %v", e.Type, e.Record.RecordID(), err)
		}
		out = append(out, e)
		return nil
	}, func(err error) { t.Errorf("decode: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stripChannelVars removes channel.channelvars (and those of Dial's caller
// and peer) from every event: the shape ARI has when ari.conf sets no
// channelvars, so calls must be grouped without linkedid.
func stripChannelVars(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"channel", "caller", "peer"} {
			if len(m[k]) == 0 {
				continue
			}
			var ch map[string]json.RawMessage
			if err := json.Unmarshal(m[k], &ch); err != nil {
				t.Fatal(err)
			}
			delete(ch, "channelvars")
			m[k], _ = json.Marshal(ch)
		}
		out, _ := json.Marshal(m)
		buf.Write(out)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// cdrRow is one row of cdr_full.csv (Master.csv columns plus linkedid,
// sequence and the ivr_choice CDR variable).
type cdrRow struct {
	src, dst, clid, channel, lastApp string
	duration, billsec                int
	disposition                      cdr.Disposition
	uniqueID, linkedID               string
	sequence                         int
	ivrChoice                        string
}

func readCDR(t *testing.T) []cdrRow {
	t.Helper()
	f, err := os.Open("testdata/cdr_full.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Master.csv must hold the same rows (same uniqueid, duration, billsec,
	// disposition), so checking against cdr_full.csv checks both.
	master := map[string][]string{}
	mf, err := os.ReadFile("testdata/Master.csv")
	if err != nil {
		t.Fatal(err)
	}
	mrows, err := csv.NewReader(bytes.NewReader(mf)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mrows {
		key := r[16] + "|" + r[9] + "|" + r[7]
		master[key] = r
	}
	var rows []cdrRow
	for _, r := range recs {
		disp, ok := cdr.ParseAsteriskDisposition(r[14])
		if !ok {
			t.Fatalf("cdr_full.csv: disposition %q", r[14])
		}
		atoi := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("cdr_full.csv: number %q: %v", s, err)
			}
			return n
		}
		row := cdrRow{src: r[1], dst: r[2], clid: r[4], channel: r[5], lastApp: r[7],
			duration: atoi(r[12]), billsec: atoi(r[13]), disposition: disp,
			uniqueID: r[16], linkedID: r[17], sequence: atoi(r[20]), ivrChoice: r[21]}
		m, ok := master[r[16]+"|"+r[9]+"|"+r[7]]
		if !ok || m[12] != r[12] || m[13] != r[13] || m[14] != r[14] || m[1] != r[1] || m[2] != r[2] {
			t.Fatalf("Master.csv and cdr_full.csv disagree on %s: %q vs %q", r[16], m, r)
		}
		rows = append(rows, row)
	}
	return rows
}

var clidName = regexp.MustCompile(`^"(.*)" <.*>$`)

// expectedRow is the Master.csv row the call record matches: the first
// (lowest sequence) row of the PBX-side party A channel. In this lab that
// is the ;2 half of Local/10xx@inbound (the ;1 half is the external
// phone, originated with AppDial2); on a real trunk it is the inbound
// channel itself. Where Asterisk writes a second row for that channel
// after a failed Dial (S2, S3: lastapp Hangup, duration 0), the first
// (Dial) row is the one.
func expectedRow(rows []cdrRow, linkedID string) (cdrRow, bool) {
	var best cdrRow
	found := false
	for _, r := range rows {
		if r.linkedID != linkedID || !strings.Contains(r.channel, "@inbound-") || !strings.HasSuffix(r.channel, ";2") {
			continue
		}
		if !found || r.sequence < best.sequence {
			best, found = r, true
		}
	}
	return best, found
}

func TestFidelityMasterCSV(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rows := readCDR(t)
	linked := map[string]bool{}
	for _, r := range rows {
		linked[r.linkedID] = true
	}
	if len(linked) != 11 {
		t.Fatalf("cdr_full.csv has %d calls, want the README's 11 scenarios", len(linked))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"linkedid", data},
		{"no-channelvars", stripChannelVars(t, data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t)
			events := replay(t, tc.data, o)
			ended := map[string]*cdr.Call{}
			started := map[string]int{}
			answered := map[string]int{}
			for _, e := range events {
				c, ok := e.Record.(*cdr.Call)
				if !ok {
					continue
				}
				switch e.Type {
				case cdr.TypeCallStarted:
					started[c.CallID]++
				case cdr.TypeCallAnswered:
					answered[c.CallID]++
				case cdr.TypeCallEnded:
					if ended[c.CallID] != nil {
						t.Errorf("call %s ended twice", c.CallID)
					}
					ended[c.CallID] = c
				}
			}
			if len(ended) != len(linked) {
				t.Errorf("got %d calls, want %d (one per linkedid): %v", len(ended), len(linked), keys(ended))
			}
			for id := range linked {
				c := ended[id]
				if c == nil {
					t.Errorf("linkedid %s: no call.ended", id)
					continue
				}
				if started[id] != 1 {
					t.Errorf("linkedid %s: %d call.started, want 1", id, started[id])
				}
				want, ok := expectedRow(rows, id)
				if !ok {
					t.Fatalf("linkedid %s: no party A row", id)
				}
				if wantAns := want.billsec > 0 || want.disposition == cdr.DispositionAnswered; (answered[id] == 1) != wantAns {
					t.Errorf("linkedid %s: %d call.answered, want answered=%v", id, answered[id], wantAns)
				}
				if c.ID != "ari:"+o.System+":"+id {
					t.Errorf("record id %q", c.ID)
				}
				name := ""
				if m := clidName.FindStringSubmatch(want.clid); m != nil {
					name = m[1]
				}
				got := [6]any{c.Disposition, c.Duration, c.Billsec, c.Caller.Number, c.Caller.Name, c.Callee.Number}
				exp := [6]any{want.disposition, want.duration, want.billsec, want.src, name, want.dst}
				if got != exp {
					t.Errorf("linkedid %s (row %s seq %d):\n got disposition,duration,billsec,caller,name,callee = %v\nwant %v", id, want.uniqueID, want.sequence, got, exp)
				}
				legs := map[string]bool{}
				for _, l := range c.Legs {
					legs[l.UniqueID] = true
				}
				for _, r := range rows {
					if r.linkedID == id && !legs[r.uniqueID] {
						t.Errorf("linkedid %s: channel %s (%s) is not a leg", id, r.uniqueID, r.channel)
					}
				}
				if c.Custom["incomplete"] != "" {
					t.Errorf("linkedid %s: marked incomplete", id)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	events := replay(t, data, testOptions(t))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "ari-events.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		gl, wl := strings.Split(buf.String(), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("golden mismatch at line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("golden mismatch: %d lines, want %d", len(gl), len(wl))
	}
}

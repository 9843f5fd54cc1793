package siptap

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenHEP compares every call.ended record ReadHEP gives for the
// Kamailio recording with testdata/hep3.golden.jsonl.
func TestGoldenHEP(t *testing.T) {
	t.Parallel()
	evs, _ := collect(t, func(emit func(cdr.Event) error, onErr func(error)) error {
		return ReadHEP(context.Background(), openGz(t, "hep3.bin.gz"), Options{
			Source: cdr.SourceRef{Kind: "hep", Name: "lab"}, LocalDomains: []string{"callee.example"},
		}, emit, onErr)
	})
	var got bytes.Buffer
	for _, e := range evs {
		if e.Type != cdr.TypeCallEnded {
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(b)
		got.WriteByte('\n')
	}
	const path = "testdata/hep3.golden.jsonl"
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("line %d differs:\ngot  %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(gl), len(wl))
	}
}

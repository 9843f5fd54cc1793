package e2e

import (
	"compress/gzip"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/internal/receiver"
)

// TestServeHEPSource sends the recorded Kamailio HEPv3 stream over UDP to a
// hep source of the real binary and checks that every call of the recording
// is delivered once, as call.ended with the SIP outcome.
func TestServeHEPSource(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../ingest/siptap/testdata/hep3.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	hepAddr := freeUDPAddr(t)
	recv := receiver.Start(t, nil)
	g := newGateway(t, "hep", gatewayConfig{
		Store: sqliteURL(t), Receiver: recv.URL, Events: "call.ended",
		ExtraSources: fmt.Sprintf("  - {name: sbc, type: hep, listen: %q}\n", hepAddr),
	})
	g.mustStart()

	conn, err := net.Dial("udp", hepAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	packets := 0
	for rest := stream; len(rest) >= 6; packets++ {
		n := int(bin.BigEndian.Uint16(rest[4:6]))
		if n < 6 || n > len(rest) {
			t.Fatalf("bad HEP length %d at packet %d", n, packets)
		}
		if _, err := conn.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		if packets%100 == 99 {
			time.Sleep(5 * time.Millisecond) // stay within the loopback socket buffer
		}
	}
	const calls = 221 // Call-IDs in the recording's ground truth
	reqs := recv.WaitT(t, calls, 60*time.Second)
	seen := map[string]int{}
	for _, r := range reqs {
		var body struct {
			CallID string `json:"call_id"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		seen[body.CallID]++
	}
	time.Sleep(500 * time.Millisecond)
	if got := recv.Count(); len(seen) != calls || got != calls {
		t.Fatalf("%d requests for %d calls after %d packets, want one per each of %d calls", got, len(seen), packets, calls)
	}
}

// freeUDPAddr returns a loopback UDP host:port that was free a moment ago;
// the same port is also used for TCP by the hep source.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		addr := freeAddr(t)
		pc, err := net.ListenPacket("udp", addr)
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port for UDP and TCP")
	return ""
}

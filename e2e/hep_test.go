package e2e

import (
	"compress/gzip"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/ingest/siptap"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

// readRecording returns the recorded Kamailio HEPv3 stream of ingest/siptap's
// testdata.
func readRecording(t *testing.T) []byte {
	t.Helper()
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
	return stream
}

// TestServeSIPTap mirrors the recording's SIP messages (the payloads of its
// HEP packets, both legs) as plain SIP over UDP to a sip source of the real
// binary, from one socket as a tap would: every call of the recording is
// delivered once as call.ended, and nothing is sent back to the mirror.
func TestServeSIPTap(t *testing.T) {
	t.Parallel()
	stream := readRecording(t)
	tapAddr, recv := startWithUDPSource(t, "siptap", "tap", "sip")

	raddr, err := net.ResolveUDPAddr("udp", tapAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := 0
	for rest := stream; len(rest) >= 6; {
		n := int(bin.BigEndian.Uint16(rest[4:6]))
		if n < 6 || n > len(rest) {
			t.Fatalf("bad HEP length %d after %d messages", n, msgs)
		}
		p, err := siptap.DecodeHEP(rest[:n])
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		if p.ProtoType != siptap.ProtoSIP {
			continue
		}
		if _, err := conn.Write(p.Payload); err != nil {
			t.Fatal(err)
		}
		if msgs++; msgs%100 == 99 {
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
	// Anything the tap sent back would be waiting on the mirror's socket.
	if err := conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(make([]byte, 2048)); n > 0 || err == nil {
		t.Errorf("the tap sent %d bytes back to the mirror", n)
	}
	if got := recv.Count(); len(seen) != calls || got != calls {
		t.Fatalf("%d requests for %d calls after %d messages, want one per each of %d calls", got, len(seen), msgs, calls)
	}
}

// TestServeHEPSource sends the recorded Kamailio HEPv3 stream over UDP to a
// hep source of the real binary and checks that every call of the recording
// is delivered once, as call.ended with the SIP outcome.
func TestServeHEPSource(t *testing.T) {
	t.Parallel()
	stream := readRecording(t)
	hepAddr, recv := startWithUDPSource(t, "hep", "sbc", "hep")

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

// startWithUDPSource starts the real binary (named gw in logs) on a fresh
// SQLite store with a call.ended webhook to a new receiver and one more
// source, name, of type typ (sip or hep) listening on a free UDP address;
// it returns when that source has bound its socket (the gateway is ready
// once its store is; a source binds on its own and says so on
// /api/sources).
func startWithUDPSource(t *testing.T, gw, name, typ string) (addr string, recv *receiver.Receiver) {
	t.Helper()
	addr = freeUDPAddr(t)
	recv = receiver.Start(t, nil)
	g := newGateway(t, gw, gatewayConfig{
		Store: sqliteURL(t), Receiver: recv.URL, Events: "call.ended",
		ExtraSources: fmt.Sprintf("  - {name: %s, type: %s, listen: %q}\n", name, typ, addr),
	})
	g.mustStart()
	waitSourceConnected(t, g.URL, name)
	return addr, recv
}

// waitSourceConnected waits until GET /api/sources of the gateway at base
// lists the source name as connected (its listeners bound).
func waitSourceConnected(t *testing.T, base, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/api/sources")
		if err == nil {
			var srcs []struct {
				Name      string `json:"name"`
				Connected bool   `json:"connected"`
			}
			err = json.NewDecoder(resp.Body).Decode(&srcs)
			resp.Body.Close()
			for _, s := range srcs {
				if s.Name == name && s.Connected {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s not connected after 10s (last error: %v)", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

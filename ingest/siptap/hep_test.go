package siptap

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// chunk is one HEPv3 chunk for building test packets.
type chunk struct {
	vendor, typ uint16
	val         []byte
}

func u8(v uint8) []byte   { return []byte{v} }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// hep3 encodes chunks as a HEPv3 packet.
func hep3(chunks ...chunk) []byte {
	b := []byte("HEP3\x00\x00")
	for _, c := range chunks {
		b = binary.BigEndian.AppendUint16(b, c.vendor)
		b = binary.BigEndian.AppendUint16(b, c.typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(c.val)))
		b = append(b, c.val...)
	}
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	return b
}

// sipHEP3 is a typical IPv4/UDP SIP packet as Kamailio's siptrace sends it.
func sipHEP3(src, dst netip.AddrPort, at time.Time, payload string, extra ...chunk) []byte {
	cs := []chunk{
		{0, chunkIPFamily, u8(2)}, {0, chunkIPProto, u8(17)},
		{0, chunkIPv4Src, src.Addr().AsSlice()}, {0, chunkIPv4Dst, dst.Addr().AsSlice()},
		{0, chunkSrcPort, u16(src.Port())}, {0, chunkDstPort, u16(dst.Port())},
		{0, chunkTimeSec, u32(uint32(at.Unix()))}, {0, chunkTimeUsec, u32(uint32(at.Nanosecond() / 1000))},
		{0, chunkProtoType, u8(ProtoSIP)}, {0, chunkCaptureID, u32(2001)},
	}
	cs = append(cs, extra...)
	cs = append(cs, chunk{0, chunkPayload, []byte(payload)})
	return hep3(cs...)
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

// hep2 builds a HEPv2 IPv4 packet as Kamailio's siptrace (hep_version 2) does.
func hep2(src, dst netip.AddrPort, at time.Time, captID uint16, payload string) []byte {
	b := []byte{2, 16, 2, 17}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.LittleEndian.AppendUint32(b, uint32(at.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(at.Nanosecond()/1000))
	b = binary.LittleEndian.AppendUint16(b, captID)
	b = append(b, 0, 0)
	return append(b, payload...)
}

var (
	tA  = netip.MustParseAddrPort("10.0.0.1:5060")
	tB  = netip.MustParseAddrPort("192.0.2.7:5080")
	tT0 = time.Date(2026, 11, 23, 6, 39, 46, 123456000, time.UTC)
)

func TestDecodeHEP(t *testing.T) {
	t.Parallel()
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	tests := []struct {
		name string
		in   []byte
		want Packet
		err  string // substring of the error, "" for none
	}{
		{name: "v3 sip ipv4", in: sipHEP3(tA, tB, tT0, "INVITE"),
			want: Packet{Version: 3, Family: 2, Protocol: 17, Src: tA, Dst: tB, Time: tT0, ProtoType: 1, CaptureID: 2001, Payload: []byte("INVITE")}},
		{name: "v3 every chunk", in: hep3(
			chunk{0, chunkIPFamily, u8(10)}, chunk{0, chunkIPProto, u8(6)},
			chunk{0, chunkIPv6Src, v6a.AsSlice()}, chunk{0, chunkIPv6Dst, v6b.AsSlice()},
			chunk{0, chunkSrcPort, u16(5061)}, chunk{0, chunkDstPort, u16(5062)},
			chunk{0, chunkTimeSec, u32(uint32(tT0.Unix()))}, chunk{0, chunkTimeUsec, u32(999999)},
			chunk{0, chunkProtoType, u8(ProtoRTCP)}, chunk{0, chunkCaptureID, u16(7)},
			chunk{0, chunkKeepAlive, u16(30)}, chunk{0, chunkAuthKey, []byte("s3cret")},
			chunk{0, chunkCorrelationID, []byte("corr-1")}, chunk{0, chunkVLAN, u16(42)},
			chunk{0, chunkNodeName, []byte("sbc-1")}, chunk{0x1234, 99, []byte("vendor chunk skipped")},
			chunk{0, 200, []byte("unknown chunk skipped")},
			chunk{0, chunkCompressed, gz("BYE sip:x SIP/2.0")}),
			want: Packet{Version: 3, Family: 10, Protocol: 6, Src: netip.AddrPortFrom(v6a, 5061), Dst: netip.AddrPortFrom(v6b, 5062),
				Time: time.Unix(tT0.Unix(), 999999000).UTC(), ProtoType: ProtoRTCP, CaptureID: 7, KeepAlive: 30, Password: "s3cret",
				CorrelationID: "corr-1", VLAN: 42, NodeName: "sbc-1", Payload: []byte("BYE sip:x SIP/2.0")}},
		{name: "v3 no addresses or time", in: hep3(chunk{0, chunkPayload, []byte("x")}),
			want: Packet{Version: 3, Payload: []byte("x")}},
		{name: "v2 ipv4", in: hep2(tA, tB, tT0, 2001, "OPTIONS"),
			want: Packet{Version: 2, Family: 2, Protocol: 17, Src: tA, Dst: tB, Time: tT0, ProtoType: 1, CaptureID: 2001, Payload: []byte("OPTIONS")}},
		{name: "empty", in: nil, err: "not a HEP packet"},
		{name: "sip text", in: []byte("INVITE sip:a@b SIP/2.0\r\n"), err: "not a HEP packet"},
		{name: "v3 short header", in: []byte("HEP3\x00"), err: "not a HEP packet"},
		{name: "v3 length past end", in: []byte("HEP3\x00\x20\x00\x00"), err: "total length 32: packet has only 8 bytes"},
		{name: "v3 length below header", in: []byte("HEP3\x00\x02"), err: "total length 2"},
		{name: "v3 chunk overruns", in: append([]byte("HEP3\x00\x0c"), 0, 0, 0, 15, 0, 9), err: "chunk 15 length 9"},
		{name: "v3 chunk too short", in: append([]byte("HEP3\x00\x0c"), 0, 0, 0, 15, 0, 2), err: "chunk 15 length 2"},
		{name: "v3 trailing bytes", in: append([]byte("HEP3\x00\x09"), 0, 0, 0), err: "3 trailing bytes"},
		{name: "v3 bad ipv4 length", in: hep3(chunk{0, chunkIPv4Src, []byte{1, 2, 3}}), err: "chunk 3 length 3: want 4"},
		{name: "v3 bad port length", in: hep3(chunk{0, chunkSrcPort, []byte{1}}), err: "chunk 7 length 1: want 2"},
		{name: "v3 bad usec", in: hep3(chunk{0, chunkTimeSec, u32(1)}, chunk{0, chunkTimeUsec, u32(1_000_000)}), err: "microseconds 1000000"},
		{name: "v3 bad capture id", in: hep3(chunk{0, chunkCaptureID, []byte{1, 2, 3}}), err: "chunk 12 length 3"},
		{name: "v3 bad compressed", in: hep3(chunk{0, chunkCompressed, []byte("plain")}), err: "neither gzip nor zlib"},
		{name: "v2 short", in: []byte{2, 16, 2, 17, 0}, err: "want at least 8"},
		{name: "v2 bad family", in: []byte{2, 16, 9, 17, 0, 0, 0, 0}, err: "family 9"},
		{name: "v2 no time", in: hep2(tA, tB, tT0, 1, "")[:20], err: "time header: 4 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHEP(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalPacket(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func equalPacket(a, b Packet) bool {
	return bytes.Equal(a.Payload, b.Payload) && a.Version == b.Version && a.Family == b.Family && a.Protocol == b.Protocol &&
		a.Src == b.Src && a.Dst == b.Dst && a.Time.Equal(b.Time) && a.ProtoType == b.ProtoType && a.CaptureID == b.CaptureID &&
		a.KeepAlive == b.KeepAlive && a.Password == b.Password && a.CorrelationID == b.CorrelationID && a.VLAN == b.VLAN && a.NodeName == b.NodeName
}

func TestDecodeHEPNotHEP(t *testing.T) {
	t.Parallel()
	_, err := DecodeHEP([]byte("SIP/2.0 200 OK"))
	if !errors.Is(err, ErrNotHEP) {
		t.Fatalf("err = %v, want ErrNotHEP", err)
	}
}

// TestDecodeHEPRecording decodes every packet of the Kamailio recording and
// checks the chunks the README says each one carries.
func TestDecodeHEPRecording(t *testing.T) {
	t.Parallel()
	b, err := io.ReadAll(openGz(t, "hep3.bin.gz"))
	if err != nil {
		t.Fatal(err)
	}
	parser := NewParser()
	n := 0
	for len(b) > 0 {
		size, err := HEP3Len(b)
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		p, err := DecodeHEP(b[:size])
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		if p.Version != 3 || p.Family != 2 || p.Protocol != 17 || p.ProtoType != ProtoSIP || p.CaptureID != 2001 ||
			!p.Src.Addr().Is4() || !p.Dst.Addr().Is4() || p.Src.Port() == 0 || p.Dst.Port() == 0 || p.Time.Year() != 2026 {
			t.Fatalf("packet %d: unexpected header %+v", n, p)
		}
		if _, err := parser.Parse(p.Payload, p.Time, p.Src, p.Dst); err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		b = b[size:]
		n++
	}
	if n != 2867 {
		t.Fatalf("decoded %d packets, the README says 2,867", n)
	}
}

func FuzzDecodeHEP(f *testing.F) {
	f.Add(sipHEP3(tA, tB, tT0, "INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"))
	f.Add(hep3(chunk{0, chunkCompressed, gz("BYE")}, chunk{0, chunkAuthKey, []byte("pw")}))
	f.Add(hep2(tA, tB, tT0, 7, "OPTIONS sip:x SIP/2.0\r\n\r\n"))
	f.Add([]byte("HEP3\x00\x06"))
	f.Add([]byte{1, 16, 10, 17, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeHEP(b)
		if err != nil {
			return
		}
		if p.Version != 2 && p.Version != 3 && p.Version != 1 {
			t.Fatalf("version %d", p.Version)
		}
		if len(p.Payload) > maxPayload+len(b) {
			t.Fatalf("payload of %d bytes from %d", len(p.Payload), len(b))
		}
		// Whatever decodes as SIP must not crash the parser or the tracker.
		if m, err := NewParser().Parse(p.Payload, p.Time, p.Src, p.Dst); err == nil {
			NewTracker(Options{}).Handle(m)
		}
	})
}

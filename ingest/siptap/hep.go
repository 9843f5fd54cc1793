package siptap

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// HEP protocol types (chunk 11) cdrgw cares about.
const (
	ProtoSIP  = 1   // SIP
	ProtoRTCP = 5   // RTCP (skipped)
	ProtoLog  = 100 // logs (skipped)
)

// HEPv3 chunk types of the generic vendor (0).
const (
	chunkIPFamily      = 1
	chunkIPProto       = 2
	chunkIPv4Src       = 3
	chunkIPv4Dst       = 4
	chunkIPv6Src       = 5
	chunkIPv6Dst       = 6
	chunkSrcPort       = 7
	chunkDstPort       = 8
	chunkTimeSec       = 9
	chunkTimeUsec      = 10
	chunkProtoType     = 11
	chunkCaptureID     = 12
	chunkKeepAlive     = 13
	chunkAuthKey       = 14
	chunkPayload       = 15
	chunkCompressed    = 16
	chunkCorrelationID = 17
	chunkVLAN          = 18
	chunkNodeName      = 19
)

// maxPayload bounds a decompressed payload (chunk 16), the largest a UDP
// datagram could carry.
const maxPayload = 65535

// ErrNotHEP is returned by DecodeHEP for data that is not a HEP packet.
var ErrNotHEP = errors.New("not a HEP packet")

// Packet is one decoded HEP packet: the captured message and what the capture
// agent said about it.
type Packet struct {
	Version       int            // 2 or 3
	Family        uint8          // IP family: 2 = IPv4, 10 = IPv6
	Protocol      uint8          // IP protocol: 6 = TCP, 17 = UDP
	Src, Dst      netip.AddrPort // addresses of the captured message
	Time          time.Time      // capture time (UTC)
	ProtoType     uint8          // payload type: 1 = SIP (ProtoSIP), 5 = RTCP, 100 = log
	CaptureID     uint32         // capture agent id
	KeepAlive     uint16         // keep-alive timer (chunk 13), 0 when absent
	Password      string         // authentication key (chunk 14)
	CorrelationID string         // correlation id (chunk 17)
	VLAN          uint16         // VLAN id (chunk 18)
	NodeName      string         // capture node name or group (chunk 19)
	Payload       []byte         // the captured message; aliases the decoded buffer unless it was compressed
}

// DecodeHEP decodes one HEPv3 or HEPv2 packet. The payload of the returned
// packet aliases b. Unknown chunks and vendor chunks are skipped.
func DecodeHEP(b []byte) (Packet, error) {
	switch {
	case len(b) >= 4 && string(b[:4]) == "HEP3":
		return decodeHEP3(b)
	case len(b) >= 1 && (b[0] == 1 || b[0] == 2):
		return decodeHEP2(b)
	}
	return Packet{}, ErrNotHEP
}

// HEP3Len returns the total length a HEPv3 packet starting with hdr (at
// least 6 bytes) declares, or an error when hdr is not a HEPv3 header.
func HEP3Len(hdr []byte) (int, error) {
	if len(hdr) < 6 || string(hdr[:4]) != "HEP3" {
		return 0, ErrNotHEP
	}
	n := int(binary.BigEndian.Uint16(hdr[4:6]))
	if n < 6 {
		return 0, fmt.Errorf("hep3 total length %d: shorter than its 6-byte header", n)
	}
	return n, nil
}

func decodeHEP3(b []byte) (Packet, error) {
	total, err := HEP3Len(b)
	if err != nil {
		return Packet{}, err
	}
	if total > len(b) {
		return Packet{}, fmt.Errorf("hep3 total length %d: packet has only %d bytes", total, len(b))
	}
	p := Packet{Version: 3}
	var (
		sec, usec        uint32
		haveSec          bool
		srcPort, dstPort uint16
		src, dst         netip.Addr
	)
	rest := b[6:total]
	for len(rest) > 0 {
		if len(rest) < 6 {
			return Packet{}, fmt.Errorf("hep3 chunk header: %d trailing bytes, want 6", len(rest))
		}
		vendor := binary.BigEndian.Uint16(rest[0:2])
		typ := binary.BigEndian.Uint16(rest[2:4])
		n := int(binary.BigEndian.Uint16(rest[4:6]))
		if n < 6 || n > len(rest) {
			return Packet{}, fmt.Errorf("hep3 chunk %d length %d: outside 6..%d", typ, n, len(rest))
		}
		v := rest[6:n]
		rest = rest[n:]
		if vendor != 0 {
			continue
		}
		bad := func(want int) error {
			return fmt.Errorf("hep3 chunk %d length %d: want %d value bytes", typ, len(v), want)
		}
		switch typ {
		case chunkIPFamily, chunkIPProto, chunkProtoType:
			if len(v) != 1 {
				return Packet{}, bad(1)
			}
			switch typ {
			case chunkIPFamily:
				p.Family = v[0]
			case chunkIPProto:
				p.Protocol = v[0]
			default:
				p.ProtoType = v[0]
			}
		case chunkIPv4Src, chunkIPv4Dst:
			if len(v) != 4 {
				return Packet{}, bad(4)
			}
			a := netip.AddrFrom4([4]byte(v))
			if typ == chunkIPv4Src {
				src = a
			} else {
				dst = a
			}
		case chunkIPv6Src, chunkIPv6Dst:
			if len(v) != 16 {
				return Packet{}, bad(16)
			}
			a := netip.AddrFrom16([16]byte(v))
			if typ == chunkIPv6Src {
				src = a
			} else {
				dst = a
			}
		case chunkSrcPort, chunkDstPort, chunkKeepAlive, chunkVLAN:
			if len(v) != 2 {
				return Packet{}, bad(2)
			}
			x := binary.BigEndian.Uint16(v)
			switch typ {
			case chunkSrcPort:
				srcPort = x
			case chunkDstPort:
				dstPort = x
			case chunkKeepAlive:
				p.KeepAlive = x
			default:
				p.VLAN = x
			}
		case chunkTimeSec, chunkTimeUsec:
			if len(v) != 4 {
				return Packet{}, bad(4)
			}
			if typ == chunkTimeSec {
				sec, haveSec = binary.BigEndian.Uint32(v), true
			} else {
				usec = binary.BigEndian.Uint32(v)
			}
		case chunkCaptureID:
			// The spec says 32 bits; some agents send 16.
			switch len(v) {
			case 4:
				p.CaptureID = binary.BigEndian.Uint32(v)
			case 2:
				p.CaptureID = uint32(binary.BigEndian.Uint16(v))
			default:
				return Packet{}, bad(4)
			}
		case chunkAuthKey:
			p.Password = string(v)
		case chunkPayload:
			p.Payload = v
		case chunkCompressed:
			d, err := inflate(v)
			if err != nil {
				return Packet{}, fmt.Errorf("hep3 chunk 16: %w", err)
			}
			p.Payload = d
		case chunkCorrelationID:
			p.CorrelationID = string(v)
		case chunkNodeName:
			p.NodeName = string(v)
		}
	}
	if haveSec {
		if usec >= 1_000_000 {
			return Packet{}, fmt.Errorf("hep3 chunk 10 microseconds %d: not below 1000000", usec)
		}
		p.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
	}
	if src.IsValid() {
		p.Src = netip.AddrPortFrom(src, srcPort)
	}
	if dst.IsValid() {
		p.Dst = netip.AddrPortFrom(dst, dstPort)
	}
	return p, nil
}

// inflate decompresses a gzip or zlib payload of at most maxPayload bytes.
func inflate(v []byte) ([]byte, error) {
	var r io.Reader
	if gz, err := gzip.NewReader(bytes.NewReader(v)); err == nil {
		r = gz
	} else if zr, err2 := zlib.NewReader(bytes.NewReader(v)); err2 == nil {
		r = zr
	} else {
		return nil, fmt.Errorf("compressed payload is neither gzip nor zlib: %w", err)
	}
	d, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("inflate payload: %w", err)
	}
	if len(d) > maxPayload {
		return nil, fmt.Errorf("inflated payload exceeds %d bytes", maxPayload)
	}
	return d, nil
}

// decodeHEP2 decodes HEPv1 and HEPv2 (the fixed binary header of Kamailio's,
// OpenSIPS' and FreeSWITCH's older agents): version, header length, family,
// protocol, ports, addresses, then (v2 only) seconds, microseconds and a
// capture id, each little-endian as those agents write them on x86.
func decodeHEP2(b []byte) (Packet, error) {
	if len(b) < 8 {
		return Packet{}, fmt.Errorf("hep%d header: %d bytes, want at least 8", b[0], len(b))
	}
	p := Packet{Version: int(b[0]), Family: b[2], Protocol: b[3], ProtoType: ProtoSIP}
	var alen int
	switch p.Family {
	case 2:
		alen = 4
	case 10:
		alen = 16
	default:
		return Packet{}, fmt.Errorf("hep%d family %d: not 2 (IPv4) or 10 (IPv6): %w", p.Version, p.Family, ErrNotHEP)
	}
	// Agents disagree on what hp_l counts (the 8-byte header alone, or with
	// the addresses), so, like Kamailio's sipcapture, the offsets are fixed.
	hl := 8 + 2*alen
	if int(b[1]) < 8 {
		return Packet{}, fmt.Errorf("hep%d header length %d: below 8: %w", p.Version, b[1], ErrNotHEP)
	}
	if len(b) < hl {
		return Packet{}, fmt.Errorf("hep%d addresses: packet has %d bytes, want at least %d", p.Version, len(b), hl)
	}
	sp := binary.BigEndian.Uint16(b[4:6])
	dp := binary.BigEndian.Uint16(b[6:8])
	var src, dst netip.Addr
	if alen == 4 {
		src, dst = netip.AddrFrom4([4]byte(b[8:12])), netip.AddrFrom4([4]byte(b[12:16]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	}
	p.Src, p.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	rest := b[hl:]
	if p.Version == 2 {
		// struct hep_timehdr {uint32 tv_sec; uint32 tv_usec; uint16 captid;} padded to 12 bytes.
		if len(rest) < 12 {
			return Packet{}, fmt.Errorf("hep2 time header: %d bytes, want 12", len(rest))
		}
		sec := binary.LittleEndian.Uint32(rest[0:4])
		usec := binary.LittleEndian.Uint32(rest[4:8])
		if usec >= 1_000_000 {
			return Packet{}, fmt.Errorf("hep2 microseconds %d: not below 1000000", usec)
		}
		p.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
		p.CaptureID = uint32(binary.LittleEndian.Uint16(rest[8:10]))
		rest = rest[12:]
	}
	p.Payload = rest
	return p, nil
}

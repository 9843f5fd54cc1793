package siptap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/cdrgw/cdrgw/cdr"
)

// Bad-packet reasons, the values of cdrgw_sip_bad_packets_total's reason label.
const (
	ReasonHEPDecode = "hep_decode"  // not a well-formed HEP packet
	ReasonNotSIP    = "not_sip"     // a HEP packet of another protocol type (RTCP, logs), or a datagram that is not SIP
	ReasonSIPParse  = "sip_parse"   // the SIP payload does not parse
	ReasonCaptureID = "capture_id"  // a capture id outside the allow-list
	ReasonPassword  = "password"    // a missing or wrong HEP password (chunk 14)
	ReasonFragment  = "ip_fragment" // an IP fragment (not reassembled)
)

// BadPacketError describes a packet the gateway skipped, with the reason it
// is counted under.
type BadPacketError struct {
	Reason string
	Err    error
}

func (e *BadPacketError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *BadPacketError) Unwrap() error { return e.Err }

// pipeline feeds packets through the SIP parser and one tracker. It is not
// safe for concurrent use.
type pipeline struct {
	parser *Parser
	tr     *Tracker
	emit   func(cdr.Event) error
	onErr  func(error)
	// HEP filters (live sources only).
	captureIDs map[uint32]bool
	password   string
	latest     time.Time // latest capture time seen
	latestWall time.Time // when it was seen, by the clock (live sources)
	flushed    time.Time
}

func newPipeline(o Options, emit func(cdr.Event) error, onErr func(error)) *pipeline {
	if onErr == nil {
		onErr = func(error) {}
	}
	return &pipeline{parser: NewParser(), tr: NewTracker(o), emit: emit, onErr: onErr}
}

func (p *pipeline) bad(reason string, err error) {
	p.onErr(&BadPacketError{Reason: reason, Err: err})
}

func (p *pipeline) emitAll(evs []cdr.Event) error {
	for _, e := range evs {
		if err := p.emit(e); err != nil {
			return err
		}
	}
	return nil
}

// hep handles one HEP packet. Only emit's errors are returned.
func (p *pipeline) hep(b []byte) error {
	pk, err := DecodeHEP(b)
	if err != nil {
		p.bad(ReasonHEPDecode, err)
		return nil
	}
	if p.captureIDs != nil && !p.captureIDs[pk.CaptureID] {
		p.bad(ReasonCaptureID, fmt.Errorf("capture id %d is not allowed", pk.CaptureID))
		return nil
	}
	if p.password != "" && pk.Password != p.password {
		p.bad(ReasonPassword, errors.New("hep password does not match"))
		return nil
	}
	if pk.ProtoType != ProtoSIP {
		p.bad(ReasonNotSIP, fmt.Errorf("hep protocol type %d is not SIP (1)", pk.ProtoType))
		return nil
	}
	return p.sip(pk.Payload, pk.Time, pk.Src, pk.Dst)
}

// sip handles one SIP payload. Only emit's errors are returned.
func (p *pipeline) sip(payload []byte, at time.Time, src, dst netip.AddrPort) error {
	m, err := p.parser.Parse(payload, at, src, dst)
	if err != nil {
		p.bad(ReasonSIPParse, err)
		return nil
	}
	return p.handle(m)
}

// handle feeds one parsed message to the tracker.
func (p *pipeline) handle(m Message) error {
	at := m.Time
	if at.After(p.latest) {
		p.latest, p.latestWall = at, time.Now()
	}
	if err := p.emitAll(p.tr.Handle(m)); err != nil {
		return err
	}
	// Offline inputs carry their own clock: flush once per capture second.
	if p.latest.Sub(p.flushed) >= time.Second {
		p.flushed = p.latest
		return p.emitAll(p.tr.Flush(p.latest))
	}
	return nil
}

// captureNow is the capture clock now: the latest capture time plus the
// time since it was seen, so that a live source's time-outs follow the
// agents' clocks and not the gateway's. Zero before any packet.
func (p *pipeline) captureNow(wall time.Time) time.Time {
	if p.latest.IsZero() {
		return time.Time{}
	}
	return p.latest.Add(wall.Sub(p.latestWall))
}

// finish settles what the end of an offline input settles: messages seen on
// one leg only are taken as final, and dialogs still open end as incomplete
// with custom.incomplete_reason "end_of_input".
func (p *pipeline) finish() error {
	if err := p.emitAll(p.tr.Flush(p.latest.Add(Linger))); err != nil {
		return err
	}
	return p.emitAll(p.tr.Drain("end_of_input"))
}

// ReadHEP reads a raw HEPv3 stream (packets back to back, as HEP over TCP
// carries them and as the testdata's hep3.bin holds them) and emits the
// call events it gives, in order. Bad packets go to onErr (a
// *BadPacketError) and are skipped; after bytes that are not HEPv3 the
// reader resynchronises on the next "HEP3". At the end of the input, calls
// still open end as incomplete. It returns emit's first error, a read
// error, or ctx's error.
func ReadHEP(ctx context.Context, r io.Reader, o Options, emit func(cdr.Event) error, onErr func(error)) error {
	p := newPipeline(o, emit, onErr)
	br := bufio.NewReaderSize(r, 1<<16)
	buf := make([]byte, 1<<16)
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		size, err := nextHEP3(br, p)
		if errors.Is(err, io.EOF) {
			return p.finish()
		}
		if err != nil {
			return fmt.Errorf("read hep: %w", err)
		}
		if _, err := io.ReadFull(br, buf[:size]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				p.bad(ReasonHEPDecode, fmt.Errorf("hep3 total length %d: stream ends first", size))
				return p.finish()
			}
			return fmt.Errorf("read hep: %w", err)
		}
		if err := p.hep(buf[:size]); err != nil {
			return err
		}
	}
}

// nextHEP3 skips to the next HEPv3 header in br and returns the packet's
// total length, reporting skipped bytes once per gap.
func nextHEP3(br *bufio.Reader, p *pipeline) (int, error) {
	skipped := 0
	for {
		hdr, err := br.Peek(6)
		if err != nil {
			if len(hdr) > 0 || skipped > 0 {
				p.bad(ReasonHEPDecode, fmt.Errorf("%d trailing bytes are not a HEPv3 packet", len(hdr)+skipped))
			}
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, err
		}
		if n, err := HEP3Len(hdr); err == nil {
			if skipped > 0 {
				p.bad(ReasonHEPDecode, fmt.Errorf("skipped %d bytes that are not a HEPv3 packet", skipped))
			}
			return n, nil
		}
		if _, err := br.Discard(1); err != nil {
			return 0, err
		}
		skipped++
	}
}

// PcapMode chooses which packets of a capture ReadPcapMode reads.
type PcapMode int

// Pcap modes.
const (
	// PcapAuto reads plain SIP when the capture holds any and HEP otherwise:
	// HEP datagrams are read only until the first plain SIP datagram, since
	// the plain copies carry the wire's own timestamps.
	PcapAuto PcapMode = iota
	PcapSIP           // plain SIP over UDP only
	PcapHEP           // HEP over UDP only
)

// ReadPcap reads a pcap or pcapng capture holding SIP over UDP or HEP over
// UDP (PcapAuto) and emits the call events it gives, like ReadHEP.
func ReadPcap(ctx context.Context, r io.Reader, o Options, emit func(cdr.Event) error, onErr func(error)) error {
	return ReadPcapMode(ctx, r, o, PcapAuto, emit, onErr)
}

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// ReadPcapMode is ReadPcap reading the packets mode chooses.
func ReadPcapMode(ctx context.Context, r io.Reader, o Options, mode PcapMode, emit func(cdr.Event) error, onErr func(error)) error {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("read pcap header: %w", err)
	}
	var (
		src      packetSource
		linkType func(ci gopacket.CaptureInfo) layers.LinkType
	)
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return fmt.Errorf("read pcapng: %w", err)
		}
		src = ng
		linkType = func(ci gopacket.CaptureInfo) layers.LinkType {
			if i, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return i.LinkType
			}
			return ng.LinkType()
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("read pcap: %w", err)
		}
		src = pr
		linkType = func(gopacket.CaptureInfo) layers.LinkType { return pr.LinkType() }
	}
	p := newPipeline(o, emit, onErr)
	sawSIP := false
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return p.finish()
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				p.bad(ReasonHEPDecode, fmt.Errorf("capture truncated: %w", err))
				return p.finish()
			}
			return fmt.Errorf("read pcap packet %d: %w", n+1, err)
		}
		payload, s, d, frag := udpPayload(data, linkType(ci))
		if frag {
			p.bad(ReasonFragment, fmt.Errorf("packet %d is an IP fragment", n+1))
			continue
		}
		if payload == nil {
			continue
		}
		switch classify(payload) {
		case kindHEP:
			if mode == PcapSIP || (mode == PcapAuto && sawSIP) {
				continue
			}
			err = p.hep(payload)
		case kindSIP:
			if mode == PcapHEP {
				continue
			}
			sawSIP = true
			err = p.sip(payload, ci.Timestamp.UTC(), s, d)
		}
		if err != nil {
			return err
		}
	}
}

type payloadKind int

const (
	kindOther payloadKind = iota
	kindHEP
	kindSIP
)

// classify tells HEP from SIP by the first bytes: HEPv3's magic, HEPv1/v2's
// version and family, or a SIP start line's letter.
func classify(b []byte) payloadKind {
	switch {
	case len(b) >= 4 && string(b[:4]) == "HEP3":
		return kindHEP
	case len(b) >= 16 && (b[0] == 1 || b[0] == 2) && (b[2] == 2 || b[2] == 10):
		return kindHEP
	case len(b) > 0 && (b[0] >= 'A' && b[0] <= 'Z' || b[0] >= 'a' && b[0] <= 'z'):
		return kindSIP
	}
	return kindOther
}

// udpPayload returns the UDP payload of a captured frame and its addresses,
// or nil for anything else; frag reports an IP fragment.
func udpPayload(data []byte, lt layers.LinkType) (payload []byte, src, dst netip.AddrPort, frag bool) {
	pk := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var sa, da netip.Addr
	switch ip := pk.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return nil, src, dst, true
		}
		sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		da, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		if pk.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return nil, src, dst, true
		}
		sa, _ = netip.AddrFromSlice(ip.SrcIP)
		da, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return nil, src, dst, false
	}
	udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil {
		return nil, src, dst, false
	}
	return udp.Payload, netip.AddrPortFrom(sa, uint16(udp.SrcPort)), netip.AddrPortFrom(da, uint16(udp.DstPort)), false
}

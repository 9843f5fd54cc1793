package siptap

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// directionCall returns an INVITE, its 200 and the caller's BYE. via is
// the INVITE's (only) Via sent-by and parameters, contact its Contact
// host, offer the c= address of its SDP ("" for no body); ruri the
// Request-URI host; answerContact and answer the 200's Contact host and
// SDP c= address.
func directionCall(via, contact, offer, ruri, answerContact, answer string) []string {
	sdp := func(ip string) string {
		if ip == "" {
			return "Content-Length: 0\r\n\r\n"
		}
		body := "v=0\r\no=- 1 1 IN IP4 192.0.2.99\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 " + ip + "\r\n"
		return "Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	}
	hdr := "Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK-1\r\nFrom: <sip:alice@a.example>;tag=a\r\nCall-ID: dir-1\r\n"
	return []string{
		"INVITE sip:bob@" + ruri + " SIP/2.0\r\n" + hdr + "To: <sip:bob@b.example>\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@" + contact + ">\r\n" + sdp(offer),
		"SIP/2.0 200 OK\r\n" + hdr + "To: <sip:bob@b.example>;tag=b\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@" + answerContact + ">\r\n" + sdp(answer),
		"BYE sip:bob@x.example SIP/2.0\r\n" + hdr + "To: <sip:bob@b.example>;tag=b\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
	}
}

// TestDirectionFromSignalling checks the direction rule of the package
// doc: with transport addresses (HEP) they decide; without (a mirrored
// tap), the caller's address is the INVITE's bottom Via (received= first),
// else its Contact, else its SDP c=; the callee's is the last hop's
// Request-URI host, else the 200's Contact, else its SDP c=.
func TestDirectionFromSignalling(t *testing.T) {
	t.Parallel()
	local := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	const ext1, ext2 = "198.51.100.7", "203.0.113.9"
	tests := []struct {
		name                                          string
		via, contact, offer, ruri, ansContact, answer string
		src, dst                                      string // transport addresses of the INVITE ("" for none)
		want                                          cdr.Direction
		wantStarted                                   cdr.Direction // at call.started; "" means want
	}{
		{name: "via local, callee R-URI external", via: "10.0.0.5:5060", contact: ext1, ruri: ext2, ansContact: ext2, want: cdr.DirectionOutbound},
		{name: "via external, callee R-URI local", via: ext1, contact: ext1, ruri: "10.0.0.9", ansContact: ext2, want: cdr.DirectionInbound},
		{name: "both local", via: "10.0.0.5", contact: ext1, ruri: "10.0.0.9", ansContact: ext2, want: cdr.DirectionInternal},
		{name: "neither local", via: ext1, contact: "10.0.0.1", offer: "10.0.0.1", ruri: ext2, ansContact: "10.0.0.2", answer: "10.0.0.2", want: cdr.DirectionUnknown},
		{name: "received= wins over sent-by", via: "192.168.1.5:5060;received=10.2.2.2", contact: "192.168.1.5", ruri: ext2, ansContact: ext2, want: cdr.DirectionOutbound},
		{name: "external received= over local sent-by", via: "10.9.9.9;received=" + ext1, contact: "10.9.9.9", ruri: ext2, ansContact: ext2, want: cdr.DirectionUnknown},
		{name: "via name, Contact local", via: "pbx.a.example", contact: "10.3.3.3:5060", ruri: ext2, ansContact: ext2, want: cdr.DirectionOutbound},
		{name: "via and Contact names, SDP offer local", via: "pbx.a.example", contact: "pbx.a.example", offer: "10.4.4.4", ruri: ext2, ansContact: ext2, want: cdr.DirectionOutbound},
		{name: "SDP hold address is not an address", via: "pbx.a.example", contact: "pbx.a.example", offer: "0.0.0.0", ruri: ext2, ansContact: ext2, want: cdr.DirectionUnknown},
		{name: "IPv6 bracketed Via", via: "[fd00::5]:5060", contact: ext1, ruri: ext2, ansContact: ext2, want: cdr.DirectionOutbound},
		{name: "R-URI name, 200 Contact local", via: ext1, contact: ext1, ruri: "b.example", ansContact: "10.5.5.5", want: cdr.DirectionInbound, wantStarted: cdr.DirectionUnknown},
		{name: "R-URI and 200 Contact names, SDP answer local", via: ext1, contact: ext1, ruri: "b.example", ansContact: "gw.b.example", answer: "10.6.6.6", want: cdr.DirectionInbound, wantStarted: cdr.DirectionUnknown},
		{name: "R-URI IP beats the 200's Contact", via: ext1, contact: ext1, ruri: ext2, ansContact: "10.5.5.5", want: cdr.DirectionUnknown},
		{name: "transport addresses decide: external source", via: "10.0.0.5", contact: "10.0.0.5", offer: "10.0.0.5", ruri: ext2, ansContact: ext2, src: ext1 + ":5060", dst: ext2 + ":5060", want: cdr.DirectionUnknown},
		{name: "transport addresses decide: local source", via: ext1, contact: ext1, ruri: ext2, ansContact: ext2, src: "10.0.0.1:5060", dst: ext2 + ":5060", want: cdr.DirectionOutbound},
	}
	p := NewParser()
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(Options{LocalNetworks: local})
			var src, dst netip.AddrPort
			if tc.src != "" {
				src, dst = netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			}
			var evs []cdr.Event
			for i, s := range directionCall(tc.via, tc.contact, tc.offer, tc.ruri, tc.ansContact, tc.answer) {
				from, to := src, dst
				if i == 1 {
					from, to = dst, src // the 200 travels back
				}
				m, err := p.Parse([]byte(s), t0.Add(time.Duration(i)*time.Second), from, to)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				evs = append(evs, tr.Handle(m)...)
			}
			if len(evs) != 3 || evs[0].Type != cdr.TypeCallStarted || evs[2].Type != cdr.TypeCallEnded {
				t.Fatalf("events %v, want started, answered, ended", evs)
			}
			wantStarted := tc.wantStarted
			if wantStarted == "" {
				wantStarted = tc.want
			}
			if got := evs[0].Record.(*cdr.Call).Direction; got != wantStarted {
				t.Errorf("call.started direction = %q, want %q", got, wantStarted)
			}
			if got := evs[2].Record.(*cdr.Call).Direction; got != tc.want {
				t.Errorf("call.ended direction = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOrigin checks Message.Origin for the messages that carry one, and
// that it is left zero when the transport addresses are known.
func TestOrigin(t *testing.T) {
	t.Parallel()
	p := NewParser()
	msgs := directionCall("pbx.a.example", "[fd00::7]:5070", "", "b.example", "gw.b.example", "192.0.2.44")
	tests := []struct {
		name string
		msg  string
		src  netip.AddrPort
		want string // "" for none
	}{
		{"INVITE Contact IPv6 with port", msgs[0], netip.AddrPort{}, "fd00::7"},
		{"200 SDP answer", msgs[1], netip.AddrPort{}, "192.0.2.44"},
		{"BYE has none", msgs[2], netip.AddrPort{}, ""},
		{"transport addresses known", msgs[0], netip.MustParseAddrPort("192.0.2.1:5060"), ""},
		{"180 without Contact or SDP", "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@a>;tag=a\r\nTo: <sip:b@b>;tag=b\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", netip.AddrPort{}, ""},
		{"100 Trying is not the callee", "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@a>;tag=a\r\nTo: <sip:b@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:p@10.9.9.9>\r\nContent-Length: 0\r\n\r\n", netip.AddrPort{}, ""},
		{"compact Contact", "INVITE sip:b@b SIP/2.0\r\nv: SIP/2.0/UDP host.example\r\nf: <sip:a@a>;tag=a\r\nt: <sip:b@b>\r\ni: x\r\nCSeq: 1 INVITE\r\nm: <sip:a@10.8.8.8;transport=tcp>\r\nl: 0\r\n\r\n", netip.AddrPort{}, "10.8.8.8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := p.Parse([]byte(tc.msg), time.Time{}, tc.src, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if m.Origin.IsValid() {
				got = m.Origin.String()
			}
			if got != tc.want {
				t.Errorf("Origin = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseOrigin parses any SIP message as a tap does (no transport
// addresses): it must not panic, and an Origin is an IP literal that is
// neither unspecified nor IPv4-mapped.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range tapCall("fuzz", "10.1.2.3", "[fd00::1]") {
		f.Add([]byte(s))
	}
	for _, s := range directionCall("192.168.1.5:5060;received=10.2.2.2", "pbx.example", "0.0.0.0", "b.example", "gw.example", "::ffff:10.0.0.1") {
		f.Add([]byte(s))
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := p.Parse(b, time.Time{}, netip.AddrPort{}, netip.AddrPort{})
		if err != nil {
			return
		}
		if m.Origin.IsValid() && (m.Origin.IsUnspecified() || m.Origin.Is4In6()) {
			t.Fatalf("Origin %v", m.Origin)
		}
		if m.Origin.IsValid() && !(m.Method == "INVITE" || m.CSeqMethod == "INVITE" && m.StatusCode > 100 && m.StatusCode < 300) {
			t.Fatalf("Origin %v on %s %d", m.Origin, m.Method, m.StatusCode)
		}
	})
}

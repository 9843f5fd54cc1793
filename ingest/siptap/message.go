package siptap

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Message is one captured SIP message reduced to what the dialog tracker
// needs: the parsed headers, the capture time and the addresses it travelled
// between. Zero addresses mean "unknown".
type Message struct {
	Time       time.Time      // capture time
	Src, Dst   netip.AddrPort // where the message came from and went to
	Request    bool           // a request (Method set) or a response (StatusCode set)
	Method     string         // request method, upper case
	StatusCode int            // response status code
	RequestURI Address        // request URI user and host (requests only)
	CallID     string
	FromTag    string
	ToTag      string
	CSeq       uint32
	CSeqMethod string
	Vias       int // number of Via header values: tells the legs of a proxied transaction apart
	From       Address
	To         Address
	PAI        Address // P-Asserted-Identity, zero when absent
	// Q850Cause is the cause of a Reason: Q.850;cause=N header, 0 when absent.
	Q850Cause int
	// Q850Text is the text parameter of that Reason header.
	Q850Text string
	// SessionExpires is the Session-Expires interval, 0 when absent.
	SessionExpires time.Duration
	// Origin is where the message says its originator is, read only when
	// the transport addresses are unknown (a mirrored tap) and only for
	// initial INVITEs and 101–299 responses to an INVITE: for a request the bottom
	// Via's received= or sent-by IP, else the Contact's IP, else the SDP
	// connection (c=) address; for a response the Contact's IP, else the
	// SDP connection address. Zero when none is an IP literal.
	Origin netip.Addr
}

// Address is a SIP name-addr reduced to its display name, user and host.
type Address struct {
	Name string // display name, unquoted
	User string // user part of the URI
	Host string // host part of the URI
}

// Parser turns SIP payloads into Messages with sipgo's parser. A Parser is
// safe for concurrent use.
type Parser struct {
	p *sip.Parser
}

// NewParser returns a SIP parser.
func NewParser() *Parser { return &Parser{p: sip.NewParser(sip.WithHeadersParsers(trackerHeaders))} }

// trackerHeaders are sipgo's typed parsers for the headers the tracker reads
// (and Content-Length, which delimits the body); the rest stay generic,
// which is cheaper.
var trackerHeaders = func() map[string]sip.HeaderParser {
	all := sip.DefaultHeadersParser()
	m := map[string]sip.HeaderParser{}
	for _, k := range []string{"f", "from", "t", "to", "i", "call-id", "cseq", "via", "v", "content-length", "l"} {
		m[k] = all[k]
	}
	return m
}()

// Parse errors the tracker's callers classify as bad-packet reasons.
var (
	ErrNoCallID = errors.New("sip message has no Call-ID")
	ErrNoCSeq   = errors.New("sip message has no CSeq")
)

// Parse parses one SIP message captured at time at, travelling from src to dst.
func (p *Parser) Parse(payload []byte, at time.Time, src, dst netip.AddrPort) (Message, error) {
	raw, err := p.p.ParseSIP(payload)
	if err != nil {
		return Message{}, fmt.Errorf("parse sip: %w", err)
	}
	return convert(raw, at, src, dst)
}

// convert reduces a message parsed by sipgo to a Message.
func convert(raw sip.Message, at time.Time, src, dst netip.AddrPort) (Message, error) {
	m := Message{Time: at, Src: src, Dst: dst}
	switch r := raw.(type) {
	case *sip.Request:
		m.Request = true
		m.Method = strings.ToUpper(string(r.Method))
		m.RequestURI = Address{User: r.Recipient.User, Host: r.Recipient.Host}
	case *sip.Response:
		m.StatusCode = r.StatusCode
	default:
		return Message{}, fmt.Errorf("parse sip: unexpected message type %T", raw)
	}
	cid := raw.CallID()
	if cid == nil || *cid == "" {
		return Message{}, ErrNoCallID
	}
	m.CallID = string(*cid)
	cseq := raw.CSeq()
	if cseq == nil {
		return Message{}, ErrNoCSeq
	}
	m.CSeq, m.CSeqMethod = cseq.SeqNo, strings.ToUpper(string(cseq.MethodName))
	if f := raw.From(); f != nil {
		m.From = Address{Name: f.DisplayName, User: f.Address.User, Host: f.Address.Host}
		m.FromTag, _ = f.Params.Get("tag")
	}
	if t := raw.To(); t != nil {
		m.To = Address{Name: t.DisplayName, User: t.Address.User, Host: t.Address.Host}
		m.ToTag, _ = t.Params.Get("tag")
	}
	vias := raw.GetHeaders("Via")
	m.Vias = len(vias)
	if !src.IsValid() && !dst.IsValid() {
		switch {
		case m.Method == "INVITE" && m.ToTag == "":
			m.Origin = viaOrigin(vias)
			fallthrough
		case !m.Request && m.CSeqMethod == "INVITE" && m.StatusCode > 100 && m.StatusCode < 300:
			if !m.Origin.IsValid() {
				m.Origin = contactOrigin(raw)
			}
			if !m.Origin.IsValid() {
				m.Origin = sdpConnection(raw.Body())
			}
		}
	}
	if m.Method == "INVITE" || m.Method == "BYE" || m.Method == "CANCEL" || m.Method == "UPDATE" || !m.Request {
		if h := header(raw, "P-Asserted-Identity"); h != "" {
			m.PAI = parseNameAddr(h)
		}
		if h := header(raw, "Reason"); h != "" {
			m.Q850Cause, m.Q850Text = parseReason(raw)
		}
		if h := header(raw, "Session-Expires"); h == "" {
			if h = header(raw, "x"); h != "" { // compact form of Session-Expires
				m.SessionExpires = parseSessionExpires(h)
			}
		} else {
			m.SessionExpires = parseSessionExpires(h)
		}
	}
	return m, nil
}

// viaOrigin returns the IP of the bottom Via (the request's originator):
// its received= parameter when present, else its sent-by host.
func viaOrigin(vias []sip.Header) netip.Addr {
	if len(vias) == 0 {
		return netip.Addr{}
	}
	v, ok := vias[len(vias)-1].(*sip.ViaHeader)
	if !ok {
		return netip.Addr{}
	}
	if r, ok := v.Params.Get("received"); ok {
		if ip := ipOf(r); ip.IsValid() {
			return ip
		}
	}
	return ipOf(v.Host)
}

// contactOrigin returns the IP of the Contact URI's host.
func contactOrigin(raw sip.Message) netip.Addr {
	h := header(raw, "Contact")
	if h == "" {
		h = header(raw, "m") // compact form
	}
	if h == "" {
		return netip.Addr{}
	}
	return ipOf(parseNameAddr(h).Host)
}

// sdpConnection returns the first connection address (c=) of an SDP body.
func sdpConnection(body []byte) netip.Addr {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if !bytes.HasPrefix(line, []byte("c=")) {
			continue
		}
		// c=IN IP4 192.0.2.1[/ttl]
		f := strings.Fields(string(line[2:]))
		if len(f) < 3 {
			return netip.Addr{}
		}
		a, _, _ := strings.Cut(f[2], "/")
		return ipOf(a)
	}
	return netip.Addr{}
}

// ipOf parses an IP literal, bracketed or not, with or without a port;
// names and the unspecified address (SDP hold) give the zero Addr.
func ipOf(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			s = s[1:i]
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// header returns the first value of the named header, "" when absent.
func header(m sip.Message, name string) string {
	hs := m.GetHeaders(name)
	if len(hs) == 0 {
		return ""
	}
	return hs[0].Value()
}

// parseNameAddr reads `"Name" <sip:user@host;...>;params` or a bare URI,
// leniently: it never fails, returning what it could read.
func parseNameAddr(s string) Address {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ','); i >= 0 && !strings.Contains(s[:i], "\"") {
		s = s[:i] // first of several identities
	}
	var a Address
	uri := s
	if i := strings.IndexByte(s, '<'); i >= 0 {
		a.Name = strings.Trim(strings.TrimSpace(s[:i]), `"`)
		uri = s[i+1:]
		if j := strings.IndexByte(uri, '>'); j >= 0 {
			uri = uri[:j]
		}
	} else if i := strings.IndexByte(uri, ';'); i >= 0 {
		uri = uri[:i]
	}
	if i := strings.IndexByte(uri, ':'); i >= 0 {
		uri = uri[i+1:] // drop the scheme (sip:, sips:, tel:)
	}
	if i := strings.IndexAny(uri, ";?"); i >= 0 {
		uri = uri[:i]
	}
	if i := strings.LastIndexByte(uri, '@'); i >= 0 {
		a.User, a.Host = uri[:i], uri[i+1:]
		if j := strings.IndexByte(a.User, ':'); j >= 0 {
			a.User = a.User[:j] // user:password
		}
	} else if strings.HasPrefix(strings.ToLower(s), "<tel:") || strings.HasPrefix(strings.ToLower(s), "tel:") || strings.Contains(strings.ToLower(s), "<tel:") {
		a.User = uri
	} else {
		a.Host = uri
	}
	if j := strings.IndexByte(a.Host, ':'); j >= 0 && !strings.Contains(a.Host, "[") {
		a.Host = a.Host[:j]
	}
	return a
}

// parseReason returns the cause and text of the first Q.850 Reason value.
func parseReason(m sip.Message) (int, string) {
	for _, h := range m.GetHeaders("Reason") {
		for _, v := range strings.Split(h.Value(), ",") {
			params := strings.Split(v, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "Q.850") {
				continue
			}
			var cause int
			var text string
			for _, p := range params[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "cause":
					if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n > 0 && n < 128 {
						cause = n
					}
				case "text":
					text = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			if cause > 0 {
				return cause, text
			}
		}
	}
	return 0, ""
}

// parseSessionExpires reads "1800;refresher=uac"; out-of-range values give 0.
func parseSessionExpires(s string) time.Duration {
	v, _, _ := strings.Cut(s, ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 || n > 86400*7 {
		return 0
	}
	return time.Duration(n) * time.Second
}

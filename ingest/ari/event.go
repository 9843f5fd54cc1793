package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is the subset of an ARI WebSocket event the tracker uses. It is
// decoded from the raw JSON Asterisk sends, so the same code serves a live
// socket, a recording and a test; unknown fields are ignored.
type Event struct {
	Type            string   `json:"type"`
	Timestamp       string   `json:"timestamp"`
	AsteriskID      string   `json:"asterisk_id"`
	Channel         *Channel `json:"channel"`
	Caller          *Channel `json:"caller"` // Dial: the dialing channel (absent for originate)
	Peer            *Channel `json:"peer"`   // Dial: the dialed channel
	DialStatus      string   `json:"dialstatus"`
	DialString      string   `json:"dialstring"`
	Cause           int      `json:"cause"`
	CauseText       string   `json:"cause_txt"`
	Soft            bool     `json:"soft"`
	Variable        string   `json:"variable"`
	Value           string   `json:"value"`
	DialplanApp     string   `json:"dialplan_app"`
	DialplanAppData string   `json:"dialplan_app_data"`
	Digit           string   `json:"digit"`
	Bridge          *struct {
		ID string `json:"id"`
	} `json:"bridge"`

	// At is Timestamp parsed; set by DecodeEvent.
	At time.Time `json:"-"`
}

// Channel is the subset of an ARI Channel object the tracker uses.
type Channel struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	State        string   `json:"state"`
	Caller       CallerID `json:"caller"`
	Connected    CallerID `json:"connected"`
	AccountCode  string   `json:"accountcode"`
	Dialplan     Dialplan `json:"dialplan"`
	CreationTime string   `json:"creationtime"`
	// ChannelVars holds the raw channelvars object (ari.conf's channelvars
	// setting), absent when none are configured; Vars decodes it. It is
	// kept raw because the tracker needs it only for a channel's first
	// event, and decoding a map per event halves throughput.
	ChannelVars json.RawMessage `json:"channelvars"`
}

// Vars decodes ChannelVars; nil when absent or not an object of strings.
func (c *Channel) Vars() map[string]string {
	if len(c.ChannelVars) == 0 {
		return nil
	}
	var m map[string]string
	if json.Unmarshal(c.ChannelVars, &m) != nil {
		return nil
	}
	return m
}

// CallerID is an ARI caller or connected-line id.
type CallerID struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

// Dialplan is an ARI channel's current dialplan location.
type Dialplan struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int64  `json:"priority"`
	AppName  string `json:"app_name"`
	AppData  string `json:"app_data"`
}

// LinkedIDVar is the channel variable that carries the linkedid when
// ari.conf has channelvars = CHANNEL(linkedid).
const LinkedIDVar = "CHANNEL(linkedid)"

// ErrNoTimestamp is returned by DecodeEvent for an event without a timestamp.
var ErrNoTimestamp = errors.New("event has no timestamp")

// DecodeEvent decodes one ARI event from its JSON text and parses its
// timestamp. It never panics on bad input. A hand-written decoder
// (decode.go) reads the common case about seven times faster than
// encoding/json; whatever it does not handle goes to encoding/json, with
// the same result (FuzzFastDecode). The event shares no memory with data.
func DecodeEvent(data []byte) (*Event, error) {
	return decodeEvent(data, true)
}

// decodeEvent is DecodeEvent, with the fast decoder (decode.go) tried
// first when fast is set; without it, only encoding/json is used.
func decodeEvent(data []byte, fast bool) (*Event, error) {
	ev := new(Event)
	if !fast || !decodeFast(data, ev) {
		*ev = Event{}
		if err := json.Unmarshal(data, ev); err != nil {
			return nil, fmt.Errorf("decode ari event: %w", err)
		}
	}
	if ev.Type == "" {
		return nil, errors.New("decode ari event: field type is missing")
	}
	if ev.Timestamp == "" {
		return nil, fmt.Errorf("decode ari event %s: %w", ev.Type, ErrNoTimestamp)
	}
	t, err := ParseTime(ev.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("decode ari event %s: field timestamp: %w", ev.Type, err)
	}
	ev.At = t
	return ev, nil
}

// ParseTime parses an ARI timestamp such as 2026-11-23T06:30:25.465+0000
// (no colon in the offset, so not RFC 3339). It also accepts RFC 3339
// forms (Z, +00:00) and any number of fraction digits, and returns UTC.
func ParseTime(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("%q is not an ARI timestamp (want 2006-01-02T15:04:05.000-0700)", s)
	}
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return bad()
	}
	i := 19
	nsec := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		start := i
		scale := 100000000
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			nsec += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return bad()
		}
	}
	offset := 0
	switch {
	case i == len(s):
		return bad()
	case s[i] == 'Z' && i+1 == len(s):
	case s[i] == '+' || s[i] == '-':
		rest := s[i+1:]
		var hh, mm int
		var ok bool
		switch len(rest) {
		case 4: // +0000
			hh, ok = num(i+1, i+3)
			if ok {
				mm, ok = num(i+3, i+5)
			}
		case 5: // +00:00
			if rest[2] != ':' {
				return bad()
			}
			hh, ok = num(i+1, i+3)
			if ok {
				mm, ok = num(i+4, i+6)
			}
		case 2: // +00
			hh, ok = num(i+1, i+3)
		}
		if !ok || hh > 23 || mm > 59 {
			return bad()
		}
		offset = hh*3600 + mm*60
		if s[i] == '-' {
			offset = -offset
		}
	default:
		return bad()
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 2026-02-31 normalised into March
		return bad()
	}
	return t.Add(-time.Duration(offset) * time.Second), nil
}

package file

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// cdr_csv column indexes (cdr_csv.c build_csv_record).
const (
	colAccountCode = iota
	colSrc
	colDst
	colDContext
	colCLID
	colChannel
	colDstChannel
	colLastApp
	colLastData
	colStart
	colAnswer
	colEnd
	colDuration
	colBillsec
	colDisposition
	colAMAFlags
	colUniqueID  // only with loguniqueid=yes
	colUserField // only with loguserfield=yes
)

// timeLayout is the layout of cdr_csv times.
const timeLayout = "2006-01-02 15:04:05"

// dupSlots is the size of the table of recent uniqueids the csv reader uses
// to tell apart different rows that share a uniqueid.
const dupSlots = 2048

// dupSlot remembers one recent uniqueid and a hash of the first row seen
// with it.
type dupSlot struct {
	uid string
	row uint64
}

// csvReader turns cdr_csv rows into call.ended events.
type csvReader struct {
	loc  *time.Location
	src  cdr.SourceRef
	dups *[dupSlots]dupSlot
	seed maphash.Seed
	buf  []byte // scratch for joinRow
}

func newCSVReader(opts Options) *csvReader {
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	name := opts.Name
	if name == "" {
		name = "csv"
	}
	return &csvReader{
		loc:  loc,
		src:  cdr.SourceRef{Kind: "csv", Name: name},
		dups: new([dupSlots]dupSlot),
		seed: maphash.MakeSeed(),
	}
}

func readCSV(ctx context.Context, r io.Reader, opts Options, emit func(cdr.Event) error, onErr func(error)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.LazyQuotes = false
	p := newCSVReader(opts)
	for n := 0; ; n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				onErr(&LineError{File: opts.Name, Line: pe.Line, Err: fmt.Errorf("column %d: %w", pe.Column, pe.Err)})
				continue
			}
			return fmt.Errorf("read %s: %w", displayName(opts.Name), err)
		}
		line, _ := cr.FieldPos(0)
		if n == 0 && isHeader(row) {
			continue
		}
		ev, err := p.event(row)
		if err != nil {
			onErr(&LineError{File: opts.Name, Line: line, Err: err})
			continue
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
}

// isHeader reports whether row is a column-name header (not written by
// Asterisk, but common in exported or hand-made files).
func isHeader(row []string) bool {
	return len(row) > colDisposition && strings.EqualFold(strings.TrimSpace(row[colAccountCode]), "accountcode") &&
		strings.EqualFold(strings.TrimSpace(row[colDisposition]), "disposition")
}

// callBlock holds a call with its legs and times so that one allocation
// serves a row.
type callBlock struct {
	call                                                  cdr.Call
	legs                                                  [2]cdr.Leg
	answer, end, leg1Answer, leg1End, leg2Answer, leg2End time.Time
}

// event builds the call.ended event of one cdr_csv row.
func (p *csvReader) event(row []string) (cdr.Event, error) {
	if n := len(row); n < 16 || n > 18 {
		return cdr.Event{}, fmt.Errorf("%d columns, want 16, 17 or 18", n)
	}
	start, err := p.parseTime("start", row[colStart])
	if err != nil {
		return cdr.Event{}, err
	}
	end, err := p.parseTime("end", row[colEnd])
	if err != nil {
		return cdr.Event{}, err
	}
	if end.Before(start) {
		return cdr.Event{}, fmt.Errorf("end: %q is before start %q", row[colEnd], row[colStart])
	}
	var answer time.Time
	if row[colAnswer] != "" {
		if answer, err = p.parseTime("answer", row[colAnswer]); err != nil {
			return cdr.Event{}, err
		}
		if answer.Before(start) {
			return cdr.Event{}, fmt.Errorf("answer: %q is before start %q", row[colAnswer], row[colStart])
		}
	}
	duration, err := wholeNumber("duration", row[colDuration])
	if err != nil {
		return cdr.Event{}, err
	}
	billsec, err := wholeNumber("billsec", row[colBillsec])
	if err != nil {
		return cdr.Event{}, err
	}
	disp, ok := disposition(row[colDisposition])
	if !ok {
		return cdr.Event{}, fmt.Errorf("disposition: %q is not an Asterisk disposition (ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION)", row[colDisposition])
	}
	var uniqueID, userField string
	if len(row) > colUniqueID {
		uniqueID = row[colUniqueID]
	}
	if len(row) > colUserField {
		userField = row[colUserField]
	}

	// The record id and the event id share one allocation.
	var id, eventID, callID string
	if uniqueID == "" {
		callID = p.rowHash(row)
		id, eventID = callEndedIDs("csv:", callID, "")
	} else {
		callID = uniqueID
		var suffix string
		if p.duplicate(row, uniqueID) {
			suffix = ":" + p.rowHash(row)
		}
		id, eventID = callEndedIDs("csv:", uniqueID, suffix)
	}

	blk := &callBlock{end: end, leg1End: end, leg2End: end}
	var answeredAt, leg1Answer, leg2Answer *time.Time
	if !answer.IsZero() {
		blk.answer, blk.leg1Answer, blk.leg2Answer = answer, answer, answer
		answeredAt, leg1Answer, leg2Answer = &blk.answer, &blk.leg1Answer, &blk.leg2Answer
	}
	nlegs := 1
	if row[colDstChannel] != "" {
		nlegs = 2
	}
	legs := blk.legs[:nlegs:nlegs]
	leg := &legs[0]
	leg.Channel, leg.UniqueID, leg.StartedAt, leg.AnsweredAt, leg.EndedAt = row[colChannel], uniqueID, start, leg1Answer, &blk.leg1End
	if nlegs == 2 {
		leg = &legs[1]
		leg.Channel, leg.StartedAt, leg.AnsweredAt, leg.EndedAt = row[colDstChannel], start, leg2Answer, &blk.leg2End
	}
	custom := make(map[string]string, 4)
	if v := row[colDContext]; v != "" {
		custom["dcontext"] = v
	}
	if v := row[colLastApp]; v != "" {
		custom["lastapp"] = v
	}
	if v := row[colLastData]; v != "" {
		custom["lastdata"] = v
	}
	if v := row[colAMAFlags]; v != "" {
		custom["amaflags"] = v
	}

	// Fill the zeroed call in place: a composite literal would be built
	// aside and copied with write barriers.
	call := &blk.call
	call.ID = id
	call.Kind = cdr.KindCall
	call.Source = p.src
	call.CallID = callID
	call.Direction = cdr.DirectionUnknown
	call.Caller.Number = row[colSrc]
	call.Caller.Name = clidName(row[colCLID])
	call.StartedAt = start
	call.EndedAt = &blk.end
	call.Custom = custom
	call.Callee.Number = row[colDst]
	call.AnsweredAt = answeredAt
	call.Duration = duration
	call.Billsec = billsec
	call.Disposition = disp
	call.Hangup.Initiator = cdr.InitiatorUnknown
	call.AccountCode = row[colAccountCode]
	call.UserField = userField
	call.Legs = legs
	return cdr.Event{ID: eventID, Type: cdr.TypeCallEnded, Time: end, Source: p.src, Record: call}, nil
}

// disposition is cdr.ParseAsteriskDisposition with a fast path for the
// exact spellings Asterisk writes.
func disposition(s string) (cdr.Disposition, bool) {
	switch s {
	case "ANSWERED":
		return cdr.DispositionAnswered, true
	case "NO ANSWER":
		return cdr.DispositionNoAnswer, true
	case "BUSY":
		return cdr.DispositionBusy, true
	case "FAILED":
		return cdr.DispositionFailed, true
	case "CONGESTION":
		return cdr.DispositionCongestion, true
	}
	return cdr.ParseAsteriskDisposition(s)
}

// callEndedIDs returns the record id prefix+key+suffix and its event id,
// cdr.EventID(cdr.TypeCallEnded, id), both cut from one string (a single
// allocation); a test holds it to cdr.EventID.
func callEndedIDs(prefix, key, suffix string) (id, eventID string) {
	const typ = string(cdr.TypeCallEnded) + "\x00"
	const idLen = 4 + 32 // "evt_" and 16 bytes in hex
	const maxIn = 256
	n := len(prefix) + len(key) + len(suffix)
	if len(typ)+n > maxIn {
		id = prefix + key + suffix
		return id, cdr.EventID(cdr.TypeCallEnded, id)
	}
	// buf holds typ, the id, then the event id: the hash input is
	// buf[:len(typ)+n] and the result buf[len(typ):].
	var buf [maxIn + idLen]byte
	m := copy(buf[:], typ)
	m += copy(buf[m:], prefix)
	m += copy(buf[m:], key)
	m += copy(buf[m:], suffix)
	sum := sha256.Sum256(buf[:m])
	m += copy(buf[m:], "evt_")
	hex.Encode(buf[m:m+32], sum[:16])
	s := string(buf[len(typ) : m+32])
	return s[:n], s[n:]
}

// duplicate reports whether a different row with the same uniqueid was seen
// recently. Asterisk writes several CDRs for one channel (a failed Dial, then
// Hangup), all with the channel's uniqueid, one after the other; an identical
// row is the same record and is not a duplicate. The table is direct-mapped
// by a fixed hash of the uniqueid, so which uniqueids it still remembers
// depends only on the input.
func (p *csvReader) duplicate(row []string, uniqueID string) bool {
	slot := &p.dups[fnv64(uniqueID)%dupSlots]
	h := maphash.Bytes(p.seed, p.joinRow(row))
	if slot.uid == uniqueID {
		return slot.row != h
	}
	*slot = dupSlot{uid: uniqueID, row: h}
	return false
}

// joinRow returns the row's fields joined with NUL bytes, in a buffer that
// the next call reuses.
func (p *csvReader) joinRow(row []string) []byte {
	buf := p.buf[:0]
	for i, f := range row {
		if i > 0 {
			buf = append(buf, 0)
		}
		buf = append(buf, f...)
	}
	p.buf = buf
	return buf
}

// fnv64 is the 64-bit FNV-1a hash of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// rowHash is the first 16 hex digits of the SHA-256 of the row's fields
// joined with NUL bytes.
func (p *csvReader) rowHash(row []string) string {
	sum := sha256.Sum256(p.joinRow(row))
	return hex.EncodeToString(sum[:8])
}

// parseTime parses a cdr_csv time in p.loc and returns it in UTC.
func (p *csvReader) parseTime(col, s string) (time.Time, error) {
	t, ok := parseClock(s, p.loc)
	if !ok {
		return time.Time{}, fmt.Errorf("%s: %q is not a time (%s)", col, s, timeLayout)
	}
	return t, nil
}

// parseClock parses exactly "2006-01-02 15:04:05" without allocating;
// time.ParseInLocation accepts the same strings but costs several times more.
func parseClock(s string, loc *time.Location) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	if loc == time.UTC {
		secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
		return time.Unix(secs, 0).UTC(), true
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc).UTC(), true
}

// daysFromCivil is the number of days from 1970-01-01 to the given date of
// the proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // floor division
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// wholeNumber parses a non-negative decimal integer of at most 18 digits.
func wholeNumber(col, s string) (int, error) {
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("%s: %q is not a whole number", col, s)
	}
	v := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s: %q is not a whole number", col, s)
		}
		v = v*10 + int(c-'0')
	}
	return v, nil
}

// clidName returns the name part of an Asterisk caller id such as
// `"Alice" <+15550001001>`, `Alice <1001>` or `"Alice"`: the text before the
// last '<', without its surrounding quotes. Asterisk does not escape quotes in
// the name; a doubled quote or a backslash-escaped character inside the
// quotes stands for itself. A bare number has no name.
func clidName(clid string) string {
	s := strings.TrimSpace(clid)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	} else if isPhoneNumber(s) {
		return ""
	}
	if s == "" || s[0] != '"' {
		return s
	}
	s = s[1:]
	if strings.HasSuffix(s, `"`) {
		s = s[:len(s)-1]
	}
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i+1 < len(s) && (c == '\\' || (c == '"' && s[i+1] == '"')) {
			i++
			c = s[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isPhoneNumber(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9') && !strings.ContainsRune("+*#-() .", rune(c)) {
			return false
		}
	}
	return true
}

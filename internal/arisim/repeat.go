package arisim

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// tsLayout is the timestamp format of ARI events.
const tsLayout = "2006-01-02T15:04:05.000-0700"

var (
	// A whole JSON string holding an ARI timestamp.
	tsRE = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}"`)
	// A whole JSON string holding an Asterisk unique id: <unix seconds>.<sequence>.
	uniqueIDRE = regexp.MustCompile(`"(\d{9,11})\.(\d+)"`)
	// A whole JSON string holding a UUID (bridge ids); group 1 is its first part.
	uuidRE = regexp.MustCompile(`"([0-9a-f]{8})(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"`)
)

// Repeat returns rounds copies of a recording one after the other, as if
// the same calls had happened again later on the same Asterisk. Round r
// (from 0) has every timestamp shifted by r×S, where S is the recording's
// span (first to last event timestamp) rounded down to whole seconds plus
// two seconds, and so is the Unix-seconds part of every unique id (channel ids
// and linkedids): since Asterisk's sequence number after the dot never
// repeats within a recording, no id of one round equals an id of another.
// UUIDs (bridge ids) get r added to their first group. Only values that
// are whole JSON strings are rewritten.
func Repeat(events [][]byte, rounds int) ([][]byte, error) {
	var first, last time.Time
	for i, e := range events {
		at := eventTime(e)
		if at.IsZero() {
			return nil, fmt.Errorf("repeat ari recording: event %d: field timestamp is missing or not %s", i+1, tsLayout)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	step := last.Sub(first).Truncate(time.Second) + 2*time.Second
	out := make([][]byte, 0, len(events)*rounds)
	for r := range rounds {
		if r == 0 {
			out = append(out, events...)
			continue
		}
		shift := time.Duration(r) * step
		secs := int64(shift / time.Second)
		for _, e := range events {
			e = tsRE.ReplaceAllFunc(e, func(m []byte) []byte {
				t, err := time.Parse(tsLayout, string(m[1:len(m)-1]))
				if err != nil { // a 61st second or the like: leave it
					return m
				}
				return []byte(`"` + t.Add(shift).Format(tsLayout) + `"`)
			})
			e = uniqueIDRE.ReplaceAllFunc(e, func(m []byte) []byte {
				sub := uniqueIDRE.FindSubmatch(m)
				n, err := strconv.ParseInt(string(sub[1]), 10, 64)
				if err != nil {
					return m
				}
				return []byte(`"` + strconv.FormatInt(n+secs, 10) + "." + string(sub[2]) + `"`)
			})
			e = uuidRE.ReplaceAllFunc(e, func(m []byte) []byte {
				sub := uuidRE.FindSubmatch(m)
				n, _ := strconv.ParseUint(string(sub[1]), 16, 32) // 8 hex digits: cannot fail
				return []byte(fmt.Sprintf(`"%08x%s"`, uint32(n)+uint32(r), sub[2]))
			})
			out = append(out, e)
		}
	}
	return out, nil
}

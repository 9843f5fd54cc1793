package ari

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// maxLine bounds one recorded event line.
const maxLine = 4 << 20

// EndOfRecording is the hangup cause text of calls still in progress when a
// recording ends.
const EndOfRecording = "recording ended before the call"

// ReadRecording reads a JSON-lines ARI recording (one WebSocket event per
// line, as from /ari/events?subscribeAll=true), runs it through a Tracker
// and calls emit for every event, in order. A line that does not decode is
// reported to onErr (when not nil) with its line number and skipped. Calls
// still in progress at the end of the recording end at the last event's
// time with custom.incomplete = "true". An error from emit or ctx stops
// the read and is returned.
func ReadRecording(ctx context.Context, r io.Reader, o Options, emit func(cdr.Event) error, onErr func(error)) error {
	t := NewTracker(o)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var last time.Time
	send := func(evs []cdr.Event) error {
		for _, e := range evs {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	for n := 1; sc.Scan(); n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		ev, err := DecodeEvent(line)
		if err != nil {
			if onErr != nil {
				onErr(fmt.Errorf("line %d: %w", n, err))
			}
			continue
		}
		if ev.At.After(last) {
			last = ev.At
		}
		if err := send(t.Handle(ev)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read ari recording: %w", err)
	}
	if last.IsZero() {
		return nil
	}
	return send(t.EndAll(last, EndOfRecording))
}

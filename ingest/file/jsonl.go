package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cdrgw/cdrgw/cdr"
)

// readJSONL reads cdrgw events, one JSON object per line, or a JSON array of
// events when the input starts with '['.
func readJSONL(ctx context.Context, br *bufio.Reader, opts Options, emit func(cdr.Event) error, onErr func(error)) error {
	if isArray(br) {
		return readJSONArray(ctx, br, opts, emit, onErr)
	}
	var long []byte // a line longer than br's buffer
	for line := 1; ; line++ {
		if (line-1)%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", displayName(opts.Name), err)
		}
		if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 {
			ev, perr := decodeEvent(trimmed)
			if perr != nil {
				onErr(&LineError{File: opts.Name, Line: line, Err: perr})
			} else if eerr := emit(ev); eerr != nil {
				return eerr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// isArray reports whether the next non-blank byte of br is '['.
func isArray(br *bufio.Reader) bool {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n || err != nil {
			return false
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			return true
		}
		return false
	}
}

// readJSONArray reads a JSON array of events; errors carry the 0-based index
// of the element, as for Teams bodies. A syntax error ends the read, since nothing after it can be
// trusted.
func readJSONArray(ctx context.Context, r io.Reader, opts Options, emit func(cdr.Event) error, onErr func(error)) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil { // the '['
		return syntaxOrIO(err, opts, 0, onErr)
	}
	for i := 0; dec.More(); i++ {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxOrIO(err, opts, i, onErr)
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			onErr(&LineError{File: opts.Name, Line: i, Record: true, Err: err})
			continue
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// syntaxOrIO reports a JSON syntax error through onErr and returns I/O
// errors.
func syntaxOrIO(err error, opts Options, record int, onErr func(error)) error {
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the array was not closed
		}
		onErr(&LineError{File: opts.Name, Line: record, Record: true, Err: err})
		return nil
	}
	return fmt.Errorf("read %s: %w", displayName(opts.Name), err)
}

// decodeEvent decodes and validates one event.
func decodeEvent(b []byte) (cdr.Event, error) {
	var ev cdr.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return cdr.Event{}, err
	}
	if err := ev.Validate(); err != nil {
		return cdr.Event{}, err
	}
	return ev, nil
}

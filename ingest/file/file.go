package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cdrgw/cdrgw/cdr"
)

// Format is an input file format: Teams JSON, Asterisk Master.csv or cdrgw
// JSON lines.
type Format string

// Input formats.
const (
	FormatTeams Format = "teams" // Teams contact-center CDR JSON (one object or an array)
	FormatCSV   Format = "csv"   // Asterisk cdr_csv Master.csv
	FormatJSONL Format = "jsonl" // cdrgw events, one JSON object per line
)

// ParseFormat parses an --input-format value; "" and "auto" mean detect and
// return the empty Format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatTeams, FormatCSV, FormatJSONL:
		return f, nil
	case "", "auto":
		return "", nil
	}
	return "", fmt.Errorf("input format %q is not one of teams, csv, jsonl, auto", s)
}

// utf8BOM is the byte order mark some editors put at the start of a file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Detect guesses the format from the first bytes of the input: JSON ('[' or
// '{') whose first object has both "type" and "record" keys is cdrgw JSON
// lines, other JSON is Teams, anything else is csv. A few KiB of head are
// plenty; a head cut inside the first object is judged on the keys seen.
func Detect(head []byte) Format {
	head = bytes.TrimPrefix(head, utf8BOM)
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || (head[0] != '[' && head[0] != '{') {
		return FormatCSV
	}
	dec := json.NewDecoder(bytes.NewReader(head))
	if head[0] == '[' {
		if _, err := dec.Token(); err != nil { // the '['
			return FormatTeams
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return FormatTeams
	}
	var hasType, hasRecord bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok {
		case "type":
			hasType = true
		case "record":
			hasRecord = true
		}
		if hasType && hasRecord {
			return FormatJSONL
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	return FormatTeams
}

// Options configures Read.
type Options struct {
	// Format is the input format; "" detects it from the first bytes.
	Format Format
	// Location is the zone of csv times; nil means time.Local. Asterisk
	// writes UTC when cdr.conf [csv] has usegmtime=yes.
	Location *time.Location
	// Name is the file name, used in errors and as the source name
	// ("csv" or "teams" when empty).
	Name string
}

// LineError is a bad line or record in an input file; Read reports it and
// goes on with the next one.
type LineError struct {
	File   string // the file name from Options.Name, "" when not given
	Line   int    // 1-based line for csv and jsonl; for teams and JSON arrays the record index
	Record bool   // true when Line is a record index rather than a line number
	Err    error
}

// Error formats the error as `calls.csv:12: msg` or `q.json: record 3: msg`.
func (e *LineError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Record && e.File != "":
		b.WriteString(": record ")
	case e.Record:
		b.WriteString("record ")
	case e.File != "":
		b.WriteString(":")
	default:
		b.WriteString("line ")
	}
	b.WriteString(strconv.Itoa(e.Line))
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// headSize is how much of the input Read looks at to detect the format.
const headSize = 4096

// Read reads events from r and calls emit for each, in input order. For a
// bad line or record it calls onErr with a *LineError and goes on (onErr may
// be nil). It returns a non-nil error only for an I/O error, a cancelled ctx,
// or an error returned by emit, which stops the read.
func Read(ctx context.Context, r io.Reader, opts Options, emit func(cdr.Event) error, onErr func(error)) error {
	if onErr == nil {
		onErr = func(error) {}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	format := opts.Format
	if format == "" {
		head, err := br.Peek(headSize)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return fmt.Errorf("read %s: %w", displayName(opts.Name), err)
		}
		format = Detect(head)
	}
	// Drop a byte order mark.
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	switch format {
	case FormatCSV:
		return readCSV(ctx, br, opts, emit, onErr)
	case FormatJSONL:
		return readJSONL(ctx, br, opts, emit, onErr)
	case FormatTeams:
		return readTeams(ctx, br, opts, emit, onErr)
	}
	return fmt.Errorf("input format %q is not one of teams, csv, jsonl", format)
}

func displayName(name string) string {
	if name == "" {
		return "input"
	}
	return name
}

// checkEvery is how many records Read handles between looks at ctx.
const checkEvery = 256

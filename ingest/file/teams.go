package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/teams"
)

// readTeams reads a whole Teams JSON body (one record object or an array)
// and decodes it with ingest/teams. Each bad record is reported with its
// 0-based index in the body, as ingest/teams counts; a body that is not JSON
// at all is one error on line 1.
func readTeams(ctx context.Context, r io.Reader, opts Options, emit func(cdr.Event) error, onErr func(error)) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", displayName(opts.Name), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := opts.Name
	if name == "" {
		name = "teams"
	}
	events, err := teams.Decode(body, cdr.SourceRef{Kind: "teams", Name: name})
	if err != nil {
		var de *teams.DecodeError
		if errors.As(err, &de) {
			for _, re := range de.Records {
				onErr(&LineError{File: opts.Name, Line: re.Index, Record: true, Err: &teamsRecordError{re}})
			}
		} else {
			onErr(&LineError{File: opts.Name, Line: 1, Err: err})
		}
	}
	for i, ev := range events {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// teamsRecordError is a *teams.RecordError without its "record N: " prefix,
// which LineError prints itself.
type teamsRecordError struct{ re *teams.RecordError }

func (e *teamsRecordError) Error() string {
	var b strings.Builder
	if e.re.Property != "" {
		b.WriteString(e.re.Property)
		b.WriteString(": ")
	}
	if e.re.Value != "" {
		b.WriteString(strconv.Quote(e.re.Value))
		b.WriteByte(' ')
	}
	b.WriteString(e.re.Msg)
	return b.String()
}

func (e *teamsRecordError) Unwrap() error { return e.re }

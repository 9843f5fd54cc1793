package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a config file.
type Error struct {
	File   string // the file name given to Load, "" when none
	Line   int    // 1-based line in the file, 0 when unknown
	Column int    // 1-based column in the file, 0 when unknown
	Path   string // the YAML path of the offending value, e.g. webhooks[2].params.start_at; "" for syntax errors
	Msg    string // what is wrong, never holding a secret value
}

// Error formats e as `file:line:column: path: msg`, leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem Load found, in file order.
type Errors []*Error

// Error joins the errors with newlines.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// As lets errors.As fill a *Errors target as well as an Errors one.
func (es Errors) As(target any) bool {
	if p, ok := target.(**Errors); ok {
		c := slices.Clone(es)
		*p = &c
		return true
	}
	return false
}

// phase orders the checks: an error found by an earlier phase at a path
// hides the errors later phases find at the same path, so one mistake is
// reported once, with the clearest message.
type phase int

const (
	phaseSyntax  phase = iota // YAML syntax, aliases, ${VAR} expansion
	phaseDecode               // cdrgw's own checks: durations, URLs, names, ...
	phaseSchema               // schemas/config.schema.json
	phaseCompile              // mapping.Compile: expressions
)

type collector struct {
	file  string
	errs  []*Error
	phase map[*Error]phase
	cur   phase
}

func newCollector(file string) *collector {
	return &collector{file: file, phase: map[*Error]phase{}}
}

// add records an error at path, positioned at n (which may be nil).
func (c *collector) add(n *node, path, format string, args ...any) *Error {
	e := &Error{File: c.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.line, n.col
	}
	c.errs = append(c.errs, e)
	c.phase[e] = c.cur
	return e
}

// result drops the duplicates, sorts by position and returns nil when no
// error was found.
func (c *collector) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	first := map[string]phase{}
	for _, e := range c.errs {
		if p, ok := first[e.Path]; !ok || c.phase[e] < p {
			first[e.Path] = c.phase[e]
		}
	}
	seen := map[string]bool{}
	var out Errors
	for _, e := range c.errs {
		if e.Path != "" && c.phase[e] > first[e.Path] {
			continue
		}
		s := e.Error()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b *Error) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(a.Column, b.Column))
	})
	return out
}

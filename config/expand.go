package config

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// ${...} is marked before parsing: its braces become the private-use
// characters openMark and closeMark, which take the same columns, so that
// `token: ${TEAMS_TOKEN}` parses as a plain scalar even inside a flow
// mapping, where YAML would read the braces as flow indicators. Expansion
// then happens in parsed string values only, never in keys, so a variable's
// value is never YAML syntax.
const (
	openMark  = "\uE000"
	closeMark = "\uE001"
)

var unmarker = strings.NewReplacer(openMark, "{", closeMark, "}")

// unmark restores the braces of marked ${...} for display.
func unmark(s string) string {
	if !strings.Contains(s, "\uE000") && !strings.Contains(s, "\uE001") {
		return s
	}
	return unmarker.Replace(s)
}

// premark marks every ${...} that closes on its line, leaving $$ alone so
// that $${X} stays a literal ${X}.
func premark(data []byte) []byte {
	if !bytes.Contains(data, []byte("${")) {
		return data
	}
	out := make([]byte, 0, len(data)+32)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '$' || i+1 >= len(data) {
			out = append(out, c)
			continue
		}
		switch data[i+1] {
		case '$':
			out = append(out, '$', '$')
			i++
		case '{':
			end := bytes.IndexAny(data[i+2:], "}\n")
			if end < 0 || data[i+2+end] != '}' {
				out = append(out, c)
				continue
			}
			out = append(out, '$')
			out = append(out, openMark...)
			out = append(out, data[i+2:i+2+end]...)
			out = append(out, closeMark...)
			i += 2 + end
		default:
			out = append(out, c)
		}
	}
	return out
}

// expand replaces ${NAME} and ${NAME:-default} in s with values from lookup.
// An unset variable expands to "" (or to default, which is also used when the
// variable is set but empty); $$ is a literal $; a $ followed by anything else
// is kept as is. It reports whether s held any ${...}. allow, when not nil,
// says which variables s may name: any other is an error, and lookup is not
// asked for it.
func expand(s string, lookup func(string) (string, bool), allow func(string) bool) (string, bool, error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	expanded := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			return "", false, errors.New("unterminated ${: a variable is written ${NAME} or ${NAME:-default} on one line")
		case openMark[0]:
			if !strings.HasPrefix(s[i+1:], openMark) {
				b.WriteByte(c)
				continue
			}
			start := i + 1 + len(openMark)
			end := strings.Index(s[start:], closeMark)
			if end < 0 {
				return "", false, errors.New("unterminated ${")
			}
			body := s[start : start+end]
			name, def, hasDef := strings.Cut(body, ":-")
			if !validVarName(name) {
				return "", false, fmt.Errorf("invalid variable name %q: use letters, digits and '_', not starting with a digit", name)
			}
			if allow != nil && !allow(name) {
				return "", false, fmt.Errorf("${%s}: %s", name, notInWebhookEnv)
			}
			v, ok := lookup(name)
			if hasDef && (!ok || v == "") {
				v = def
			}
			b.WriteString(v)
			expanded = true
			i = start + end + len(closeMark) - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), expanded, nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// notInWebhookEnv is the error of a variable a webhook created at run time
// may not read.
const notInWebhookEnv = "not in webhook_env, the variables webhooks created at run time may read"

// envPatternRE is what an item of webhook_env may hold: a variable name in
// which * stands for any run of characters and ? for one.
var envPatternRE = regexp.MustCompile(`^[A-Za-z_*?][A-Za-z0-9_*?]*$`)

// envAllow returns whether a variable matches one of patterns (webhook_env:
// names and glob patterns such as CRM_*).
func envAllow(patterns []string) func(string) bool {
	ps := slices.Clone(patterns)
	return func(name string) bool {
		for _, p := range ps {
			// Patterns hold no '[' or '\\' (see envPatternRE), so Match
			// cannot fail; a pattern that somehow does matches nothing.
			if ok, err := path.Match(p, name); ok && err == nil {
				return true
			}
		}
		return false
	}
}

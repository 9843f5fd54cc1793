package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/mapping"
)

// compile compiles every webhook's Spec, reporting expression errors at the
// YAML path of the expression, with the expression's own line and column and
// the file position of the expression when it can be worked out.
func (d *decoder) compile(cfg *Config) {
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		if i < len(d.hooks) {
			// Without a URL or an event type mapping.Compile would only
			// restate what the schema or the decoder already reported.
			if u, _ := d.hooks[i].get("url"); u == nil {
				continue
			}
			if e, _ := d.hooks[i].get("events"); e == nil || len(w.Spec.Events) == 0 {
				continue
			}
		}
		compiled, err := mapping.Compile(w.Spec)
		if d.allow != nil {
			if refused := envCalls(w.Spec, d.allow); len(refused) > 0 {
				err = errors.Join(append([]error{err}, refused...)...)
			}
		}
		if err == nil {
			w.Compiled = compiled
			continue
		}
		d.compileErrors(w, i, err)
	}
}

type exprErrKey struct {
	field     string
	path      string
	line, col int
	msg       string
}

func (d *decoder) compileErrors(w *Webhook, i int, err error) {
	wpath := pathIndex("webhooks", i)
	var hook *node
	if i < len(d.hooks) {
		hook = d.hooks[i]
	}
	var order []exprErrKey
	types := map[exprErrKey][]cdr.Type{}
	for _, e := range flatten(err) {
		var ce *mapping.CompileError
		if !errors.As(e, &ce) {
			d.c.add(hook, wpath, "%v", e)
			continue
		}
		k := exprErrKey{field: ce.Field, path: fieldPath(wpath, ce.Field), line: ce.Line, col: ce.Column, msg: ce.Msg}
		if _, ok := types[k]; !ok {
			order = append(order, k)
		}
		if ce.EventType != "" && !slices.Contains(types[k], ce.EventType) {
			types[k] = append(types[k], ce.EventType)
		} else if types[k] == nil {
			types[k] = []cdr.Type{}
		}
	}
	for _, k := range order {
		vn := fieldNode(hook, k.field)
		msg := k.msg
		if k.line > 0 {
			msg = fmt.Sprintf("line %d, column %d: %s", k.line, k.col, msg)
		}
		if ts := types[k]; len(ts) > 0 && len(ts) < len(w.Spec.Events) {
			names := make([]string, len(ts))
			for j, t := range ts {
				names[j] = string(t)
			}
			msg += fmt.Sprintf(" (event type %s)", strings.Join(names, ", "))
		}
		e := d.c.add(vn, k.path, "%s", msg)
		if vn != nil && k.line == 1 && vn.kind == scalarNode && !vn.expanded && !strings.Contains(vn.text, "\n") {
			switch {
			case !vn.quoted:
				e.Column = vn.col + k.col - 1
			case !strings.ContainsAny(vn.text, `\'"`):
				e.Column = vn.col + k.col
			}
		}
	}
}

// flatten unwraps errors.Join trees.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// fieldPath turns a CompileError field (params.start_at, xml.root) into a
// YAML path under the webhook.
func fieldPath(wpath, field string) string {
	for _, m := range []string{"params", "headers", "hangup_causes"} {
		if name, ok := strings.CutPrefix(field, m+"."); ok {
			return pathKey(wpath+"."+m, name)
		}
	}
	if field == "" {
		return wpath
	}
	return wpath + "." + field
}

// fieldNode finds the node of a CompileError field under the webhook's
// node, falling back to the nearest node that exists.
func fieldNode(hook *node, field string) *node {
	if hook == nil {
		return nil
	}
	for _, m := range []string{"params", "headers", "hangup_causes"} {
		if name, ok := strings.CutPrefix(field, m+"."); ok {
			mn, _ := hook.get(m)
			if v, _ := mn.get(name); v != nil {
				return v
			}
			if mn != nil {
				return mn
			}
			return hook
		}
	}
	n := hook
	for _, key := range strings.Split(field, ".") {
		next, _ := n.get(key)
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

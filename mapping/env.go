package mapping

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"

	"github.com/cdrgw/cdrgw/cdr"
)

// eventEnv is what expressions see as event.
type eventEnv struct {
	ID     string        `expr:"id"`
	Type   string        `expr:"type"`
	Time   time.Time     `expr:"time"`
	Source cdr.SourceRef `expr:"source"`
}

// webhookEnv is what expressions see as webhook.
type webhookEnv struct {
	Name string `expr:"name"`
}

// The typed environments, one per record kind.
type (
	callEnv struct {
		Event   eventEnv   `expr:"event"`
		Record  *cdr.Call  `expr:"record"`
		Webhook webhookEnv `expr:"webhook"`
	}
	queueEnv struct {
		Event   eventEnv   `expr:"event"`
		Record  *cdr.Queue `expr:"record"`
		Webhook webhookEnv `expr:"webhook"`
	}
	ivrEnv struct {
		Event   eventEnv   `expr:"event"`
		Record  *cdr.IVR   `expr:"record"`
		Webhook webhookEnv `expr:"webhook"`
	}
	sourceEnv struct {
		Event   eventEnv          `expr:"event"`
		Record  *cdr.SourceStatus `expr:"record"`
		Webhook webhookEnv        `expr:"webhook"`
	}
	webhookStatusEnv struct {
		Event   eventEnv           `expr:"event"`
		Record  *cdr.WebhookStatus `expr:"record"`
		Webhook webhookEnv         `expr:"webhook"`
	}
)

// envPrototype returns the zero environment used to type-check expressions
// for records of kind k.
func envPrototype(k cdr.Kind) any {
	switch k {
	case cdr.KindCall:
		return callEnv{}
	case cdr.KindQueue:
		return queueEnv{}
	case cdr.KindIVR:
		return ivrEnv{}
	case cdr.KindSource:
		return sourceEnv{}
	case cdr.KindWebhook:
		return webhookStatusEnv{}
	}
	return nil
}

// renderAlloc is what one Render allocates, in one piece: the request, room
// for the values of its headers and the environment (E, one of the typed
// environments above).
type renderAlloc[E any] struct {
	req    Request
	header [2]string // Content-Type and one header of the map
	env    E
}

// newRender allocates the request and the header values of one Render and
// returns them with env, which must be a typed environment.
func newRender[E any](env E) (any, *Request, []string, error) {
	a := &renderAlloc[E]{env: env}
	return &a.env, &a.req, a.header[:], nil
}

// newEnv builds the run-time environment of ev for kind k (a pointer to one
// of the typed environments), with the request and header values of the
// Render (see renderAlloc).
func newEnv(k cdr.Kind, ev *cdr.Event, name string) (any, *Request, []string, error) {
	e := eventEnv{ID: ev.ID, Type: string(ev.Type), Time: ev.Time, Source: ev.Source}
	w := webhookEnv{Name: name}
	var ok bool
	switch k {
	case cdr.KindCall:
		var r *cdr.Call
		if r, ok = ev.Record.(*cdr.Call); ok && r != nil {
			return newRender(callEnv{Event: e, Record: r, Webhook: w})
		}
	case cdr.KindQueue:
		var r *cdr.Queue
		if r, ok = ev.Record.(*cdr.Queue); ok && r != nil {
			return newRender(queueEnv{Event: e, Record: r, Webhook: w})
		}
	case cdr.KindIVR:
		var r *cdr.IVR
		if r, ok = ev.Record.(*cdr.IVR); ok && r != nil {
			return newRender(ivrEnv{Event: e, Record: r, Webhook: w})
		}
	case cdr.KindSource:
		var r *cdr.SourceStatus
		if r, ok = ev.Record.(*cdr.SourceStatus); ok && r != nil {
			return newRender(sourceEnv{Event: e, Record: r, Webhook: w})
		}
	case cdr.KindWebhook:
		var r *cdr.WebhookStatus
		if r, ok = ev.Record.(*cdr.WebhookStatus); ok && r != nil {
			return newRender(webhookStatusEnv{Event: e, Record: r, Webhook: w})
		}
	}
	return nil, nil, nil, fmt.Errorf("event type %s needs a %s record, got %T", ev.Type, k, ev.Record)
}

// funcs holds the webhook-specific state of date(), cause() and env().
type funcs struct {
	format  *dateFormat
	loc     *time.Location
	formats map[string]*dateFormat // literal formats of date(t, "..."), parsed at compile time
	causes  map[string]string
	env     func(string) string
}

var anyType = reflect.TypeFor[any]()

// options returns the expr options for the webhook's functions.
func (f *funcs) options() []expr.Option {
	return []expr.Option{
		func(c *conf.Config) {
			c.Functions["date"] = &builtin.Function{Name: "date", Func: f.date, Validate: validateDate}
		},
		expr.Function("cause", f.cause, new(func(any) any)),
		expr.Function("env", f.getenv, new(func(string) string)),
	}
}

func validateDate(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 1 && len(args) != 2 {
		return anyType, fmt.Errorf("date takes 1 or 2 arguments (time, format), got %d", len(args))
	}
	t := args[0]
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t != timeType && t.Kind() != reflect.String && t.Kind() != reflect.Interface {
		return anyType, fmt.Errorf("date: argument 1 must be a time or an RFC 3339 string, got %s", args[0])
	}
	if len(args) == 2 && args[1] != nil && args[1].Kind() != reflect.String && args[1].Kind() != reflect.Interface {
		return anyType, fmt.Errorf("date: argument 2 must be a format string, got %s", args[1])
	}
	return stringType, nil
}

// toTime converts a date() argument to a time; ok is false for null.
func toTime(v any) (t time.Time, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, true, nil
	case *time.Time:
		if x == nil {
			return time.Time{}, false, nil
		}
		return *x, true, nil
	case string:
		if x == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("date: %q is not an RFC 3339 time", x)
		}
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("date: cannot format %T, want a time or an RFC 3339 string", v)
}

func (f *funcs) date(args ...any) (any, error) {
	t, ok, err := toTime(args[0])
	if err != nil || !ok {
		return "", err
	}
	format := f.format
	if len(args) == 2 {
		s, isString := args[1].(string)
		if !isString {
			return nil, fmt.Errorf("date: format must be a string, got %T", args[1])
		}
		if format = f.formats[s]; format == nil {
			if format, err = parseDateFormat(s); err != nil {
				return nil, fmt.Errorf("date: %w", err)
			}
		}
	}
	return format.format(t.In(f.loc)), nil
}

func (f *funcs) cause(args ...any) (any, error) {
	var key string
	switch x := args[0].(type) {
	case string:
		key = x
	case int:
		key = strconv.Itoa(x)
	case nil:
		return nil, nil
	default:
		key = fmt.Sprint(x)
	}
	if v, ok := f.causes[key]; ok {
		return v, nil
	}
	return args[0], nil
}

func (f *funcs) getenv(args ...any) (any, error) {
	name, _ := args[0].(string)
	return f.env(name), nil
}

// formatLiteral is a date format literal found in an expression.
type formatLiteral struct {
	loc    int // rune offset in the expression
	format string
	err    error
}

// dateLiterals collects the literal formats of date(t, "format") calls.
type dateLiterals struct{ found []formatLiteral }

// Visit implements ast.Visitor.
func (d *dateLiterals) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) != 2 {
		return
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != "date" {
		return
	}
	s, ok := call.Arguments[1].(*ast.StringNode)
	if !ok {
		return
	}
	_, err := parseDateFormat(s.Value)
	d.found = append(d.found, formatLiteral{loc: s.Location().From, format: s.Value, err: err})
}

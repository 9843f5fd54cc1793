package mapping

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/cdrgw/cdrgw/cdr"

	_ "time/tzdata" // time zones work on machines without a zoneinfo database
)

// Spec is one webhook's request definition, as written in the config (DESIGN.md §4).
type Spec struct {
	Name          string
	URL           string              // may hold {{ expression }} parts, query-escaped on render
	Events        []cdr.Type          // subscribed event types (already parsed, aliases resolved)
	When          string              // optional filter expression (bool)
	Method        string              // GET, POST, PUT, DELETE; "" means POST
	Encoding      string              // query, form, json, xml, jsonrpc; "" means json
	DateFormat    string              // strftime (%Y-%m-%d ...), a Go layout (2006-01-02), unix, unix_ms or rfc3339; "" means rfc3339
	Timezone      string              // IANA zone; "" means UTC
	HangupCauses  map[string]string   // cause() map
	Params        []Param             // in config order
	Headers       []Param             // in config order; values are expressions
	XMLRoot       string              // encoding xml: root element; "" means "event"
	JSONRPCMethod string              // encoding jsonrpc: method; required for jsonrpc
	Env           func(string) string // env() lookup; nil means os.Getenv
}

// Param is one named expression.
type Param struct {
	Name string
	Expr string
}

// Encodings a Spec may use.
const (
	EncodingQuery   = "query"
	EncodingForm    = "form"
	EncodingJSON    = "json"
	EncodingXML     = "xml"
	EncodingJSONRPC = "jsonrpc"
)

// ErrSkipped is returned (wrapped) by Render when the webhook does not
// subscribe to the event's type or its when filter is false.
var ErrSkipped = errors.New("skipped by webhook filter")

// CompileError is one error found compiling a Spec.
type CompileError struct {
	Webhook   string
	Field     string   // "url", "when", "method", "encoding", "date_format", "timezone", "params.<name>", "headers.<name>", "jsonrpc.method", "xml.root", "events"
	EventType cdr.Type // the event type the expression was compiled for; "" when not type-specific
	Line      int      // 1-based line within the expression, 0 when not an expression error
	Column    int      // 1-based column within the expression, 0 when not an expression error
	Msg       string   // expr's message, e.g. `unknown name strat_at`
}

// Error formats e as
// `webhook "crm": params.start_at: line 1, column 12: unknown name strat_at (event type queue.ended)`.
func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook %q: %s: ", e.Webhook, e.Field)
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	}
	b.WriteString(e.Msg)
	if e.EventType != "" {
		fmt.Fprintf(&b, " (event type %s)", e.EventType)
	}
	return b.String()
}

// RenderError is a failure rendering one event: an expression failed at run
// time, a value could not be encoded or a header value holds CR or LF.
type RenderError struct {
	Webhook   string
	Field     string // as in CompileError
	EventType cdr.Type
	Err       error
}

// Error formats e as `webhook "crm": params.x: <cause> (event type queue.ended)`.
func (e *RenderError) Error() string {
	return fmt.Sprintf("webhook %q: %s: %v (event type %s)", e.Webhook, e.Field, e.Err, e.EventType)
}

// Unwrap returns the underlying error.
func (e *RenderError) Unwrap() error { return e.Err }

// Request is a rendered HTTP request.
type Request struct {
	Method string
	URL    string
	Header http.Header // includes Content-Type when there is a body
	Body   []byte      // nil for query encoding
}

// Webhook is a compiled Spec, safe for concurrent use.
type Webhook struct {
	spec     Spec
	method   string
	encoding string
	root     string
	fn       funcs
	urlParts []urlPart // nil when the URL is static
	tree     *node     // dotted param names as a tree (json, jsonrpc, xml)
	pfields  []string  // "params.<name>", for errors
	hfields  []string  // "headers.<name>", for errors
	hkeys    []string  // header names, canonical
	progs    map[cdr.Type]*programs
	bodySize atomic.Int64 // size of the last body, a capacity hint
}

// urlPart is a literal piece of the URL or an expression (index into programs.url).
type urlPart struct {
	lit  string
	expr bool
}

// programs are the compiled expressions for one record kind, each with its
// fast path (nil when the expression is not a plain member path).
type programs struct {
	kind       cdr.Kind
	when       *vm.Program
	url        []*vm.Program
	params     []*vm.Program
	headers    []*vm.Program
	whenFast   *fastExpr
	urlFast    []*fastExpr
	paramFast  []*fastExpr
	headerFast []*fastExpr
}

// Name returns the webhook's name.
func (w *Webhook) Name() string { return w.spec.Name }

// Spec returns the Spec the webhook was compiled from.
func (w *Webhook) Spec() Spec { return w.spec }

// Subscribes reports whether the webhook subscribes to events of type t.
func (w *Webhook) Subscribes(t cdr.Type) bool {
	_, ok := w.progs[t]
	return ok
}

// compiler collects the errors of one Compile.
type compiler struct {
	name string
	errs []error
	seen map[string]bool
}

func (c *compiler) fail(field string, et cdr.Type, line, col int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	key := fmt.Sprintf("%s\x00%d\x00%d\x00%s", field, line, col, msg)
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.errs = append(c.errs, &CompileError{Webhook: c.name, Field: field, EventType: et, Line: line, Column: col, Msg: msg})
}

// Compile checks and compiles every expression of spec once for each subscribed
// event type, with the typed environment {event, record, webhook}. It returns
// all errors found, joined with errors.Join, each a *CompileError.
func Compile(spec Spec) (*Webhook, error) {
	return compile(spec, true)
}

// compile is Compile; fast false leaves out the fast paths, so that tests can
// compare them with the VM.
func compile(spec Spec, fast bool) (*Webhook, error) {
	c := &compiler{name: spec.Name, seen: map[string]bool{}}
	w := &Webhook{spec: spec, progs: map[cdr.Type]*programs{}}
	w.spec.Events = slices.Clone(spec.Events)
	w.spec.Params = slices.Clone(spec.Params)
	w.spec.Headers = slices.Clone(spec.Headers)

	w.method = strings.ToUpper(cmpOr(spec.Method, http.MethodPost))
	switch w.method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
	default:
		c.fail("method", "", 0, 0, "%q is not one of GET, POST, PUT, DELETE", spec.Method)
	}
	w.encoding = cmpOr(spec.Encoding, EncodingJSON)
	switch w.encoding {
	case EncodingQuery, EncodingForm, EncodingJSON, EncodingXML, EncodingJSONRPC:
	default:
		c.fail("encoding", "", 0, 0, "%q is not one of query, form, json, xml, jsonrpc", spec.Encoding)
	}
	if w.encoding == EncodingJSONRPC && strings.TrimSpace(spec.JSONRPCMethod) == "" {
		c.fail("jsonrpc.method", "", 0, 0, "is required for encoding jsonrpc")
	}
	w.root = cmpOr(spec.XMLRoot, "event")
	if w.encoding == EncodingXML && !validXMLName(w.root) {
		c.fail("xml.root", "", 0, 0, "%q is not a valid XML element name", w.root)
	}

	var err error
	if w.fn.format, err = parseDateFormat(spec.DateFormat); err != nil {
		c.fail("date_format", "", 0, 0, "%v", err)
		w.fn.format = &dateFormat{kind: dateRFC3339}
	}
	w.fn.loc = time.UTC
	if spec.Timezone != "" {
		if w.fn.loc, err = time.LoadLocation(spec.Timezone); err != nil || spec.Timezone == "Local" {
			c.fail("timezone", "", 0, 0, "%q is not an IANA time zone", spec.Timezone)
			w.fn.loc = time.UTC
		}
	}
	w.fn.causes = spec.HangupCauses
	w.fn.env = spec.Env
	if w.fn.env == nil {
		w.fn.env = os.Getenv
	}
	w.fn.formats = map[string]*dateFormat{}

	c.checkNames(w)
	for _, p := range w.spec.Params {
		w.pfields = append(w.pfields, "params."+p.Name)
	}
	for _, h := range w.spec.Headers {
		w.hfields = append(w.hfields, "headers."+h.Name)
		w.hkeys = append(w.hkeys, http.CanonicalHeaderKey(h.Name))
	}

	// The URL: literal parts and {{ expression }} parts.
	urlExprs := c.parseURL(w)

	if len(spec.Events) == 0 {
		c.fail("events", "", 0, 0, "at least one event type is required")
	}
	byKind := map[cdr.Kind]*programs{}
	for _, et := range spec.Events {
		k := et.Kind()
		if k == "" {
			c.fail("events", "", 0, 0, "%q is not a known event type", et)
			continue
		}
		if p, ok := byKind[k]; ok {
			w.progs[et] = p
			continue
		}
		p := &programs{kind: k}
		byKind[k] = p
		w.progs[et] = p
		opts := w.options(k)
		if strings.TrimSpace(spec.When) != "" {
			p.when = c.compileExpr(w, "when", et, spec.When, 0, append(opts, expr.AsBool()))
		}
		for _, u := range urlExprs {
			p.url = append(p.url, c.compileExpr(w, "url", et, u.src, u.offset, opts))
		}
		for _, prm := range spec.Params {
			p.params = append(p.params, c.compileExpr(w, "params."+prm.Name, et, prm.Expr, 0, opts))
		}
		for _, h := range spec.Headers {
			p.headers = append(p.headers, c.compileExpr(w, "headers."+h.Name, et, h.Expr, 0, opts))
		}
		p.addFastPaths(w.fn.formats, fast)
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return w, nil
}

// addFastPaths finds the expressions of p that have a fast path (see
// fastExpr); with enabled false, none has.
func (p *programs) addFastPaths(formats map[string]*dateFormat, enabled bool) {
	t := reflect.TypeOf(envPrototype(p.kind))
	if !enabled {
		t = nil // newFastExpr finds nothing
	}
	if fe := newFastExpr(p.when, t, formats); fe != nil && fe.op == opField && fe.typ == boolType {
		p.whenFast = fe
	}
	fast := func(progs []*vm.Program) []*fastExpr {
		fes := make([]*fastExpr, len(progs))
		for i, prog := range progs {
			fes[i] = newFastExpr(prog, t, formats)
		}
		return fes
	}
	p.urlFast, p.paramFast, p.headerFast = fast(p.url), fast(p.params), fast(p.headers)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (w *Webhook) options(k cdr.Kind) []expr.Option {
	opts := []expr.Option{expr.Env(envPrototype(k))}
	opts = append(opts, limitOptions()...)
	opts = append(opts, w.fn.options()...)
	opts = append(opts, expr.Patch(stringPatcher{}), expr.Patch(addPatcher{}))
	return opts
}

// compileExpr compiles src; offset is the rune offset of src within the
// field's text (for URL parts), used to report columns.
func (c *compiler) compileExpr(w *Webhook, field string, et cdr.Type, src string, offset int, opts []expr.Option) *vm.Program {
	if strings.TrimSpace(src) == "" {
		c.fail(field, "", 0, 0, "expression is empty")
		return nil
	}
	lits := &dateLiterals{}
	opts = append(slices.Clip(opts), expr.Patch(lits), expr.Patch(recheck{}))
	prog, err := compileSafe(src, opts)
	var fe *file.Error
	switch {
	case errors.As(err, &fe):
		line, col := fe.Line, fe.Column+1
		if line == 0 {
			line, col = position(src, fe.From)
		}
		if offset > 0 && line == 1 {
			col += offset
		}
		c.fail(field, et, line, col, "%s", strings.TrimSpace(fe.Message))
		return nil
	case err != nil:
		c.fail(field, et, 1, 1+offset, "%v", err)
		return nil
	}
	for _, l := range lits.found {
		if l.err != nil {
			line, col := position(src, l.loc)
			if offset > 0 && line == 1 {
				col += offset
			}
			c.fail(field, et, line, col, "%v", l.err)
			continue
		}
		if _, ok := w.fn.formats[l.format]; !ok {
			w.fn.formats[l.format], _ = parseDateFormat(l.format)
		}
	}
	if len(lits.found) > 0 && c.hasErrors(field) {
		return nil
	}
	return prog
}

func (c *compiler) hasErrors(field string) bool {
	for _, e := range c.errs {
		if ce, ok := e.(*CompileError); ok && ce.Field == field {
			return true
		}
	}
	return false
}

// compileSafe compiles src, turning a panic inside expr into an error.
func compileSafe(src string, opts []expr.Option) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cannot compile expression: %v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// position converts a rune offset in src to a 1-based line and column.
func position(src string, offset int) (line, col int) {
	line, col = 1, 1
	i := 0
	for _, r := range src {
		if i == offset {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i++
	}
	return line, col
}

type urlExpr struct {
	src    string
	offset int // rune offset of src within the URL
}

// parseURL splits the URL into literal and {{ expression }} parts and checks
// that it is an absolute http or https URL.
func (c *compiler) parseURL(w *Webhook) []urlExpr {
	s := w.spec.URL
	var exprs []urlExpr
	var parts []urlPart
	var probe strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			c.fail("url", "", 0, 0, "%q has {{ without a closing }}", w.spec.URL)
			return nil
		}
		if i > 0 {
			parts = append(parts, urlPart{lit: s[:i]})
			probe.WriteString(s[:i])
		}
		src := s[i+2 : i+2+j]
		start := len(w.spec.URL) - len(s) + i + 2
		exprs = append(exprs, urlExpr{src: src, offset: utf8.RuneCountInString(w.spec.URL[:start])})
		parts = append(parts, urlPart{expr: true})
		probe.WriteString("x")
		s = s[i+2+j+2:]
	}
	if strings.Contains(s, "}}") {
		c.fail("url", "", 0, 0, "%q has }} without an opening {{", w.spec.URL)
	}
	if s != "" {
		parts = append(parts, urlPart{lit: s})
		probe.WriteString(s)
	}
	if err := checkURL(probe.String()); err != nil {
		c.fail("url", "", 0, 0, "%q %v", w.spec.URL, err)
	}
	if len(exprs) > 0 {
		w.urlParts = parts
	}
	return exprs
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a valid URL: %w", errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("is not an absolute http or https URL")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

// checkNames checks param and header names.
func (c *compiler) checkNames(w *Webhook) {
	seen := map[string]bool{}
	nested := w.encoding == EncodingJSON || w.encoding == EncodingJSONRPC || w.encoding == EncodingXML
	w.tree = &node{}
	for i, p := range w.spec.Params {
		field := "params." + p.Name
		switch {
		case p.Name == "":
			c.fail(fmt.Sprintf("params[%d]", i), "", 0, 0, "name is empty")
			continue
		case seen[p.Name]:
			c.fail(field, "", 0, 0, "name %q is used twice", p.Name)
			continue
		}
		seen[p.Name] = true
		if !nested {
			continue
		}
		segs := strings.Split(p.Name, ".")
		if slices.Contains(segs, "") {
			c.fail(field, "", 0, 0, "name %q has an empty part", p.Name)
			continue
		}
		if w.encoding == EncodingXML {
			if j := slices.IndexFunc(segs, func(s string) bool { return !validXMLName(s) }); j >= 0 {
				c.fail(field, "", 0, 0, "%q is not a valid XML element name", segs[j])
				continue
			}
		}
		if err := w.tree.insert(segs, i); err != nil {
			c.fail(field, "", 0, 0, "%v", err)
		}
	}
	seenH := map[string]bool{}
	for i, h := range w.spec.Headers {
		field := "headers." + h.Name
		switch {
		case h.Name == "":
			c.fail(fmt.Sprintf("headers[%d]", i), "", 0, 0, "name is empty")
		case !validToken(h.Name):
			c.fail(field, "", 0, 0, "%q is not a valid header name", h.Name)
		case seenH[http.CanonicalHeaderKey(h.Name)]:
			c.fail(field, "", 0, 0, "header %q is set twice", h.Name)
		}
		seenH[http.CanonicalHeaderKey(h.Name)] = true
	}
}

// node is a tree of dotted param names: caller.number nests under caller.
type node struct {
	name     string
	key      []byte // name as a JSON string, and a colon
	param    int    // index into params for a leaf; -1 for a group
	children []*node
}

func (n *node) insert(segs []string, param int) error {
	cur := n
	for i, s := range segs {
		var next *node
		for _, ch := range cur.children {
			if ch.name == s {
				next = ch
				break
			}
		}
		last := i == len(segs)-1
		path := strings.Join(segs[:i+1], ".")
		switch {
		case next == nil:
			next = &node{name: s, key: append(appendJSONString(nil, s), ':'), param: -1}
			if last {
				next.param = param
			}
			cur.children = append(cur.children, next)
		case last:
			return fmt.Errorf("name %q conflicts with the nested names under it", path)
		case next.param >= 0:
			return fmt.Errorf("name %q nests under %q, which is already a value", strings.Join(segs, "."), path)
		}
		cur = next
	}
	return nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validXMLName reports whether s is an XML element name without a namespace
// prefix.
func validXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0xC0 && r != 0xD7 && r != 0xF7 && r < 0x2000:
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.' || r == 0xB7):
		default:
			return false
		}
	}
	return true
}

var vmPool = sync.Pool{New: func() any { return &vm.VM{MemoryBudget: MemoryBudget} }}

// runner evaluates the expressions of one Render: through their fast path
// when they have one, else with a VM from vmPool, taken on first use.
type runner struct {
	fn   *funcs
	m    *vm.VM
	env  any            // a pointer to the environment struct
	envp unsafe.Pointer // the same pointer, for fast paths
}

func (r *runner) eval(prog *vm.Program, fe *fastExpr) (value, error) {
	if fe != nil {
		if v, ok := fe.eval(r.fn, r.envp); ok {
			return v, nil
		}
	}
	if r.m == nil {
		r.m = vmPool.Get().(*vm.VM)
	}
	out, err := run(r.m, prog, r.env)
	return value{kind: kindAny, v: out}, err
}

func (r *runner) release() {
	if r.m != nil {
		vmPool.Put(r.m)
		r.m = nil
	}
}

// run runs one program, turning any failure into an error with a position.
func run(m *vm.VM, p *vm.Program, env any) (out any, err error) {
	m.MemoryBudget = MemoryBudget
	out, err = m.Run(p, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			line, col := fe.Line, fe.Column+1
			if fe.Prev != nil {
				return nil, &exprError{line: line, col: col, msg: fe.Message, prev: fe.Prev}
			}
			return nil, &exprError{line: line, col: col, msg: fe.Message}
		}
	}
	return out, err
}

// exprError is an expression's run-time failure.
type exprError struct {
	line, col int
	msg       string
	prev      error
}

func (e *exprError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.msg)
}

func (e *exprError) Unwrap() error { return e.prev }

// Match reports whether w would render ev: it subscribes to ev.Type and its
// when filter accepts ev. It evaluates only the filter, so callers that need
// the verdict before a delivery exists (the engine's Accept) do not render
// the request twice. A filter that fails at run time gives true and the
// error: the delivery is made and fails with that error when rendered.
func (w *Webhook) Match(ev cdr.Event) (ok bool, err error) {
	p, subscribed := w.progs[ev.Type]
	if !subscribed {
		return false, nil
	}
	if p.when == nil {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = true, &RenderError{Webhook: w.spec.Name, Field: "when", EventType: ev.Type, Err: fmt.Errorf("internal error: %v", r)}
		}
	}()
	env, _, _, err := newEnv(p.kind, &ev, w.spec.Name)
	if err != nil {
		return true, &RenderError{Webhook: w.spec.Name, Field: "record", EventType: ev.Type, Err: err}
	}
	r := runner{fn: &w.fn, env: env, envp: reflect.ValueOf(env).UnsafePointer()}
	defer r.release()
	out, err := r.eval(p.when, p.whenFast)
	if err != nil {
		return true, &RenderError{Webhook: w.spec.Name, Field: "when", EventType: ev.Type, Err: err}
	}
	return out.truthy(), nil
}

// Render builds the HTTP request for ev. deliveryID is used as the JSON-RPC id
// and may be "". It returns ErrSkipped (wrapped) when the webhook does not
// subscribe to ev.Type or its `when` filter is false, and a *RenderError when an
// expression fails at run time or a header value holds CR or LF.
func (w *Webhook) Render(ev cdr.Event, deliveryID string) (req *Request, err error) {
	p, ok := w.progs[ev.Type]
	if !ok {
		return nil, fmt.Errorf("webhook %q does not subscribe to event type %q: %w", w.spec.Name, ev.Type, ErrSkipped)
	}
	field := "record"
	defer func() {
		if r := recover(); r != nil {
			req, err = nil, &RenderError{Webhook: w.spec.Name, Field: field, EventType: ev.Type, Err: fmt.Errorf("internal error: %v", r)}
		}
	}()
	fail := func(e error) (*Request, error) {
		return nil, &RenderError{Webhook: w.spec.Name, Field: field, EventType: ev.Type, Err: e}
	}
	env, newReq, hv, err := newEnv(p.kind, &ev, w.spec.Name)
	if err != nil {
		return fail(err)
	}
	if len(hv) < len(p.headers)+1 {
		hv = make([]string, len(p.headers)+1)
	}
	r := runner{fn: &w.fn, env: env, envp: reflect.ValueOf(env).UnsafePointer()}
	defer r.release()

	if p.when != nil {
		field = "when"
		out, err := r.eval(p.when, p.whenFast)
		if err != nil {
			return fail(err)
		}
		if !out.truthy() {
			return nil, fmt.Errorf("webhook %q: when is false for event %s: %w", w.spec.Name, ev.ID, ErrSkipped)
		}
	}

	req = newReq
	*req = Request{Method: w.method, URL: w.spec.URL, Header: make(http.Header, len(w.spec.Headers)+1)}
	if w.urlParts != nil {
		field = "url"
		var b strings.Builder
		k := 0
		for _, part := range w.urlParts {
			if !part.expr {
				b.WriteString(part.lit)
				continue
			}
			out, err := r.eval(p.url[k], p.urlFast[k])
			k++
			if err != nil {
				return fail(err)
			}
			s, _, err := w.scalarValue(&out)
			if err != nil {
				return fail(err)
			}
			b.WriteString(url.QueryEscape(s))
		}
		req.URL = b.String()
		if err := checkURL(req.URL); err != nil {
			return fail(fmt.Errorf("%q %w", req.URL, err))
		}
	}

	var buf [16]value
	vals := buf[:0]
	for i, prog := range p.params {
		field = w.pfields[i]
		out, err := r.eval(prog, p.paramFast[i])
		if err != nil {
			return fail(err)
		}
		if err := w.check(&out); err != nil {
			return fail(err)
		}
		vals = append(vals, out)
	}
	field = "params"
	if err := w.encode(req, vals, deliveryID, &field, hv[0:1:1]); err != nil {
		return fail(err)
	}

	for i, prog := range p.headers {
		h := w.spec.Headers[i]
		field = w.hfields[i]
		out, err := r.eval(prog, p.headerFast[i])
		if err != nil {
			return fail(err)
		}
		s, null, err := w.scalarValue(&out)
		if err != nil {
			return fail(err)
		}
		if null {
			continue
		}
		if err := checkHeaderValue(h.Name, s); err != nil {
			return fail(err)
		}
		hv[i+1] = s
		req.Header[w.hkeys[i]] = hv[i+1 : i+2 : i+2]
	}
	return req, nil
}

func checkHeaderValue(name, s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			return fmt.Errorf("header %s: value contains CR or LF", name)
		case c < 0x20 && c != '\t' || c == 0x7f:
			return fmt.Errorf("header %s: value contains control character %#x", name, c)
		}
	}
	return nil
}

package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/cdrgw/cdrgw/cdr"
)

// exprPaths lists every member path of the struct type t by expr tag, as
// expressions see them: embedded structs are flattened, and structs (but
// times) and pointers to them are walked.
func exprPaths(t reflect.Type, prefix string) []string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return nil
	}
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			paths = append(paths, exprPaths(f.Type, prefix)...)
			continue
		}
		name := f.Tag.Get("expr")
		if name == "" {
			name = f.Name
		}
		paths = append(paths, prefix+name)
		paths = append(paths, exprPaths(f.Type, prefix+name+".")...)
	}
	return paths
}

// fastCase is one expression of TestFastPathMatchesVM and whether it must
// have a fast path.
type fastCase struct {
	src  string
	fast bool
}

// fastCases returns the expressions to check over the environment of kind k:
// every path, and date() and cause() of every path they take.
func fastCases(t *testing.T, k cdr.Kind) []fastCase {
	t.Helper()
	env := reflect.TypeOf(envPrototype(k))
	paths := append([]string{"event", "record", "webhook"}, exprPaths(env, "")...)
	var cases []fastCase
	for _, p := range paths {
		cases = append(cases, fastCase{p, true})
		ft := pathType(t, env, p)
		switch {
		case ft == timeType || ft == timePtrType:
			cases = append(cases, fastCase{"date(" + p + ")", true}, fastCase{"date(" + p + `, "%d/%m/%Y %H:%M %Z")`, true})
		case ft.Kind() == reflect.String || ft == intType || ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.String:
			cases = append(cases, fastCase{"cause(" + p + ")", ft.Kind() != reflect.Pointer || ft.Elem() != stringType})
		}
	}
	return cases
}

// pathType returns the type of the dotted path p in the struct type t.
func pathType(t *testing.T, env reflect.Type, p string) reflect.Type {
	t.Helper()
	cur := env
	for _, name := range strings.Split(p, ".") {
		if cur.Kind() == reflect.Pointer {
			cur = cur.Elem()
		}
		f, ok := fieldByExprName(cur, name)
		if !ok {
			t.Fatalf("%s: no field %s in %s", p, name, cur)
		}
		cur = f.Type
	}
	return cur
}

func fieldByExprName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			if sf, ok := fieldByExprName(f.Type, name); ok {
				return sf, true
			}
			continue
		}
		if f.Tag.Get("expr") == name || f.Tag.Get("expr") == "" && f.Name == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fastEvents returns, by record kind, every event type's sample event and
// an event whose record is the zero record (nil pointers, maps and slices).
func fastEvents() map[cdr.Kind][]cdr.Event {
	evs := map[cdr.Kind][]cdr.Event{}
	for _, et := range cdr.Types {
		ev := SampleEvent(et)
		zero := ev
		zero.Record = reflect.New(reflect.TypeOf(ev.Record).Elem()).Interface().(cdr.Record)
		evs[et.Kind()] = append(evs[et.Kind()], ev, zero)
	}
	return evs
}

// TestFastPathMatchesVM checks, for every field path of every record kind
// (and date() and cause() of them), on the sample events of every type and
// on zero records, that the fast path gives what expr's VM gives: the same
// value, of the same type, and the same request in every encoding, as a
// param, a header and a URL part.
func TestFastPathMatchesVM(t *testing.T) {
	t.Parallel()
	causes := map[string]string{"16": "Normal", "200": "OK", "answered": "Answered", "inbound": "In", "": "empty", "connected": "Up"}
	for kind, evs := range fastEvents() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var types []cdr.Type
			for _, ev := range evs {
				types = append(types, ev.Type)
			}
			cases := fastCases(t, kind)
			if len(cases) < 20 {
				t.Fatalf("only %d cases: the path walk is broken", len(cases))
			}
			for _, c := range cases {
				for _, enc := range []string{EncodingJSON, EncodingXML, EncodingForm, EncodingQuery, EncodingJSONRPC} {
					spec := Spec{
						Name: "fast", URL: "https://x.example/h/{{ " + c.src + " }}", Events: types,
						Encoding: enc, JSONRPCMethod: "m", DateFormat: "%Y-%m-%d %H:%M:%S", Timezone: "Europe/Kyiv", HangupCauses: causes,
						Params:  []Param{{"v", c.src}, {"n.v", c.src}},
						Headers: []Param{{"X-V", c.src}},
					}
					if enc == EncodingQuery {
						spec.DateFormat = "unix"
					}
					fast, err := compile(spec, true)
					if err != nil {
						t.Fatalf("%s: %v", c.src, err)
					}
					slow, err := compile(spec, false)
					if err != nil {
						t.Fatalf("%s: %v", c.src, err)
					}
					p := fast.progs[types[0]]
					if got := p.paramFast[0] != nil && p.urlFast[0] != nil && p.headerFast[0] != nil; got != c.fast {
						t.Fatalf("%s: has a fast path: %v, want %v", c.src, got, c.fast)
					}
					if sp := slow.progs[types[0]]; sp.paramFast[0] != nil {
						t.Fatalf("%s: compile(spec, false) has a fast path", c.src)
					}
					for _, ev := range evs {
						if enc == EncodingJSON {
							compareValues(t, fast, ev, c.src)
						}
						fr, ferr := fast.Render(ev, "d1")
						sr, serr := slow.Render(ev, "d1")
						if fmt.Sprint(ferr) != fmt.Sprint(serr) {
							t.Fatalf("%s, %s, %s: fast error %v, VM error %v", c.src, enc, ev.Type, ferr, serr)
						}
						if !reflect.DeepEqual(fr, sr) {
							t.Fatalf("%s, %s, %s: fast and VM requests differ:\n%+v\n%+v", c.src, enc, ev.Type, fr, sr)
						}
					}
				}
			}
		})
	}
}

// compareValues evaluates the first param of w on ev through its fast path
// and through the VM and checks that the values are equal and of one type.
func compareValues(t *testing.T, w *Webhook, ev cdr.Event, src string) {
	t.Helper()
	p := w.progs[ev.Type]
	env, _, _, err := newEnv(p.kind, &ev, w.Name())
	if err != nil {
		t.Fatal(err)
	}
	r := runner{fn: &w.fn, env: env, envp: reflect.ValueOf(env).UnsafePointer()}
	defer r.release()
	fv, err := r.eval(p.params[0], p.paramFast[0])
	if err != nil {
		t.Fatalf("%s: fast: %v", src, err)
	}
	sv, err := r.eval(p.params[0], nil)
	if err != nil {
		t.Fatalf("%s: VM: %v", src, err)
	}
	if sv.kind != kindAny {
		t.Fatalf("%s: eval without a fast path gave kind %d", src, sv.kind)
	}
	got, want := w.valueAny(&fv), sv.v
	if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: fast path gives %T %#v, VM %T %#v", src, got, got, want, want)
	}
	// Pointers must be the record's own, as the VM gives them.
	if rv := reflect.ValueOf(want); rv.Kind() == reflect.Pointer && rv.Pointer() != reflect.ValueOf(got).Pointer() {
		t.Fatalf("%s: fast path gives another pointer", src)
	}
	if ferr, serr := w.check(&fv), checkValue(want); fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("%s: check: fast %v, VM %v", src, ferr, serr)
	}
	fs, fnull, ferr := w.scalarValue(&fv)
	ss, snull, serr := w.scalarString(want)
	if fs != ss || fnull != snull || fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("%s: scalar: fast %q %v %v, VM %q %v %v", src, fs, fnull, ferr, ss, snull, serr)
	}
	fj, ferr := w.appendValue(nil, &fv)
	sj, serr := w.appendJSON(nil, want)
	if string(fj) != string(sj) || fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("%s: JSON: fast %s %v, VM %s %v", src, fj, ferr, sj, serr)
	}
}

func TestFastPathWhen(t *testing.T) {
	t.Parallel()
	ev := SampleEvent(cdr.TypeWebhookFailing)
	for _, paused := range []bool{false, true} {
		rec := *ev.Record.(*cdr.WebhookStatus)
		rec.Paused = paused
		e := ev
		e.Record = &rec
		spec := Spec{Name: "w", URL: "https://x.example/", Events: []cdr.Type{ev.Type}, When: "record.paused", Params: []Param{{"v", "record.webhook"}}}
		fast, slow := mustCompileFast(t, spec, true), mustCompileFast(t, spec, false)
		if fast.progs[ev.Type].whenFast == nil {
			t.Fatal("when record.paused has no fast path")
		}
		fr, ferr := fast.Render(e, "")
		sr, serr := slow.Render(e, "")
		if fmt.Sprint(ferr) != fmt.Sprint(serr) || !reflect.DeepEqual(fr, sr) {
			t.Fatalf("paused %v: fast %v %v, VM %v %v", paused, fr, ferr, sr, serr)
		}
		if skipped := errors.Is(ferr, ErrSkipped); skipped == paused {
			t.Fatalf("paused %v: got %v", paused, ferr)
		}
	}
}

func mustCompileFast(t *testing.T, s Spec, fast bool) *Webhook {
	t.Helper()
	w, err := compile(s, fast)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestFastPathShapes checks which expressions get a fast path.
func TestFastPathShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want fastOp
		fast bool
	}{
		{"record.caller.number", opField, true},
		{"record.wait", opField, true},
		{"(record.wait)", opField, true},
		{"event.id", opField, true},
		{"webhook.name", opField, true},
		{"record", opField, true},
		{"record.custom", opField, true},
		{"record.direction", opStr, true},
		{"date(record.started_at)", opDate, true},
		{`date(record.ended_at, "%H:%M")`, opDate, true},
		{"cause(record.leave_reason)", opCause, true},
		{"cause(record.direction)", opCauseStr, true},
		{"cause(record.wait)", opCause, true},
		{"record.wait + 1", 0, false},
		{"record.custom.Manager", 0, false},
		{"record?.wait", 0, false},
		{`record.custom["Manager"]`, 0, false},
		{"record.caller.number + ''", 0, false},
		{"date(record.leave_reason)", 0, false},
		{`date(record.started_at, record.leave_reason)`, 0, false},
		{"cause(record.agent)", 0, false},
		{"cause(record.met_service_level)", 0, false},
		{"upper(record.leave_reason)", 0, false},
		{"let x = record.wait; x", 0, false},
		{"1", 0, false},
		{"nil", 0, false},
	}
	for _, tt := range tests {
		w := mustCompile(t, Spec{Name: "s", URL: "https://x.example/", Events: []cdr.Type{cdr.TypeQueueEnded}, Params: []Param{{"v", tt.src}}})
		fe := w.progs[cdr.TypeQueueEnded].paramFast[0]
		if (fe != nil) != tt.fast || fe != nil && fe.op != tt.want {
			t.Errorf("%s: fast path %+v, want fast %v op %d", tt.src, fe, tt.fast, tt.want)
		}
	}
}

// TestFastPathNilPointer checks that a path through a nil pointer leaves the
// fast path, so that the VM reports the error, and that a path through a
// pointer that is set is read through it.
func TestFastPathNilPointer(t *testing.T) {
	t.Parallel()
	type inner struct {
		N int    `expr:"n"`
		S string `expr:"s"`
	}
	type env struct {
		Pad   [3]int64 `expr:"pad"`
		Inner *inner   `expr:"inner"`
	}
	for _, src := range []string{"inner.n", "inner.s"} {
		prog, err := expr.Compile(src, expr.Env(env{}))
		if err != nil {
			t.Fatal(err)
		}
		fe := newFastExpr(prog, reflect.TypeFor[env](), nil)
		if fe == nil {
			t.Fatalf("%s: no fast path", src)
		}
		e := &env{}
		if _, ok := fe.eval(&funcs{}, reflect.ValueOf(e).UnsafePointer()); ok {
			t.Fatalf("%s: nil pointer: fast path did not give way to the VM", src)
		}
		if _, err := expr.Run(prog, e); err == nil {
			t.Fatalf("%s: nil pointer: the VM has no error to report", src)
		}
		e.Inner = &inner{N: 7, S: "seven"}
		v, ok := fe.eval(&funcs{}, reflect.ValueOf(e).UnsafePointer())
		want, err := expr.Run(prog, e)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, VM error %v", src, ok, err)
		}
		if got := (&Webhook{}).valueAny(&v); got != want {
			t.Fatalf("%s: fast path gives %v, VM %v", src, got, want)
		}
	}
}

func BenchmarkFastPathEval(b *testing.B) {
	w := mustCompile(b, Spec{Name: "b", URL: "https://x.example/", Events: []cdr.Type{cdr.TypeQueueEnded}, Params: []Param{{"v", "record.caller.number"}}})
	ev := SampleEvent(cdr.TypeQueueEnded)
	p := w.progs[ev.Type]
	env, _, _, err := newEnv(p.kind, &ev, w.Name())
	if err != nil {
		b.Fatal(err)
	}
	envp := reflect.ValueOf(env).UnsafePointer()
	b.ReportAllocs()
	for b.Loop() {
		if v, ok := p.paramFast[0].eval(&w.fn, envp); !ok || v.s != "+380441234567" {
			b.Fatal(v, ok)
		}
	}
}

// TestFieldValueMatchesBoxed checks the encoders of a kindField value (a
// field of any other type, read in place) against the encoders of the boxed
// value, for types the record kinds do not hold today.
func TestFieldValueMatchesBoxed(t *testing.T) {
	t.Parallel()
	type named string
	type level int8
	type flag bool
	type money float64
	s, n := "a\"b", 42
	b := true
	vals := []any{
		named("in\nbound"), level(-3), flag(true), money(1.5), float32(2.25), 1.5e-7, int64(-9), uint16(7), "plain",
		&s, (*string)(nil), &n, (*int)(nil), &b, (*bool)(nil), []string{"x", "y"}, map[string]int{"b": 2, "a": 1},
		struct {
			A string `json:"a"`
		}{"z"}, []any{1, "two", nil}, time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC), (*time.Time)(nil), any(nil), errors.New("e"),
	}
	w := mustCompile(t, Spec{Name: "f", URL: "https://x.example/", Events: []cdr.Type{cdr.TypeQueueEnded}, DateFormat: "unix_ms", Params: []Param{{"v", "1"}}})
	for _, x := range vals {
		// A field of x's type holding x, as the environment would hold it.
		typ := reflect.TypeOf(&x).Elem()
		if x != nil {
			typ = reflect.TypeOf(x)
		}
		field := reflect.New(typ)
		if x != nil {
			field.Elem().Set(reflect.ValueOf(x))
		}
		v := value{kind: kindField, p: field.UnsafePointer(), v: typ}
		got, want := w.valueAny(&v), field.Elem().Interface()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T: valueAny gives %#v, want %#v", x, got, want)
		}
		fj, ferr := w.appendValue(nil, &v)
		sj, serr := w.appendJSON(nil, want)
		if string(fj) != string(sj) || fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("%T: JSON: got %s %v, want %s %v", x, fj, ferr, sj, serr)
		}
		fs, fnull, ferr := w.scalarValue(&v)
		ss, snull, serr := w.scalarString(want)
		if fs != ss || fnull != snull || fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("%T: scalar: got %q %v %v, want %q %v %v", x, fs, fnull, ferr, ss, snull, serr)
		}
		if ferr, serr := w.check(&v), checkValue(want); fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("%T: check: got %v, want %v", x, ferr, serr)
		}
	}
}

package mapping

import (
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// fastExpr evaluates, without expr's VM and without boxing the result, an
// expression of one of the shapes most parameter maps are made of:
//
//   - a plain member path: record.caller.number, record.wait, event.id,
//     webhook.name (and record.direction, which the stringPatcher wraps in
//     __str to make a plain string of it);
//   - date(path) and date(path, "literal format") of a time or time pointer;
//   - cause(path) of a string or an int (or of a named string type).
//
// It is recognised from the compiled program itself (its exact bytecode and
// syntax tree), so it always reads the field the VM would read: the path is
// the index list of expr's OpLoadField, which the checker resolved by expr
// tag, through embedded structs. Every other expression, and every run where
// the path meets a nil pointer, goes through the VM, which also reports the
// error. TestFastPathMatchesVM checks each shape against the VM.
//
// The path is read with field offsets computed from reflect at compile time
// (the walk runtime.FetchField does with reflect.Value.Field, which costs
// more than the rest of a fast evaluation), then by the field's static type.
type fastExpr struct {
	steps  []fieldStep
	typ    reflect.Type // the field's type
	kind   valueKind    // opField: how the field is held, by typ
	op     fastOp
	format *dateFormat // opDate: the format; nil means the webhook's
}

// fieldStep is one step of a path through the environment: follow the
// pointer at the current address when deref is set (a nil pointer ends the
// fast path), then move off bytes into the struct.
type fieldStep struct {
	deref bool
	off   uintptr
}

// fastOp is what a fastExpr does with the field it reads.
type fastOp int

const (
	opField    fastOp = iota // the field itself
	opStr                    // __str(field): a named string type as a plain string
	opDate                   // date(field) or date(field, "format")
	opCause                  // cause(field)
	opCauseStr               // cause(__str(field))
)

var (
	timePtrType = reflect.TypeFor[*time.Time]()
	boolType    = reflect.TypeFor[bool]()
	intType     = reflect.TypeFor[int]()
)

// newFastExpr returns the fast evaluation of prog, compiled for the
// environment type envType, or nil when prog has none of the shapes above.
// formats are the webhook's literal date formats.
func newFastExpr(prog *vm.Program, envType reflect.Type, formats map[string]*dateFormat) *fastExpr {
	if prog == nil || envType == nil || envType.Kind() != reflect.Struct ||
		len(prog.Bytecode) == 0 || len(prog.Arguments) != len(prog.Bytecode) || prog.Bytecode[0] != vm.OpLoadField {
		return nil
	}
	arg := prog.Arguments[0]
	if arg < 0 || arg >= len(prog.Constants) {
		return nil
	}
	f, ok := prog.Constants[arg].(*runtime.Field)
	if !ok || len(f.Index) == 0 {
		return nil
	}
	e := &fastExpr{}
	if e.steps, e.typ = fieldSteps(envType, f.Index); e.typ == nil {
		return nil
	}
	code, node := prog.Bytecode[1:], prog.Node()
	isPath := func(n ast.Node) bool {
		switch n.(type) {
		case *ast.MemberNode, *ast.IdentifierNode:
			return true
		}
		return false
	}
	switch {
	case len(code) == 0 && isPath(node):
		e.op = opField
	case equalOps(code, vm.OpCast) && prog.Arguments[1] == 3 && isPath(node):
		// A when filter of a bool field: expr.AsBool adds a cast, which
		// leaves a bool as it is.
		if e.typ != boolType {
			return nil
		}
		e.op = opField
	case equalOps(code, vm.OpCall1) && isCall(node, strFunc, 1) && isPath(callArg(node, 0)):
		e.op = opStr
	case equalOps(code, vm.OpCall1) && isCall(node, "date", 1) && isPath(callArg(node, 0)):
		e.op = opDate
	case equalOps(code, vm.OpPush, vm.OpCall2) && isCall(node, "date", 2) && isPath(callArg(node, 0)):
		lit, ok := callArg(node, 1).(*ast.StringNode)
		if !ok || prog.Arguments[1] < 0 || prog.Arguments[1] >= len(prog.Constants) || prog.Constants[prog.Arguments[1]] != lit.Value {
			return nil
		}
		if e.format = formats[lit.Value]; e.format == nil {
			return nil
		}
		e.op = opDate
	case equalOps(code, vm.OpCall1) && isCall(node, "cause", 1) && isPath(callArg(node, 0)):
		e.op = opCause
	case equalOps(code, vm.OpCall1, vm.OpCall1) && isCall(node, "cause", 1) && isCall(callArg(node, 0), strFunc, 1) && isPath(callArg(callArg(node, 0), 0)):
		e.op = opCauseStr
	default:
		return nil
	}
	switch e.op {
	case opStr, opCauseStr:
		// str unwraps one pointer level at most (see stringPatcher).
		if derefOnce(e.typ).Kind() != reflect.String {
			return nil
		}
	case opDate:
		if e.typ != timeType && e.typ != timePtrType {
			return nil
		}
	case opCause:
		if e.typ != stringType && e.typ != intType {
			return nil
		}
	case opField:
		switch e.typ {
		case stringType:
			e.kind = kindString
		case intType:
			e.kind = kindInt
		case boolType:
			e.kind = kindBool
		case timeType:
			e.kind = kindTime
		case timePtrType:
			e.kind = kindTimePtr
		default:
			e.kind = kindField
		}
	}
	return e
}

// fieldSteps returns the steps to the field at index from the struct type t,
// walking it as runtime.FetchField does (following a pointer before every
// field but the first), and the field's type; the type is nil when index does
// not fit t.
func fieldSteps(t reflect.Type, index []int) ([]fieldStep, reflect.Type) {
	var steps []fieldStep
	for i, x := range index {
		deref := i > 0 && t.Kind() == reflect.Pointer
		if deref {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || x < 0 || x >= t.NumField() || !t.Field(x).IsExported() {
			return nil, nil
		}
		f := t.Field(x)
		if n := len(steps); n > 0 && !deref {
			steps[n-1].off += f.Offset // fields of fields: one move
		} else {
			steps = append(steps, fieldStep{deref: deref, off: f.Offset})
		}
		t = f.Type
	}
	return steps, t
}

func derefOnce(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

func equalOps(code []vm.Opcode, ops ...vm.Opcode) bool {
	if len(code) != len(ops) {
		return false
	}
	for i := range code {
		if code[i] != ops[i] {
			return false
		}
	}
	return true
}

func isCall(n ast.Node, name string, args int) bool {
	call, ok := n.(*ast.CallNode)
	if !ok || len(call.Arguments) != args {
		return false
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	return ok && id.Value == name
}

func callArg(n ast.Node, i int) ast.Node {
	return n.(*ast.CallNode).Arguments[i]
}

// eval evaluates e on env, a pointer to the environment struct of the type
// e was compiled for (the pointer the VM is given). ok is false when the VM
// must run instead: the path meets a nil pointer, which is the VM's error to
// report.
func (e *fastExpr) eval(f *funcs, env unsafe.Pointer) (v value, ok bool) {
	p := env
	for _, s := range e.steps {
		if s.deref {
			if p = *(*unsafe.Pointer)(p); p == nil {
				return value{}, false
			}
		}
		p = unsafe.Add(p, s.off)
	}
	switch e.op {
	case opField:
		switch e.kind {
		case kindString:
			return value{kind: kindString, s: *(*string)(p)}, true
		case kindInt:
			return value{kind: kindInt, i: int64(*(*int)(p))}, true
		case kindBool:
			if *(*bool)(p) {
				return value{kind: kindBool, i: 1}, true
			}
			return value{kind: kindBool}, true
		case kindTimePtr:
			return value{kind: kindTimePtr, p: *(*unsafe.Pointer)(p)}, true
		}
		return value{kind: e.kind, p: p, v: e.typ}, true // kindTime, kindField
	case opStr:
		return value{kind: kindString, s: e.str(p)}, true
	case opDate:
		// As date and toTime do: a nil pointer is "".
		if e.typ == timePtrType {
			if p = *(*unsafe.Pointer)(p); p == nil {
				return value{kind: kindString}, true
			}
		}
		format := e.format
		if format == nil {
			format = f.format
		}
		return value{kind: kindDate, p: p, v: format}, true
	case opCause:
		// As cause does: the mapped text, else the argument itself.
		if e.typ == intType {
			n := int64(*(*int)(p))
			var buf [20]byte
			if s, ok := f.causes[string(strconv.AppendInt(buf[:0], n, 10))]; ok {
				return value{kind: kindString, s: s}, true
			}
			return value{kind: kindInt, i: n}, true
		}
		fallthrough
	case opCauseStr:
		key := e.str(p)
		if s, ok := f.causes[key]; ok {
			return value{kind: kindString, s: s}, true
		}
		return value{kind: kindString, s: key}, true
	}
	return value{}, false
}

// str is str(field) for the field at p, of a string type or a pointer to
// one: a nil pointer is "", and a named string type is laid out as a string.
func (e *fastExpr) str(p unsafe.Pointer) string {
	if e.typ.Kind() == reflect.Pointer {
		if p = *(*unsafe.Pointer)(p); p == nil {
			return ""
		}
	}
	return *(*string)(p)
}

// valueKind tells what a value holds, and where.
type valueKind int

const (
	kindAny     valueKind = iota // v: the result of a VM run
	kindString                   // s: a string
	kindInt                      // i: an int
	kindBool                     // i: a bool, 0 or 1
	kindTime                     // p: a *time.Time to the time.Time field
	kindTimePtr                  // p: the *time.Time field's value, maybe nil
	kindDate                     // p and v: date()'s result, the string v.(*dateFormat).format(p.In(zone))
	kindField                    // p and v: the field at p, of the reflect.Type v
)

// value is the value of one expression, held without boxing it when a fast
// path computed it: its fields point into the record or the environment,
// which outlive it. The encoders below give exactly what the encoders of
// w.valueAny(v) give.
type value struct {
	kind valueKind
	i    int64
	s    string
	p    unsafe.Pointer
	v    any
}

// valueAny returns v as the VM would have returned it.
func (w *Webhook) valueAny(v *value) any {
	switch v.kind {
	case kindString:
		return v.s
	case kindInt:
		return int(v.i)
	case kindBool:
		return v.i != 0
	case kindTime:
		return *(*time.Time)(v.p)
	case kindTimePtr:
		return (*time.Time)(v.p)
	case kindDate:
		return v.v.(*dateFormat).format((*time.Time)(v.p).In(w.fn.loc))
	case kindField:
		return v.field().Interface()
	}
	return v.v
}

// field returns the kindField value as a reflect.Value.
func (v *value) field() reflect.Value {
	return reflect.NewAt(v.v.(reflect.Type), v.p).Elem()
}

// check is checkValue(w.valueAny(v)), without boxing the values checkValue
// accepts as they are.
func (w *Webhook) check(v *value) error {
	switch v.kind {
	case kindAny, kindField:
		return checkValue(w.valueAny(v))
	}
	return nil
}

// appendValue is w.appendJSON(b, w.valueAny(v)), without boxing v.
func (w *Webhook) appendValue(b []byte, v *value) ([]byte, error) {
	switch v.kind {
	case kindString:
		return appendJSONString(b, v.s), nil
	case kindInt:
		return strconv.AppendInt(b, v.i, 10), nil
	case kindBool:
		return strconv.AppendBool(b, v.i != 0), nil
	case kindTime:
		return w.appendTime(b, *(*time.Time)(v.p), true), nil
	case kindTimePtr:
		if v.p == nil {
			return append(b, "null"...), nil
		}
		return w.appendTime(b, *(*time.Time)(v.p), true), nil
	case kindDate:
		var tmp [64]byte
		t := (*time.Time)(v.p).In(w.fn.loc)
		return appendJSONBytes(b, v.v.(*dateFormat).appendFormat(tmp[:0], t)), nil
	case kindField:
		return w.appendReflect(b, v.field())
	}
	return w.appendJSON(b, v.v)
}

// appendReflect is w.appendJSON(b, rv.Interface()), case by case: every case
// below writes what appendJSON writes for a value of that type, and every
// other value goes through appendJSON itself.
func (w *Webhook) appendReflect(b []byte, rv reflect.Value) ([]byte, error) {
	switch rv.Kind() {
	case reflect.String:
		return appendJSONString(b, rv.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Pointer:
		if rv.Type() == timePtrType {
			break
		}
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return w.appendReflect(b, rv.Elem())
	}
	return w.appendJSON(b, rv.Interface())
}

// scalarValue is w.scalarString(w.valueAny(v)), without boxing strings.
func (w *Webhook) scalarValue(v *value) (s string, null bool, err error) {
	switch v.kind {
	case kindString:
		return v.s, false, nil
	case kindDate:
		return v.v.(*dateFormat).format((*time.Time)(v.p).In(w.fn.loc)), false, nil
	case kindTime:
		return w.fn.format.format((*time.Time)(v.p).In(w.fn.loc)), false, nil
	}
	return w.scalarString(w.valueAny(v))
}

// truthy is w.valueAny(v).(bool), for the when filter.
func (v *value) truthy() bool {
	if v.kind == kindBool {
		return v.i != 0
	}
	b, _ := v.v.(bool)
	return b
}

package mapping

import (
	"reflect"
	"strconv"
	"time"

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
type fastExpr struct {
	index  []int        // field indexes from the environment struct, as in runtime.Field
	typ    reflect.Type // the field's type
	op     fastOp
	format *dateFormat // opDate: the format; nil means the webhook's
}

// fastOp is what a fastExpr does with the field it reads.
type fastOp int

const (
	opField fastOp = iota // the field itself
	opStr                 // __str(field): a named string type as a plain string
	opDate                // date(field) or date(field, "format")
	opCause               // cause(field) or cause(__str(field))
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
	e := &fastExpr{index: f.Index}
	if e.typ = fieldType(envType, f.Index); e.typ == nil {
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
		e.op = opCause
		if t := derefOnce(e.typ); t.Kind() != reflect.String {
			return nil
		}
		e.typ = stringType // what __str gives cause; eval reads the field with strValue
	default:
		return nil
	}
	switch e.op {
	case opStr:
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
	}
	return e
}

// fieldType returns the type of the field at index from t, as
// runtime.FetchField walks it, or nil when index does not fit t.
func fieldType(t reflect.Type, index []int) reflect.Type {
	for i, x := range index {
		if i > 0 && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || x < 0 || x >= t.NumField() || !t.Field(x).IsExported() {
			return nil
		}
		t = t.Field(x).Type
	}
	return t
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

// eval evaluates e on env, the environment struct (addressable, as reached
// through the pointer the VM is given). ok is false when the VM must run
// instead: the path meets a nil pointer, which is the VM's error to report.
func (e *fastExpr) eval(f *funcs, env reflect.Value) (v value, ok bool) {
	rv := env
	for i, x := range e.index {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return value{}, false
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	switch e.op {
	case opField:
		return fieldValue(rv, e.typ), true
	case opStr:
		s, ok := strValue(rv)
		return value{kind: kindString, s: s}, ok
	case opDate:
		// As date and toTime do: a nil pointer is "".
		var t time.Time
		if e.typ == timePtrType {
			p, _ := reflect.TypeAssert[*time.Time](rv)
			if p == nil {
				return value{kind: kindString}, true
			}
			t = *p
		} else {
			t, _ = reflect.TypeAssert[time.Time](rv)
		}
		format := e.format
		if format == nil {
			format = f.format
		}
		return value{kind: kindDate, t: t.In(f.loc), v: format}, true
	case opCause:
		// As cause does: the mapped text, else the argument itself.
		if e.typ == intType {
			n := rv.Int()
			var buf [20]byte
			if s, ok := f.causes[string(strconv.AppendInt(buf[:0], n, 10))]; ok {
				return value{kind: kindString, s: s}, true
			}
			return value{kind: kindInt, i: n}, true
		}
		key, ok := strValue(rv)
		if !ok {
			return value{}, false
		}
		if s, ok := f.causes[key]; ok {
			return value{kind: kindString, s: s}, true
		}
		return value{kind: kindString, s: key}, true
	}
	return value{}, false
}

// fieldValue holds rv, a field of static type t, as a value, unboxed for
// the common types.
func fieldValue(rv reflect.Value, t reflect.Type) value {
	switch t {
	case stringType:
		return value{kind: kindString, s: rv.String()}
	case intType:
		return value{kind: kindInt, i: rv.Int()}
	case boolType:
		if rv.Bool() {
			return value{kind: kindBool, i: 1}
		}
		return value{kind: kindBool}
	case timeType:
		tm, _ := reflect.TypeAssert[time.Time](rv)
		return value{kind: kindTime, t: tm}
	case timePtrType:
		p, _ := reflect.TypeAssert[*time.Time](rv)
		return value{kind: kindTimePtr, v: p}
	}
	return value{kind: kindField, rv: rv}
}

// strValue is str(rv.Interface()) for a value of a string type or a pointer
// to one; ok is false for anything else.
func strValue(rv reflect.Value) (s string, ok bool) {
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", true
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.String {
		return "", false
	}
	return rv.String(), true
}

// valueKind tells what a value holds, and where.
type valueKind int

const (
	kindAny     valueKind = iota // v: the result of a VM run
	kindString                   // s: a string
	kindInt                      // i: an int
	kindBool                     // i: a bool, 0 or 1
	kindTime                     // t: a time.Time
	kindTimePtr                  // v: a *time.Time
	kindDate                     // t and v: date()'s result, the string v.(*dateFormat).format(t)
	kindField                    // rv: a field of any other type
)

// value is the value of one expression, held without boxing it when a fast
// path computed it. Its encoders give exactly what the encoders of v.any()
// give.
type value struct {
	kind valueKind
	i    int64
	s    string
	t    time.Time // kindDate: in the webhook's zone
	v    any
	rv   reflect.Value
}

// any returns the value as the VM would have returned it.
func (v *value) any() any {
	switch v.kind {
	case kindString:
		return v.s
	case kindInt:
		return int(v.i)
	case kindBool:
		return v.i != 0
	case kindTime:
		return v.t
	case kindDate:
		return v.v.(*dateFormat).format(v.t)
	case kindField:
		return v.rv.Interface()
	}
	return v.v // kindAny, kindTimePtr
}

// check is checkValue(v.any()), without boxing the values checkValue accepts
// as they are.
func (v *value) check() error {
	switch v.kind {
	case kindAny, kindField:
		return checkValue(v.any())
	}
	return nil
}

// appendValue is w.appendJSON(b, v.any()), without boxing v.
func (w *Webhook) appendValue(b []byte, v *value) ([]byte, error) {
	switch v.kind {
	case kindString:
		return appendJSONString(b, v.s), nil
	case kindInt:
		return strconv.AppendInt(b, v.i, 10), nil
	case kindBool:
		return strconv.AppendBool(b, v.i != 0), nil
	case kindTime:
		return w.appendTime(b, v.t, true), nil
	case kindTimePtr:
		if p := v.v.(*time.Time); p != nil {
			return w.appendTime(b, *p, true), nil
		}
		return append(b, "null"...), nil
	case kindDate:
		var tmp [64]byte
		return appendJSONBytes(b, v.v.(*dateFormat).appendFormat(tmp[:0], v.t)), nil
	case kindField:
		return w.appendReflect(b, v.rv)
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

// scalarValue is w.scalarString(v.any()), without boxing strings.
func (w *Webhook) scalarValue(v *value) (s string, null bool, err error) {
	switch v.kind {
	case kindString:
		return v.s, false, nil
	case kindDate:
		return v.v.(*dateFormat).format(v.t), false, nil
	case kindTime:
		return w.fn.format.format(v.t.In(w.fn.loc)), false, nil
	}
	return w.scalarString(v.any())
}

// truthy is v.any().(bool), for the when filter.
func (v *value) truthy() bool {
	if v.kind == kindBool {
		return v.i != 0
	}
	b, _ := v.v.(bool)
	return b
}

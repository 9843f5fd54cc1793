package mapping

import (
	"reflect"
	"strconv"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// fastPath reads the value of an expression that is a plain member path
// (record.caller.number, record.wait, event.id, webhook.name) straight from
// the environment, without running expr's VM and without boxing the value.
//
// It is recognised from the compiled program itself, so it always reads the
// field the VM would read: the program must be exactly expr's OpLoadField of
// the path (the checker has already resolved the path to field indexes by
// expr tag, through embedded structs), optionally followed by the __str call
// the stringPatcher adds for named string types. Everything else, and any
// run where the path meets a nil pointer, goes through the VM, which also
// produces the error.
type fastPath struct {
	index []int        // field indexes from the environment struct, as in runtime.Field
	str   bool         // the value goes through str (a named string type made plain)
	typ   reflect.Type // the field's type
}

var (
	timePtrType = reflect.TypeFor[*time.Time]()
	boolType    = reflect.TypeFor[bool]()
	float64Type = reflect.TypeFor[float64]()
)

// newFastPath returns the fast path of prog, compiled for the environment
// type envType, or nil when prog is not a plain member path.
func newFastPath(prog *vm.Program, envType reflect.Type) *fastPath {
	if prog == nil || envType == nil || envType.Kind() != reflect.Struct {
		return nil
	}
	code := prog.Bytecode
	var str bool
	switch {
	case len(code) == 1 && code[0] == vm.OpLoadField:
	case len(code) == 2 && code[0] == vm.OpLoadField && code[1] == vm.OpCall1:
		call, ok := prog.Node().(*ast.CallNode)
		if !ok || len(call.Arguments) != 1 {
			return nil
		}
		if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != strFunc {
			return nil
		}
		str = true
	default:
		return nil
	}
	if len(prog.Arguments) != len(code) || prog.Arguments[0] < 0 || prog.Arguments[0] >= len(prog.Constants) {
		return nil
	}
	f, ok := prog.Constants[prog.Arguments[0]].(*runtime.Field)
	if !ok || len(f.Index) == 0 {
		return nil
	}
	// Check the path against the type, so read can never panic.
	t := envType
	for i, x := range f.Index {
		if i > 0 && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || x < 0 || x >= t.NumField() || !t.Field(x).IsExported() {
			return nil
		}
		t = t.Field(x).Type
	}
	typ := t
	if str {
		// str unwraps one pointer level at most (see stringPatcher).
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.String {
			return nil
		}
	}
	return &fastPath{index: f.Index, str: str, typ: typ}
}

// read reads the path from env, the environment struct (addressable, as
// reached through the pointer the VM is given). ok is false when the path
// meets a nil pointer: the VM must then run to report the error.
func (p *fastPath) read(env reflect.Value) (v value, ok bool) {
	rv := env
	for i, x := range p.index {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				return value{}, false
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	if p.str {
		// As str does: a nil pointer is "".
		for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			if rv.IsNil() {
				return value{v: ""}, true
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.String {
			return value{}, false
		}
	}
	return value{rv: rv, fast: true, str: p.str}, true
}

// value is the value of one expression: the result of a VM run (v) or, from
// a fast path, the field it names (rv), read without boxing. Its encoders
// give exactly what the encoders of v.any() give.
type value struct {
	v    any
	rv   reflect.Value // valid when fast
	fast bool
	str  bool // rv is of a string kind and stands for a plain string (expr's __str)
}

// any returns the value as the VM would have returned it.
func (v value) any() any {
	switch {
	case !v.fast:
		return v.v
	case v.str:
		return v.rv.String()
	}
	return v.rv.Interface()
}

// check is checkValue(v.any()), without boxing the scalars checkValue
// accepts as they are.
func (v value) check() error {
	if v.fast && (v.str || cheapTypes[v.rv.Type()]) {
		return nil
	}
	return checkValue(v.any())
}

// cheapTypes are the types checkValue accepts without walking them.
var cheapTypes = map[reflect.Type]bool{
	reflect.TypeFor[string]():  true,
	reflect.TypeFor[bool]():    true,
	reflect.TypeFor[int]():     true,
	reflect.TypeFor[int64]():   true,
	reflect.TypeFor[float64](): true,
	timeType:                   true,
	timePtrType:                true,
}

// appendValue is w.appendJSON(b, v.any()) without boxing v when it is a
// field read by a fast path.
func (w *Webhook) appendValue(b []byte, v value) ([]byte, error) {
	if !v.fast {
		return w.appendJSON(b, v.v)
	}
	return w.appendReflect(b, v.rv)
}

// appendReflect is w.appendJSON(b, rv.Interface()), case by case: every case
// below writes what appendJSON writes for a value of that type, and every
// other value goes through appendJSON itself.
func (w *Webhook) appendReflect(b []byte, rv reflect.Value) ([]byte, error) {
	switch t := rv.Type(); {
	case t == timeType:
		tm, _ := reflect.TypeAssert[time.Time](rv)
		return w.appendTime(b, tm, true), nil
	case t == timePtrType:
		tp, _ := reflect.TypeAssert[*time.Time](rv)
		if tp == nil {
			return append(b, "null"...), nil
		}
		return w.appendTime(b, *tp, true), nil
	case t == float64Type:
		return appendFloat(b, rv.Float())
	}
	switch rv.Kind() {
	case reflect.String:
		return appendJSONString(b, rv.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Pointer:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return w.appendReflect(b, rv.Elem())
	}
	return w.appendJSON(b, rv.Interface())
}

// scalarValue is w.scalarString(v.any()), without boxing strings read by a
// fast path.
func (w *Webhook) scalarValue(v value) (s string, null bool, err error) {
	if v.fast && v.rv.Kind() == reflect.String {
		return v.rv.String(), false, nil
	}
	return w.scalarString(v.any())
}

package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// Limits that keep a hostile config from hanging or exhausting the gateway.
// See doc.go for what each one bounds.
const (
	// MaxNodes is the largest number of syntax-tree nodes an expression may have.
	MaxNodes = 1000
	// MemoryBudget is expr's per-run budget: the total number of range
	// elements, loop iterations and array elements one expression run may create.
	MemoryBudget = 10_000
	// MaxStringBytes is the longest string an expression may build with +,
	// join, replace, repeat, toBase64, toJSON or string.
	MaxStringBytes = 16 << 10
	// MaxValueNodes is the most nested elements (array items, map entries,
	// struct fields) a value may have when a builtin walks it or when it is
	// encoded into a request.
	MaxValueNodes = 10_000
	// MaxValueBytes is the most string bytes a value may hold when a builtin
	// walks it or when it is encoded into a request.
	MaxValueBytes = 1 << 20
)

var errTooLarge = errors.New("value too large")

// sizeChecker walks a value, counting nodes and string bytes, and stops as soon
// as a budget is exceeded, so its own cost is bounded by the budget.
type sizeChecker struct {
	nodes, bytes         int
	maxNodes, maxBytes   int
	exceededNodes, depth int
}

func checkSize(v any, maxNodes, maxBytes int) error {
	s := sizeChecker{maxNodes: maxNodes, maxBytes: maxBytes}
	if !s.walk(reflect.ValueOf(v)) {
		return fmt.Errorf("%w (limits: %d elements, %d bytes)", errTooLarge, maxNodes, maxBytes)
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

func (s *sizeChecker) walk(v reflect.Value) bool {
	s.nodes++
	if s.nodes > s.maxNodes || s.depth > 100 {
		return false
	}
	s.depth++
	defer func() { s.depth-- }()
	switch v.Kind() {
	case reflect.String:
		s.bytes += v.Len()
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return s.walk(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			s.bytes += v.Len()
			break
		}
		for i := range v.Len() {
			if !s.walk(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !s.walk(it.Key()) || !s.walk(it.Value()) {
				return false
			}
		}
	case reflect.Struct:
		if v.Type() == timeType {
			break
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !s.walk(v.Field(i)) {
				return false
			}
		}
	}
	return s.bytes <= s.maxBytes
}

func checkString(n int) error {
	if n > MaxStringBytes {
		return fmt.Errorf("string of %d bytes exceeds the limit of %d bytes", n, MaxStringBytes)
	}
	return nil
}

// guardBuiltin replaces the builtin name with a copy whose call first runs
// check on the arguments and then checks the length of a string result.
func guardBuiltin(name string, check func(args []any) error) expr.Option {
	return func(c *conf.Config) {
		idx, ok := builtin.Index[name]
		if !ok {
			return
		}
		orig := builtin.Builtins[idx]
		call := orig.Func
		switch {
		case orig.Safe != nil:
			call = func(args ...any) (any, error) {
				out, _, err := orig.Safe(args...)
				return out, err
			}
		case orig.Fast != nil:
			call = func(args ...any) (any, error) { return orig.Fast(args[0]), nil }
		}
		f := *orig
		f.Fast, f.Safe = nil, nil
		f.Func = func(args ...any) (any, error) {
			if check != nil {
				if err := check(args); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
			out, err := call(args...)
			if s, ok := out.(string); ok && err == nil {
				if err := checkString(len(s)); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
			return out, err
		}
		c.Functions[name] = &f
	}
}

func walkArgs(args []any) error {
	for _, a := range args {
		if err := checkSize(a, MaxValueNodes, MaxValueBytes); err != nil {
			return err
		}
	}
	return nil
}

func stringArgs(args []any) error {
	for _, a := range args {
		if err := checkSize(a, MaxValueNodes, MaxStringBytes); err != nil {
			return err
		}
	}
	return nil
}

func toInt(v any) int {
	defer func() { _ = recover() }()
	return runtime.ToInt(v)
}

// limitOptions are the expr options that bound the work of one run.
func limitOptions() []expr.Option {
	return []expr.Option{
		expr.MaxNodes(MaxNodes),
		guardBuiltin("repeat", func(args []any) error {
			if len(args) != 2 {
				return nil
			}
			s, _ := args[0].(string)
			n := toInt(args[1])
			if n > 0 && len(s) > 0 && n > MaxStringBytes/len(s)+1 {
				return checkString(MaxStringBytes + 1)
			}
			return nil
		}),
		guardBuiltin("join", stringArgs),
		guardBuiltin("replace", func(args []any) error {
			if len(args) != 3 {
				return nil
			}
			s, _ := args[0].(string)
			old, _ := args[1].(string)
			repl, _ := args[2].(string)
			if len(repl) <= len(old) {
				return nil
			}
			count := strings.Count(s, old)
			if old == "" {
				count = utf8.RuneCountInString(s) + 1
			}
			if count > MaxStringBytes {
				return checkString(MaxStringBytes + 1)
			}
			return checkString(len(s) + count*(len(repl)-len(old)))
		}),
		guardBuiltin("toBase64", func(args []any) error {
			if len(args) == 1 {
				if s, ok := args[0].(string); ok {
					return checkString(len(s) / 3 * 4)
				}
			}
			return nil
		}),
		guardBuiltin("toJSON", stringArgs),
		guardBuiltin("string", stringArgs),
		guardBuiltin("min", walkArgs),
		guardBuiltin("max", walkArgs),
		guardBuiltin("mean", walkArgs),
		guardBuiltin("median", walkArgs),
		guardBuiltin("flatten", walkArgs),
		guardBuiltin("uniq", walkArgs),
		// + on strings (or on values of unknown type) goes through addFunc,
		// which bounds the length of the result.
		func(c *conf.Config) {
			c.Functions[addFunc] = &builtin.Function{Name: addFunc, Func: add, Validate: validateAdd}
		},
		expr.Function(strFunc, str, new(func(any) string)),
	}
}

const (
	addFunc = "__add"
	strFunc = "__str"
)

func validateAdd(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 2 {
		return anyType, fmt.Errorf("+ takes 2 operands, got %d", len(args))
	}
	l, r := args[0], args[1]
	switch {
	case l == nil || r == nil || l.Kind() == reflect.Interface || r.Kind() == reflect.Interface:
		return anyType, nil
	case l.Kind() == reflect.String && r.Kind() == reflect.String:
		return stringType, nil
	}
	return anyType, fmt.Errorf("invalid operation: + (mismatched types %s and %s)", l, r)
}

func add(args ...any) (any, error) {
	if a, ok := args[0].(string); ok {
		if b, ok := args[1].(string); ok {
			if err := checkString(len(a) + len(b)); err != nil {
				return nil, err
			}
			return a + b, nil
		}
	}
	return runtime.Add(args[0], args[1]), nil
}

// str converts a value of a named string type (cdr.Disposition, cdr.Type, ...)
// to a plain string.
func str(args ...any) (any, error) {
	switch v := args[0].(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	}
	rv := reflect.ValueOf(args[0])
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return "", nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.String {
		return rv.String(), nil
	}
	return fmt.Sprint(args[0]), nil
}

var stringType = reflect.TypeFor[string]()

// stringPatcher turns values of named string types into plain strings, so
// record.disposition == "answered" compares as users expect.
type stringPatcher struct{}

// Visit implements ast.Visitor.
func (stringPatcher) Visit(node *ast.Node) {
	switch (*node).(type) {
	case *ast.MemberNode, *ast.IdentifierNode, *ast.ChainNode, *ast.PointerNode:
	default:
		return
	}
	t := (*node).Type()
	if t == nil {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.String || t == stringType {
		return
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: strFunc}, Arguments: []ast.Node{*node}}
	ast.Patch(node, call)
}

// recheck clears the types the checker stored on call nodes during the
// passes that run patchers, so the final pass checks their arguments again
// (a call node that already has a type is not checked again, which would
// hide errors such as an unknown field inside date(...)). It must be the last
// visitor; it runs in expr's pass for repeatable visitors, after every other.
type recheck struct{}

// Visit implements ast.Visitor.
func (recheck) Visit(node *ast.Node) {
	if call, ok := (*node).(*ast.CallNode); ok {
		call.SetNature(nature.Nature{})
	}
}

// Reset implements expr's repeatable visitor interface.
func (recheck) Reset() {}

// ShouldRepeat implements expr's repeatable visitor interface.
func (recheck) ShouldRepeat() bool { return false }

// addPatcher routes + through addFunc when either side may be a string.
type addPatcher struct{}

// Visit implements ast.Visitor.
func (addPatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "+" {
		return
	}
	if !maybeString(b.Left.Type()) && !maybeString(b.Right.Type()) {
		return
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: addFunc}, Arguments: []ast.Node{b.Left, b.Right}}
	ast.Patch(node, call)
}

func maybeString(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

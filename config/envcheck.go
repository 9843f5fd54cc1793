package config

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/cdrgw/cdrgw/mapping"
)

// envCalls finds the calls env("NAME") in spec's expressions (when, the
// URL's {{ }} parts, params, headers) whose constant argument names a
// variable allow refuses, as CompileErrors at the argument's line and
// column. An expression that does not parse is left to mapping.Compile; an
// argument computed at run time is left to Spec.Env, which reads "" for a
// refused variable.
func envCalls(spec mapping.Spec, allow func(string) bool) []error {
	var errs []error
	check := func(field, src string, offset int) {
		tree, err := parser.Parse(src)
		if err != nil {
			return
		}
		v := &envVisitor{}
		ast.Walk(&tree.Node, v)
		for _, a := range v.args {
			if allow(a.name) {
				continue
			}
			line, col := runePosition(src, a.loc)
			if line == 1 {
				col += offset
			}
			errs = append(errs, &mapping.CompileError{Webhook: spec.Name, Field: field, Line: line, Column: col,
				Msg: fmt.Sprintf("env(%q): %s", a.name, notInWebhookEnv)})
		}
	}
	if strings.TrimSpace(spec.When) != "" {
		check("when", spec.When, 0)
	}
	for _, u := range urlExprs(spec.URL) {
		check("url", u.src, u.offset)
	}
	for _, p := range spec.Params {
		check("params."+p.Name, p.Expr, 0)
	}
	for _, h := range spec.Headers {
		check("headers."+h.Name, h.Expr, 0)
	}
	return errs
}

// envArg is the constant argument of an env() call.
type envArg struct {
	name string
	loc  int // rune offset in the expression
}

// envVisitor collects the constant arguments of env() calls, the pipe form
// ("NAME" | env()) included.
type envVisitor struct{ args []envArg }

// Visit implements ast.Visitor.
func (v *envVisitor) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) == 0 {
		return
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); !ok || id.Value != "env" {
		return
	}
	if s, ok := call.Arguments[0].(*ast.StringNode); ok {
		v.args = append(v.args, envArg{name: s.Value, loc: s.Location().From})
	}
}

// urlExpr is one {{ expression }} of a URL template.
type urlExpr struct {
	src    string
	offset int // rune offset of src within the URL
}

// urlExprs returns the {{ expression }} parts of a URL template, as
// mapping.Compile splits it.
func urlExprs(u string) []urlExpr {
	var out []urlExpr
	s := u
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return out
		}
		start := len(u) - len(s) + i + 2
		out = append(out, urlExpr{src: s[i+2 : i+2+j], offset: utf8.RuneCountInString(u[:start])})
		s = s[i+2+j+2:]
	}
}

// runePosition converts a rune offset in src to a 1-based line and column.
func runePosition(src string, offset int) (line, col int) {
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

package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Limits that keep a hostile file from exhausting the loader.
const (
	maxDepth = 64      // nesting of mappings and sequences
	maxNodes = 100_000 // values after alias expansion
)

type nodeKind int

const (
	scalarNode nodeKind = iota
	mapNode
	seqNode
)

// node is a YAML value with its position, after alias resolution and ${VAR}
// expansion. Mappings keep their key order.
type node struct {
	kind      nodeKind
	line, col int

	value    any    // scalar: nil, bool, int64, uint64, float64 or string (expanded)
	text     string // scalar as written, before expansion
	quoted   bool   // scalar was quoted or a block literal
	expanded bool   // scalar held a ${...}

	keys     []string
	keyNodes []*node
	vals     []*node

	items []*node

	size int // values in this subtree after alias expansion
}

// get returns the value and key nodes of key in a mapping, or nil.
func (n *node) get(key string) (val, k *node) {
	if n == nil || n.kind != mapNode {
		return nil, nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], n.keyNodes[i]
		}
	}
	return nil, nil
}

// plainExpanded reports whether n is an unquoted scalar that held ${...},
// whose expanded text may stand for a bool or a number.
func (n *node) plainExpanded() bool {
	return n != nil && n.kind == scalarNode && n.expanded && !n.quoted
}

// describe names the YAML type of n for messages.
func (n *node) describe() string {
	switch n.kind {
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	switch n.value.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	}
	return "a string"
}

// toAny converts n to the generic value the JSON Schema validator expects.
func (n *node) toAny() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = n.vals[i].toAny()
		}
		return m
	case seqNode:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = it.toAny()
		}
		return s
	}
	return n.value
}

// lookup follows a JSON Schema instance location from n.
func (n *node) lookup(loc []string) *node {
	for _, tok := range loc {
		switch {
		case n == nil:
			return nil
		case n.kind == mapNode:
			n, _ = n.get(tok)
		case n.kind == seqNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.items) {
				return nil
			}
			n = n.items[i]
		default:
			return nil
		}
	}
	return n
}

// pathKey appends a mapping key to a YAML path, bracketing keys that would
// read ambiguously (dots, spaces, brackets).
func pathKey(parent, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			simple = false
			break
		}
	}
	switch {
	case !simple:
		return parent + "[" + strconv.Quote(key) + "]"
	case parent == "":
		return key
	}
	return parent + "." + key
}

// pathIndex appends a sequence index to a YAML path.
func pathIndex(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// builder turns goccy/go-yaml's AST into nodes.
type builder struct {
	c       *collector
	lookup  func(string) (string, bool)
	allow   func(string) bool // the variables ${...} may name; nil means any
	anchors map[string]*node
	total   int
	tooBig  bool
}

// parseYAML parses data into a node tree, reporting syntax errors,
// expansion errors and unsupported constructs to c. It returns nil when the
// document could not be parsed at all.
func parseYAML(data []byte, c *collector, lookup func(string) (string, bool), allow func(string) bool) (root *node) {
	if i := bytes.IndexAny(data, openMark+closeMark); i >= 0 {
		line := bytes.Count(data[:i], []byte("\n")) + 1
		c.add(&node{line: line, col: i - bytes.LastIndexByte(data[:i], '\n')}, "", "the characters U+E000 and U+E001 are reserved")
		return nil
	}
	f, err := safeParse(premark(data))
	if err != nil {
		e := c.add(nil, "", "%s", syntaxMessage(err))
		if se, ok := err.(*parseError); ok {
			e.Line, e.Column = se.line, se.col
		}
		return nil
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) > 1 {
		pos := docs[1].Body.GetToken().Position
		c.add(&node{line: pos.Line, col: pos.Column}, "", "a config file holds one YAML document, found %d", len(docs))
		return nil
	}
	b := &builder{c: c, lookup: lookup, allow: allow, anchors: map[string]*node{}}
	if len(docs) == 0 {
		return &node{kind: mapNode, line: 1, col: 1}
	}
	root = b.build(docs[0].Body, "", 0)
	if b.tooBig {
		return nil
	}
	return root
}

// parseError is a YAML syntax error with its position.
type parseError struct {
	msg       string
	line, col int
}

func (e *parseError) Error() string { return e.msg }

// safeParse runs the YAML parser, turning a panic inside it into an error so
// that no input can crash the loader.
func safeParse(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &parseError{msg: fmt.Sprintf("invalid YAML (parser failed: %v)", r)}
		}
	}()
	f, err = parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var tk *token.Token
		msg := err.Error()
		type tokenError interface{ GetToken() *token.Token }
		if te, ok := err.(tokenError); ok {
			tk = te.GetToken()
		}
		if se, ok := err.(interface{ GetMessage() string }); ok {
			msg = se.GetMessage()
		}
		pe := &parseError{msg: "invalid YAML: " + unmark(msg)}
		if tk != nil && tk.Position != nil {
			pe.line, pe.col = tk.Position.Line, tk.Position.Column
		}
		return nil, pe
	}
	return f, nil
}

func syntaxMessage(err error) string {
	if pe, ok := err.(*parseError); ok {
		return pe.msg
	}
	return "invalid YAML: " + err.Error()
}

func (b *builder) at(an ast.Node) *node {
	n := &node{size: 1}
	if tk := an.GetToken(); tk != nil && tk.Position != nil {
		n.line, n.col = tk.Position.Line, tk.Position.Column
	}
	return n
}

// count adds add values to the running total, stopping the build once the
// document grows past maxNodes.
func (b *builder) count(n *node, add int) *node {
	if n == nil {
		return nil
	}
	b.total += add
	if b.total > maxNodes && !b.tooBig {
		b.tooBig = true
		b.c.add(n, "", "the document holds more than %d values once aliases are expanded", maxNodes)
	}
	return n
}

// build converts an AST node; path names it in errors.
func (b *builder) build(an ast.Node, path string, depth int) *node {
	if b.tooBig {
		return nil
	}
	if an == nil {
		return &node{size: 1}
	}
	if depth > maxDepth {
		b.c.add(b.at(an), path, "nested more than %d levels deep", maxDepth)
		return nil
	}
	switch an := an.(type) {
	case *ast.NullNode:
		n := b.at(an)
		n.text = an.GetToken().Value
		return n
	case *ast.BoolNode:
		n := b.at(an)
		n.value, n.text = an.Value, an.GetToken().Value
		return n
	case *ast.IntegerNode:
		n := b.at(an)
		n.value, n.text = an.Value, an.GetToken().Value
		return n
	case *ast.FloatNode:
		n := b.at(an)
		n.value, n.text = an.Value, an.GetToken().Value
		return n
	case *ast.InfinityNode, *ast.NanNode:
		n := b.at(an)
		n.text = an.GetToken().Value
		n.value = n.text
		return n
	case *ast.StringNode:
		n := b.at(an)
		tk := an.GetToken()
		n.quoted = tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType
		return b.expandScalar(n, an.Value, path)
	case *ast.LiteralNode:
		n := b.at(an)
		n.quoted = true
		v := ""
		if an.Value != nil {
			v = an.Value.Value
		}
		return b.expandScalar(n, v, path)
	case *ast.TagNode:
		n := b.build(an.Value, path, depth+1)
		if n != nil && n.kind == scalarNode && an.Start != nil && an.Start.Value == "!!str" && n.value != nil {
			if _, ok := n.value.(string); !ok {
				c := *n
				c.value = n.text
				n = &c
			}
		}
		return n
	case *ast.AnchorNode:
		n := b.build(an.Value, path, depth+1)
		if an.Name != nil && n != nil {
			b.anchors[an.Name.GetToken().Value] = n
		}
		return n
	case *ast.AliasNode:
		name := ""
		if an.Value != nil {
			name = an.Value.GetToken().Value
		}
		n, ok := b.anchors[name]
		if !ok {
			b.c.add(b.at(an), path, "alias *%s refers to no anchor defined before it", name)
			return nil
		}
		return b.count(n, n.size)
	case *ast.MappingNode:
		return b.buildMap(an, an.Values, path, depth)
	case *ast.MappingValueNode:
		return b.buildMap(an, []*ast.MappingValueNode{an}, path, depth)
	case *ast.SequenceNode:
		n := b.at(an)
		n.kind = seqNode
		for i, v := range an.Values {
			it := b.build(v, pathIndex(path, i), depth+1)
			if it == nil {
				it = &node{size: 1, line: n.line, col: n.col}
			}
			n.items = append(n.items, it)
			n.size += it.size
		}
		return b.count(n, 1)
	case *ast.CommentGroupNode:
		return &node{size: 1}
	}
	b.c.add(b.at(an), path, "unsupported YAML construct (%s)", an.Type())
	return nil
}

func (b *builder) expandScalar(n *node, s, path string) *node {
	n.text = unmark(s)
	v, expanded, err := expand(s, b.lookup, b.allow)
	if err != nil {
		b.c.add(n, path, "%v", err)
		v = ""
	}
	n.value, n.expanded = v, expanded
	return b.count(n, 1)
}

func (b *builder) buildMap(an ast.Node, entries []*ast.MappingValueNode, path string, depth int) *node {
	n := b.at(an)
	n.kind = mapNode
	if len(entries) > 0 && entries[0] != nil && entries[0].Key != nil {
		if tk := entries[0].Key.GetToken(); tk != nil && tk.Position != nil && !isFlow(an) {
			n.line, n.col = tk.Position.Line, tk.Position.Column
		}
	}
	var merges []*node
	for _, e := range entries {
		if e == nil || e.Key == nil {
			continue
		}
		if _, ok := e.Key.(*ast.MergeKeyNode); ok {
			m := b.build(e.Value, path, depth+1)
			switch {
			case m == nil:
			case m.kind == mapNode:
				merges = append(merges, m)
			case m.kind == seqNode && allMaps(m.items):
				merges = append(merges, m.items...)
			default:
				b.c.add(m, path, "the merge key << needs a mapping or a list of mappings")
			}
			continue
		}
		kn := b.at(e.Key)
		key, ok := scalarKey(e.Key)
		if !ok {
			b.c.add(kn, path, "mapping keys must be plain strings")
			continue
		}
		kn.value, kn.text = key, key
		kpath := pathKey(path, key)
		if prev, _ := n.get(key); prev != nil {
			b.c.add(kn, kpath, "duplicate key (first at line %d)", firstKeyLine(n, key))
			continue
		}
		v := b.build(e.Value, kpath, depth+1)
		if v == nil {
			v = &node{size: 1, line: kn.line, col: kn.col}
		}
		if v.line == 0 {
			v.line, v.col = kn.line, kn.col
		}
		n.keys = append(n.keys, key)
		n.keyNodes = append(n.keyNodes, kn)
		n.vals = append(n.vals, v)
		n.size += v.size
	}
	for _, m := range merges {
		for i, k := range m.keys {
			if v, _ := n.get(k); v == nil {
				n.keys = append(n.keys, k)
				n.keyNodes = append(n.keyNodes, m.keyNodes[i])
				n.vals = append(n.vals, m.vals[i])
				n.size += m.vals[i].size
			}
		}
	}
	return b.count(n, 1)
}

func isFlow(an ast.Node) bool {
	m, ok := an.(*ast.MappingNode)
	return ok && m.IsFlowStyle
}

func allMaps(ns []*node) bool {
	for _, n := range ns {
		if n.kind != mapNode {
			return false
		}
	}
	return true
}

func firstKeyLine(n *node, key string) int {
	_, k := n.get(key)
	if k == nil {
		return 0
	}
	return k.line
}

// scalarKey returns the text of a scalar mapping key.
func scalarKey(k ast.MapKeyNode) (string, bool) {
	switch k := k.(type) {
	case *ast.StringNode:
		return unmark(k.Value), true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		return unmark(strings.TrimSpace(k.GetToken().Value)), true
	case *ast.TagNode:
		if s, ok := k.Value.(ast.MapKeyNode); ok {
			return scalarKey(s)
		}
	}
	return "", false
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/cdrgw/cdrgw/schemas"
)

// SchemaFile is the name of the config file's JSON Schema in package schemas.
const SchemaFile = "config.schema.json"

var configSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return schemas.Compile(SchemaFile)
})

var printer = message.NewPrinter(language.English)

// validateSchema checks the expanded document against
// schemas/config.schema.json and reports each failing keyword at the path of
// the value it concerns. The error it returns is for a schema that does not
// compile, a bug in cdrgw rather than in the file.
func validateSchema(root *node, c *collector) error {
	sch, err := configSchema()
	if err != nil {
		return fmt.Errorf("config schema: %w", err)
	}
	err = sch.Validate(root.toAny())
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		c.add(root, "", "%v", err)
		return nil
	}
	for _, leaf := range leaves(ve) {
		reportSchemaError(root, c, leaf)
	}
	return nil
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// instancePath renders a JSON Schema instance location as a YAML path.
func instancePath(root *node, loc []string) string {
	p := ""
	n := root
	for _, tok := range loc {
		if n != nil && n.kind == seqNode {
			p = p + "[" + tok + "]"
		} else {
			p = pathKey(p, tok)
		}
		n = n.lookup([]string{tok})
	}
	return p
}

func reportSchemaError(root *node, c *collector, ve *jsonschema.ValidationError) {
	n := root.lookup(ve.InstanceLocation)
	path := instancePath(root, ve.InstanceLocation)
	secret := isSecretPath(ve.InstanceLocation)
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			_, kn := n.get(p)
			c.add(kn, pathKey(path, p), "unknown key")
		}
		return
	case *kind.Required:
		for _, m := range k.Missing {
			c.add(n, path, "missing key %q", m)
		}
		return
	case *kind.Type:
		if convertible(n, k.Want) {
			return
		}
		got := k.Got
		if n != nil {
			got = n.describe()
		}
		c.add(n, path, "must be %s, not %s", article(k.Want), got)
		return
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		if secret {
			c.add(n, path, "must be one of %s", strings.Join(want, ", "))
		} else {
			c.add(n, path, "must be one of %s, not %s", strings.Join(want, ", "), quoteValue(k.Got))
		}
		return
	case *kind.MinItems:
		c.add(n, path, "must hold at least %d item(s)", k.Want)
		return
	case *kind.Pattern:
		if secret || isURLPath(ve.InstanceLocation) {
			c.add(n, path, "does not match the pattern %s", k.Want)
		} else {
			c.add(n, path, "%s does not match the pattern %s", strconv.Quote(k.Got), k.Want)
		}
		return
	case *kind.FalseSchema:
		c.add(n, path, "not allowed here")
		return
	}
	msg := ve.ErrorKind.LocalizedString(printer)
	if secret && n != nil {
		if s, ok := n.value.(string); ok && s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	c.add(n, path, "%s", msg)
}

func article(want []string) string {
	out := make([]string, len(want))
	for i, w := range want {
		switch w {
		case "object":
			out[i] = "a mapping"
		case "array":
			out[i] = "a list"
		case "integer":
			out[i] = "an integer"
		case "null":
			out[i] = "null"
		default:
			out[i] = "a " + w
		}
	}
	return strings.Join(out, " or ")
}

// isURLPath reports whether a location holds a URL, which may carry a
// password.
func isURLPath(loc []string) bool {
	return len(loc) > 0 && (loc[len(loc)-1] == "url" || loc[len(loc)-1] == "store")
}

// isSecretPath reports whether a location holds a token, password or
// signing secret.
func isSecretPath(loc []string) bool {
	for _, t := range loc {
		if secretKeys[t] {
			return true
		}
	}
	return false
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

package config

import (
	"os"
	"strings"
)

// webhooksPath is the path ParseWebhook gives its one webhook while
// checking it as an item of a config file's webhooks list.
const webhooksPath = "webhooks[0]"

// ParseWebhook parses ONE webhook definition, shaped like an item of the
// config file's webhooks list, as YAML or JSON (a JSON document is YAML). It
// expands ${NAME} and ${NAME:-default} with lookup (nil means
// os.LookupEnv), applies the defaults and runs the same checks as Load: the
// decoder's, the webhook schema of schemas/config.schema.json and
// mapping.Compile. On failure the error is an Errors whose paths are
// relative to the webhook ("params.start_at", "retry.interval"; "" for the
// webhook itself) and whose lines and columns are within data; File is "".
//
// ParseWebhook lets the definition read every variable lookup knows: use it
// only for definitions as trusted as the config file. A definition made at
// run time (admin API, console) goes through ParseRuntimeWebhook.
func ParseWebhook(data []byte, lookup func(string) (string, bool)) (*Webhook, error) {
	return parseWebhook(data, lookup, nil)
}

// ParseRuntimeWebhook is ParseWebhook for a webhook created at run time:
// its ${NAME} and env("NAME") may read only the variables that env (the
// config's WebhookEnv: names and glob patterns such as "CRM_*") matches.
// A ${NAME} of any other variable is an error at its path
// (`secrets[0]: ${DB_PASSWORD}: not in webhook_env, ...`), and so is
// env("NAME") with a constant argument naming one (at the expression's
// line and column); env() of a name computed at run time returns "" for
// any other variable. lookup is never asked for a variable outside env.
func ParseRuntimeWebhook(data []byte, env []string, lookup func(string) (string, bool)) (*Webhook, error) {
	return parseWebhook(data, lookup, envAllow(env))
}

// parseWebhook is ParseWebhook; allow, when not nil, limits the variables
// the definition may read.
func parseWebhook(data []byte, lookup func(string) (string, bool), allow func(string) bool) (*Webhook, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c := newCollector("")
	c.cur = phaseSyntax
	item := parseYAML(data, c, lookup, allow)
	if item == nil {
		if err := c.result(); err != nil {
			return nil, relative(err)
		}
		return nil, Errors{{Line: 1, Column: 1, Msg: "invalid YAML"}}
	}
	// Check the definition as the only item of a config file's webhooks
	// list, so that every check is Load's own. The paths of what parsing
	// found become paths in that list too, so that an error found while
	// expanding a value hides what later checks find wrong with the
	// value it left.
	for _, e := range c.errs {
		switch {
		case e.Path == "":
		case strings.HasPrefix(e.Path, "["):
			e.Path = webhooksPath + e.Path
		default:
			e.Path = webhooksPath + "." + e.Path
		}
	}
	key := &node{line: item.line, col: item.col, size: 1, value: "webhooks", text: "webhooks"}
	list := &node{kind: seqNode, line: item.line, col: item.col, items: []*node{item}, size: item.size + 1}
	root := &node{kind: mapNode, line: item.line, col: item.col, keys: []string{"webhooks"},
		keyNodes: []*node{key}, vals: []*node{list}, size: list.size + 1}
	d := &decoder{c: c, lookup: lookup, allow: allow}
	c.cur = phaseDecode
	cfg := d.config(root)
	c.cur = phaseSchema
	if err := validateSchema(root, c); err != nil {
		return nil, err
	}
	c.cur = phaseCompile
	d.compile(cfg)
	if err := c.result(); err != nil {
		return nil, relative(err)
	}
	if len(cfg.Webhooks) != 1 {
		// Unreachable: a non-mapping item is a schema error.
		return nil, Errors{{Line: item.line, Column: item.col, Msg: "want one webhook definition (a mapping)"}}
	}
	return &cfg.Webhooks[0], nil
}

// relative makes the paths of a collector's Errors relative to the webhook
// ParseWebhook checked.
func relative(err error) error {
	es, ok := err.(Errors)
	if !ok {
		return err
	}
	for _, e := range es {
		switch {
		case e.Path == webhooksPath:
			e.Path = ""
		case strings.HasPrefix(e.Path, webhooksPath+"."):
			e.Path = e.Path[len(webhooksPath)+1:]
		case strings.HasPrefix(e.Path, webhooksPath+"["):
			e.Path = e.Path[len(webhooksPath):]
		case e.Path == "webhooks":
			e.Path = ""
		}
	}
	return es
}

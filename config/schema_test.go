package config

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/schemas"
)

// schemaErrors runs only the schema check on doc.
func schemaErrors(t *testing.T, doc string) []string {
	t.Helper()
	c := newCollector("")
	root := parseYAML([]byte(doc), c, func(string) (string, bool) { return "", false }, nil)
	if root == nil {
		t.Fatalf("parse %q: %v", doc, c.result())
	}
	if err := validateSchema(root, c); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range c.errs {
		out = append(out, e.Path+": "+e.Msg)
	}
	return out
}

func TestSchema(t *testing.T) {
	t.Parallel()
	hook := "webhooks:\n  - {name: w, url: 'https://x.example/', events: [queue.ended], "
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"empty", "", nil},
		{"minimal webhook", hook + "}\n", nil},
		{"every webhook key", hook + `when: "true", method: GET, encoding: xml, date_format: unix, timezone: UTC,
      hangup_causes: {16: Normal, busy: 17}, params: {a: record.id, n: 5, b: true}, headers: {X-A: '"a"'},
      xml: {root: call}, jsonrpc: {method: m}, active: false, delay: 1s, debounce: 1m30s,
      retry: {attempts: 5, schedule: fixed, interval: 1s, max_interval: 1h, jitter: 0}, timeout: 500ms,
      secrets: [a, b], concurrency: 8, ordered: true, failing_after: 3, pause_on_failing: true, retry_on: [409]}` + "\n", nil},
		{"every source type", "sources:\n  - {name: a, type: teams, token: t}\n  - {name: b, type: ari, url: 'http://h:8088', username: u, password: p, app: x}\n  - {name: c, type: hep, listen: ':9060'}\n  - {name: d, type: sip, listen: '0.0.0.0:5060'}\n", nil},
		{"max_body forms", "max_body: 1MiB\n", nil},
		{"unknown key", "bogus: 1\n", []string{"bogus: unknown key"}},
		{"nested unknown key", hook + "retry: {tries: 1}}\n", []string{"webhooks[0].retry.tries: unknown key"}},
		{"wrong type", "listen: 8080\n", []string{"listen: must be a string, not an integer"}},
		{"bad enum", hook + "encoding: yaml}\n", []string{`webhooks[0].encoding: must be one of query, form, json, xml, jsonrpc, not "yaml"`}},
		{"bad event", "webhooks: [{name: w, url: 'https://x.example/', events: [queue.end]}]\n", []string{`webhooks[0].events[0]: must be one of call.started, call.answered, call.ended, queue.ended, ivr.ended, source.connected, source.disconnected, webhook.failing, test, App.QueueWebhook, App.IvrWebhook, App.TestWebhook, not "queue.end"`}},
		{"bad duration", hook + "timeout: 10}\n", []string{"webhooks[0].timeout: must be a string, not an integer"}},
		{"bad duration text", hook + "timeout: 10 s}\n", []string{`webhooks[0].timeout: "10 s" does not match the pattern ^ *(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+) *$`}},
		{"below minimum", hook + "retry: {attempts: 0}}\n", []string{"webhooks[0].retry.attempts: minimum: got 0, want 1"}},
		{"empty xml root", hook + "xml: {root: ''}}\n", []string{"webhooks[0].xml.root: minLength: got 0, want 1"}},
		{"required", "webhooks: [{name: w}]\n", []string{`webhooks[0]: missing key "url"`, `webhooks[0]: missing key "events"`}},
		{"key of another source type", "sources: [{name: a, type: hep, listen: ':1', url: 'http://x'}]\n", []string{"sources[0].url: not allowed here"}},
		{"ari requirements", "sources: [{name: a, type: ari}]\n", []string{`sources[0]: missing key "url"`, `sources[0]: missing key "username"`, `sources[0]: missing key "app"`}},
		{"secret pattern never printed", "sources: [{name: a, type: ari, url: 'hunter2', username: u, app: x}]\n", []string{"sources[0].url: does not match the pattern ^https?://"}},
		{"secret never printed", "sources: [{name: a, type: teams, token: [hunter2]}]\n", []string{"sources[0].token: must be a string, not a list"}},
		{"dotted param", hook + "params: {caller.number: [1]}}\n", []string{`webhooks[0].params["caller.number"]: must be a boolean or a number or a string, not a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := schemaErrors(t, tt.doc)
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("schema errors:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestSchemaEventTypes keeps the schema's list of event types in step with
// package cdr.
func TestSchemaEventTypes(t *testing.T) {
	t.Parallel()
	data, err := schemas.FS.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			Webhook struct {
				Properties struct {
					Events struct {
						Items struct {
							Enum []string `json:"enum"`
						} `json:"items"`
					} `json:"events"`
				} `json:"properties"`
			} `json:"webhook"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Defs.Webhook.Properties.Events.Items.Enum
	for _, s := range enum {
		if _, err := cdr.ParseType(s); err != nil {
			t.Errorf("schema lists %q, which cdr.ParseType rejects", s)
		}
	}
	for _, typ := range cdr.Types {
		if !slices.Contains(enum, string(typ)) {
			t.Errorf("schema does not list event type %q", typ)
		}
	}
	for _, alias := range []string{"App.QueueWebhook", "App.IvrWebhook", "App.TestWebhook"} {
		if !slices.Contains(enum, alias) {
			t.Errorf("schema does not list alias %q", alias)
		}
	}
}

// TestSchemaKeysMatchDecoder keeps the decoder's key lists and the schema's
// properties identical, so the two never disagree on what is unknown.
func TestSchemaKeysMatchDecoder(t *testing.T) {
	t.Parallel()
	data, err := schemas.FS.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	props := func(m any, path ...string) []string {
		for _, p := range path {
			m = m.(map[string]any)[p]
		}
		var keys []string
		for k := range m.(map[string]any)["properties"].(map[string]any) {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	defs := doc["$defs"]
	for _, tt := range []struct {
		name   string
		schema []string
		code   []string
	}{
		{"top", props(doc), topKeys},
		{"source", props(defs, "source"), sourceKeys},
		{"webhook", props(defs, "webhook"), webhookKeys},
		{"retry", props(defs, "webhook", "properties", "retry"), retryKeys},
		{"xml", props(defs, "webhook", "properties", "xml"), xmlKeys},
		{"jsonrpc", props(defs, "webhook", "properties", "jsonrpc"), jsonrpcKeys},
	} {
		code := slices.Sorted(slices.Values(tt.code))
		if !slices.Equal(tt.schema, code) {
			t.Errorf("%s keys: schema %s, decoder %s", tt.name, strings.Join(tt.schema, ","), strings.Join(code, ","))
		}
	}
}

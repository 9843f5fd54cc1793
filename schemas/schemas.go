// Package schemas holds cdrgw's JSON Schemas (draft 2020-12), embedded with
// go:embed: the event envelope (event.schema.json), one schema per record
// kind (call, queue, ivr, source-status, webhook-status), the definitions
// they share (common.schema.json) and the config file (config.schema.json).
//
// Every schema's $id is BaseURL followed by its file name, and schemas refer
// to each other by relative $ref, so a compiler from NewCompiler resolves
// them from FS without touching the network. The record schemas describe
// exactly what package cdr's JSON encoder emits: every field is always
// present (null where a Go pointer, map or slice is nil) and no other field is
// allowed.
package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FS holds every embedded *.schema.json file, named by its file name.
//
//go:embed *.schema.json
var FS embed.FS

// BaseURL is the prefix of every embedded schema's $id; the rest of the $id
// is the schema's file name.
const BaseURL = "https://cdrgw.dev/schemas/"

// Schema file names.
const (
	EventFile         = "event.schema.json"
	CallFile          = "call.schema.json"
	QueueFile         = "queue.schema.json"
	IVRFile           = "ivr.schema.json"
	SourceStatusFile  = "source-status.schema.json"
	WebhookStatusFile = "webhook-status.schema.json"
	CommonFile        = "common.schema.json"
)

// URL returns the $id of the embedded schema file name.
func URL(name string) string { return BaseURL + name }

// fsLoader loads BaseURL-prefixed URLs from FS and refuses everything else,
// so compiling never reaches the network.
type fsLoader struct{}

// Load implements jsonschema.URLLoader.
func (fsLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, BaseURL)
	if !ok {
		return nil, fmt.Errorf("schema url %q is not under %s", url, BaseURL)
	}
	f, err := FS.Open(name)
	if err != nil {
		return nil, fmt.Errorf("schema url %q: %w", url, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("schema file %q: %w", name, err)
	}
	return doc, nil
}

// NewCompiler returns a draft 2020-12 compiler that asserts formats
// (date-time, ...) and loads https://cdrgw.dev/schemas/<name> from FS.
func NewCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(fsLoader{})
	return c
}

// Compile compiles the embedded schema file name (for example
// "call.schema.json") with a compiler from NewCompiler.
func Compile(name string) (*jsonschema.Schema, error) {
	if _, err := fs.Stat(FS, name); err != nil {
		return nil, fmt.Errorf("schema %q: %w", name, err)
	}
	s, err := NewCompiler().Compile(URL(name))
	if err != nil {
		return nil, fmt.Errorf("compile schema %q: %w", name, err)
	}
	return s, nil
}

var event = sync.OnceValues(func() (*jsonschema.Schema, error) { return Compile(EventFile) })

// Event returns the compiled event envelope schema; it is compiled once and
// safe for concurrent use.
func Event() (*jsonschema.Schema, error) { return event() }

// ValidateEvent validates a decoded JSON value (from json.Unmarshal into an
// any, or jsonschema.UnmarshalJSON) against the event schema.
func ValidateEvent(v any) error {
	s, err := Event()
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// ValidateEventJSON validates one JSON-encoded event against the event schema.
func ValidateEventJSON(data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	return ValidateEvent(v)
}

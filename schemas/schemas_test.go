package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/schemas"
)

const goldenDir = "../testdata/golden"

// TestCompileAll compiles every embedded schema and checks its $id.
func TestCompileAll(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(schemas.FS, "*.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{schemas.EventFile, schemas.CallFile, schemas.QueueFile, schemas.IVRFile, schemas.SourceStatusFile, schemas.WebhookStatusFile, schemas.CommonFile} {
		if !slices.Contains(names, want) {
			t.Errorf("schema %s is not embedded", want)
		}
	}
	for _, name := range names {
		doc := readSchema(t, name)
		if id := doc["$id"]; id != schemas.URL(name) {
			t.Errorf("%s: $id is %v, want %s", name, id, schemas.URL(name))
		}
		if d := doc["$schema"]; d != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %v, want draft 2020-12", name, d)
		}
		if _, err := schemas.Compile(name); err != nil {
			t.Errorf("compile %s: %v", name, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	if _, err := schemas.Compile("nope.schema.json"); err == nil || !strings.Contains(err.Error(), `"nope.schema.json"`) {
		t.Fatalf("Compile(missing) error = %v, want one naming the file", err)
	}
	// The loader never leaves BaseURL: a schema reaching for the network fails.
	c := schemas.NewCompiler()
	if err := c.AddResource("https://cdrgw.dev/schemas/x.json", map[string]any{"$ref": "https://example.com/remote.json"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile("https://cdrgw.dev/schemas/x.json"); err == nil || !strings.Contains(err.Error(), "is not under") {
		t.Fatalf("compile of a remote $ref: error = %v, want refusal", err)
	}
}

func TestValidateEventJSONErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{} {}`, `[]`, `null`} {
		if err := schemas.ValidateEventJSON([]byte(in)); err == nil {
			t.Errorf("ValidateEventJSON(%q) = nil, want error", in)
		}
	}
}

// TestEventConcurrent compiles the event schema from many goroutines (run with -race).
func TestEventConcurrent(t *testing.T) {
	t.Parallel()
	data := readGolden(t, "call.ended-answered.json")
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- schemas.ValidateEventJSON(data) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoldenValid validates every shared golden event against event.schema.json.
func TestGoldenValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden events in %s (generate them with go test ./cdr -run TestGolden -update)", goldenDir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.ValidateEventJSON(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestIngestGolden validates the events adapters write to their golden files
// (ingest/*/testdata), whatever their layout: one event, an array of events,
// or one event per line. Files that hold no events (raw inputs) are skipped.
func TestIngestGolden(t *testing.T) {
	t.Parallel()
	var files []string
	for _, pattern := range []string{
		"../ingest/*/testdata/*.golden", "../ingest/*/testdata/*.jsonl", "../ingest/*/testdata/*.json",
		"../ingest/*/testdata/*/*.golden", "../ingest/*/testdata/*/*.jsonl", "../ingest/*/testdata/*/*.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		events, ok := splitEvents(data)
		if !ok {
			continue
		}
		checked++
		for i, e := range events {
			if err := schemas.ValidateEventJSON(e); err != nil {
				t.Errorf("%s: event %d: %v", f, i+1, err)
			}
		}
	}
	if checked == 0 {
		t.Skipf("no event golden files under ../ingest/*/testdata yet (%d files looked at)", len(files))
	}
	t.Logf("validated events in %d of %d ingest testdata files", checked, len(files))
}

// looksLikeEvent reports whether v is a JSON object with an event's type and record.
func looksLikeEvent(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, hasType := m["type"]
	_, hasRecord := m["record"]
	return hasType && hasRecord
}

// splitEvents returns the events data holds and whether it is an event file.
func splitEvents(data []byte) ([][]byte, bool) {
	var whole any
	if err := json.Unmarshal(data, &whole); err == nil {
		switch v := whole.(type) {
		case map[string]any:
			if !looksLikeEvent(v) {
				return nil, false
			}
			return [][]byte{data}, true
		case []any:
			var raws []json.RawMessage
			if len(v) == 0 || json.Unmarshal(data, &raws) != nil {
				return nil, false
			}
			out := make([][]byte, len(raws))
			for i, e := range v {
				if !looksLikeEvent(e) {
					return nil, false
				}
				out[i] = raws[i]
			}
			return out, true
		}
		return nil, false
	}
	var out [][]byte
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(line, &v) != nil || !looksLikeEvent(v) {
			return nil, false
		}
		out = append(out, line)
	}
	return out, len(out) > 0
}

func TestSplitEvents(t *testing.T) {
	t.Parallel()
	ev := `{"id":"e","type":"test","record":{}}`
	tests := []struct {
		in   string
		n    int
		isEv bool
	}{
		{ev, 1, true},
		{"[" + ev + "," + ev + "]", 2, true},
		{ev + "\n\n" + ev + "\n", 2, true},
		{`{"CallId":"x"}`, 0, false},
		{"[" + ev + `,{"CallId":"x"}]`, 0, false},
		{ev + "\nnot json\n", 0, false},
		{`[]`, 0, false},
		{`"x"`, 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := splitEvents([]byte(tt.in))
		if ok != tt.isEv || len(got) != tt.n {
			t.Errorf("splitEvents(%q) = %d events, %v; want %d, %v", tt.in, len(got), ok, tt.n, tt.isEv)
		}
	}
}

// mutation changes a decoded golden event; the result must fail the schema.
type mutation struct {
	name   string
	golden string
	at     string // JSON pointer of the value the schema must blame
	mutate func(e map[string]any)
}

func rec(e map[string]any) map[string]any { return e["record"].(map[string]any) }

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// TestSchemasAreStrict proves the schemas reject what the Go model never
// emits: each mutated golden event must fail validation, while the unmutated
// one passes.
func TestSchemasAreStrict(t *testing.T) {
	t.Parallel()
	const (
		call    = "call.ended-answered.json"
		started = "call.started.json"
		queue   = "queue.ended-met.json"
		ivr     = "ivr.ended.json"
		srcUp   = "source.connected.json"
		failing = "webhook.failing.json"
		test    = "test.json"
	)
	tests := []mutation{
		// envelope
		{"empty event id", call, "/id", func(e map[string]any) { e["id"] = "" }},
		{"missing event id", call, "", func(e map[string]any) { delete(e, "id") }},
		{"unknown type", call, "/type", func(e map[string]any) { e["type"] = "call.ringing" }},
		{"alias type is input-only", queue, "/type", func(e map[string]any) { e["type"] = "App.QueueWebhook" }},
		{"event time not a date", call, "/time", func(e map[string]any) { e["time"] = "yesterday" }},
		{"event time without offset", call, "/time", func(e map[string]any) { e["time"] = "2024-03-01T09:17:05" }},
		{"event time with space", call, "/time", func(e map[string]any) { e["time"] = "2024-03-01 09:17:05Z" }},
		{"event time null", call, "/time", func(e map[string]any) { e["time"] = nil }},
		{"empty source kind", call, "/source/kind", func(e map[string]any) { obj(e, "source")["kind"] = "" }},
		{"extra source field", call, "/source", func(e map[string]any) { obj(e, "source")["host"] = "x" }},
		{"extra envelope field", call, "", func(e map[string]any) { e["version"] = 1 }},
		{"record null", call, "/record", func(e map[string]any) { e["record"] = nil }},
		{"record missing", call, "", func(e map[string]any) { delete(e, "record") }},
		// record kind against event type
		{"wrong kind for call", call, "/record/kind", func(e map[string]any) { rec(e)["kind"] = "queue" }},
		{"wrong kind for queue", queue, "/record/kind", func(e map[string]any) { rec(e)["kind"] = "call" }},
		{"wrong kind for ivr", ivr, "/record/kind", func(e map[string]any) { rec(e)["kind"] = "queue" }},
		{"wrong kind for source", srcUp, "/record/kind", func(e map[string]any) { rec(e)["kind"] = "webhook" }},
		{"wrong kind for webhook", failing, "/record/kind", func(e map[string]any) { rec(e)["kind"] = "source" }},
		{"ivr record in queue.ended", ivr, "/record", func(e map[string]any) { e["type"] = "queue.ended" }},
		{"queue record in ivr.ended", queue, "/record", func(e map[string]any) { e["type"] = "ivr.ended" }},
		{"queue record in call.ended", queue, "/record", func(e map[string]any) { e["type"] = "call.ended" }},
		{"call record in test", call, "/record", func(e map[string]any) { e["type"] = "test" }},
		{"webhook record in source.connected", failing, "/record", func(e map[string]any) { e["type"] = "source.connected" }},
		{"connected record in source.disconnected", srcUp, "/record/status", func(e map[string]any) { e["type"] = "source.disconnected" }},
		// base fields
		{"empty record id", call, "/record/id", func(e map[string]any) { rec(e)["id"] = "" }},
		{"bad direction", call, "/record/direction", func(e map[string]any) { rec(e)["direction"] = "sideways" }},
		{"empty direction", queue, "/record/direction", func(e map[string]any) { rec(e)["direction"] = "" }},
		{"uppercase direction", ivr, "/record/direction", func(e map[string]any) { rec(e)["direction"] = "INBOUND" }},
		{"bad started_at", call, "/record/started_at", func(e map[string]any) { rec(e)["started_at"] = "2024-13-01T00:00:00Z" }},
		{"started_at null", call, "/record/started_at", func(e map[string]any) { rec(e)["started_at"] = nil }},
		{"bad ended_at", queue, "/record/ended_at", func(e map[string]any) { rec(e)["ended_at"] = "2024-03-01" }},
		{"ended_at missing (must be null)", started, "/record", func(e map[string]any) { delete(rec(e), "ended_at") }},
		{"ended_at number", call, "/record/ended_at", func(e map[string]any) { rec(e)["ended_at"] = 1709284625 }},
		{"custom value not a string", call, "/record/custom/Manager", func(e map[string]any) { obj(rec(e), "custom")["Manager"] = 7 }},
		{"custom array", call, "/record/custom", func(e map[string]any) { rec(e)["custom"] = []any{"x"} }},
		{"extra record field", call, "/record", func(e map[string]any) { rec(e)["ringtime"] = 3 }},
		{"extra caller field", queue, "/record/caller", func(e map[string]any) { obj(rec(e), "caller")["email"] = "a@b" }},
		{"caller missing upn", call, "/record/caller", func(e map[string]any) { delete(obj(rec(e), "caller"), "upn") }},
		{"caller null", call, "/record/caller", func(e map[string]any) { rec(e)["caller"] = nil }},
		{"record source kind empty", call, "/record/source/kind", func(e map[string]any) { obj(rec(e), "source")["kind"] = "" }},
		// call
		{"bad disposition", call, "/record/disposition", func(e map[string]any) { rec(e)["disposition"] = "ANSWERED" }},
		{"unknown disposition", call, "/record/disposition", func(e map[string]any) { rec(e)["disposition"] = "voicemail" }},
		{"bad initiator", call, "/record/hangup/initiator", func(e map[string]any) { obj(rec(e), "hangup")["initiator"] = "nobody" }},
		{"negative duration", call, "/record/duration", func(e map[string]any) { rec(e)["duration"] = -1 }},
		{"fractional billsec", call, "/record/billsec", func(e map[string]any) { rec(e)["billsec"] = 1.5 }},
		{"duration as string", call, "/record/duration", func(e map[string]any) { rec(e)["duration"] = "125" }},
		{"negative cause", call, "/record/hangup/cause", func(e map[string]any) { obj(rec(e), "hangup")["cause"] = -16 }},
		{"answered_at missing", started, "/record", func(e map[string]any) { delete(rec(e), "answered_at") }},
		{"legs missing", call, "/record", func(e map[string]any) { delete(rec(e), "legs") }},
		{"leg bad date", call, "/record/legs/0/started_at", func(e map[string]any) { rec(e)["legs"].([]any)[0].(map[string]any)["started_at"] = "now" }},
		{"leg extra field", call, "/record/legs/1", func(e map[string]any) { rec(e)["legs"].([]any)[1].(map[string]any)["bridge"] = "b1" }},
		{"callee on queue", queue, "/record", func(e map[string]any) { rec(e)["callee"] = obj(rec(e), "caller") }},
		// queue
		{"met_service_level as string", queue, "/record/met_service_level", func(e map[string]any) { rec(e)["met_service_level"] = "True" }},
		{"met_service_level missing", queue, "/record", func(e map[string]any) { delete(rec(e), "met_service_level") }},
		{"negative wait", queue, "/record/wait", func(e map[string]any) { rec(e)["wait"] = -5 }},
		{"agent extra field", queue, "/record/agent", func(e map[string]any) { obj(rec(e), "agent")["email"] = "a@b" }},
		{"transfer misspelled key", queue, "/record/transfer", func(e map[string]any) { obj(rec(e), "transfer")["trasnfer_to_id"] = "x" }},
		{"test record missing queue", test, "/record", func(e map[string]any) { delete(rec(e), "queue") }},
		// ivr
		{"19 data values", ivr, "/record/data_values", func(e map[string]any) { r := rec(e); r["data_values"] = r["data_values"].([]any)[:19] }},
		{"21 data values", ivr, "/record/data_values", func(e map[string]any) { r := rec(e); r["data_values"] = append(r["data_values"].([]any), "") }},
		{"data values null", ivr, "/record/data_values", func(e map[string]any) { rec(e)["data_values"] = nil }},
		{"data value number", ivr, "/record/data_values/3", func(e map[string]any) { rec(e)["data_values"].([]any)[3] = 3 }},
		{"input bad at", ivr, "/record/inputs/0/at", func(e map[string]any) { rec(e)["inputs"].([]any)[0].(map[string]any)["at"] = "12:00" }},
		{"input extra field", ivr, "/record/inputs/0", func(e map[string]any) { rec(e)["inputs"].([]any)[0].(map[string]any)["digits"] = "1" }},
		// status records
		{"bad source status", srcUp, "/record/status", func(e map[string]any) { rec(e)["status"] = "up" }},
		{"source status empty name", srcUp, "/record/source/name", func(e map[string]any) { obj(rec(e), "source")["name"] = "" }},
		{"source status bad at", srcUp, "/record/at", func(e map[string]any) { rec(e)["at"] = "" }},
		{"webhook empty name", failing, "/record/webhook", func(e map[string]any) { rec(e)["webhook"] = "" }},
		{"webhook paused string", failing, "/record/paused", func(e map[string]any) { rec(e)["paused"] = "true" }},
		{"webhook negative failures", failing, "/record/consecutive_failures", func(e map[string]any) { rec(e)["consecutive_failures"] = -1 }},
	}
	schema, err := schemas.Event()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{call, started, queue, ivr, srcUp, failing, test} {
		if err := schema.Validate(decodeGolden(t, g)); err != nil {
			t.Fatalf("unmutated %s fails the schema, so the table below proves nothing: %v", g, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := decodeGolden(t, tt.golden)
			tt.mutate(e)
			err := schema.Validate(e)
			if err == nil {
				b, _ := json.Marshal(e)
				t.Fatalf("mutated event passed the schema: %s", b)
			}
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *jsonschema.ValidationError: %v", err, err)
			}
			if !strings.Contains(err.Error(), "at '"+tt.at+"': ") {
				t.Fatalf("error does not blame %q:\n%v", tt.at, err)
			}
		})
	}
}

// TestTypeToRecordKind checks the event schema's if/then branches against
// cdr.Type.Kind: a record validates under a type exactly when its kind is the
// kind that type carries.
func TestTypeToRecordKind(t *testing.T) {
	t.Parallel()
	schema, err := schemas.Event()
	if err != nil {
		t.Fatal(err)
	}
	records := map[cdr.Kind]string{
		cdr.KindCall: "call.ended-answered.json", cdr.KindQueue: "queue.ended-met.json", cdr.KindIVR: "ivr.ended.json",
		cdr.KindSource: "source.connected.json", cdr.KindWebhook: "webhook.failing.json",
	}
	for _, typ := range cdr.Types {
		for kind, file := range records {
			e := decodeGolden(t, file)
			e["type"] = string(typ)
			if kind == cdr.KindSource {
				rec(e)["status"] = strings.TrimPrefix(string(typ), "source.")
			}
			err := schema.Validate(e)
			if want := typ.Kind() == kind; want != (err == nil) {
				t.Errorf("type %s with a %s record: schema error = %v, want valid = %v", typ, kind, err, want)
			}
		}
	}
}

// TestTypeEnum checks that the schema's type enum is exactly cdr.Types.
func TestTypeEnum(t *testing.T) {
	t.Parallel()
	doc := readSchema(t, schemas.EventFile)
	var got []string
	for _, v := range obj(obj(doc, "properties"), "type")["enum"].([]any) {
		got = append(got, v.(string))
	}
	var want []string
	for _, typ := range cdr.Types {
		want = append(want, string(typ))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("event.schema.json type enum = %v, want cdr.Types %v", got, want)
	}
}

// TestSchemasMatchGo walks every record struct and the schema describing it:
// the schema must list exactly the struct's JSON fields, require all of them
// (the encoder always emits every field), forbid others, allow null exactly
// where Go can emit it (pointers, maps, slices), and describe every property.
func TestSchemasMatchGo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		typ  reflect.Type
	}{
		{schemas.CallFile, reflect.TypeFor[cdr.Call]()},
		{schemas.QueueFile, reflect.TypeFor[cdr.Queue]()},
		{schemas.IVRFile, reflect.TypeFor[cdr.IVR]()},
		{schemas.SourceStatusFile, reflect.TypeFor[cdr.SourceStatus]()},
		{schemas.WebhookStatusFile, reflect.TypeFor[cdr.WebhookStatus]()},
		{schemas.EventFile, reflect.TypeFor[cdr.Event]()},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r := &resolver{t: t, docs: map[string]map[string]any{}}
			r.matchStruct(tt.file, tt.typ.Name(), r.doc(tt.file), tt.typ)
		})
	}
}

type resolver struct {
	t    *testing.T
	docs map[string]map[string]any
}

func (r *resolver) doc(file string) map[string]any {
	if d, ok := r.docs[file]; ok {
		return d
	}
	d := readSchema(r.t, file)
	r.docs[file] = d
	return d
}

// resolve follows $ref and merges allOf, returning the effective node and the
// file it lives in. Sibling keywords of a $ref win over the target's.
func (r *resolver) resolve(file string, node map[string]any) (string, map[string]any) {
	out := map[string]any{}
	if ref, ok := node["$ref"].(string); ok {
		target, ptr, _ := strings.Cut(ref, "#")
		if target == "" {
			target = file
		}
		n := r.doc(target)
		for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			if part != "" {
				n = n[part].(map[string]any)
			}
		}
		file, n = r.resolve(target, n)
		merge(out, n)
	}
	if all, ok := node["allOf"].([]any); ok {
		for _, sub := range all {
			if _, cond := sub.(map[string]any)["if"]; cond {
				continue // the event's type → record branches, checked by TestTypeToRecordKind
			}
			var n map[string]any
			file, n = r.resolve(file, sub.(map[string]any))
			merge(out, n)
		}
	}
	for k, v := range node {
		if k != "$ref" && k != "allOf" {
			if k == "properties" {
				merge(out, map[string]any{k: v})
				continue
			}
			out[k] = v
		}
	}
	return file, out
}

// merge copies src into dst, merging "properties" maps key by key.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if k == "properties" {
			props, _ := dst[k].(map[string]any)
			if props == nil {
				props = map[string]any{}
			}
			for pk, pv := range v.(map[string]any) {
				if old, ok := props[pk].(map[string]any); ok {
					m := maps(old)
					merge(m, pv.(map[string]any))
					pv = m
				}
				props[pk] = pv
			}
			dst[k] = props
			continue
		}
		dst[k] = v
	}
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var timeType = reflect.TypeFor[time.Time]()

// neverNull lists nil-able Go fields that a valid record never leaves nil, so
// their schemas rightly refuse null.
var neverNull = map[string]bool{
	"IVR.data_values": true, // (*cdr.IVR).Validate requires exactly cdr.DataValueCount values
}

// jsonFields returns the JSON names and field types of a struct, flattening
// embedded structs the way encoding/json does.
func jsonFields(typ reflect.Type) ([]string, map[string]reflect.StructField) {
	var names []string
	fields := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			n, fs := jsonFields(f.Type)
			names = append(names, n...)
			for k, v := range fs {
				fields[k] = v
			}
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		names = append(names, name)
		fields[name] = f
	}
	return names, fields
}

func (r *resolver) matchStruct(file, path string, node map[string]any, typ reflect.Type) {
	t := r.t
	file, node = r.resolve(file, node)
	if node["additionalProperties"] != false {
		t.Errorf("%s (%s): additionalProperties is %v, want false", path, file, node["additionalProperties"])
	}
	names, fields := jsonFields(typ)
	props, _ := node["properties"].(map[string]any)
	var propNames []string
	for k := range props {
		propNames = append(propNames, k)
	}
	var required []string
	for _, v := range node["required"].([]any) {
		required = append(required, v.(string))
	}
	sort.Strings(names)
	sort.Strings(propNames)
	sort.Strings(required)
	if !slices.Equal(propNames, names) {
		t.Errorf("%s (%s): schema properties %v, Go JSON fields %v", path, file, propNames, names)
	}
	if !slices.Equal(required, names) {
		t.Errorf("%s (%s): schema required %v, Go JSON fields %v", path, file, required, names)
	}
	for _, name := range names {
		p, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		f := fields[name]
		pfile, resolved := r.resolve(file, p)
		if d, _ := resolved["description"].(string); d == "" {
			t.Errorf("%s.%s (%s): no description", path, name, file)
		}
		ft := f.Type
		if typ == reflect.TypeFor[cdr.Event]() && name == "record" {
			continue // checked per kind by the record schemas
		}
		nullable := ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice
		if neverNull[path+"."+name] {
			nullable = false
		}
		if got := allowsNull(resolved); got != nullable {
			t.Errorf("%s.%s (%s): schema allows null = %v, Go %s can be null = %v", path, name, file, got, ft, nullable)
		}
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			if it, ok := resolved["items"].(map[string]any); ok {
				pfile, resolved = r.resolve(pfile, it)
			}
		}
		switch {
		case ft == timeType:
			if resolved["format"] != "date-time" {
				t.Errorf("%s.%s (%s): format %v, want date-time", path, name, file, resolved["format"])
			}
		case ft.Kind() == reflect.Struct:
			r.matchStruct(pfile, path+"."+name, resolved, ft)
		default:
			checkScalar(t, path+"."+name, resolved, ft)
		}
	}
}

func allowsNull(node map[string]any) bool {
	switch ty := node["type"].(type) {
	case string:
		return ty == "null"
	case []any:
		return slices.Contains(ty, any("null"))
	}
	if e, ok := node["enum"].([]any); ok {
		return slices.Contains(e, nil)
	}
	return false
}

// checkScalar checks that a Go scalar field's schema has the matching JSON type.
func checkScalar(t *testing.T, path string, node map[string]any, ft reflect.Type) {
	t.Helper()
	want := map[reflect.Kind]string{reflect.String: "string", reflect.Int: "integer", reflect.Bool: "boolean"}[ft.Kind()]
	if ft.Kind() == reflect.Map {
		want = "object"
	}
	if want == "" {
		t.Errorf("%s: Go type %s not covered by the test", path, ft)
		return
	}
	var values []any
	if e, ok := node["enum"].([]any); ok {
		values = e
	}
	if c, ok := node["const"]; ok {
		values = []any{c}
	}
	if values != nil {
		for _, v := range values {
			if want != "string" || reflect.TypeOf(v) != reflect.TypeFor[string]() {
				t.Errorf("%s: enum value %v does not fit Go %s", path, v, ft)
			}
		}
		return
	}
	switch ty := node["type"].(type) {
	case string:
		if ty != want {
			t.Errorf("%s: schema type %s, want %s for Go %s", path, ty, want, ft)
		}
	case []any:
		if !slices.Contains(ty, any(want)) {
			t.Errorf("%s: schema type %v, want %s for Go %s", path, ty, want, ft)
		}
	default:
		t.Errorf("%s: schema has no type for Go %s", path, ft)
	}
}

func readSchema(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := fs.ReadFile(schemas.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatalf("%v (generate with go test ./cdr -run TestGolden -update)", err)
	}
	return data
}

func decodeGolden(t testing.TB, name string) map[string]any {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(readGolden(t, name), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func BenchmarkValidateEvent(b *testing.B) {
	for _, name := range []string{"call.ended-answered.json", "ivr.ended.json"} {
		b.Run(name, func(b *testing.B) {
			data := readGolden(b, name)
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
			if err := schemas.ValidateEvent(v); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := schemas.ValidateEvent(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateEventJSON(b *testing.B) {
	data := readGolden(b, "call.ended-answered.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := schemas.ValidateEventJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

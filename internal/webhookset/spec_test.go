package webhookset_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/internal/webhookset"
)

func TestParamsKeepOrder(t *testing.T) {
	t.Parallel()
	in := `{"z": "record.call_id", "a.b": "1 + 1", "m": 5, "t": true, "q": "'\"quoted\"'"}`
	var p webhookset.Params
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	want := webhookset.Params{{"z", "record.call_id"}, {"a.b", "1 + 1"}, {"m", "5"}, {"t", "true"}, {"q", `'"quoted"'`}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %q, want %q", p, want)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back webhookset.Params
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip %s -> %q (%v)", out, back, err)
	}
	for _, bad := range []string{`[]`, `{"a": null}`, `{"a": {}}`, `{"a"`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestSpecOfRoundTrip checks that SpecOf describes every setting of a
// loaded webhook: with its secrets restored, the Spec marshals to JSON that
// loads back to the same webhook.
func TestSpecOfRoundTrip(t *testing.T) {
	t.Parallel()
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"CRM_URL": "https://crm.example.com", "CRM_SECRET": "whsec_c2VjcmV0"}[k]
		return v, ok
	}
	for _, file := range []string{"../../config/testdata/webhook/full.yaml", "../../config/testdata/webhook/json.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		w, err := config.ParseWebhook(data, lookup)
		if err != nil {
			t.Fatal(err)
		}
		sp := webhookset.SpecOf(w)
		for i, s := range sp.Secrets {
			if s != webhookset.Hidden {
				t.Errorf("%s: secret %d shown", file, i)
			}
		}
		sp.Secrets = w.Secrets
		back, err := config.ParseWebhook(sp.Marshal(), nil)
		if err != nil {
			t.Fatalf("%s: %s does not load: %v", file, sp.Marshal(), err)
		}
		if got, want := comparable(back), comparable(w); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nloaded back %+v\nwant        %+v", file, got, want)
		}
		// And a Spec decoded from that JSON marshals to the same JSON.
		var dec webhookset.Spec
		if err := json.Unmarshal(sp.Marshal(), &dec); err != nil {
			t.Fatal(err)
		}
		if string(dec.Marshal()) != string(sp.Marshal()) {
			t.Errorf("%s: decode/encode changed\n%s\n%s", file, sp.Marshal(), dec.Marshal())
		}
	}
}

func TestSpecOfRedactsURLPassword(t *testing.T) {
	t.Parallel()
	w, err := config.ParseWebhook([]byte(`{"name": "x", "url": "https://user:pa55@x.example.com/", "events": ["test"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhookset.SpecOf(w).URL; got != "https://"+webhookset.Hidden+"@x.example.com/" {
		t.Errorf("URL %q", got)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	sp := webhookset.Spec{Secrets: []string{"whsec_c2VjcmV0", "${CRM_SECRET}", "${CRM_SECRET:-whsec_c2VjcmV0}", "x${A}"}}
	got := sp.Redacted().Secrets
	want := []string{webhookset.Hidden, "${CRM_SECRET}", webhookset.Hidden, webhookset.Hidden}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if sp.Secrets[0] != "whsec_c2VjcmV0" {
		t.Error("Redacted changed its receiver")
	}
}

// FuzzSpec checks that any spec the loader accepts survives a Spec
// decode/encode: the canonical JSON loads to the same webhook.
func FuzzSpec(f *testing.F) {
	f.Add([]byte(`{"name": "crm", "url": "https://crm.example.com/{{record.call_id}}", "events": ["call.ended"], "params": {"b": "1", "a": "record.call_id"}}`))
	f.Add([]byte(`{"name": "q", "url": "https://q.example.com/", "events": ["queue.ended"], "encoding": "xml", "xml": {"root": "r"}, "retry": {"jitter": 0, "interval": "1s"}, "active": false}`))
	f.Add([]byte(`{"name": "j", "url": "https://q.example.com/", "events": ["test"], "encoding": "jsonrpc", "jsonrpc": {"method": "m"}, "hangup_causes": {"16": "ok"}, "retry_on": [409]}`))
	f.Add([]byte(`{"name": "h", "url": "https://h.example.com/", "events": ["call.ended"], "hangup_causes": {"17": "busy", "16": 1, "21": true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := config.ParseWebhook(data, func(string) (string, bool) { return "", false })
		if err != nil {
			return
		}
		var sp webhookset.Spec
		if err := json.Unmarshal(data, &sp); err != nil {
			return // YAML, or a JSON number where Spec wants an int
		}
		back, err := config.ParseWebhook(sp.Marshal(), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("%s accepted, canonical %s rejected: %v", data, sp.Marshal(), err)
		}
		if got, want := comparable(back), comparable(w); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s and its canonical %s load differently", data, sp.Marshal())
		}
	})
}

// comparable returns w without its compiled form and functions, and with
// empty params, headers and hangup causes as nil ("params: {}" is no params).
func comparable(w *config.Webhook) config.Webhook {
	c := *w
	c.Compiled, c.Spec.Env = nil, nil
	if len(c.Spec.Params) == 0 {
		c.Spec.Params = nil
	}
	if len(c.Spec.Headers) == 0 {
		c.Spec.Headers = nil
	}
	if len(c.Spec.HangupCauses) == 0 {
		c.Spec.HangupCauses = nil
	}
	return c
}

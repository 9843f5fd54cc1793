package mapping

import (
	"reflect"
	"testing"

	"github.com/cdrgw/cdrgw/cdr"
)

func benchW(b *testing.B, when string, params []Param) (*Webhook, cdr.Event) {
	w := mustCompile(b, Spec{Name: "crm", URL: "https://crm.example.com/api/calls", Events: []cdr.Type{cdr.TypeQueueEnded},
		When: when, DateFormat: "%Y-%m-%d %H:%M:%S", Timezone: "Europe/Kyiv", HangupCauses: map[string]string{"answered": "Answered"}, Params: params})
	return w, SampleEvent(cdr.TypeQueueEnded)
}
func benchSpec(b *testing.B, when string, params []Param) {
	w, ev := benchW(b, when, params)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Render(ev, "d"); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkZEmpty(b *testing.B) { benchSpec(b, "", nil) }
func BenchmarkZWhen(b *testing.B)  { benchSpec(b, `record.wait > 30 || record.agent.name == ""`, nil) }
func BenchmarkZFastEval(b *testing.B) {
	w, ev := benchW(b, "", []Param{{"a", "record.caller.number"}})
	p := w.progs[ev.Type]
	env, _, _, _ := newEnv(p.kind, &ev, "x")
	envv := reflect.ValueOf(env).Elem()
	for b.Loop() {
		for range 8 {
			p.paramFast[0].eval(&w.fn, envv)
		}
	}
}
func BenchmarkZVMEval(b *testing.B) {
	w, ev := benchW(b, `record.wait > 30 || record.agent.name == ""`, nil)
	p := w.progs[ev.Type]
	env, _, _, _ := newEnv(p.kind, &ev, "x")
	r := runner{fn: &w.fn, env: env, envv: reflect.ValueOf(env).Elem()}
	b.ReportAllocs()
	for b.Loop() {
		r.eval(p.when, nil)
	}
}
func BenchmarkZNewEnv(b *testing.B) {
	ev := SampleEvent(cdr.TypeQueueEnded)
	b.ReportAllocs()
	for b.Loop() {
		newEnv(cdr.KindQueue, &ev, "x")
	}
}

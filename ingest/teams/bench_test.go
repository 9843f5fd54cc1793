package teams

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// benchBody returns an array of n realistic records, alternating the queue
// and IVR testdata records.
func benchBody(b *testing.B, n int) []byte {
	b.Helper()
	queue, err := os.ReadFile("testdata/queue.json")
	if err != nil {
		b.Fatal(err)
	}
	ivr, err := os.ReadFile("testdata/ivr.json")
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		if i%2 == 0 {
			sb.Write(queue)
		} else {
			sb.Write(ivr)
		}
	}
	sb.WriteByte(']')
	return []byte(sb.String())
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(map[int]string{1: "records=1", 100: "records=100"}[n], func(b *testing.B) {
			body := benchBody(b, n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				events, err := Decode(body, testSource)
				if err != nil || len(events) != n {
					b.Fatalf("Decode: %d events, %v", len(events), err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkStdlibMapsBaseline decodes the same body with encoding/json into
// []map[string]json.RawMessage, the obvious alternative, as a yardstick for
// BenchmarkDecode on a machine of unknown speed. It does no conversion at all.
func BenchmarkStdlibMapsBaseline(b *testing.B) {
	body := benchBody(b, 100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var records []map[string]json.RawMessage
		if err := json.Unmarshal(body, &records); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

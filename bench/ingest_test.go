package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/api"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest/teams"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

// BenchmarkIngestTeams measures POST /ingest/teams through the gateway's API
// handler, the Teams handler and the engine's Accept (one delivery per record
// for a webhook subscribed to queue.ended; the engine is not started, so the
// figure is ingest alone), on a loopback httptest server, from 32 concurrent
// clients. One operation is one POST; records/s counts records acknowledged
// with 202.
func BenchmarkIngestTeams(b *testing.B) {
	for _, be := range backends {
		for _, per := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/records=%d", be.name, per), func(b *testing.B) {
				b.ReportAllocs()
				st := be.open(b)
				rcv := receiver.Start(b, nil)
				eng := newEngine(b, st, newWebhook(b, rcv.URL))
				h := api.NewHandler(api.Options{Store: st, Ingest: map[string]http.Handler{
					"teams": &teams.Handler{Source: cdr.SourceRef{Kind: "teams", Name: "teams"}, Sink: eng},
				}})
				srv := httptest.NewServer(h)
				b.Cleanup(srv.Close)
				tmpl := teamsRecord(b)
				// Bodies are made before the clock starts; b.N is known per run.
				bodies := make(chan []byte, b.N)
				for range b.N {
					bodies <- teamsBody(b, tmpl, per)
				}
				close(bodies)
				client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
				b.Cleanup(client.CloseIdleConnections)
				b.SetParallelism(max(1, 32/maxprocs()))
				ctx := context.Background()
				b.ResetTimer()
				start, cpu0 := time.Now(), cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						body := <-bodies
						req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/ingest/teams", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						req.Header.Set("Content-Type", "application/json")
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						msg, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusAccepted {
							b.Errorf("status %d: %s", resp.StatusCode, msg)
							return
						}
					}
				})
				took, cpu := time.Since(start), cpuTime()-cpu0
				b.ReportMetric(float64(b.N*per)/took.Seconds(), "records/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*per), "cpu-us/record")
			})
		}
	}
}

func maxprocs() int { return runtime.GOMAXPROCS(0) }

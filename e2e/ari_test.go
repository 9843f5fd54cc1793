package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cdrgw/cdrgw/internal/arisim"
	"github.com/cdrgw/cdrgw/internal/receiver"
)

// TestServeARISource points an ari source of the real binary at the ARI
// simulator replaying the recording of a real Asterisk 22 and checks that
// each of its 11 calls is delivered once as call.ended.
func TestServeARISource(t *testing.T) {
	t.Parallel()
	events, err := arisim.LoadRecording("../ingest/ari/testdata/ari-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sim := arisim.Start(arisim.Options{Username: "gw", Password: "gw", Events: events})
	t.Cleanup(sim.Close)
	recv := receiver.Start(t, nil)
	g := newGateway(t, "ari", gatewayConfig{
		Store: sqliteURL(t), Receiver: recv.URL, Events: "call.ended",
		ExtraSources: fmt.Sprintf("  - {name: pbx1, type: ari, url: %q, username: gw, password: gw, app: cdrgw}\n", sim.URL()),
	})
	g.mustStart()
	const calls = 11 // linkedids in the recording (its README's scenarios)
	reqs := recv.WaitT(t, calls, 60*time.Second)
	seen := map[string]bool{}
	for _, r := range reqs {
		var body struct {
			CallID string `json:"call_id"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		seen[body.CallID] = true
	}
	time.Sleep(300 * time.Millisecond)
	if len(seen) != calls || recv.Count() != calls {
		t.Fatalf("%d requests for %d calls, want one for each of %d calls", recv.Count(), len(seen), calls)
	}
}

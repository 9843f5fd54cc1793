//go:build !race

// The ari/v5 native client races with itself (its unlocked connected flag,
// written by Close and by its listen goroutine), so this test runs only
// without -race.

package arisim

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
)

// TestNativeClient connects the real ari/v5 native client with SubscribeAll
// and checks that it reads /asterisk/info and receives every recorded event
// that its bus can route (events without keys, e.g. global ChannelVarset,
// are dropped by stdbus itself).
func TestNativeClient(t *testing.T) {
	evs := load(t)
	info, err := os.ReadFile("../../ingest/ari/testdata/asterisk-info.json")
	if err != nil {
		t.Fatal(err)
	}
	s := Start(Options{Username: "gw", Password: "gw", Events: evs[:90], Info: info, Delay: 300 * time.Millisecond})
	defer s.Close()
	c, err := native.Connect(&native.Options{Application: "gwtest", URL: s.URL(), WebsocketURL: strings.Replace(s.URL(), "http", "ws", 1) + "/events", Username: "gw", Password: "gw", SubscribeAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ai, err := c.Asterisk().Info(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ai.SystemInfo.EntityID == "" || ai.SystemInfo.Version != "22.10.1" {
		t.Errorf("info = %+v", ai.SystemInfo)
	}
	// Events already sent before Subscribe are lost to the client (as on a
	// real Asterisk); count those arriving after.
	sub := c.Bus().Subscribe(nil, ari.Events.All)
	defer sub.Cancel()
	// 90 events fit the bus's 100-slot subscriber buffer, so none is
	// dropped; the replay starts 300 ms after the socket opens.
	want := 0
	for _, e := range evs[:90] {
		if strings.Contains(string(e), `"type":"ChannelDestroyed"`) {
			want++
		}
	}
	got := map[string]int{}
	timeout := time.After(10 * time.Second)
	for got["ChannelDestroyed"] < want || !s.Done() {
		select {
		case e := <-sub.Events():
			got[e.GetType()]++
		case <-timeout:
			t.Fatalf("native client received %v, want %d ChannelDestroyed", got, want)
		}
	}
	if got["Dial"] == 0 || got["ChannelCreated"] != 4 {
		t.Errorf("native client received %v", got)
	}
	keys, err := c.Channel().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 { // S1's .3 and .2 end at lines 77 and 90, .0 and .1 later
		t.Errorf("channels alive after 90 events = %d, want 2", len(keys))
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

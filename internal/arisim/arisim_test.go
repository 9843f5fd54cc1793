package arisim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

const recording = "../../ingest/ari/testdata/ari-events.jsonl"

func load(t *testing.T) [][]byte {
	t.Helper()
	evs, err := LoadRecording(recording)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestAuth(t *testing.T) {
	s := Start(Options{Username: "gw", Password: "pw"})
	defer s.Close()
	tests := []struct {
		name, user, pass, query string
		want                    int
	}{
		{"basic ok", "gw", "pw", "", 200},
		{"basic wrong password", "gw", "nope", "", 401},
		{"api_key ok", "", "", "?api_key=gw:pw", 200},
		{"api_key wrong", "", "", "?api_key=gw:x", 401},
		{"api_key no colon", "", "", "?api_key=gw", 401},
		{"none", "", "", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL()+"/asterisk/info"+tc.query, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 {
				if string(body) != `{"message":"Authentication required"}` || resp.Header.Get("WWW-Authenticate") != `Basic realm="Asterisk REST Interface"` {
					t.Errorf("401 body %q header %q", body, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestChannelsMidReplay drops the socket after the first events and checks
// /ari/channels lists the channels alive at that point, gap included.
func TestChannelsMidReplay(t *testing.T) {
	evs := load(t)
	s := Start(Options{Username: "gw", Password: "gw", Events: evs, DropAfter: 2, Gap: 1})
	defer s.Close()
	ws := dial(t, s, "subscribeAll=true&app=x")
	var got []string
	for {
		var m string
		if websocket.Message.Receive(ws, &m) != nil {
			break
		}
		got = append(got, m)
	}
	if len(got) != 2 {
		t.Fatalf("received %d events before the drop, want 2", len(got))
	}
	resp, err := http.Get(s.URL() + "/channels?api_key=gw:gw")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var chans []struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&chans); err != nil {
		t.Fatal(err)
	}
	// Events 1-2 create .0 and .1; event 3 (the gap) is a dialplan step.
	if len(chans) != 2 || chans[0].ID != "1795415425.0" || chans[1].ID != "1795415425.1" {
		t.Errorf("channels = %+v", chans)
	}
	ws2 := dial(t, s, "subscribeAll=true&app=x")
	defer ws2.Close()
	var m string
	if err := websocket.Message.Receive(ws2, &m); err != nil {
		t.Fatal(err)
	}
	if m != string(evs[3]) {
		t.Errorf("after reconnect got %.80s, want event 4 %.80s", m, evs[3])
	}
}

// TestStasisOnly checks that without subscribeAll only events of channels
// in Stasis (S8's caller leg) are sent.
func TestStasisOnly(t *testing.T) {
	evs := load(t)
	s := Start(Options{Username: "gw", Password: "gw", Events: evs})
	defer s.Close()
	ws := dial(t, s, "app=gwcap")
	defer ws.Close()
	var first string
	if err := websocket.Message.Receive(ws, &first); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, `"type":"StasisStart"`) {
		t.Errorf("first event without subscribeAll = %.120s", first)
	}
}

func TestMissingApp(t *testing.T) {
	s := Start(Options{Username: "gw", Password: "gw"})
	defer s.Close()
	resp, err := http.Get(s.URL() + "/events?api_key=gw:gw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
}

func TestSynthetic(t *testing.T) {
	evs := Synthetic(10, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(evs) != 10 {
		t.Fatalf("len = %d", len(evs))
	}
	for i, e := range evs {
		var m map[string]any
		if err := json.Unmarshal(e, &m); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if !strings.Contains(string(evs[3]), `"type":"ChannelDestroyed"`) || !strings.Contains(string(evs[4]), `"id":"burst.1"`) {
		t.Errorf("unexpected shape: %s / %s", evs[3], evs[4])
	}
}

func dial(t *testing.T, s *Server, q string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(strings.Replace(s.URL(), "http", "ws", 1)+"/events?"+q, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header.Set("Authorization", "Basic Z3c6Z3c=") // gw:gw
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// Package arisim is a small but faithful Asterisk ARI server for tests and
// demos. It speaks the protocol the github.com/CyCoreSystems/ari/v5 native
// client uses: HTTP basic auth or an api_key=user:pass query parameter
// (401 {"message":"Authentication required"} otherwise), GET
// /ari/asterisk/info, GET /ari/channels (the channels alive at the current
// replay point), GET /ari/applications, and the /ari/events WebSocket
// (golang.org/x/net/websocket, like the client) with the app and
// subscribeAll query parameters. Over the WebSocket it replays a recorded
// JSON-lines event stream, at recorded speed times a factor, at a fixed
// number of events per second (Options.Rate, reporting each write to
// Options.OnSend, for latency benchmarks) or as fast as possible, and can
// drop the socket after a number of events. Repeat makes a longer stream
// from a recording by replaying its calls again under fresh ids and times.
//
// The replay position is shared by all connections and advances only while
// a client is connected, so a test never misses events by connecting late.
// Events skipped while a dropped client is away (Options.Gap) still update
// the channel list, as on a real Asterisk.
package arisim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"
)

// Realm is the realm Asterisk's ARI sends in WWW-Authenticate.
const Realm = "Asterisk REST Interface"

// Options configures a Server.
type Options struct {
	// Username and Password are the ARI credentials (ari.conf user).
	Username, Password string
	// Events are the recorded events, one JSON object each, replayed in order.
	Events [][]byte
	// Info is the body of GET /ari/asterisk/info; nil serves a minimal one.
	Info []byte
	// Speed is the replay speed: 1 is recorded speed, 10 ten times faster,
	// 0 (or less) as fast as possible.
	Speed float64
	// DropAfter, when positive, closes the first WebSocket connection after
	// it has been sent that many events.
	DropAfter int
	// Gap is the number of events skipped (not sent, but applied to the
	// channel list) when the socket is dropped, as if they happened while
	// the client was away.
	Gap int
	// Burst, when positive, prepends that many synthetic events (see
	// Synthetic) to Events.
	Burst int
	// DownFor, with DropAfter, makes every request fail with 503 for that
	// long after the drop, as if Asterisk were restarting.
	DownFor time.Duration
	// Delay pauses every connection this long before its first event, so
	// that a client can finish its connect sequence (GET /ari/channels
	// after the socket opens) before events flow.
	Delay time.Duration
	// Rate, when positive, replays at that many events per second, evenly
	// spaced from the connection's first event and ignoring the recorded
	// timestamps (Speed is then unused). A connection that falls behind
	// sends without pausing until it is back on schedule.
	Rate float64
	// OnSend, when not nil, is called just before an event is written to a
	// WebSocket, with its index in Events (after the Burst events) and
	// the time. It runs on the connection's goroutine and must be quick.
	OnSend func(i int, at time.Time)
}

// Server is a running simulated ARI server.
type Server struct {
	o    Options
	http *httptest.Server

	mu       sync.Mutex
	cond     *sync.Cond
	pos      int                        // next event to send
	chans    map[string]json.RawMessage // alive channels by id
	stasis   map[string]bool            // channels in Stasis
	apps     map[string]int             // connected application names
	conns    int                        // connections accepted so far
	dropped  bool
	downTill time.Time
	sent     int
	closed   bool
	clientWS map[*websocket.Conn]struct{}
}

// LoadRecording reads a JSON-lines recording, one event per non-empty line.
func LoadRecording(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open ari recording: %w", err)
	}
	defer f.Close()
	return ReadRecording(f)
}

// ReadRecording reads JSON-lines events from r, one per non-empty line.
func ReadRecording(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) > 0 {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ari recording: %w", err)
	}
	return out, nil
}

// Synthetic returns n synthetic ARI events forming n/4 short calls (a
// partial call for the remainder): ChannelCreated, ChannelDialplan (Echo),
// ChannelStateChange to Up and ChannelDestroyed with cause 16, one
// millisecond apart from start. Channel ids are "burst.<n>".
func Synthetic(n int, start time.Time) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		id := "burst." + strconv.Itoa(i)
		for k, typ := range []string{"ChannelCreated", "ChannelDialplan", "ChannelStateChange", "ChannelDestroyed"} {
			if len(out) == n {
				break
			}
			at := start.Add(time.Duration(len(out)) * time.Millisecond)
			ts := at.UTC().Format("2006-01-02T15:04:05.000-0700")
			created := start.Add(time.Duration(i*4) * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000-0700")
			state, app := "Ring", ""
			if k >= 2 {
				state, app = "Up", "Echo"
			} else if k == 1 {
				app = "Echo"
			}
			ch := fmt.Sprintf(`{"id":%q,"name":"PJSIP/burst-%08x","state":%q,"protocol_id":"","caller":{"name":"","number":"%d"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"burst","exten":"600","priority":1,"app_name":%q,"app_data":""},"creationtime":%q,"language":"en","channelvars":{"CHANNEL(linkedid)":%q}}`,
				id, i, state, 1000+i%9000, app, created, id)
			var ev string
			switch typ {
			case "ChannelDialplan":
				ev = fmt.Sprintf(`{"type":%q,"timestamp":%q,"dialplan_app":"Echo","dialplan_app_data":"","channel":%s,"asterisk_id":"02:fc:00:00:00:01","application":"arisim"}`, typ, ts, ch)
			case "ChannelDestroyed":
				ev = fmt.Sprintf(`{"type":%q,"timestamp":%q,"cause":16,"cause_txt":"Normal Clearing","channel":%s,"asterisk_id":"02:fc:00:00:00:01","application":"arisim"}`, typ, ts, ch)
			default:
				ev = fmt.Sprintf(`{"type":%q,"timestamp":%q,"channel":%s,"asterisk_id":"02:fc:00:00:00:01","application":"arisim"}`, typ, ts, ch)
			}
			out = append(out, []byte(ev))
		}
	}
	return out
}

// New returns a server (not yet listening) for o.
func New(o Options) *Server {
	if o.Burst > 0 {
		start := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
		o.Events = append(Synthetic(o.Burst, start), o.Events...)
	}
	s := &Server{o: o, chans: make(map[string]json.RawMessage), stasis: make(map[string]bool),
		apps: make(map[string]int), clientWS: make(map[*websocket.Conn]struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Start serves on a loopback port and returns the server, to be closed
// with Close.
func Start(o Options) *Server {
	s := New(o)
	s.http = httptest.NewServer(s.Handler())
	return s
}

// URL is the ARI base URL, e.g. http://127.0.0.1:1234/ari.
func (s *Server) URL() string { return s.http.URL + "/ari" }

// Close stops the server and drops every WebSocket.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for ws := range s.clientWS {
		ws.Close()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	if s.http != nil {
		s.http.CloseClientConnections()
		s.http.Close()
	}
}

// Sent reports how many events were written to WebSockets so far.
func (s *Server) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Connections reports how many WebSocket connections were accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Done reports whether every event has been replayed.
func (s *Server) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos >= len(s.o.Events)
}

// Handler returns the HTTP handler serving /ari/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/asterisk/info", s.info)
	mux.HandleFunc("GET /ari/channels", s.channels)
	mux.HandleFunc("GET /ari/applications", s.applications)
	mux.Handle("GET /ari/events", websocket.Server{Handler: s.events, Handshake: func(*websocket.Config, *http.Request) error { return nil }})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, []byte(`{"message":"Resource not found"}`))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := time.Now().Before(s.downTill)
		s.mu.Unlock()
		if down {
			writeJSON(w, http.StatusServiceUnavailable, []byte(`{"message":"Asterisk is restarting"}`))
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
			writeJSON(w, http.StatusUnauthorized, []byte(`{"message":"Authentication required"}`))
			return
		}
		if r.URL.Path == "/ari/events" && r.URL.Query().Get("app") == "" {
			writeJSON(w, http.StatusBadRequest, []byte(`{"message":"Missing param app"}`))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return u == s.o.Username && p == s.o.Password
	}
	if k := r.URL.Query().Get("api_key"); k != "" {
		u, p, ok := strings.Cut(k, ":")
		return ok && u == s.o.Username && p == s.o.Password
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func (s *Server) info(w http.ResponseWriter, _ *http.Request) {
	body := s.o.Info
	if body == nil {
		body = []byte(`{"build":{"os":"Linux"},"system":{"version":"22.10.1","entity_id":"02:fc:00:00:00:01"},"config":{"name":"","default_language":"en"},"status":{}}`)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) channels(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.chans))
	for id := range s.chans {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	list := make([]json.RawMessage, len(ids))
	for i, id := range ids {
		list[i] = s.chans[id]
	}
	s.mu.Unlock()
	body, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, body)
}

type application struct {
	Name             string   `json:"name"`
	ChannelIDs       []string `json:"channel_ids"`
	BridgeIDs        []string `json:"bridge_ids"`
	EndpointIDs      []string `json:"endpoint_ids"`
	DeviceNames      []string `json:"device_names"`
	EventsAllowed    []any    `json:"events_allowed"`
	EventsDisallowed []any    `json:"events_disallowed"`
}

func (s *Server) applications(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	s.mu.Unlock()
	slices.Sort(names)
	list := make([]application, 0, len(names))
	for _, n := range names {
		list = append(list, application{Name: n, ChannelIDs: []string{"__AST_CHANNEL_ALL_TOPIC"},
			BridgeIDs: []string{"__AST_BRIDGE_ALL_TOPIC"}, EndpointIDs: []string{"__AST_ENDPOINT_ALL_TOPIC"},
			DeviceNames: []string{"__AST_DEVICE_STATE_ALL_TOPIC"}, EventsAllowed: []any{}, EventsDisallowed: []any{}})
	}
	body, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, body)
}

// envelope is the part of an event arisim reads to keep the channel list.
type envelope struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Channel   json.RawMessage `json:"channel"`
	Peer      json.RawMessage `json:"peer"`
}

// apply updates the channel list with event i and reports the event's
// channel id and type. Called with s.mu held.
func (s *Server) apply(data []byte) (string, string) {
	var e envelope
	if json.Unmarshal(data, &e) != nil {
		return "", ""
	}
	id := func(raw json.RawMessage) string {
		var c struct {
			ID string `json:"id"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &c) != nil {
			return ""
		}
		return c.ID
	}
	if p := id(e.Peer); p != "" {
		if _, ok := s.chans[p]; ok {
			s.chans[p] = e.Peer
		}
	}
	cid := id(e.Channel)
	if cid == "" {
		return "", e.Type
	}
	switch e.Type {
	case "ChannelDestroyed":
		delete(s.chans, cid)
	default:
		s.chans[cid] = e.Channel
	}
	return cid, e.Type
}

func eventTime(data []byte) time.Time {
	var e envelope
	if json.Unmarshal(data, &e) != nil || len(e.Timestamp) < 23 {
		return time.Time{}
	}
	t, err := time.Parse("2006-01-02T15:04:05.000-0700", e.Timestamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

// events serves one /ari/events WebSocket: it replays events from the
// shared position until the recording ends (then waits for the client to
// leave), the server closes, or the connection is dropped.
func (s *Server) events(ws *websocket.Conn) {
	q := ws.Request().URL.Query()
	app := q.Get("app")
	all := q.Get("subscribeAll") == "true" || q.Get("subscribeAll") == "1"
	ws.PayloadType = websocket.TextFrame

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns++
	first := s.conns == 1
	s.apps[app]++
	s.clientWS[ws] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.apps[app]--; s.apps[app] <= 0 {
			delete(s.apps, app)
		}
		delete(s.clientWS, ws)
		s.mu.Unlock()
	}()
	// Detect the client going away: the native client never writes.
	gone := make(chan struct{})
	go func() {
		var b []byte
		for websocket.Message.Receive(ws, &b) == nil {
		}
		close(gone)
	}()

	if s.o.Delay > 0 {
		select {
		case <-time.After(s.o.Delay):
		case <-gone:
			return
		}
	}
	var prev, paced time.Time // Speed: previous event time; Rate: schedule start
	sentHere, n := 0, 0
	for {
		select {
		case <-gone:
			return
		default:
		}
		s.mu.Lock()
		if s.closed || s.pos >= len(s.o.Events) {
			s.mu.Unlock()
			break
		}
		if first && s.o.DropAfter > 0 && sentHere >= s.o.DropAfter && !s.dropped {
			s.dropped = true
			s.downTill = time.Now().Add(s.o.DownFor)
			for i := 0; i < s.o.Gap && s.pos < len(s.o.Events); i++ {
				s.apply(s.o.Events[s.pos])
				s.pos++
			}
			s.mu.Unlock()
			ws.Close()
			return
		}
		i := s.pos
		data := s.o.Events[i]
		s.pos++
		id, typ := s.apply(data)
		send := all || s.inStasis(id, typ)
		if send {
			s.sent++
		}
		s.mu.Unlock()

		switch {
		case s.o.Rate > 0:
			if paced.IsZero() {
				paced = time.Now()
			}
			due := paced.Add(time.Duration(float64(n) * float64(time.Second) / s.o.Rate))
			n++
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-gone:
					return
				}
			}
		case s.o.Speed > 0:
			if at := eventTime(data); !at.IsZero() {
				if !prev.IsZero() && at.After(prev) {
					select {
					case <-time.After(time.Duration(float64(at.Sub(prev)) / s.o.Speed)):
					case <-gone:
						return
					}
				}
				prev = at
			}
		}
		if !send {
			continue
		}
		if s.o.OnSend != nil {
			s.o.OnSend(i, time.Now())
		}
		if err := websocket.Message.Send(ws, string(data)); err != nil {
			return
		}
		sentHere++
	}
	<-gone
}

// inStasis reports whether an event is delivered without subscribeAll:
// only events of channels in a Stasis application. Called with s.mu held.
func (s *Server) inStasis(id, typ string) bool {
	switch typ {
	case "StasisStart":
		s.stasis[id] = true
		return true
	case "StasisEnd":
		delete(s.stasis, id)
		return true
	}
	return id != "" && s.stasis[id]
}

package teams

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/ingest"
)

// DefaultMaxBody is the largest body Handler reads when MaxBody is zero.
const DefaultMaxBody = 1 << 20

// Handler serves POST /ingest/teams for one Teams source.
//
// The body is decoded, every valid record is stored through Sink before the
// response, and the response is 202 {"accepted": [event ids]}. Records that
// fail to decode are listed under "rejected" with their index and property;
// the valid records of the same body are still stored, so one bad record does
// not lose a batch. When no record is valid (bad JSON, or every record bad)
// the response is 400 and nothing is stored. A missing or wrong bearer token
// is 401, a body over MaxBody 413, and a store failure 503 (nothing was
// acknowledged; the sender should retry).
type Handler struct {
	Source  cdr.SourceRef
	Token   string // bearer token required when not empty
	MaxBody int64  // bytes; 0 means DefaultMaxBody
	Sink    ingest.Sink
	Logger  *slog.Logger
}

type rejected struct {
	Record   int    `json:"record"`
	Property string `json:"property,omitempty"`
	Error    string `json:"error"`
}

type response struct {
	Accepted []string   `json:"accepted"`
	Rejected []rejected `json:"rejected,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if h.Token != "" && !validBearer(r.Header.Get("Authorization"), h.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdrgw"`)
		writeJSON(w, http.StatusUnauthorized, response{Accepted: []string{}, Error: "missing or wrong bearer token"})
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, response{Accepted: []string{}, Error: "body is larger than " + formatBytes(limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, response{Accepted: []string{}, Error: "reading body: " + err.Error()})
		return
	}
	events, err := Decode(body, h.Source)
	resp := response{Accepted: make([]string, 0, len(events))}
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			for _, re := range de.Records {
				resp.Rejected = append(resp.Rejected, rejected{Record: re.Index, Property: re.Property, Error: re.Error()})
			}
		}
		resp.Error = err.Error()
		if len(events) == 0 {
			writeJSON(w, http.StatusBadRequest, resp)
			return
		}
		log.Warn("teams records rejected", "source", h.Source.Name, "rejected", len(resp.Rejected), "accepted", len(events), "err", err)
	}
	if err := h.Sink.Accept(r.Context(), events); err != nil {
		log.Error("store teams records", "source", h.Source.Name, "records", len(events), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, response{Accepted: []string{}, Error: "records could not be stored; retry later"})
		return
	}
	for _, ev := range events {
		resp.Accepted = append(resp.Accepted, ev.ID)
	}
	writeJSON(w, http.StatusAccepted, resp)
}

func validBearer(header, token string) bool {
	const prefix = "Bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(header[len(prefix):])), []byte(token)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func formatBytes(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

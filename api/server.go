package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configures the handler.
type Options struct {
	Store    Pinger
	Gatherer prometheus.Gatherer // nil means no /metrics
	Logger   *slog.Logger
	// Ingest maps a path under /ingest/ (e.g. "teams") to its handler.
	Ingest map[string]http.Handler

	// Admin API (/api/...): mounted when Operator and Deliveries are set.
	Operator   Operator
	Deliveries AdminStore
	// AdminToken is the bearer token the admin API requires; "" leaves it
	// open, which config allows only when the listener is on loopback.
	AdminToken string
	// Webhooks, when set, adds the endpoints that create, update and delete
	// webhooks and preview definitions; *webhookset.Set is one.
	Webhooks WebhookSet
	// Sources, when set, adds GET /api/sources; *ingest.Board is one.
	Sources SourceBoard
	// Events, when set, adds GET /api/events; store.Store is one.
	Events EventStore

	// Console, when set, serves every path no other route takes (the web
	// console at /).
	Console http.Handler
}

// NewHandler returns the gateway's HTTP handler.
func NewHandler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := o.Store.Ping(ctx); err != nil {
			o.Logger.Warn("readiness check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	if o.Operator != nil && o.Deliveries != nil {
		(&admin{token: o.AdminToken, st: o.Deliveries, op: o.Operator, o: o}).routes(mux)
	}
	for name, h := range o.Ingest {
		mux.Handle("POST /ingest/"+name, h)
	}
	if o.Console != nil {
		// The most specific pattern wins: the routes above keep their paths.
		mux.Handle("/", o.Console)
	}
	return mux
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

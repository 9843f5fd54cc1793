// Package api serves cdrgw's HTTP interface: the ingest endpoints
// (POST /ingest/teams), health (GET /healthz), readiness (GET /readyz, the
// store reachable) and Prometheus metrics (GET /metrics). The admin API and
// the web console are added here by later work.
package api

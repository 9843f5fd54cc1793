package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cdrgw/cdrgw/api"
	"github.com/cdrgw/cdrgw/api/web"
	"github.com/cdrgw/cdrgw/cdr"
	"github.com/cdrgw/cdrgw/config"
	"github.com/cdrgw/cdrgw/delivery"
	ingestpkg "github.com/cdrgw/cdrgw/ingest"
	"github.com/cdrgw/cdrgw/ingest/ari"
	"github.com/cdrgw/cdrgw/ingest/siptap"
	"github.com/cdrgw/cdrgw/ingest/teams"
	"github.com/cdrgw/cdrgw/internal/webhookset"
	"github.com/cdrgw/cdrgw/store"
	"github.com/cdrgw/cdrgw/store/storeurl"
)

func cmdServe(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "serve", "-c FILE [--log-format text|json] [--log-level LEVEL]", `
Runs the gateway: opens the store (applying migrations), starts the HTTP
listener (ingest, the admin API under /api/, /healthz, /readyz, /metrics)
and the delivery workers, and
runs until SIGINT or SIGTERM, then stops gracefully within shutdown_timeout.`)
	path := fs.String("c", "cdrgw.yaml", "config file")
	logFormat := fs.String("log-format", "", "log format: text or json (default: text on a terminal, json otherwise)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if _, code, ok := parse(fs, e, args); !ok {
		return code
	}
	log, err := newLogger(e.stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw serve: %v\n", err)
		return exitUsage
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw serve: %v\n", err)
		return exitFail
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("gateway stopped", "err", err)
		return exitFail
	}
	return exitOK
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openStore opens and migrates the store, retrying with capped backoff while
// it is unreachable, until ctx ends.
func openStore(ctx context.Context, url string, log *slog.Logger) (store.Store, error) {
	backoff := 500 * time.Millisecond
	for {
		st, err := storeurl.Open(ctx, url)
		if err == nil {
			if err = st.Migrate(ctx); err == nil {
				return st, nil
			}
			st.Close()
		}
		log.Error("store unavailable; retrying", "store", storeurl.Redact(url), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open store %s: %w", storeurl.Redact(url), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// newOwner returns a lease owner id unique to this process.
func newOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	st, err := openStore(ctx, cfg.Store, log)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := delivery.NewMetrics(reg, func(ctx context.Context, now time.Time) (int64, time.Time, error) {
		s, err := st.Stats(ctx, now)
		return s.Pending, s.OldestPending, err
	})
	hooks, err := webhookset.EngineWebhooks(cfg)
	if err != nil {
		return err
	}
	engine, err := delivery.New(st, hooks, delivery.Options{
		Owner:   newOwner(),
		Logger:  log,
		Metrics: metrics,
		Client:  delivery.NewClient(cfg.AllowPrivateTargets),
		Source:  cdr.SourceRef{Kind: "cdrgw", Name: "cdrgw"},
	})
	if err != nil {
		return err
	}

	// Webhooks created through the API or the console are kept in the store;
	// they join the config file's before the engine starts.
	webhooks := webhookset.New(cfg, st, engine, log)
	if err := webhooks.Load(ctx); err != nil {
		return err
	}
	board := ingestpkg.NewBoard(nil)

	ingest := map[string]http.Handler{}
	var teamsSources []string
	var live []ingestpkg.Source
	var sipMetrics *siptap.Metrics
	for _, src := range cfg.Sources {
		board.Register(src.Name, src.Type)
		switch src.Type {
		case config.SourceTeams:
			ingest[src.Name] = &teams.Handler{
				Source:  cdr.SourceRef{Kind: "teams", Name: src.Name},
				Token:   src.Token,
				MaxBody: cfg.MaxBody,
				Sink:    board.Sink(src.Name, engine),
				Logger:  log,
			}
			teamsSources = append(teamsSources, src.Name)
		case config.SourceARI:
			as, err := ari.NewSource(ari.SourceConfig{
				Name: src.Name, URL: src.URL, Username: src.Username, Password: src.Password, App: src.App,
				Tracker: ari.Options{IVRContexts: src.IVRContexts, IVRApps: src.IVRApps, IVRVariables: src.IVRVariables,
					KeepVariables: src.KeepVariables, MaxCallDuration: src.MaxCallDuration},
				Status: board.For(src.Name),
			}, log, reg)
			if err != nil {
				return fmt.Errorf("source %q: %w", src.Name, err)
			}
			live = append(live, as)
		case config.SourceHEP, config.SourceSIP:
			if sipMetrics == nil {
				sipMetrics = siptap.NewMetrics(reg)
			}
			sc := siptap.SourceConfig{
				Name: src.Name, Listen: src.Listen, Logger: log, Metrics: sipMetrics,
				CaptureIDs: src.CaptureIDs, Password: src.Password, Status: board.For(src.Name),
				Tracker: siptap.Options{LocalNetworks: src.LocalNetworks, LocalDomains: src.LocalDomains,
					MaxCallDuration: src.MaxCallDuration, MaxDialogs: src.MaxDialogs},
			}
			if src.Type == config.SourceHEP {
				live = append(live, siptap.NewHEPSource(sc))
			} else {
				live = append(live, siptap.NewSIPSource(sc))
			}
		default:
			log.Warn("source type not supported by this build yet; source ignored", "source", src.Name, "type", src.Type)
		}
	}
	// POST /ingest/teams reaches the only Teams source whatever its name.
	if _, taken := ingest["teams"]; !taken && len(teamsSources) == 1 {
		ingest["teams"] = ingest[teamsSources[0]]
	}

	// srcCtx bounds the sources, the webhook sync and the console's
	// background work; it ends first when the gateway stops.
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: api.NewHandler(api.Options{Store: st, Gatherer: reg, Logger: log, Ingest: ingest,
			Operator: engine, Deliveries: st, AdminToken: cfg.AdminToken,
			Webhooks: webhooks, Sources: board, Events: st,
			Console: web.New(web.Options{
				Token:    cfg.AdminToken,
				Webhooks: webhooks,
				Engine:   engine,
				Store:    st,
				Events:   st,
				Sources:  board,
				Logger:   log.With("component", "console"),
				Context:  srcCtx,
			})}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := engine.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	// Live sources run until the gateway stops; each hands its events to the
	// engine, which stores them before they count as accepted.
	var sources sync.WaitGroup
	for _, src := range live {
		sources.Add(1)
		go func() {
			defer sources.Done()
			if err := src.Run(srcCtx, board.Sink(src.Name(), engine)); err != nil && srcCtx.Err() == nil {
				log.Error("source stopped", "source", src.Name(), "err", err)
			}
		}()
	}
	// Other replicas' webhook changes reach this engine through the store.
	var syncDone sync.WaitGroup
	syncDone.Add(1)
	go func() { defer syncDone.Done(); webhooks.Run(srcCtx, webhookset.DefaultEvery) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("gateway started", "listen", ln.Addr().String(), "store", storeurl.Redact(cfg.Store),
		"webhooks", len(webhooks.List()), "sources", len(cfg.Sources))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping", "timeout", cfg.ShutdownTimeout)
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Stop taking new work first (sources, then HTTP), then let attempts in
	// flight finish.
	stopSources()
	sources.Wait()
	syncDone.Wait()
	if err := srv.Shutdown(stopCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	if err := engine.Stop(stopCtx); err != nil {
		log.Warn("delivery shutdown", "err", err)
	}
	log.Info("stopped")
	return runErr
}

func cmdMigrate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "migrate", "-c FILE", `
Applies the store's embedded migrations (serve also does this at start).`)
	path := fs.String("c", "cdrgw.yaml", "config file")
	if _, code, ok := parse(fs, e, args); !ok {
		return code
	}
	cfg, err := config.LoadFile(*path)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw migrate: %v\n", err)
		return exitFail
	}
	st, err := storeurl.Open(ctx, cfg.Store)
	if err != nil {
		fmt.Fprintf(e.stderr, "cdrgw migrate: %v\n", err)
		return exitFail
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		fmt.Fprintf(e.stderr, "cdrgw migrate: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "ok: %s is up to date\n", storeurl.Redact(cfg.Store))
	return exitOK
}

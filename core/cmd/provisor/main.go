// Command provisor is the Provisor ACS: `provisor serve` runs the server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Provisor, a TR-069 / CWMP auto-configuration server.

Usage:
  provisor serve [--config FILE]   run the ACS
  provisor version                 print the version

Run 'provisor serve --help' for the settings.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:], os.Stdout, os.Stderr)
	case "version", "--version":
		fmt.Println("provisor", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "provisor: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "provisor:", err)
		}
		os.Exit(1)
	}
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("PROVISOR_CONFIG"), "YAML configuration file (env PROVISOR_CONFIG)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: provisor serve [--config FILE]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nSettings (YAML key, environment variable, default); the environment overrides the file:\n%s", config.Help())
		fmt.Fprintf(stderr, "\nDevice profiles (quirk switches) are set in the file only, under 'profiles:'; see docs/configuration.md.\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return run(ctx, cfg, log, nil)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run serves until ctx ends, then shuts down gracefully: stop accepting,
// let live sessions finish (up to the shutdown timeout), flush the store.
// ready, if not nil, receives the listener's address once it accepts.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, ready chan<- net.Addr) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Database, sqlite.Options{Logger: log, MaxSessionsPerDevice: cfg.HistorySessions, MaxEventsPerDevice: cfg.HistoryEvents})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	limits := soap.Limits{MaxBytes: cfg.MaxBodyBytes, MaxDepth: cfg.MaxDepth, MaxElements: cfg.MaxElements, MaxAttributes: cfg.MaxAttributes, MaxStringLen: cfg.MaxStringLen}
	hooks := &hook.Registry{}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	mgr := session.NewManager(session.Config{
		ExchangeTimeout: cfg.ExchangeTimeout, SessionTimeout: cfg.SessionTimeout,
		SupersedeWait: cfg.SupersedeWait, GPVBatchSize: cfg.GPVBatchSize,
		Limits: limits, Profiles: cfg.Profiles,
	}, st, hooks, log)
	h := &server.Handler{Sessions: mgr, Limits: limits, Path: cfg.Path, Log: log}
	srv := h.NewServer(cfg.Listen)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = st.Close(context.Background())
		return err
	}
	log.Info("provisor listening", "cpe", ln.Addr().String(), "database", cfg.Database, "version", version)
	if ready != nil {
		ready <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = st.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "live_sessions", mgr.Live())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Sessions first: their CPEs are mid-conversation, and each writes
	// what it learned when it ends. Then the listener, then the store.
	merr := mgr.Close(sctx)
	_ = srv.Shutdown(sctx)
	if err := st.Close(context.Background()); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	if merr != nil {
		log.Warn("sessions cut off at shutdown", "err", merr)
	}
	log.Info("stopped")
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

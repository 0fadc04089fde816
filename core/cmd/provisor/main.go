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
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/script"
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
  provisor script check [DIR]      check the provisioning scripts
  provisor script test FILE|DIR    run scripts against a simulated device
  provisor device|task|file|token  use the northbound API ('provisor device help')
  provisor sim --acs URL [flags]   simulate CPEs against an ACS ('provisor sim --help')
  provisor bench [--short]         start a fresh ACS on loopback and run the load scenarios
  provisor plugin list|check       list or verify plugins (-dir DIR)
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
	case "device", "task", "file", "token":
		err = runCLI(os.Args[1:], os.Stdout, os.Stderr)
	case "sim":
		err = simCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "bench":
		err = benchCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "plugin":
		err = pluginCmd(os.Args[2:], os.Stdout, os.Stderr)
	case "script":
		err = scriptCmd(os.Args[2:], os.Stdout, os.Stderr)
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
// ready, if not nil, receives each listener's address once it accepts:
// the HTTP one first, then the HTTPS one.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, ready chan<- net.Addr) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Database, sqlite.Options{Logger: log, MaxSessionsPerDevice: cfg.HistorySessions,
		MaxEventsPerDevice: cfg.HistoryEvents, ReadAtResolution: cfg.ReadAtResolution})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	var started []*http.Server
	ok := false
	defer func() {
		if !ok {
			for _, srv := range started {
				_ = srv.Close()
			}
			_ = st.Close(context.Background())
		}
	}()
	limits := soap.Limits{MaxBytes: cfg.MaxBodyBytes, MaxDepth: cfg.MaxDepth, MaxElements: cfg.MaxElements, MaxAttributes: cfg.MaxAttributes, MaxStringLen: cfg.MaxStringLen}
	hooks := &hook.Registry{}
	if cfg.AuthShared && cfg.AuthRotateOnBootstrap && cfg.AuthMode != server.ModeNone {
		// First, so that the device has its credential even if a later
		// handler's work ends the session.
		hooks.Register(hook.StageBuiltin, &session.RotateCredential{Store: st, Realm: cfg.AuthRealm})
	}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	tasks := &session.Tasks{Store: st}
	hooks.Register(hook.StageTasks, tasks)
	api, err := openAPI(ctx, apiSettings{
		Listen: cfg.APIListen, TLSCert: cfg.APITLSCert, TLSKey: cfg.APITLSKey, OnlineWindow: cfg.APIOnlineWindow,
		Webhooks: splitList(cfg.APIWebhooks), WebhookSecret: cfg.APIWebhookSecret, AutoPromoteAfter: cfg.APIAutoPromoteAfter,
		FilesDir: cfg.FilesDir, FilesBaseURL: cfg.FilesBaseURL, FilesURLTTL: cfg.FilesURLTTL, FilesMaxUpload: cfg.FilesMaxUpload,
		ConnReqTimeout: cfg.ConnReqTimeout, ConnReqPerDevice: cfg.ConnReqPerDevice, ConnReqRate: cfg.ConnReqRate,
		ConnReqUsername: cfg.ConnReqUsername, ConnReqPassword: cfg.ConnReqPassword,
	}, cfg.DataDir, st, log)
	if err != nil {
		return err
	}
	defer func() {
		if !ok {
			_ = api.Close(context.Background())
		}
	}()
	api.RegisterHooks(hooks)
	// After the API, whose file store the scripts use; hooks run by stage.
	scripts, err := startScripts(ctx, cfg, st, api.files, log)
	if err != nil {
		return err
	}
	hooks.Register(hook.StageScripts, scripts)
	// Plugins before the credential providers are collected, since a
	// plugin may vouch for its devices' credentials.
	plugins, perr := pluginhost.Start(ctx, pluginhost.Options{
		Dir: cfg.PluginsDir, Logger: log, Store: st, HostVersion: version,
		CallTimeout: cfg.PluginCallTimeout, Config: cfg.PluginConfig,
		Files:   pluginhost.FromFileStore(api.files),
		OnStart: func(p *pluginhost.Plugin) { registerPluginFunctions(scripts, p, log) },
	})
	if perr != nil {
		log.Warn("some plugins were not loaded", "err", perr) // the others run
	}
	if plugins != nil {
		// Plugins name the files their devices upload (a MikroTik /export
		// becomes <serial>-<time>.rsc).
		api.files.SetInspector(plugins.UploadInspector(st))
		defer func() {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = plugins.Close(c)
		}()
		plugins.Register(hooks)
		// Queued plugin functions run through the host; the API checks
		// new ones against the functions the plugins export.
		tasks.Plugins = plugins
		api.SetPlugins(plugins)
	}
	auth, err := newAuth(cfg, st, hooks, log)
	if err != nil {
		return err
	}
	mgr := session.NewManager(session.Config{
		ExchangeTimeout: cfg.ExchangeTimeout, SessionTimeout: cfg.SessionTimeout,
		SupersedeWait: cfg.SupersedeWait, GPVBatchSize: cfg.GPVBatchSize,
		Limits: limits, Profiles: pluginProfiles(cfg.Profiles, plugins), MaxSessions: cfg.MaxSessions, RetryAfter: cfg.RetryAfter,
	}, st, hooks, log)
	trusted, _ := server.ParsePrefixes(cfg.TrustedProxies) // validated by config
	h := &server.Handler{Sessions: mgr, Limits: limits, Path: cfg.Path, Log: log, Auth: auth,
		TrustedProxies: trusted, RateLimit: cfg.IPRate, RateBurst: cfg.IPBurst, TableSize: cfg.TableSize}
	api.WatchSessions(mgr)

	type endpoint struct {
		ep  *server.Endpoint
		ln  net.Listener
		srv *http.Server
	}
	var eps []endpoint
	listen := func(name, addr, allowFrom string, t *server.TLS) error {
		allow, _ := server.ParsePrefixes(allowFrom)
		ln, err := server.ListenTCP(context.Background(), addr)
		if err != nil {
			return err
		}
		ep := &server.Endpoint{Name: name, TLS: t, Allow: allow}
		srv := h.NewEndpointServer(ep)
		srv.Handler = api.CPEHandler(srv.Handler)
		started = append(started, srv)
		eps = append(eps, endpoint{ep, ln, srv})
		return nil
	}
	var certs *server.TLS
	if cfg.Listen != "" {
		if err := listen("http", cfg.Listen, cfg.AllowFrom, nil); err != nil {
			return err
		}
	}
	if cfg.TLSListen != "" {
		certs, err = server.NewTLS(server.TLSOptions{
			CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, ClientCAFile: cfg.TLSClientCA,
			RequireClientCert: cfg.TLSRequireClientCert, DisableSessionTickets: !cfg.TLSSessionTickets,
			LegacyCiphers: cfg.TLSLegacyCiphers,
		})
		if err != nil {
			return err
		}
		if err := listen("https", cfg.TLSListen, cfg.TLSAllowFrom, certs); err != nil {
			return err
		}
	}
	attrs := []any{"database", cfg.Database, "version", version}
	for _, e := range eps {
		key := "cpe"
		if e.ep.TLS != nil {
			key = "cpe_tls"
		}
		attrs = append(attrs, key, e.ln.Addr().String())
	}
	if certs != nil {
		// Before anything is announced: once ready, a SIGHUP must find
		// its handler, not the default action, which ends the process.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := certs.Reload(); err != nil {
						log.Error("TLS reload failed; the previous certificate stays in use", "err", err)
					} else {
						log.Info("TLS certificate reloaded", "subject", certs.Leaf().Subject.String(), "not_after", certs.Leaf().NotAfter)
					}
				}
			}
		}()
	}
	if err := api.Listen(); err != nil {
		return err
	}
	if a := api.Addr(); a != nil {
		attrs = append(attrs, "api", a.String())
	}
	if cfg.DebugListen != "" {
		dsrv, daddr, err := startDebug(cfg.DebugListen, st, log)
		if err != nil {
			return fmt.Errorf("debug.listen: %w", err)
		}
		defer dsrv.Close()
		attrs = append(attrs, "debug", daddr.String())
	}
	log.Info("provisor listening", attrs...)
	errc := make(chan error, len(eps))
	for _, e := range eps {
		go func() { errc <- e.srv.Serve(h.Listen(e.ln, e.ep)) }()
		if ready != nil {
			ready <- e.ln.Addr()
		}
	}
	ok = true
	var serveErr error
	select {
	case serveErr = <-errc:
	case serveErr = <-api.Err():
	case <-ctx.Done():
	}
	log.Info("shutting down", "live_sessions", mgr.Live())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Sessions first: their CPEs are mid-conversation, and each writes
	// what it learned when it ends. Then the listeners, then the store.
	merr := mgr.Close(sctx)
	if err := api.Close(sctx); err != nil {
		log.Warn("API shutdown", "err", err)
	}
	for _, e := range eps {
		_ = e.srv.Shutdown(sctx)
	}
	if err := st.Close(context.Background()); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	if merr != nil {
		log.Warn("sessions cut off at shutdown", "err", merr)
	}
	log.Info("stopped")
	if serveErr != nil {
		return serveErr
	}
	for range eps {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// newAuth sets up CPE authentication: the shared bootstrap credential
// (generated and shown once if none is configured), the per-device
// credentials in the store, and the credential providers among the hook
// handlers.
func newAuth(cfg config.Config, st *sqlite.DB, hooks *hook.Registry, log *slog.Logger) (*server.Auth, error) {
	ac := server.AuthConfig{
		Mode: cfg.AuthMode, Realm: cfg.AuthRealm, AllowBasicWithoutTLS: cfg.AuthAllowBasicWithoutTLS, Rebootstrap: cfg.AuthRebootstrap,
		NonceLifetime: cfg.AuthNonceLifetime, DigestAlgorithms: strings.Split(cfg.AuthDigestAlgorithms, ","),
		Store: st, ClientIdentity: cfg.TLSClientIdentity,
		FailureLimit: cfg.AuthFailureLimit, FailureLimitIP: cfg.AuthFailureLimitIP,
		Backoff: cfg.AuthBackoff, BackoffMax: cfg.AuthBackoffMax, TableSize: cfg.TableSize, Log: log,
	}
	for _, hd := range hooks.Handlers() {
		if p, ok := hd.(hook.CredentialProvider); ok {
			ac.Providers = append(ac.Providers, p)
		}
	}
	needed := cfg.AuthMode != server.ModeNone
	for _, p := range cfg.Profiles {
		needed = needed || (p.Auth != "" && p.Auth != server.ModeNone && p.Auth != server.ModeAllowList)
	}
	if cfg.AuthShared && needed {
		ac.SharedUsername, ac.SharedPassword = cfg.AuthUsername, cfg.AuthPassword
		if ac.SharedPassword == "" {
			pw, created, err := server.BootstrapPassword(cfg.DataDir)
			switch {
			case errors.Is(err, server.ErrLooseMode):
				log.Warn("the bootstrap credential file is readable by others", "err", err)
			case err != nil:
				return nil, fmt.Errorf("bootstrap credential: %w", err)
			}
			if created {
				// The one time a secret goes to the log: the operator
				// needs it to configure the first devices.
				log.Warn("generated the shared bootstrap credential; configure devices with it. It is not shown again",
					"username", cfg.AuthUsername, "password", pw, "file", filepath.Join(cfg.DataDir, server.BootstrapFile))
			}
			ac.SharedPassword = pw
		}
	}
	auth, err := server.NewAuth(ac)
	if err != nil {
		return nil, err
	}
	auth.RegisterMetrics(metrics.Default)
	log.Info("CPE authentication", "mode", cfg.AuthMode, "realm", auth.Realm(), "shared_credential", ac.SharedPassword != "",
		"rotate_on_bootstrap", cfg.AuthRotateOnBootstrap && ac.SharedPassword != "", "rebootstrap", cfg.AuthRebootstrap, "providers", len(ac.Providers))
	if cfg.AuthRebootstrap == server.RebootstrapAccept {
		log.Warn("auth.rebootstrap=accept: a 0 BOOTSTRAP Inform with the shared credential re-admits a device that has its own; " +
			"whoever holds the shared credential can take over any device, so keep it secret and use HTTPS")
	}
	return auth, nil
}

// startScripts loads the provisioning scripts and watches their directory
// for changes. A broken file is reported and left out; the others run.
// Files, when not nil, is the file store scripts hand devices URLs of.
func startScripts(ctx context.Context, cfg config.Config, st *sqlite.DB, files script.Files, log *slog.Logger) (*script.Engine, error) {
	secret, err := script.LoadSecret(filepath.Join(cfg.DataDir, "script.secret"))
	if err != nil {
		return nil, err
	}
	policy, err := script.ParseErrorPolicy(cfg.ScriptOnError)
	if err != nil {
		return nil, err
	}
	eng := script.New(script.Options{
		Dir: cfg.ScriptsDir, Store: st, Files: files, FileURLTTL: cfg.FilesURLTTL, Logger: log.With("component", "scripts"), Secret: secret,
		HandlerBudget: cfg.ScriptHandlerBudget, SessionBudget: cfg.ScriptSessionBudget, OnError: policy,
	})
	if _, err := eng.Load(); err != nil {
		return nil, err
	}
	go eng.Watch(ctx)
	return eng, nil
}

// splitList reads a comma-separated setting, ignoring empty entries.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// pluginProfiles adds the device profiles plugins announce after the
// configured ones, so that an operator's profile wins.
func pluginProfiles(configured []session.Profile, plugins *pluginhost.Host) []session.Profile {
	out := slices.Clone(configured)
	if plugins != nil {
		out = append(out, plugins.SessionProfiles()...)
	}
	return out
}

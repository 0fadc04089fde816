package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/connreq"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/nbi"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// apiSettings are the settings of the northbound API, the file store and
// connection requests, as `provisor serve` reads them from its
// configuration (the api.*, files.* and connreq.* keys).
type apiSettings struct {
	// Listen is the API's address (api.listen, default ":7557"); empty
	// runs no API listener (files and connection requests still work).
	Listen string
	// TLSCert and TLSKey are PEM files; both set serves HTTPS.
	TLSCert, TLSKey string
	// OnlineWindow: see nbi.Config.OnlineWindow (api.online_window).
	OnlineWindow time.Duration
	// Webhooks are URLs that receive every event, signed with
	// WebhookSecret (api.webhooks, comma-separated; api.webhook_secret).
	Webhooks      []string
	WebhookSecret string
	// AutoPromoteAfter: see nbi.Config (api.auto_promote_after).
	AutoPromoteAfter int

	// FilesDir holds file bytes (files.dir, default <data_dir>/files).
	FilesDir string
	// FilesBaseURL is how devices reach the CPE listener, e.g.
	// "https://acs.example.net:7547" (files.base_url).
	FilesBaseURL string
	// FilesURLTTL is the validity of URLs put into tasks (files.url_ttl,
	// default 168h); FilesMaxUpload caps device uploads
	// (files.max_upload_bytes, default 64 MiB).
	FilesURLTTL    time.Duration
	FilesMaxUpload int64

	// Connection requests (connreq.*): per-attempt timeout, least time
	// between two requests to one device, requests per second overall,
	// and default credentials ("{serial}" and "{id}" expand).
	ConnReqTimeout   time.Duration
	ConnReqPerDevice time.Duration
	ConnReqRate      float64
	ConnReqUsername  string
	ConnReqPassword  string
}

// apiService is the API with what it serves: built before the session
// engine (its hooks must be registered first), listening once the engine
// exists.
type apiService struct {
	settings apiSettings
	log      *slog.Logger
	api      *nbi.Server
	files    *filestore.Store
	cr       *connreq.Client
	srv      *http.Server
	ln       net.Listener
	errc     chan error
}

// openAPI builds the file store, the connection request client and the
// API on the store, and exposes the store's writer statistics.
func openAPI(ctx context.Context, s apiSettings, dataDir string, db *sqlite.DB, log *slog.Logger) (*apiService, error) {
	if s.FilesDir == "" {
		s.FilesDir = filepath.Join(dataDir, "files")
	}
	files, err := filestore.Open(ctx, db, filestore.Options{Dir: s.FilesDir, BaseURL: s.FilesBaseURL,
		MaxUpload: s.FilesMaxUpload, Log: log})
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	if s.FilesBaseURL == "" {
		log.Warn("files.base_url is not set: tasks and scripts cannot hand devices download or upload URLs")
	}
	cr := connreq.New(connreq.Config{Timeout: s.ConnReqTimeout, PerDevice: s.ConnReqPerDevice, Rate: s.ConnReqRate})
	var hooks []nbi.Webhook
	for _, u := range s.Webhooks {
		if u = strings.TrimSpace(u); u != "" {
			hooks = append(hooks, nbi.Webhook{URL: u, Secret: s.WebhookSecret})
		}
	}
	api, err := nbi.New(nbi.Config{
		Store: db, Files: files, ConnReq: cr, Log: log,
		OnlineWindow: s.OnlineWindow, FileURLTTL: s.FilesURLTTL, AutoPromoteAfter: s.AutoPromoteAfter,
		ConnReqUsername: s.ConnReqUsername, ConnReqPassword: s.ConnReqPassword, Webhooks: hooks,
	})
	if err != nil {
		cr.Close()
		return nil, err
	}
	metrics.RegisterStore(metrics.Default, func() metrics.StoreStats {
		st := db.Stats()
		return metrics.StoreStats{Batches: st.Batches, Ops: st.Ops, FailedOps: st.FailedOps, FailedBatches: st.FailedBatches,
			MaxBatch: st.MaxBatch, QueueDepth: st.QueueDepth, QueueCap: st.QueueCap, CommitTime: st.CommitTime,
			ParamWrites: st.ParamWrites, ParamSkips: st.ParamSkips}
	})
	return &apiService{settings: s, log: log, api: api, files: files, cr: cr, errc: make(chan error, 1)}, nil
}

// RegisterHooks adds the API's session hooks (events, connection request
// confirmation); call it before the session manager starts.
func (a *apiService) RegisterHooks(r *hook.Registry) { a.api.RegisterHooks(r) }

// SetPlugins lets the API accept tasks that run the plugins' functions;
// call it before Listen.
func (a *apiService) SetPlugins(p nbi.Plugins) { a.api.SetPlugins(p) }

// WatchSessions exposes the session engine's counters as metrics.
func (a *apiService) WatchSessions(m *session.Manager) {
	metrics.RegisterSessions(metrics.Default, func() metrics.SessionStats {
		return metrics.SessionStats{
			Started: m.Stats.Sessions.Load(), Completed: m.Stats.Completed.Load(), Failed: m.Stats.Failed.Load(),
			Superseded: m.Stats.Superseded.Load(), Refused: m.Stats.Refused.Load(),
			Live: m.Stats.Live.Load(), RPCs: m.Stats.RPCs.Load(),
		}
	})
}

// CPEHandler puts the device file URLs in front of the CWMP handler on
// the CPE listener.
func (a *apiService) CPEHandler(cwmp http.Handler) http.Handler {
	return filestore.Mount(a.files, cwmp)
}

// Listen starts the API listener; with no address configured it does
// nothing.
func (a *apiService) Listen() error {
	if a.settings.Listen == "" {
		return nil
	}
	if (a.settings.TLSCert == "") != (a.settings.TLSKey == "") {
		return errors.New("api: set both api.tls_cert and api.tls_key, or neither")
	}
	ln, err := net.Listen("tcp", a.settings.Listen)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	a.srv = &http.Server{
		Handler:           a.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.settings.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.settings.TLSCert, a.settings.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("api: TLS: %w", err)
		}
		a.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, a.srv.TLSConfig)
	}
	a.ln = ln
	go func() { a.errc <- a.srv.Serve(ln) }()
	a.log.Info("API listening", "api", ln.Addr().String(), "tls", a.settings.TLSCert != "")
	return nil
}

// Addr is the API listener's address, nil when not listening.
func (a *apiService) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Err reports the listener failing; nil channel reads block forever.
func (a *apiService) Err() <-chan error {
	if a.srv == nil {
		return nil
	}
	return a.errc
}

// Close stops the listener (waiting for requests until ctx ends; event
// streams are cut), webhook delivery and connection requests.
func (a *apiService) Close(ctx context.Context) error {
	var err error
	if a.srv != nil {
		// Streams never end on their own: close them with the hub first.
		a.api.Close()
		err = a.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = a.srv.Close()
		}
	} else {
		a.api.Close()
	}
	a.cr.Close()
	return err
}

// Package nbi is Provisor's northbound REST API: devices and their
// parameter trees, tasks (queued for the next session or run at once
// through a connection request), files, faults, history, a server-sent
// event stream and webhooks, bearer tokens with roles and an audit log of
// every state-changing call, Prometheus metrics and health checks.
//
// The API runs on its own listener. Every route but /healthz and /readyz
// needs a bearer token; errors are RFC 9457 problem documents that name
// the offending field. The routes are listed once, in routes, and the
// served OpenAPI document is checked against that list by a test.
package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/connreq"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/store"
)

// Store is what the API reads and writes.
type Store interface {
	store.Store
	store.APIStore
}

// Config configures a Server. Zero fields take the defaults noted.
type Config struct {
	Store Store
	// Files serves the file routes; nil makes them answer 503.
	Files *filestore.Store
	// ConnReq sends connection requests for tasks run now; nil makes
	// "run": "now" answer 409.
	ConnReq *connreq.Client
	// Plugins are the loaded plugins, whose functions tasks of kind
	// "plugin" run; nil refuses such tasks. See also SetPlugins.
	Plugins Plugins
	// Registry is exposed at /metrics (default metrics.Default).
	Registry *metrics.Registry
	Log      *slog.Logger

	// OnlineWindow, when set, is how recently a device must have informed
	// to count as online; zero uses each device's periodic inform interval
	// (plus slack), and OnlineFallback (default 1h) for devices whose
	// interval is unknown.
	OnlineWindow   time.Duration
	OnlineFallback time.Duration
	// MaxBodyBytes caps JSON request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxBulkDevices caps the devices one task creation by filter may
	// address (default 100000).
	MaxBulkDevices int
	// FileURLTTL is how long the download and upload URLs put into tasks
	// stay valid when the task itself does not expire sooner (default 7
	// days).
	FileURLTTL time.Duration
	// AuditKeep is how many audit records are kept (default 100000).
	AuditKeep int
	// AutoPromoteAfter promotes a parameter to an index once this many
	// device queries have had to read trees to filter on it; 0 disables.
	AutoPromoteAfter int
	// ConnReqUsername and ConnReqPassword are the connection request
	// credentials for devices without their own (see credentials); "{serial}"
	// and "{id}" are replaced by the device's serial number and ID.
	ConnReqUsername, ConnReqPassword string

	// Webhooks receive every event (see webhooks.go).
	Webhooks []Webhook
	// WebhookQueue bounds the events waiting per webhook (default 1000);
	// WebhookAttempts the tries per event (default 6), with back-off from
	// WebhookBackoff (default 1s) doubling up to a minute.
	WebhookQueue    int
	WebhookAttempts int
	WebhookBackoff  time.Duration
	// Heartbeat is the interval of comments on idle event streams (default
	// 15s), which keeps proxies from closing them.
	Heartbeat time.Duration

	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Registry == nil {
		c.Registry = metrics.Default
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.OnlineFallback <= 0 {
		c.OnlineFallback = time.Hour
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBulkDevices <= 0 {
		c.MaxBulkDevices = 100_000
	}
	if c.FileURLTTL <= 0 {
		c.FileURLTTL = 7 * 24 * time.Hour
	}
	if c.AuditKeep <= 0 {
		c.AuditKeep = 100_000
	}
	if c.WebhookQueue <= 0 {
		c.WebhookQueue = 1000
	}
	if c.WebhookAttempts <= 0 {
		c.WebhookAttempts = 6
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Plugins is what the API needs to know of the plugin host to accept
// tasks that run plugin functions.
type Plugins interface {
	// PluginIDs lists the plugins of the plugin directory.
	PluginIDs() []string
	// FunctionNames lists the functions a plugin exports, nil when it has
	// never started; ok is false when no plugin has the id.
	FunctionNames(id string) (names []string, ok bool)
}

// Server is the API. Create it with New, serve Handler, and Close it.
type Server struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	mux    *http.ServeMux
	events *hub
	hooks  []*webhook
	tokens tokenCache
	seen   recent // task events already published
	crSeen crInforms
	usage  filterUsage

	reqs           *metrics.Counter
	reqDur         *metrics.Histogram
	webhookCounter *metrics.Counter
	building       chan struct{} // wakes the index builder

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the API and starts its background work: webhook delivery,
// the promoted parameter index builder and audit log trimming.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("nbi: no store")
	}
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, st: cfg.Store, log: cfg.Log.With("component", "api"),
		events:   newHub(1024),
		seen:     newRecent(8192),
		crSeen:   crInforms{m: map[string]time.Time{}},
		usage:    filterUsage{m: map[string]int{}},
		building: make(chan struct{}, 1),
		ctx:      ctx, cancel: cancel,
	}
	s.tokens.ttl = 10 * time.Second
	s.reqs = cfg.Registry.NewCounter("provisor_api_requests_total", "API requests, by operation and status code.", "operation", "code")
	s.reqDur = cfg.Registry.NewHistogram("provisor_api_request_duration_seconds", "API request latency, by operation.", nil, "operation")
	s.registerMetrics()
	for _, w := range cfg.Webhooks {
		wh, err := s.newWebhook(w)
		if err != nil {
			cancel()
			return nil, err
		}
		s.hooks = append(s.hooks, wh)
	}
	s.mux = s.buildMux()
	for _, wh := range s.hooks {
		s.wg.Go(wh.run)
	}
	s.wg.Go(s.indexLoop)
	s.wg.Go(s.auditLoop)
	return s, nil
}

// SetPlugins gives the API the plugin host, which starts after the API is
// built (plugins use its file store). Call it before serving.
func (s *Server) SetPlugins(p Plugins) { s.cfg.Plugins = p }

// Close stops background work; webhook events still queued are dropped.
func (s *Server) Close() {
	s.cancel()
	s.events.close()
	s.wg.Wait()
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.mux }

// ---- routing ----

// Role is what a token may do. Each role may do what the roles below it
// may.
type Role int

// Roles.
const (
	RoleNone Role = iota // no token needed
	RoleViewer
	RoleOperator
	RoleAdmin
)

var roleNames = []string{"none", "viewer", "operator", "admin"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return "invalid"
	}
	return roleNames[r]
}

// ParseRole reads a role name; "none" is not a role a token can have.
func ParseRole(s string) (Role, bool) {
	for i, n := range roleNames[1:] {
		if s == n {
			return Role(i + 1), true
		}
	}
	return RoleNone, false
}

// route is one operation of the API; the OpenAPI document lists the same.
type route struct {
	method, path string // ServeMux pattern parts, also the OpenAPI path
	op           string // operationId
	role         Role
	h            func(*Server, http.ResponseWriter, *http.Request) error
}

func (rt route) mutating() bool {
	return rt.method != http.MethodGet && rt.method != http.MethodHead
}

func (s *Server) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, s.wrap(rt))
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	// Known paths with another method, and unknown paths, get problem
	// documents too.
	for p, methods := range allow {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeProblem(w, r, problem(http.StatusMethodNotAllowed, "method-not-allowed", "this path takes "+strings.Join(methods, ", ")))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem(http.StatusNotFound, "not-found", "no such route; see /api/v1/openapi.json"))
	})
	return mux
}

type ctxKey struct{}

// call is the state of one request that the middleware and the handler
// share.
type call struct {
	who    *principal
	target string
	detail map[string]any
	field  string // the request field a store error is about
}

func callOf(r *http.Request) *call {
	c, _ := r.Context().Value(ctxKey{}).(*call)
	if c == nil {
		return &call{}
	}
	return c
}

// note adds a detail to the audit record of this call.
func note(r *http.Request, key string, v any) {
	c := callOf(r)
	if c.detail == nil {
		c.detail = map[string]any{}
	}
	c.detail[key] = v
}

// target sets what the audit record says the call acted on.
func target(r *http.Request, t string) { callOf(r).target = t }

// about names the request field that store errors of this call concern.
func about(r *http.Request, field string) { callOf(r).field = field }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets the event stream push through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) wrap(rt route) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		c := &call{}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("API handler panicked", "op", rt.op, "panic", p, "stack", string(debug.Stack()))
				if w.status == 0 {
					writeProblem(w, r, problem(http.StatusInternalServerError, "internal", "internal error; see the server log"))
				}
			}
			code := w.status
			if code == 0 {
				code = http.StatusOK
			}
			s.reqs.Inc(rt.op, strconv.Itoa(code))
			s.reqDur.Observe(time.Since(start).Seconds(), rt.op)
			if rt.mutating() && c.who != nil {
				s.audit(r, rt, c, code)
			}
		}()
		if rt.role != RoleNone {
			who, p := s.authenticate(r)
			if p != nil {
				challenge(w, p)
				writeProblem(w, r, p)
				return
			}
			c.who = who
			if who.role < rt.role {
				writeProblem(w, r, problem(http.StatusForbidden, "forbidden",
					"this operation needs the "+rt.role.String()+" role; the token has "+who.role.String()))
				return
			}
		}
		if err := rt.h(s, w, r); err != nil {
			p, internal := toProblem(err, c.field)
			if internal {
				s.log.Error("API request failed", "op", rt.op, "path", r.URL.Path, "err", err)
			}
			writeProblem(w, r, p)
		}
	}
}

func (s *Server) audit(r *http.Request, rt route, c *call, status int) {
	rec := store.AuditRecord{
		Time: s.cfg.Now(), TokenID: c.who.id, Actor: c.who.name, Role: c.who.role.String(),
		Method: r.Method, Path: r.URL.Path, Action: rt.op, Target: c.target, Status: status, RemoteIP: clientIP(r),
	}
	if len(c.detail) > 0 {
		rec.Detail, _ = json.Marshal(c.detail)
	}
	// The audit write must not depend on the client staying connected.
	if err := s.st.RecordAudit(context.WithoutCancel(r.Context()), rec); err != nil {
		s.log.Error("audit record lost", "op", rt.op, "actor", c.who.name, "err", err)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ---- background work ----

// indexLoop advances promoted parameter index builds, in small steps so
// that sessions keep the writer. It runs at start (a build interrupted by
// a restart resumes) and whenever a parameter is promoted.
func (s *Server) indexLoop() {
	s.kickIndex()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.building:
		}
		for {
			done, err := s.st.BuildIndex(s.ctx, 500)
			if err != nil {
				if s.ctx.Err() == nil {
					s.log.Error("index build step failed", "err", err)
				}
				break
			}
			if done {
				break
			}
		}
	}
}

func (s *Server) kickIndex() {
	select {
	case s.building <- struct{}{}:
	default:
	}
}

func (s *Server) auditLoop() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := s.st.TrimAudit(s.ctx, s.cfg.AuditKeep); err != nil && s.ctx.Err() == nil {
			s.log.Warn("audit trim failed", "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

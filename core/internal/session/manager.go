// Package session runs CWMP sessions: it takes each POST a CPE sends,
// finds the session it belongs to, and drives that session from Inform to
// the final 204, firing the hook chain after the CPE's empty POST and
// writing what was learned to the store when the session ends.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
)

// CookieName is the session cookie the engine sets.
const CookieName = "provisor_session"

const storeWriteTimeout = 30 * time.Second

// Request is one POST from a CPE, as the HTTP layer hands it over.
type Request struct {
	// ConnID identifies the TCP connection; 0 when unknown.
	ConnID uint64
	// ConnClosed is closed when that connection goes away.
	ConnClosed <-chan struct{}
	// Cookies are the values of every provisor_session cookie sent.
	Cookies []string
	// RemoteIP is the CPE's address (after trusted-proxy handling).
	RemoteIP string
	// Body is the decompressed body.
	Body []byte
	// Authorize, when set, decides whether the POST may go on once the
	// device it is for is known; nil admits every POST.
	Authorize Authorizer
}

// Response is what the HTTP layer sends back.
type Response struct {
	Status     int
	Body       []byte
	SessionID  string // set the session cookie to this when not empty
	RetryAfter int    // seconds, for 503
	// Close asks the HTTP layer to close the connection after replying.
	Close bool
	// Problem is a short reason for a 4xx/5xx, for logs and the body.
	Problem string
	// Header holds extra response headers (WWW-Authenticate).
	Header http.Header
}

// Stats counts what the engine did; all fields are read atomically.
type Stats struct {
	Sessions, Completed, Failed, Superseded, Refused atomic.Int64
	Live                                             atomic.Int64
	RPCs                                             atomic.Int64
	// Shed counts Informs refused with 503 at the MaxSessions limit.
	Shed atomic.Int64
}

// Manager owns the live sessions.
type Manager struct {
	cfg   Config
	store store.Store
	hooks *hook.Registry
	log   *slog.Logger
	Stats Stats

	mu       sync.Mutex
	byID     map[string]*Session
	byConn   map[uint64]*Session
	byDevice map[string]*Session
	byMsgID  map[string]*Session
	closing  bool
	wg       sync.WaitGroup
	baseCtx  context.Context
	cancel   context.CancelFunc
	shedLog  logGate
}

// NewManager makes a manager; Close ends it.
func NewManager(cfg Config, st store.Store, hooks *hook.Registry, log *slog.Logger) *Manager {
	if hooks == nil {
		hooks = &hook.Registry{}
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg.withDefaults(), store: st, hooks: hooks, log: log,
		byID: map[string]*Session{}, byConn: map[uint64]*Session{},
		byDevice: map[string]*Session{}, byMsgID: map[string]*Session{},
		baseCtx: ctx, cancel: cancel,
	}
}

// Handle processes one POST and returns the reply. It blocks until the
// session has something to send: the answer to the CPE's message, the
// next RPC, or the end of the session.
func (m *Manager) Handle(ctx context.Context, r *Request) *Response {
	env, err := soap.Decode(r.Body, m.cfg.Limits)
	if err != nil {
		s, bound := m.find(r, nil)
		if r.Authorize != nil && !bound {
			// Only the session's own connection or cookie may end it:
			// anyone else's garbage must not.
			s = nil
		}
		if s != nil {
			s.log.Warn("undecodable message from device; ending session", "err", err)
			s.kill(errors.New("undecodable message: " + err.Error()))
		} else {
			m.log.Warn("undecodable message", "remote", r.RemoteIP, "err", err)
		}
		if soap.IsLimit(err) {
			return &Response{Status: http.StatusRequestEntityTooLarge, Problem: err.Error(), Close: true}
		}
		return &Response{Status: http.StatusBadRequest, Problem: err.Error(), Close: true}
	}
	if env != nil {
		if in, ok := env.Body.(*cwmp.Inform); ok {
			return m.startSession(ctx, r, env, in)
		}
	}
	s, bound := m.find(r, env)
	if s == nil {
		if env == nil {
			// An empty POST nobody waits for, typically after a restart:
			// ending the CPE's session cleanly costs nothing.
			m.log.Info("empty POST outside any session", "remote", r.RemoteIP)
			return &Response{Status: http.StatusNoContent}
		}
		m.log.Warn("message before Inform", "remote", r.RemoteIP, "method", env.Body.Method())
		return &Response{Status: http.StatusBadRequest, Problem: "no session: the first message of a session must be an Inform", Close: true}
	}
	if r.Authorize != nil {
		t := Target{DeviceID: s.deviceID, Device: s.inform.DeviceID, Profile: s.profile, Bound: bound, Session: s.auth}
		if _, deny := r.Authorize(ctx, t); deny != nil {
			return deny
		}
	}
	return s.deliver(ctx, r, env)
}

// Bound reports whether a POST comes on the connection or with the cookie
// of a live session, which the HTTP layer uses to spare a session's own
// POSTs the checks meant for newcomers.
func (m *Manager) Bound(r *Request) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, bound := m.boundSession(r)
	return bound
}

// find correlates a POST with its session: by TCP connection first, then by
// cookie, then by the cwmp:ID of a response, and for an empty POST that
// has none of these, by the source address when exactly one session from
// there waits for it. When the connection and a cookie name different live
// sessions, the cookie wins: one connection carrying several devices' POSTs
// is a proxy or pool multiplexing them, and only the cookie is the
// device's own. bound is set when the cookie or the connection matched.
func (m *Manager) find(r *Request, env *cwmp.Envelope) (s *Session, bound bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.boundSession(r); ok {
		return s, true
	}
	if env != nil && env.Header.HasID {
		if s := m.byMsgID[env.Header.ID]; s != nil && !s.isDone() {
			return s, false
		}
	}
	var found *Session
	for _, s := range m.byDevice {
		// Any live session from that address qualifies, not only one already
		// waiting: the CPE's empty POST may arrive before the session's
		// goroutine is back to waiting for it.
		if s.remoteIP == r.RemoteIP && !s.isDone() {
			if found != nil {
				return nil, false // ambiguous: refuse to guess
			}
			found = s
		}
	}
	return found, false
}

// boundSession finds the live session by cookie, then by connection; m.mu
// is held.
func (m *Manager) boundSession(r *Request) (*Session, bool) {
	for _, c := range r.Cookies {
		if s := m.byID[c]; s != nil && !s.isDone() {
			return s, true
		}
	}
	if r.ConnID != 0 {
		if s := m.byConn[r.ConnID]; s != nil && !s.isDone() {
			return s, true
		}
	}
	return nil, false
}

func (m *Manager) startSession(ctx context.Context, r *Request, env *cwmp.Envelope, in *cwmp.Inform) *Response {
	id := in.DeviceID
	if id.OUI == "" || id.SerialNumber == "" {
		m.log.Warn("Inform without OUI or SerialNumber", "remote", r.RemoteIP, "oui", id.OUI, "serial", id.SerialNumber)
		return m.faultResponse(env, cwmp.FaultACSInvalidArguments, "DeviceId needs OUI and SerialNumber")
	}
	deviceID := store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber)
	log := m.log.With("device", deviceID)
	prof := m.cfg.profileFor(id)
	// Shed before authenticating: an overloaded server has no CPU to spare
	// for checking credentials it cannot serve.
	if m.full() && !m.hasLive(deviceID) {
		return m.shed(deviceID)
	}
	var auth AuthInfo
	if r.Authorize != nil {
		a, deny := r.Authorize(ctx, Target{DeviceID: deviceID, Device: id, Profile: prof, Inform: true, Bootstrap: informHas(in, cwmp.EventBootstrap)})
		if deny != nil {
			return deny
		}
		auth = a
	}

	// One live session per device.
	for attempt := 0; ; attempt++ {
		m.mu.Lock()
		if m.closing {
			m.mu.Unlock()
			return &Response{Status: http.StatusServiceUnavailable, RetryAfter: 30, Problem: "shutting down", Close: true}
		}
		old := m.byDevice[deviceID]
		if old == nil || old.isDone() {
			if old == nil && m.full() {
				m.mu.Unlock()
				return m.shed(deviceID)
			}
			s := m.newSession(deviceID, r, env, in, prof, auth, log)
			m.mu.Unlock()
			return s.deliver(ctx, r, env)
		}
		sameClient := (r.ConnID != 0 && old.connID.Load() == r.ConnID) || old.hasCookie(r.Cookies)
		m.mu.Unlock()
		switch {
		case sameClient || old.connDead():
			// The CPE has given up on the old session: it opened a new one
			// on the same connection, or the old one's connection is gone.
			old.log.Info("session superseded by a new Inform")
			m.Stats.Superseded.Add(1)
			old.kill(errSuperseded)
			old.waitDone(ctx, 5*time.Second)
		case attempt == 0:
			old.waitDone(ctx, m.cfg.SupersedeWait)
		default:
			m.Stats.Refused.Add(1)
			log.Warn("Inform while the device's session is still live; asked to retry")
			return &Response{Status: http.StatusServiceUnavailable, RetryAfter: 5, Problem: "a session for this device is in progress", Close: true}
		}
	}
}

var errSuperseded = errors.New("superseded by a new session")

func (m *Manager) faultResponse(env *cwmp.Envelope, code cwmp.FaultCode, msg string) *Response {
	out := &cwmp.Envelope{Namespace: env.Namespace, Body: cwmp.NewFault(code, msg)}
	if env.Header.HasID {
		out.Header.ID, out.Header.HasID = env.Header.ID, true
	}
	return &Response{Status: http.StatusInternalServerError, Body: soap.Encode(nil, out, soap.Options{}), Problem: msg}
}

// hasLive reports whether the device has a live session.
func (m *Manager) hasLive(deviceID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.byDevice[deviceID]
	return s != nil && !s.isDone()
}

// newSession registers a session; m.mu is held.
func (m *Manager) newSession(deviceID string, r *Request, env *cwmp.Envelope, in *cwmp.Inform, prof Profile, auth AuthInfo, log *slog.Logger) *Session {
	sid := newID()
	ctx, cancel := context.WithTimeout(m.baseCtx, m.cfg.SessionTimeout)
	s := &Session{
		m: m, id: sid, deviceID: deviceID, inform: in, env: env,
		remoteIP: r.RemoteIP, profile: prof, auth: auth,
		inbox: make(chan *exchange), done: make(chan struct{}), killed: make(chan struct{}),
		ctx: ctx, cancel: cancel, start: time.Now(),
		log:      log.With("session", sid),
		learned:  map[string]store.Param{},
		exchange: m.cfg.ExchangeTimeout,
		batch:    m.cfg.GPVBatchSize,
	}
	if prof.ExchangeTimeout > 0 {
		s.exchange = prof.ExchangeTimeout
	}
	if prof.GPVBatchSize > 0 {
		s.batch = prof.GPVBatchSize
	}
	s.connID.Store(r.ConnID)
	s.connClosed.Store(&r.ConnClosed)
	m.byID[sid] = s
	m.byDevice[deviceID] = s
	if r.ConnID != 0 {
		m.byConn[r.ConnID] = s
	}
	m.Stats.Sessions.Add(1)
	m.Stats.Live.Add(1)
	m.wg.Add(1)
	go s.run()
	return s
}

// bindConn records the connection a session's latest POST came on.
func (m *Manager) bindConn(s *Session, connID uint64) {
	if connID == 0 || s.connID.Load() == connID {
		return
	}
	m.mu.Lock()
	if old := s.connID.Load(); old != 0 && m.byConn[old] == s {
		delete(m.byConn, old)
	}
	m.byConn[connID] = s
	m.mu.Unlock()
	s.connID.Store(connID)
}

func (m *Manager) registerMsgID(s *Session, id string) {
	m.mu.Lock()
	m.byMsgID[id] = s
	m.mu.Unlock()
}

func (m *Manager) unregisterMsgID(id string) {
	m.mu.Lock()
	delete(m.byMsgID, id)
	m.mu.Unlock()
}

// remove drops a finished session from every index.
func (m *Manager) remove(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, s.id)
	if m.byDevice[s.deviceID] == s {
		delete(m.byDevice, s.deviceID)
	}
	if c := s.connID.Load(); c != 0 && m.byConn[c] == s {
		delete(m.byConn, c)
	}
	for k, v := range m.byMsgID {
		if v == s {
			delete(m.byMsgID, k)
		}
	}
}

// ConnClosed tells the manager a TCP connection is gone, so that a session
// bound to it is known to be dead if its CPE comes back with a new Inform.
func (m *Manager) ConnClosed(connID uint64) {
	m.mu.Lock()
	delete(m.byConn, connID)
	m.mu.Unlock()
}

// Live returns the number of live sessions.
func (m *Manager) Live() int { return int(m.Stats.Live.Load()) }

// Close stops accepting sessions and waits for the live ones to finish,
// until ctx ends; then it cuts them off. Each session writes what it
// learned before it ends.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.cancel()
		return nil
	case <-ctx.Done():
	}
	m.cancel() // every session's context ends: calls fail, sessions write and exit
	<-done
	return ctx.Err()
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// msgID makes the cwmp:ID of the n-th request of a session.
func msgID(sessionID string, n int) string { return sessionID[:8] + "." + strconv.Itoa(n) }

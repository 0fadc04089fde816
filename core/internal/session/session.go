package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
)

// exchange is one POST waiting for its reply.
type exchange struct {
	env   *cwmp.Envelope // nil for the empty POST
	reply chan *Response // buffered: the session never blocks on a gone client
}

type phase int32

const (
	phaseCPE phase = iota // the CPE is sending its requests
	phaseACS              // the handlers are calling the device
	phaseDone
)

// Session is one live CWMP session. Its goroutine owns all fields but the
// atomics and the channels.
type Session struct {
	m        *Manager
	id       string
	deviceID string
	inform   *cwmp.Inform
	env      *cwmp.Envelope // the Inform's envelope
	remoteIP string
	profile  Profile
	auth     AuthInfo
	log      *slog.Logger
	start    time.Time
	exchange time.Duration
	batch    int

	ctx    context.Context
	cancel context.CancelFunc

	inbox   chan *exchange
	done    chan struct{}
	killed  chan struct{}
	killErr atomic.Pointer[error]

	connID     atomic.Uint64
	connClosed atomic.Pointer[<-chan struct{}]
	phase      atomic.Int32

	// Owned by the session goroutine.
	dev        hook.Device
	version    cwmp.Version
	ns         string
	opts       soap.Options
	owed       *exchange // the POST whose reply is still to be sent
	seq        int
	requests   []cwmp.Body
	rpcs       int
	learned    map[string]store.Param
	tree       store.ParamTree // the stored tree, loaded on first use
	treeLoaded bool
	deletes    []string
	faults     []store.FaultRecord
	errs       []string
	// closing names the transfer after which the device is applying a
	// file and must get no further RPC (Profile.TransferEndsSession).
	closing string
}

// deliver hands a POST to the session and waits for the reply.
func (s *Session) deliver(ctx context.Context, r *Request, env *cwmp.Envelope) *Response {
	s.m.bindConn(s, r.ConnID)
	if r.ConnClosed != nil {
		s.connClosed.Store(&r.ConnClosed)
	}
	ex := &exchange{env: env, reply: make(chan *Response, 1)}
	select {
	case s.inbox <- ex:
	case <-s.done:
		return &Response{Status: http.StatusNoContent}
	case <-ctx.Done():
		return &Response{Status: http.StatusServiceUnavailable, Close: true}
	}
	select {
	case resp := <-ex.reply:
		if resp.Status == http.StatusOK || resp.Status == http.StatusNoContent {
			resp.SessionID = s.id
		}
		return resp
	case <-ctx.Done():
		// The client went away; the session notices at its next wait.
		return &Response{Status: http.StatusServiceUnavailable, Close: true}
	}
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Session) hasCookie(cookies []string) bool { return slices.Contains(cookies, s.id) }

// connDead reports whether the connection of the session's last POST is
// known to be closed.
func (s *Session) connDead() bool {
	p := s.connClosed.Load()
	if p == nil || *p == nil {
		return false
	}
	select {
	case <-*p:
		return true
	default:
		return false
	}
}

func (s *Session) kill(err error) {
	if s.killErr.CompareAndSwap(nil, &err) {
		close(s.killed)
	}
}

func (s *Session) waitDone(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// next waits for the CPE's next POST, for at most the exchange timeout.
func (s *Session) next() (*exchange, error) {
	t := time.NewTimer(s.exchange)
	defer t.Stop()
	select {
	case ex := <-s.inbox:
		return ex, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: no message from the device for %v", hook.ErrSessionEnded, s.exchange)
	case <-s.killed:
		return nil, fmt.Errorf("%w: %v", hook.ErrSessionEnded, *s.killErr.Load())
	case <-s.ctx.Done():
		return nil, fmt.Errorf("%w: %v", hook.ErrSessionEnded, context.Cause(s.ctx))
	}
}

func (s *Session) send(ex *exchange, status int, env *cwmp.Envelope) {
	var body []byte
	if env != nil {
		body = soap.Encode(make([]byte, 0, 1024), env, s.opts)
	}
	ex.reply <- &Response{Status: status, Body: body}
}

func (s *Session) reply(ex *exchange, body cwmp.Body, extra cwmp.Header) {
	out := &cwmp.Envelope{Namespace: s.ns, Header: extra, Body: body}
	if ex.env != nil && ex.env.Header.HasID {
		out.Header.ID, out.Header.HasID = ex.env.Header.ID, true
	}
	status := http.StatusOK
	if _, ok := body.(*cwmp.Fault); ok {
		status = http.StatusInternalServerError
	}
	s.send(ex, status, out)
}

// run drives the session from its Inform to its end.
func (s *Session) run() {
	var outcome = "ok"
	defer func() {
		if p := recover(); p != nil {
			outcome = "panic"
			s.log.Error("session panicked", "panic", p, "stack", string(debug.Stack()))
			s.errs = append(s.errs, fmt.Sprint("panic: ", p))
		}
		s.finish(outcome)
	}()

	first, err := s.next()
	if err != nil {
		outcome = "timeout"
		return
	}
	if !s.informed(first) {
		outcome = "refused"
		return
	}
	// The CPE's own requests, until its empty POST.
	for {
		ex, err := s.next()
		if err != nil {
			s.errs = append(s.errs, err.Error())
			outcome = "cpe-timeout"
			return
		}
		if ex.env == nil {
			s.owed = ex
			break
		}
		s.cpeRequest(ex)
	}
	s.phase.Store(int32(phaseACS))
	for _, h := range s.m.hooks.Handlers() {
		if s.closing != "" {
			break // the device applies a transfer: the rest waits
		}
		if err := s.runHandler(h); err != nil {
			if errors.Is(err, hook.ErrSessionEnded) && s.closing == "" {
				outcome = "cpe-timeout"
				return
			}
		}
	}
	if s.owed == nil {
		outcome = "cpe-timeout"
		return
	}
	s.terminate()
}

func (s *Session) runHandler(h hook.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panicked", "handler", h.Name(), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler %s panicked: %v", h.Name(), p)
			s.errs = append(s.errs, err.Error())
		}
	}()
	err = h.Run(s.ctx, s)
	if err != nil && errors.Is(err, hook.ErrSessionClosing) {
		return err // the session ends as planned: nothing to record
	}
	if err != nil {
		var f *cwmp.Fault
		if errors.As(err, &f) || !errors.Is(err, hook.ErrSessionEnded) {
			s.log.Warn("handler failed", "handler", h.Name(), "err", err)
		}
		s.errs = append(s.errs, h.Name()+": "+err.Error())
	}
	return err
}

// terminate ends the session the old way for devices that need it: an
// empty 200, the CPE's empty POST, and then the final reply that finish
// sends. The usual ending is the 204 that finish sends once what the
// session learned is durable.
func (s *Session) terminate() {
	if !s.profile.EmptyBodyTermination {
		return
	}
	s.owed.reply <- &Response{Status: http.StatusOK}
	s.owed = nil
	if ex, err := s.next(); err == nil {
		s.owed = ex
	}
}

// informed handles the Inform: identifies the device, negotiates the
// version and answers InformResponse. False means the session is refused.
func (s *Session) informed(ex *exchange) bool {
	env, in := ex.env, s.inform
	s.ns = env.Namespace
	if s.ns == "" {
		s.ns = cwmp.NS10
	}
	s.opts = soap.Options{NumericBooleans: s.profile.NumericBooleans, NumericNextLevel: s.profile.NumericNextLevel, DateTimeMillis: s.profile.DateTimeMillis}
	if !cwmp.IsNamespace(env.Namespace) || func() bool { _, ok := cwmp.VersionOfNamespace(env.Namespace); return !ok }() {
		s.log.Warn("unknown CWMP namespace; answering in it", "namespace", env.Namespace)
	}
	var extra cwmp.Header
	s.version = env.Version()
	maxV, capped, err := s.profile.maxVersion()
	if err != nil {
		s.log.Warn("profile ignored: bad max CWMP version", "profile", s.profile.Name, "err", err)
	}
	if env.Header.SupportedCWMPVersions != "" {
		offered := cwmp.ParseVersionList(env.Header.SupportedCWMPVersions)
		if capped {
			under := slices.DeleteFunc(slices.Clone(offered), func(v cwmp.Version) bool { return maxV.Less(v) })
			if len(under) > 0 {
				offered = under
			} else {
				s.log.Warn("the device offers no CWMP version up to its profile's cap; using its own", "offered", env.Header.SupportedCWMPVersions, "max", maxV.String(), "profile", s.profile.Name)
			}
		}
		v, ok := cwmp.Negotiate(offered)
		if !ok {
			s.log.Warn("no common CWMP version", "offered", env.Header.SupportedCWMPVersions)
			s.reply(ex, cwmp.NewFault(cwmp.FaultACSVersionIncompatible, ""), cwmp.Header{})
			return false
		}
		s.version = v
		extra.UseCWMPVersion = v.String()
	} else if capped && maxV.Less(s.version) {
		s.version = maxV
	}
	err = s.m.deviceKnown(s.ctx, s.deviceID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("store unavailable; refusing session", "err", err)
		s.reply(ex, cwmp.NewFault(cwmp.FaultACSRetryRequest, "store unavailable"), cwmp.Header{})
		return false
	}
	s.dev = hook.Device{
		ID: s.deviceID, Manufacturer: in.DeviceID.Manufacturer, OUI: in.DeviceID.OUI,
		ProductClass: in.DeviceID.ProductClass, SerialNumber: in.DeviceID.SerialNumber,
		New: errors.Is(err, store.ErrNotFound), Root: modelRoot(in.ParameterList), Version: s.version,
	}
	for _, p := range in.ParameterList {
		s.learn(store.ValueParam(p.Name, p.Value.Text, string(p.Value.Type), s.start))
	}
	s.reply(ex, &cwmp.InformResponse{MaxEnvelopes: 1}, extra)
	return true
}

// modelRoot finds the data-model root from the Inform's parameter names.
func modelRoot(params []cwmp.ParameterValue) string {
	for _, p := range params {
		if root, _, ok := strings.Cut(p.Name, "."); ok && root != "" {
			return root + "."
		}
	}
	return "Device."
}

// cpeRequest answers a request the CPE sent before its empty POST.
func (s *Session) cpeRequest(ex *exchange) {
	body := ex.env.Body
	if body == nil {
		s.reply(ex, cwmp.NewFault(cwmp.FaultACSInvalidArguments, "empty Body"), cwmp.Header{})
		return
	}
	var resp cwmp.Body
	switch body.(type) {
	case *cwmp.TransferComplete:
		resp = &cwmp.TransferCompleteResponse{}
	case *cwmp.AutonomousTransferComplete:
		resp = &cwmp.AutonomousTransferCompleteResponse{}
	case *cwmp.GetRPCMethods:
		resp = &cwmp.GetRPCMethodsResponse{MethodList: cwmp.ACSMethods}
	case *cwmp.RequestDownload:
		resp = &cwmp.RequestDownloadResponse{}
	case *cwmp.DUStateChangeComplete:
		resp = &cwmp.DUStateChangeCompleteResponse{}
	case *cwmp.AutonomousDUStateChangeComplete:
		resp = &cwmp.AutonomousDUStateChangeCompleteResponse{}
	case *cwmp.Kicked:
		resp = &cwmp.KickedResponse{}
	case *cwmp.Inform:
		s.log.Warn("second Inform in one session")
		s.reply(ex, cwmp.NewFault(cwmp.FaultACSRequestDenied, "Inform already received in this session"), cwmp.Header{})
		return
	case *cwmp.Unknown:
		s.log.Warn("unknown method from device", "method", body.Method())
		s.reply(ex, cwmp.NewFault(cwmp.FaultACSMethodNotSupported, "method "+body.Method()+" is not supported"), cwmp.Header{})
		return
	default:
		// A response or a method only the ACS calls.
		s.log.Warn("unexpected message from device", "method", body.Method())
		s.reply(ex, cwmp.NewFault(cwmp.FaultACSMethodNotSupported, body.Method()+" is not a request the ACS serves"), cwmp.Header{})
		return
	}
	s.requests = append(s.requests, body)
	for _, h := range s.m.hooks.Handlers() {
		rh, ok := h.(hook.RequestHandler)
		if !ok {
			continue
		}
		if err := s.onRequest(h.Name(), rh, body); err != nil {
			s.log.Warn("request handler failed", "handler", h.Name(), "method", body.Method(), "err", err)
			s.errs = append(s.errs, h.Name()+": "+err.Error())
			if errors.Is(err, ErrRetryRequest) {
				// A transient failure (the store is busy): the CPE keeps
				// the request and sends it again, which is TR-069's way.
				s.reply(ex, cwmp.NewFault(cwmp.FaultACSRetryRequest, ""), cwmp.Header{})
				return
			}
		}
	}
	s.reply(ex, resp, cwmp.Header{})
}

// ErrRetryRequest makes the session answer a CPE request with fault 8005,
// so that the CPE sends it again later.
var ErrRetryRequest = errors.New("retry request")

func (s *Session) onRequest(name string, rh hook.RequestHandler, body cwmp.Body) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("request handler panicked", "handler", name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return rh.OnRequest(s.ctx, s, body)
}

// ---- hook.Session ----

func (s *Session) ID() string            { return s.id }
func (s *Session) Device() hook.Device   { return s.dev }
func (s *Session) Inform() *cwmp.Inform  { return s.inform }
func (s *Session) Requests() []cwmp.Body { return s.requests }
func (s *Session) Start() time.Time      { return s.start }
func (s *Session) Logger() *slog.Logger  { return s.log }
func (s *Session) HasEvent(code cwmp.EventCode) bool {
	for _, e := range s.inform.Events {
		if cwmp.ParseEvent(string(e.EventCode)).Code == code {
			return true
		}
	}
	return false
}

// Call sends one RPC and waits for the device's answer.
func (s *Session) Call(ctx context.Context, req cwmp.Body) (cwmp.Body, error) {
	if phase(s.phase.Load()) != phaseACS {
		return nil, hook.ErrNotNow
	}
	if s.closing != "" {
		return nil, fmt.Errorf("%w (%s)", hook.ErrSessionClosing, s.closing)
	}
	if s.owed == nil {
		return nil, fmt.Errorf("%w: the device is no longer reachable", hook.ErrSessionEnded)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", hook.ErrSessionEnded, err)
	}
	s.seq++
	id := msgID(s.id, s.seq)
	s.m.registerMsgID(s, id)
	defer s.m.unregisterMsgID(id)
	s.send(s.owed, http.StatusOK, &cwmp.Envelope{Namespace: s.ns, Header: cwmp.Header{ID: id, HasID: true}, Body: req})
	s.owed = nil
	s.rpcs++
	s.m.Stats.RPCs.Add(1)
	ex, err := s.next()
	if err != nil {
		return nil, err
	}
	s.owed = ex
	if ex.env == nil {
		return nil, fmt.Errorf("device sent an empty message instead of answering %s", req.Method())
	}
	if ex.env.Header.HasID && ex.env.Header.ID != id {
		s.log.Debug("response carries another cwmp:ID", "want", id, "got", ex.env.Header.ID)
	}
	switch b := ex.env.Body.(type) {
	case *cwmp.Fault:
		s.recordFault(ctx, req.Method(), b)
		s.m.hooks.NotifyFault(ctx, s, req, b)
		return nil, b
	case nil:
		return nil, fmt.Errorf("device sent an empty Body instead of answering %s", req.Method())
	default:
		s.learnFrom(req, b)
		s.noteTransfer(req)
		return b, nil
	}
}

// noteTransfer closes the session once the device has accepted a transfer
// that its profile says it applies at once.
func (s *Session) noteTransfer(req cwmp.Body) {
	var fileType string
	switch r := req.(type) {
	case *cwmp.Download:
		fileType = r.FileType
	case *cwmp.Upload:
		fileType = r.FileType
	default:
		return
	}
	if !s.profile.endsSession(fileType) {
		return
	}
	s.closing = req.Method() + " " + fileType
	s.log.Info("the device applies a transfer that ends the session; sending it nothing more", "method", req.Method(), "file_type", fileType, "profile", s.profile.Name)
}

// Closing reports whether the device is applying a transfer after which
// the session sends no more RPCs (see hook.Closing).
func (s *Session) Closing() bool { return s.closing != "" }

// finish ends the session: answers a POST still owed, writes what was
// learned, and lets the device start a new session.
func (s *Session) finish(outcome string) {
	s.phase.Store(int32(phaseDone))
	if s.dev.ID != "" {
		s.m.hooks.NotifyEnd(s.ctx, s, hook.Ending{Outcome: outcome, Errors: s.errs})
	}
	// Write before the final reply: when the CPE sees its session end,
	// everything the session learned is durable.
	if s.dev.ID != "" {
		s.persist(outcome)
	}
	if s.owed != nil {
		s.owed.reply <- &Response{Status: http.StatusNoContent}
		s.owed = nil
	}
	close(s.done)
	// Drain a POST that raced with the end.
	select {
	case ex := <-s.inbox:
		ex.reply <- &Response{Status: http.StatusNoContent}
	default:
	}
	s.m.remove(s)
	s.cancel()
	s.m.Stats.Live.Add(-1)
	if outcome == "ok" {
		s.m.Stats.Completed.Add(1)
	} else {
		s.m.Stats.Failed.Add(1)
	}
	events := make([]string, len(s.inform.Events))
	for i, e := range s.inform.Events {
		events[i] = string(e.EventCode)
	}
	s.log.Info("session", "events", strings.Join(events, ","), "rpcs", s.rpcs, "duration", time.Since(s.start).Round(time.Millisecond), "outcome", outcome, "ip", s.remoteIP)
	s.m.wg.Done()
}

// deviceKnown returns nil for a stored device and an error wrapping
// store.ErrNotFound for a new one, by the cheapest means the store offers.
func (m *Manager) deviceKnown(ctx context.Context, id string) error {
	if ex, ok := m.store.(store.DeviceExister); ok {
		found, err := ex.DeviceExists(ctx, id)
		if err == nil && !found {
			err = fmt.Errorf("%w: device %q", store.ErrNotFound, id)
		}
		return err
	}
	_, err := m.store.Device(ctx, id)
	return err
}

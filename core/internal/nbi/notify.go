package nbi

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/connreq"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/store"
)

// Notifier is what the session engine tells the API. Server implements
// it. RegisterHooks wires it through the hook registry, which needs no
// engine change; an engine may also call it directly (TaskFinished right
// after it stores a task's new state is the most precise). Events are
// deduplicated, so both paths may be used at once.
type Notifier interface {
	// SessionEnded is called once per session that got past its Inform.
	// Through the hook registry it comes before the engine stores what
	// the session learned (task states are stored already).
	SessionEnded(ctx context.Context, e SessionEnd)
	// TaskFinished is called when a task reaches done, fault, expired,
	// cancelled or waiting-transfer.
	TaskFinished(ctx context.Context, t store.Task)
}

var _ Notifier = (*Server)(nil)

// SessionEnd describes a finished session.
type SessionEnd struct {
	SessionID string
	DeviceID  string
	Events    []string
	Started   time.Time
	Ended     time.Time
	Outcome   string
	RemoteIP  string
}

// SessionEnded implements Notifier.
func (s *Server) SessionEnded(ctx context.Context, e SessionEnd) {
	if e.Ended.IsZero() {
		e.Ended = s.cfg.Now()
	}
	metrics.SessionEnded(e.Outcome, e.Ended.Sub(e.Started))
	s.Publish(EventSessionEnded, e.DeviceID, map[string]any{
		"sessionId": e.SessionID, "events": e.Events, "outcome": e.Outcome,
		"durationMs": e.Ended.Sub(e.Started).Milliseconds(),
	})
	// Tasks the session finished that no earlier notification covered
	// (a session that died before the last handler ran).
	s.publishTasks(ctx, e.DeviceID, e.Started)
}

// TaskFinished implements Notifier.
func (s *Server) TaskFinished(ctx context.Context, t store.Task) {
	if !finished(t.State) {
		return
	}
	key := taskKey(t)
	if !s.seen.add(key) {
		return
	}
	data := map[string]any{"taskId": t.ID, "kind": t.Kind, "state": t.State, "attempts": t.Attempts}
	if t.Fault != nil {
		data["fault"] = apiTaskFault{Code: t.Fault.Code, Message: t.Fault.Message, Detail: t.Fault.Detail}
	}
	s.Publish(EventTaskFinished, t.DeviceID, data)
	if t.State == store.StateFault && t.Fault != nil {
		s.Publish(EventFault, t.DeviceID, map[string]any{"taskId": t.ID, "code": t.Fault.Code, "message": t.Fault.Message})
	}
}

func finished(st store.TaskState) bool {
	return st.Final() || st == store.StateFault || st == store.StateWaitingTransfer
}

func taskKey(t store.Task) string {
	return strings.Join([]string{itoa64(t.ID), string(t.State), itoa64(t.Updated.UnixMilli())}, "/")
}

// publishTasks publishes the device's tasks finished since a time.
func (s *Server) publishTasks(ctx context.Context, deviceID string, since time.Time) {
	// Store times are in milliseconds; a task finished in the same
	// millisecond as the session began still counts.
	since = since.Add(-time.Millisecond)
	if h, ok := s.st.(store.TaskHints); ok && !h.MayHaveTaskChanges(deviceID, since) {
		return // the session touched no task: no query
	}
	tasks, err := s.st.TasksUpdatedSince(ctx, deviceID, since)
	if err != nil {
		s.log.Debug("tasks of the session not read", "device", deviceID, "err", err)
		return
	}
	for _, t := range tasks {
		s.TaskFinished(ctx, t)
	}
}

// RegisterHooks adds the API's handlers to the session hook chain: one
// first, which announces the Inform (and confirms a pending connection
// request when the Inform says "6 CONNECTION REQUEST"), and one last,
// which announces the tasks the session finished and watches faults and
// session ends.
func (s *Server) RegisterHooks(r *hook.Registry) {
	r.Register(hook.StageBuiltin-10, informHook{s})
	r.Register(hook.StageTasks+100, &afterHook{s: s})
}

type informHook struct{ s *Server }

func (informHook) Name() string { return "api-inform" }

func (h informHook) Run(ctx context.Context, sess hook.Session) error {
	s := h.s
	in := sess.Inform()
	events := make([]string, 0, len(in.Events))
	for _, e := range in.Events {
		events = append(events, string(e.EventCode))
	}
	dev := sess.Device()
	s.Publish(EventDeviceInformed, dev.ID, map[string]any{"sessionId": sess.ID(), "events": events, "new": dev.New})
	if sess.HasEvent(cwmp.EventConnectionRequest) {
		// The device answered a connection request by opening this
		// session: that request succeeded, whatever its GET returned.
		s.crSeen.set(dev.ID, sess.Start())
		if err := s.st.ConfirmConnReq(ctx, dev.ID, sess.Start().Add(-5*time.Minute), sess.Start()); err != nil {
			s.log.Debug("connection request not confirmed", "device", dev.ID, "err", err)
		}
	}
	return nil
}

type afterHook struct{ s *Server }

func (*afterHook) Name() string { return "api-events" }

// Run announces what the session's handlers finished.
func (h *afterHook) Run(ctx context.Context, sess hook.Session) error {
	h.s.publishTasks(ctx, sess.Device().ID, sess.Start())
	return nil
}

// SessionEnd implements hook.SessionEnder.
func (h *afterHook) SessionEnd(ctx context.Context, sess hook.Session, e hook.Ending) {
	in := sess.Inform()
	events := make([]string, 0, len(in.Events))
	for _, ev := range in.Events {
		events = append(events, string(ev.EventCode))
	}
	h.s.SessionEnded(ctx, SessionEnd{SessionID: sess.ID(), DeviceID: sess.Device().ID, Events: events,
		Started: sess.Start(), Ended: h.s.cfg.Now(), Outcome: e.Outcome})
}

// OnFault implements hook.FaultObserver: every fault a device returns,
// whichever handler provoked it.
func (h *afterHook) OnFault(ctx context.Context, sess hook.Session, req cwmp.Body, f *cwmp.Fault) {
	method := ""
	if req != nil {
		method = req.Method()
	}
	data := map[string]any{"sessionId": sess.ID(), "method": method, "code": int(f.Code), "message": f.String}
	if id := hook.TaskOf(ctx); id != 0 {
		data["taskId"] = id
	}
	h.s.Publish(EventFault, sess.Device().ID, data)
}

var (
	_ hook.SessionEnder  = (*afterHook)(nil)
	_ hook.FaultObserver = (*afterHook)(nil)
)

// crInforms remembers when each device last informed with "6 CONNECTION
// REQUEST", for requests whose GET outcome arrives after the session
// started (quirk C23).
type crInforms struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (c *crInforms) set(id string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 50_000 {
		c.m = map[string]time.Time{}
	}
	c.m[id] = t
}

func (c *crInforms) get(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[id]
	return t, ok
}

// wake sends the device a connection request in the background and
// records the outcome.
func (s *Server) wake(d store.Device) {
	cr := s.cfg.ConnReq
	if cr == nil {
		return
	}
	t := connreq.Target{DeviceID: d.ID, URL: d.ConnectionRequestURL,
		Resolve: func(ctx context.Context) (string, string, error) { return s.credentials(ctx, d) }}
	cr.Enqueue(t, func(r connreq.Result) {
		rec := store.ConnReqRecord{DeviceID: d.ID, Time: r.At, Result: r.Outcome, HTTPStatus: r.HTTPStatus,
			Attempts: r.Attempts, Error: r.Err, Duration: r.Duration}
		if seen, ok := s.crSeen.get(d.ID); ok && !seen.Before(r.At.Add(-time.Second)) {
			rec.Confirmed = seen
		}
		if err := s.st.RecordConnReq(s.ctx, rec); err != nil {
			s.log.Warn("connection request outcome not stored", "device", d.ID, "err", err)
		}
		s.Publish(EventConnReq, d.ID, toAPIConnReq(rec))
		if r.Outcome != connreq.OK {
			s.log.Info("connection request failed", "device", d.ID, "outcome", r.Outcome, "err", r.Err)
		}
	})
}

// Per-device data keys that hold a device's connection request
// credentials. Scripts and plugins that set the credentials on the device
// store them here too.
const (
	DataConnReqUsername = "connreq.username"
	DataConnReqPassword = "connreq.password"
)

// credentials finds a device's connection request credentials: the
// per-device data store first (DataConnReqUsername/Password); then, for a
// user name the data store lacks, the stored
// ManagementServer.ConnectionRequestUsername parameter (the engine never
// stores password values, since devices read them back empty); then the
// configured defaults.
func (s *Server) credentials(ctx context.Context, d store.Device) (string, string, error) {
	get := func(key string) string {
		v, err := s.st.Data(ctx, d.ID, key)
		if err != nil {
			return ""
		}
		return string(v)
	}
	user, pass := get(DataConnReqUsername), get(DataConnReqPassword)
	if user == "" {
		if tree, err := s.st.Params(ctx, d.ID); err == nil {
			for _, root := range []string{"Device.", "InternetGatewayDevice."} {
				if p, ok := tree.Get(root + "ManagementServer.ConnectionRequestUsername"); ok && p.Value != "" {
					user = p.Value
					break
				}
			}
		}
	}
	expand := strings.NewReplacer("{serial}", d.SerialNumber, "{id}", d.ID)
	if user == "" {
		user = expand.Replace(s.cfg.ConnReqUsername)
	}
	if pass == "" {
		pass = expand.Replace(s.cfg.ConnReqPassword)
	}
	return user, pass, nil
}

// recent is a bounded set of keys, oldest forgotten first.
type recent struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string
	max   int
}

func newRecent(max int) recent { return recent{set: map[string]struct{}{}, max: max} }

// add reports whether key is new.
func (r *recent) add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[key]; ok {
		return false
	}
	r.set[key] = struct{}{}
	r.order = append(r.order, key)
	if len(r.order) > r.max {
		delete(r.set, r.order[0])
		r.order = r.order[1:]
	}
	return true
}

package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// Stats counts what the engine did; read the fields atomically.
type Stats struct {
	// Invocations counts handler calls, Errors the ones that threw or
	// timed out (Timeouts counts those separately as well).
	Invocations, Errors, Timeouts atomic.Int64
	// Reloads counts bundles loaded after the first.
	Reloads atomic.Int64
}

// Engine runs the provisioning scripts of one scripts directory. It is a
// hook.Handler for the scripts stage, and receives CPE requests, faults
// and session ends through the optional hook interfaces.
type Engine struct {
	opts  Options
	cache programCache
	mods  modules
	cur   atomic.Pointer[Bundle]
	seq   atomic.Int64
	Stats Stats

	loadMu   sync.Mutex
	snapshot []fileInfo
	// modsChanged asks Watch to reload: a plugin module came or went.
	modsChanged atomic.Bool

	mu        sync.Mutex
	sessions  map[string]*sessionState
	lastSweep time.Time
	// endSeen is set once the session engine has reported a session end:
	// until then the engine cannot rely on SessionEnd to release state.
	endSeen atomic.Bool
	// ended remembers the last sessions whose end was handled, so that a
	// second notification of the same end runs nothing twice.
	ended     map[string]bool
	endedRing []string
	endedNext int
}

// endedRemembered is how many ended sessions the engine remembers.
const endedRemembered = 4096

// markEnded records a session end and reports whether it is new.
func (e *Engine) markEnded(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended[id] {
		return false
	}
	if e.ended == nil {
		e.ended = make(map[string]bool, endedRemembered)
		e.endedRing = make([]string, endedRemembered)
	}
	if old := e.endedRing[e.endedNext]; old != "" {
		delete(e.ended, old)
	}
	e.endedRing[e.endedNext] = id
	e.endedNext = (e.endedNext + 1) % endedRemembered
	e.ended[id] = true
	return true
}

var (
	_ hook.Handler        = (*Engine)(nil)
	_ hook.RequestHandler = (*Engine)(nil)
	_ hook.SessionEnder   = (*Engine)(nil)
	_ hook.FaultObserver  = (*Engine)(nil)
)

// New makes an engine; it reads nothing until Load.
func New(opts Options) *Engine {
	e := &Engine{opts: opts.withDefaults(), sessions: map[string]*sessionState{}}
	empty := &Bundle{e: e, files: map[string]*source{}, pool: make(chan *vm, 1)}
	e.cur.Store(empty)
	return e
}

// Options returns the engine's options with defaults applied.
func (e *Engine) Options() Options { return e.opts }

// Name implements hook.Handler.
func (e *Engine) Name() string { return "scripts" }

// Current returns the bundle new sessions use.
func (e *Engine) Current() *Bundle { return e.cur.Load() }

// Load reads the scripts directory now and makes it the current bundle. A
// missing directory loads as an empty bundle, so that scripts added later
// are picked up by Watch. Problems in script files are in the bundle's
// Errors (and logged); the error return is for an unreadable directory.
func (e *Engine) Load() (*Bundle, error) {
	files, err := scan(e.opts.Dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading the scripts directory: %w", err)
		}
		e.opts.Logger.Info("no scripts directory; scripts will load when it appears", "dir", e.opts.Dir)
		files = nil
	}
	return e.reload(files)
}

func (e *Engine) reload(files []fileInfo) (*Bundle, error) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	e.modsChanged.Store(false)
	b, err := e.build(files)
	if err != nil {
		e.opts.Logger.Error("scripts not loaded", "dir", e.opts.Dir, "err", err)
		return nil, err
	}
	b.Version = e.seq.Add(1)
	old := e.cur.Swap(b)
	e.snapshot = files
	if old != nil {
		old.retire()
	}
	e.cache.keep(b)
	if b.Version > 1 {
		e.Stats.Reloads.Add(1)
	}
	log := e.opts.Logger
	for _, fe := range b.Errors {
		log.Error("script error", "script", fe.Where(), "err", fe.Message, "stack", fe.Stack)
	}
	log.Info("scripts loaded", "dir", e.opts.Dir, "version", b.Version, "hash", b.Hash, "files", len(b.files), "entries", len(b.entries), "handlers", len(b.Registrations), "errors", len(b.Errors))
	return b, nil
}

// Watch polls the scripts directory until ctx ends and loads a new bundle
// when files change. A change is loaded once the directory has looked the
// same for two polls in a row, so that a file caught half-written by an
// editor is not loaded. Live sessions keep the bundle they started with.
func (e *Engine) Watch(ctx context.Context) {
	if e.opts.PollInterval < 0 {
		return
	}
	t := time.NewTicker(e.opts.PollInterval)
	defer t.Stop()
	var pending []fileInfo
	havePending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.sweep(time.Now())
		files, err := scan(e.opts.Dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if e.modsChanged.Swap(false) {
			havePending = false
			_, _ = e.reload(files)
			continue
		}
		e.loadMu.Lock()
		same := slices.Equal(files, e.snapshot)
		e.loadMu.Unlock()
		if same {
			havePending = false
			continue
		}
		if !havePending || !slices.Equal(files, pending) {
			pending, havePending = files, true
			continue
		}
		havePending = false
		_, _ = e.reload(files)
	}
}

// Check loads a scripts directory without running anything, for
// `provisor script check`.
func Check(dir string, entries ...string) (*Bundle, error) {
	e := New(Options{Dir: dir, Entries: entries, PollInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	return e.Load()
}

// ---- per-session state ----

// sessionState is what the engine keeps about a live session between the
// hook calls: the bundle the session uses, the CPE requests and faults
// waiting for their handlers, and the session's share of the time budget.
// Only the session's goroutine touches it.
type sessionState struct {
	b        *Bundle
	created  time.Time
	requests []cwmp.Body
	faults   []faultNote
	seen     map[*cwmp.Fault]bool
	used     time.Duration
	seq      int
	stopped  bool
	logLines int

	tags       []string
	tagsLoaded bool
}

type faultNote struct {
	method string
	f      *cwmp.Fault
}

// maxQueued bounds the CPE requests and faults a session queues for its
// handlers.
const maxQueued = 64

// staleSession is how long a session's state may stay without its end
// being reported, in case the session engine never reports it.
const staleSession = time.Hour

func (st *sessionState) noteFault(method string, f *cwmp.Fault, fromFaultHandler bool) {
	if st.seen == nil {
		st.seen = map[*cwmp.Fault]bool{}
	}
	if st.seen[f] {
		return
	}
	st.seen[f] = true
	// A fault raised by a fault handler is not handed to fault handlers
	// again, which could loop.
	if fromFaultHandler || !st.b.has(kindFault) || len(st.faults) >= maxQueued {
		return
	}
	st.faults = append(st.faults, faultNote{method: method, f: f})
}

func (st *sessionState) deviceTags(ctx context.Context, e *Engine, id string) []string {
	if st.tagsLoaded || e.opts.Store == nil {
		return st.tags
	}
	d, err := e.opts.Store.Device(ctx, id)
	if err == nil {
		st.tags = slices.Clone(d.Tags)
		st.tagsLoaded = true
	} else if errors.Is(err, store.ErrNotFound) {
		st.tagsLoaded = true
	}
	return st.tags
}

func (st *sessionState) tagsChanged(tag string, add bool) {
	if !st.tagsLoaded {
		return
	}
	i, found := slices.BinarySearch(st.tags, tag)
	switch {
	case add && !found:
		st.tags = slices.Insert(st.tags, i, tag)
	case !add && found:
		st.tags = slices.Delete(st.tags, i, i+1)
	}
}

// state returns the session's state, creating it (pinned to the current
// bundle) when create is set.
func (e *Engine) state(s hook.Session, create bool) *sessionState {
	now := time.Now()
	e.mu.Lock()
	st := e.sessions[s.ID()]
	if st == nil && create {
		st = &sessionState{b: e.cur.Load(), created: now}
		e.sessions[s.ID()] = st
	}
	sweep := now.Sub(e.lastSweep) > time.Minute
	e.mu.Unlock()
	if sweep {
		e.sweep(now)
	}
	return st
}

func (e *Engine) forget(s hook.Session) *sessionState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.sessions[s.ID()]
	delete(e.sessions, s.ID())
	return st
}

func (e *Engine) sweep(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastSweep = now
	for id, st := range e.sessions {
		if now.Sub(st.created) > staleSession {
			delete(e.sessions, id)
		}
	}
}

// LiveSessions is how many sessions the engine keeps state for.
func (e *Engine) LiveSessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// ---- hook entry points ----

// OnRequest implements hook.RequestHandler. The device cannot be called
// while the CPE sends its requests, so the request is queued for the
// handlers, which run after the CPE's empty POST.
func (e *Engine) OnRequest(_ context.Context, s hook.Session, req cwmp.Body) error {
	k, ok := requestKind(req)
	if !ok {
		return nil
	}
	b := e.cur.Load()
	if st := e.state(s, false); st != nil {
		b = st.b
	}
	if !b.has(k) {
		return nil
	}
	st := e.state(s, true)
	if len(st.requests) < maxQueued {
		st.requests = append(st.requests, req)
	}
	return nil
}

func requestKind(req cwmp.Body) (kind, bool) {
	switch req.(type) {
	case *cwmp.TransferComplete, *cwmp.AutonomousTransferComplete:
		return kindTransferComplete, true
	case *cwmp.RequestDownload:
		return kindRequestDownload, true
	}
	return 0, false
}

// OnFault implements hook.FaultObserver: the fault is noted for the
// "fault" handlers, which run after the handler that got it.
func (e *Engine) OnFault(_ context.Context, s hook.Session, req cwmp.Body, f *cwmp.Fault) {
	b := e.cur.Load()
	st := e.state(s, false)
	if st != nil {
		b = st.b
	}
	if !b.has(kindFault) {
		return
	}
	if st == nil {
		st = e.state(s, true)
	}
	st.noteFault(req.Method(), f, false)
}

// invocation is one handler to call with its argument.
type invocation struct {
	r   *Registration
	arg func(v *vm) goja.Value
}

// Run implements hook.Handler: it runs the handlers for the CPE's requests
// (in the order they came), then those registered for the session's events
// and "inform", each once, in order.
func (e *Engine) Run(ctx context.Context, s hook.Session) error {
	st := e.state(s, false)
	b := e.cur.Load()
	if st != nil {
		b = st.b
	}
	probe := st
	if probe == nil {
		probe = &sessionState{b: b}
	}
	var inv []invocation
	if len(b.Registrations) > 0 {
		m := newMatcher(ctx, e, s, probe)
		// The CPE's requests first: they report what happened before
		// this session (a finished download), which the event handlers
		// may want to know.
		if st != nil {
			for _, req := range st.requests {
				k, _ := requestKind(req)
				for _, r := range b.Registrations {
					if r.kind == k && m.matches(&r.filter) {
						inv = append(inv, invocation{r: r, arg: requestArg(req)})
					}
				}
			}
		}
		for _, r := range b.Registrations {
			switch {
			case r.kind == kindInform, r.kind == kindEvent && m.events[r.key]:
				if m.matches(&r.filter) {
					inv = append(inv, invocation{r: r})
				}
			}
		}
	}
	keep := (b.has(kindSessionEnd) || b.has(kindFault)) && e.endSeen.Load()
	if len(inv) == 0 && (st == nil || len(st.faults) == 0) {
		if !keep {
			e.forget(s)
		} else if st == nil {
			e.state(s, true)
		}
		return nil
	}
	if st == nil {
		st = e.state(s, true)
		st.tags, st.tagsLoaded = probe.tags, probe.tagsLoaded
	}
	if !keep {
		defer e.forget(s)
	}
	v, err := b.acquire()
	if err != nil {
		s.Logger().Error("no script runtime for the session", "err", err)
		return fmt.Errorf("scripts: %w", err)
	}
	bd := v.bind(ctx, s, st, true)
	defer func() {
		v.unbind(bd)
		b.release(v)
	}()
	var firstErr error
	run := func(in invocation) bool {
		if st.stopped {
			return false
		}
		var arg goja.Value
		if in.arg != nil {
			arg = in.arg(v)
		}
		err := e.invoke(v, bd, in.r, arg)
		if err == nil {
			return true
		}
		if errors.Is(err, hook.ErrSessionEnded) {
			firstErr = err
			st.stopped = true
			return false
		}
		if e.opts.OnError == Fault && firstErr == nil {
			firstErr = err
			st.stopped = true
			return false
		}
		return true
	}
	if !e.dispatchFaults(v, bd, run) {
		return firstErr
	}
	for _, in := range inv {
		if !run(in) || !e.dispatchFaults(v, bd, run) {
			break
		}
	}
	return firstErr
}

// dispatchFaults runs the fault handlers for the faults noted so far.
func (e *Engine) dispatchFaults(v *vm, bd *binding, run func(invocation) bool) bool {
	st := bd.st
	for len(st.faults) > 0 {
		fn := st.faults[0]
		st.faults = st.faults[1:]
		for _, r := range st.b.Registrations {
			if r.kind != kindFault {
				continue
			}
			if !run(invocation{r: r, arg: faultArg(fn)}) {
				return false
			}
		}
	}
	return true
}

// SessionEnd implements hook.SessionEnder: the fault handlers for faults
// that came after the script stage, then the "session.end" handlers, run
// without device access; the session's state is released.
func (e *Engine) SessionEnd(ctx context.Context, s hook.Session, end hook.Ending) {
	e.endSeen.Store(true)
	st := e.forget(s)
	if !e.markEnded(s.ID()) {
		return
	}
	b := e.cur.Load()
	if st != nil {
		b = st.b
	} else {
		st = &sessionState{b: b, created: time.Now()}
	}
	if !b.has(kindSessionEnd) && len(st.faults) == 0 {
		return
	}
	probe := newMatcher(ctx, e, s, st)
	var inv []invocation
	for _, r := range b.Registrations {
		if r.kind == kindSessionEnd && probe.matches(&r.filter) {
			inv = append(inv, invocation{r: r, arg: endArg(end)})
		}
	}
	if len(inv) == 0 && len(st.faults) == 0 {
		return
	}
	v, err := b.acquire()
	if err != nil {
		s.Logger().Error("no script runtime for the session end", "err", err)
		return
	}
	bd := v.bind(ctx, s, st, false)
	defer func() {
		v.unbind(bd)
		b.release(v)
	}()
	st.stopped = false
	run := func(in invocation) bool {
		var arg goja.Value
		if in.arg != nil {
			arg = in.arg(v)
		}
		err := e.invoke(v, bd, in.r, arg)
		return err == nil || !errors.Is(err, hook.ErrSessionEnded)
	}
	if !e.dispatchFaults(v, bd, run) {
		return
	}
	for _, in := range inv {
		if !run(in) {
			return
		}
	}
}

// invoke runs one handler and reports its failure.
func (e *Engine) invoke(v *vm, bd *binding, r *Registration, arg goja.Value) error {
	e.Stats.Invocations.Add(1)
	err := v.invoke(bd, r, arg)
	if err == nil {
		return nil
	}
	if errors.Is(err, hook.ErrSessionEnded) {
		bd.s.Logger().Info("script handler stopped: the session ended", "handler", r.Where(), "event", r.Event)
		return err
	}
	e.Stats.Errors.Add(1)
	if errors.Is(err, ErrTimeout) {
		e.Stats.Timeouts.Add(1)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		fe = &FileError{File: r.File, Line: r.Line, Column: r.Column, Message: err.Error()}
	}
	log := bd.s.Logger()
	log.Error("script handler failed", "script", fe.Where(), "event", r.Event, "handler", r.Where(), "err", fe.Message, "stack", fe.Stack)
	if e.opts.OnError == Fault && e.opts.Store != nil {
		detail, _ := json.Marshal(map[string]any{"script": fe.Where(), "handler": r.Where(), "event": r.Event, "stack": fe.Stack})
		ctx, cancel := context.WithTimeout(context.WithoutCancel(bd.ctx), 10*time.Second)
		rec := store.FaultRecord{
			DeviceID: bd.s.Device().ID, SessionID: bd.s.ID(), Time: time.Now(),
			Code: int(cwmp.FaultACSInternalError), Message: "script error: " + fe.Error(), Detail: detail,
		}
		ferr := ensureDevice(ctx, e.opts.Store, bd.s, func() error {
			_, err := e.opts.Store.AddFault(ctx, rec)
			return err
		})
		cancel()
		if ferr != nil {
			log.Warn("script fault not recorded", "err", ferr)
		}
	}
	return fe
}

// ---- handler arguments ----

func setTime(o *goja.Object, name string, t time.Time) {
	if !t.IsZero() && !t.Equal(cwmp.UnknownTime) {
		_ = o.Set(name, cwmp.FormatDateTime(t, false))
	}
}

func requestArg(req cwmp.Body) func(v *vm) goja.Value {
	return func(v *vm) goja.Value {
		o := v.rt.NewObject()
		switch r := req.(type) {
		case *cwmp.TransferComplete:
			_ = o.Set("autonomous", false)
			_ = o.Set("commandKey", r.CommandKey)
			_ = o.Set("faultCode", int64(r.FaultStruct.FaultCode))
			_ = o.Set("faultString", r.FaultStruct.FaultString)
			setTime(o, "startTime", r.StartTime)
			setTime(o, "completeTime", r.CompleteTime)
		case *cwmp.AutonomousTransferComplete:
			_ = o.Set("autonomous", true)
			_ = o.Set("commandKey", "")
			_ = o.Set("faultCode", int64(r.FaultStruct.FaultCode))
			_ = o.Set("faultString", r.FaultStruct.FaultString)
			setTime(o, "startTime", r.StartTime)
			setTime(o, "completeTime", r.CompleteTime)
			_ = o.Set("announceURL", r.AnnounceURL)
			_ = o.Set("transferURL", r.TransferURL)
			_ = o.Set("isDownload", r.IsDownload)
			_ = o.Set("fileType", r.FileType)
			_ = o.Set("fileSize", int64(r.FileSize))
			_ = o.Set("targetFileName", r.TargetFileName)
		case *cwmp.RequestDownload:
			_ = o.Set("fileType", r.FileType)
			args := v.rt.NewObject()
			for _, a := range r.FileTypeArg {
				_ = args.Set(a.Name, a.Value)
			}
			_ = o.Set("args", args)
		}
		return o
	}
}

func faultArg(fn faultNote) func(v *vm) goja.Value {
	return func(v *vm) goja.Value { return v.newFault(fn.f, fn.method) }
}

func endArg(end hook.Ending) func(v *vm) goja.Value {
	return func(v *vm) goja.Value {
		o := v.rt.NewObject()
		_ = o.Set("outcome", end.Outcome)
		errs := make([]any, len(end.Errors))
		for i, s := range end.Errors {
			errs[i] = s
		}
		_ = o.Set("errors", v.rt.NewArray(errs...))
		return o
	}
}

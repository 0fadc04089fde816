package hook

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// Ending is what a session ending tells the handlers that watch for it.
type Ending struct {
	// Outcome is the session record's outcome word ("ok", "cpe-timeout",
	// "panic", …).
	Outcome string
	// Errors are the handler errors the session recorded.
	Errors []string
}

// SessionEnder is implemented by handlers that want to know when a session
// is over: scripts registered for "session.end", and per-session state that
// must be released. It runs once for every session that got past its
// Inform, on the session goroutine, after every handler ran and before the
// final reply. The device can no longer be called there.
type SessionEnder interface {
	SessionEnd(ctx context.Context, s Session, e Ending)
}

// FaultObserver is implemented by handlers that want every fault the CPE
// returns, whichever handler's call provoked it. It runs on the session
// goroutine while that call returns, so it must not call the device itself;
// it may only note the fault for later.
type FaultObserver interface {
	OnFault(ctx context.Context, s Session, req cwmp.Body, f *cwmp.Fault)
}

// endTimeout bounds the end-of-session notification, which runs when the
// session's own context may already be gone.
const endTimeout = 10 * time.Second

// NotifyEnd calls every SessionEnder in handler order. A panic in one is
// logged and does not keep the others from running. The context passed on
// outlives ctx's cancellation, since a session often ends because its
// context did.
func (r *Registry) NotifyEnd(ctx context.Context, s Session, e Ending) {
	var enders []entry
	for _, en := range r.entries {
		if _, ok := en.h.(SessionEnder); ok {
			enders = append(enders, en)
		}
	}
	if len(enders) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	for _, en := range enders {
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.Logger().Error("session-end handler panicked", "handler", en.h.Name(), "panic", p, "stack", string(debug.Stack()))
				}
			}()
			en.h.(SessionEnder).SessionEnd(ctx, s, e)
		}()
	}
}

// NotifyFault calls every FaultObserver in handler order, recovering from
// panics so that a faulty observer cannot take the session down.
func (r *Registry) NotifyFault(ctx context.Context, s Session, req cwmp.Body, f *cwmp.Fault) {
	for _, en := range r.entries {
		fo, ok := en.h.(FaultObserver)
		if !ok {
			continue
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.Logger().Error("fault observer panicked", "handler", en.h.Name(), "panic", p, "stack", string(debug.Stack()))
				}
			}()
			fo.OnFault(ctx, s, req, f)
		}()
	}
}

package hook_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
)

type stubSession struct{ hook.Session }

func (stubSession) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (stubSession) ID() string           { return "s1" }

type watcher struct {
	name   string
	ends   []hook.Ending
	faults []*cwmp.Fault
	panics bool
	ctxErr error
}

func (w *watcher) Name() string                            { return w.name }
func (w *watcher) Run(context.Context, hook.Session) error { return nil }
func (w *watcher) OnFault(_ context.Context, _ hook.Session, _ cwmp.Body, f *cwmp.Fault) {
	if w.panics {
		panic("observer bug")
	}
	w.faults = append(w.faults, f)
}
func (w *watcher) SessionEnd(ctx context.Context, _ hook.Session, e hook.Ending) {
	w.ctxErr = ctx.Err()
	if w.panics {
		panic("ender bug")
	}
	w.ends = append(w.ends, e)
}

type plain struct{}

func (plain) Name() string                            { return "plain" }
func (plain) Run(context.Context, hook.Session) error { return nil }

func TestNotify(t *testing.T) {
	var r hook.Registry
	bad := &watcher{name: "bad", panics: true}
	good := &watcher{name: "good"}
	r.Register(hook.StageScripts, good)
	r.Register(hook.StageBuiltin, bad)
	r.Register(hook.StagePlugins, plain{})

	f := cwmp.NewFault(cwmp.FaultInvalidArguments, "")
	r.NotifyFault(context.Background(), stubSession{}, &cwmp.GetParameterValues{}, f)
	if len(good.faults) != 1 || good.faults[0] != f {
		t.Fatalf("faults %v", good.faults)
	}

	// A session whose context is gone still notifies with a live one.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.NotifyEnd(ctx, stubSession{}, hook.Ending{Outcome: "cpe-timeout"})
	if len(good.ends) != 1 || good.ends[0].Outcome != "cpe-timeout" || good.ctxErr != nil {
		t.Fatalf("ends %v ctx %v", good.ends, good.ctxErr)
	}
}

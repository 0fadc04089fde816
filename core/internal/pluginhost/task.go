package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
)

// PluginIDs lists the plugins of the directory, loaded or not, in
// directory order.
func (h *Host) PluginIDs() []string {
	out := make([]string, len(h.plugins))
	for i, p := range h.plugins {
		out[i] = p.ID()
	}
	return out
}

// FunctionNames lists the functions a plugin exports, as it reported them
// at its latest start: nil when it never started. ok is false when no
// plugin has the id.
func (h *Host) FunctionNames(id string) (names []string, ok bool) {
	p, ok := h.byID[id]
	if !ok {
		return nil, false
	}
	fs := p.Functions()
	if fs == nil {
		return nil, true
	}
	names = make([]string, 0, len(fs))
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return names, true
}

// RunPluginTask implements hook.PluginRunner: it runs a queued plugin
// function in the device's session, as a script's require() call would,
// with the task's command key for the first transfer the function starts
// without one of its own.
//
// A plugin that cannot be called (down, restarting) gives an error
// wrapping hook.ErrPluginUnavailable. When the function fails right after
// the device faulted its latest call, the error is a *cwmp.Fault with the
// device's code and the plugin's message, so that the task's fault
// carries the CPE's fault code.
func (h *Host) RunPluginTask(ctx context.Context, s hook.Session, t hook.PluginTask) (hook.PluginTaskResult, error) {
	p, ok := h.byID[t.Plugin]
	if !ok {
		return hook.PluginTaskResult{}, fmt.Errorf("no plugin %q is loaded", t.Plugin)
	}
	if !p.m.Matches(s.Device()) {
		return hook.PluginTaskResult{}, fmt.Errorf("plugin %s does not handle this device (its manifest's match rules)", t.Plugin)
	}
	if names, _ := h.FunctionNames(t.Plugin); names != nil && !slices.Contains(names, t.Function) {
		return hook.PluginTaskResult{}, fmt.Errorf("plugin %s exports no function %q", t.Plugin, t.Function)
	}
	out, err := p.callFunction(ctx, FunctionCall{Plugin: t.Plugin, Name: t.Function, Args: t.Args, Session: s}, t.CommandKey)
	res := hook.PluginTaskResult{Result: out.result}
	for _, tr := range out.transfers {
		if tr.CommandKey == t.CommandKey && t.CommandKey != "" && tr.Status == 1 {
			res.Transfer = true
		}
	}
	log := s.Logger().With("plugin", t.Plugin, "function", t.Function)
	switch {
	case err == nil:
		log.Info("plugin task ran", "transfers", len(out.transfers), "waits_for_transfer", res.Transfer)
		return res, nil
	case !out.called && errors.Is(err, ErrUnavailable):
		return res, fmt.Errorf("%w: %w", hook.ErrPluginUnavailable, err)
	}
	var ce *CallError
	if errors.As(err, &ce) && out.lastFault != nil {
		f := out.lastFault
		return res, &cwmp.Fault{Code: f.Code, String: ce.Error(), SetParameterValuesFaults: f.SetParameterValuesFaults}
	}
	return res, err
}

var _ hook.PluginRunner = (*Host)(nil)

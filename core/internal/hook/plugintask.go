package hook

import (
	"context"
	"encoding/json"
	"errors"
)

// PluginTask is a plugin function an operator queued for a device: a task
// of kind "plugin" (store.KindPlugin), whose arguments are this struct as
// JSON. It runs in the device's session, where the function reaches the
// device through the session, exactly as when a script calls it with
// require("provisor/x/<plugin>").<function>(…).
type PluginTask struct {
	Plugin   string            `json:"plugin"`
	Function string            `json:"function"`
	Args     []json.RawMessage `json:"args"`
	// CommandKey is the task's command key. The first Download or Upload
	// the function starts without a key of its own gets it, so that the
	// device's TransferComplete ends the task.
	CommandKey string `json:"-"`
}

// PluginTaskResult is what a plugin task did.
type PluginTaskResult struct {
	// Result is the function's result, JSON.
	Result json.RawMessage
	// Transfer is set when the device accepted a Download or Upload under
	// the task's command key and will report its end in a
	// TransferComplete: the task then waits for it.
	Transfer bool
}

// PluginRunner runs plugin functions queued as tasks; the plugin host
// implements it, so that the session engine need not know plugins.
type PluginRunner interface {
	// RunPluginTask calls the function in the session s. An error wrapping
	// ErrPluginUnavailable means the plugin could not be called at all
	// and nothing was done; a *cwmp.Fault is the device's fault that made
	// the function fail; ErrSessionEnded means the device went away.
	RunPluginTask(ctx context.Context, s Session, t PluginTask) (PluginTaskResult, error)
}

// ErrPluginUnavailable is wrapped by a PluginRunner's error when the
// plugin is down or restarting: the task can run at a later session.
var ErrPluginUnavailable = errors.New("plugin unavailable")

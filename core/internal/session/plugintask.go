package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// maxCommandKey is the length TR-069 allows a CommandKey (string(32)).
const maxCommandKey = 32

// NewPluginTask makes a durable task that runs a plugin function at the
// device's next session. The task gets a command key of the plugin's own
// form ("x-<plugin>-…"), which the first transfer the function starts
// without a key of its own carries, so that the device's TransferComplete
// ends the task as it ends a Download task.
func NewPluginTask(deviceID string, pt hook.PluginTask) (store.Task, error) {
	if pt.Args == nil {
		pt.Args = []json.RawMessage{}
	}
	args, err := json.Marshal(pt)
	if err != nil {
		return store.Task{}, err
	}
	key := "x-" + pt.Plugin + "-" + newID()[:12]
	if len(key) > maxCommandKey {
		key = "provisor-" + newID()[:12]
	}
	return store.Task{DeviceID: deviceID, Kind: store.KindPlugin, Args: args, CommandKey: key}, nil
}

// runPlugin runs a KindPlugin task through the plugin runner. A function
// that started a transfer under the task's command key leaves the task
// waiting for the TransferComplete; a plugin that is down leaves it
// queued for the next session (within MaxAttempts); the plugin's errors
// and the device's faults end it in fault.
func (t *Tasks) runPlugin(ctx context.Context, s hook.Session, task store.Task) (json.RawMessage, store.TaskState, error) {
	if t.Plugins == nil {
		return nil, store.StateFault, errors.New("this server runs no plugins")
	}
	var pt hook.PluginTask
	if err := json.Unmarshal(task.Args, &pt); err != nil || pt.Plugin == "" || pt.Function == "" {
		return nil, store.StateFault, fmt.Errorf("bad plugin task arguments: want {\"plugin\", \"function\", \"args\"} (%v)", err)
	}
	pt.CommandKey = task.CommandKey
	log := s.Logger().With("task", task.ID, "plugin", pt.Plugin, "function", pt.Function)
	res, err := t.Plugins.RunPluginTask(ctx, s, pt)
	switch {
	case res.Transfer:
		if err != nil {
			// The transfer is under way all the same; its
			// TransferComplete says how it ends.
			log.Warn("plugin function failed after starting a transfer; the task waits for the transfer", "command_key", task.CommandKey, "err", err)
		}
		return res.Result, store.StateWaitingTransfer, nil
	case errors.Is(err, hook.ErrPluginUnavailable):
		if task.MaxAttempts > 0 && task.Attempts >= task.MaxAttempts {
			return nil, store.StateFault, fmt.Errorf("gave up after %d attempts: %w", task.Attempts, err)
		}
		log.Warn("plugin unavailable; the task waits for the next session", "err", err)
		return nil, store.StateQueued, nil
	case err != nil:
		return res.Result, store.StateFault, err
	}
	return res.Result, store.StateDone, nil
}

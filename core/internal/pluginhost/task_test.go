package pluginhost_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// Plugin functions queued as tasks run in the device's next session
// through the host: the result becomes the task's, the device's faults
// and the plugin's errors its fault.
func TestPluginTasks(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "testplugin", bins.testplugin, nil)
	e := startEnv(t, pluginhost.Options{Dir: dir, Config: testConfig(map[string]string{"mode": "ok"})}, session.Config{})
	s := startSim(t, e.url, "tr181")
	d := s.Device(0)
	waitSessions(t, d, 1)
	id := deviceID(d)
	ctx := context.Background()
	arg := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	cases := []struct {
		name      string
		task      hook.PluginTask
		wantState store.TaskState
		wantCalls []string // device calls the function made (besides the plugin's own session handler)
		check     func(t *testing.T, task store.Task)
	}{
		{"result", hook.PluginTask{Plugin: "testplugin", Function: "echo", Args: []json.RawMessage{arg(map[string]int{"n": 7})}}, store.StateDone, nil,
			func(t *testing.T, task store.Task) {
				if string(task.Result) != `{"n":7}` {
					t.Fatalf("result %s", task.Result)
				}
			}},
		{"device calls", hook.PluginTask{Plugin: "testplugin", Function: "loop", Args: []json.RawMessage{arg(3)}}, store.StateDone, []string{"GetParameterValues", "GetParameterValues", "GetParameterValues"}, nil},
		{"device fault", hook.PluginTask{Plugin: "testplugin", Function: "set", Args: []json.RawMessage{arg("Device.DeviceInfo.SoftwareVersion"), arg("9.9")}}, store.StateFault, []string{"SetParameterValues"},
			func(t *testing.T, task store.Task) {
				if task.Fault == nil || task.Fault.Code < 9000 || !strings.Contains(task.Fault.Message, "set Device.DeviceInfo.SoftwareVersion") ||
					!strings.Contains(string(task.Fault.Detail), "Device.DeviceInfo.SoftwareVersion") {
					t.Fatalf("fault %+v", task.Fault)
				}
			}},
		{"plugin error", hook.PluginTask{Plugin: "testplugin", Function: "set"}, store.StateFault, nil,
			func(t *testing.T, task store.Task) {
				if task.Fault == nil || task.Fault.Code != 0 || !strings.Contains(task.Fault.Message, "plugin testplugin: set") {
					t.Fatalf("fault %+v", task.Fault)
				}
			}},
		{"unknown function", hook.PluginTask{Plugin: "testplugin", Function: "nosuch"}, store.StateFault, nil,
			func(t *testing.T, task store.Task) {
				if task.Fault == nil || !strings.Contains(task.Fault.Message, `exports no function "nosuch"`) {
					t.Fatalf("fault %+v", task.Fault)
				}
			}},
		{"unknown plugin", hook.PluginTask{Plugin: "nosuch", Function: "echo"}, store.StateFault, nil,
			func(t *testing.T, task store.Task) {
				if task.Fault == nil || !strings.Contains(task.Fault.Message, `no plugin "nosuch"`) {
					t.Fatalf("fault %+v", task.Fault)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task, err := session.NewPluginTask(id, c.task)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(task.CommandKey, "x-"+c.task.Plugin+"-") || len(task.CommandKey) > 32 {
				t.Fatalf("command key %q", task.CommandKey)
			}
			tid, err := e.store.AddTask(ctx, task)
			if err != nil {
				t.Fatal(err)
			}
			n := d.SessionCount()
			d.Kick()
			r := waitSessions(t, d, n+1)
			var got store.Task
			waitFor(t, "the task to end", 5*time.Second, func() bool {
				got, err = e.store.Task(ctx, tid)
				return err == nil && got.State != store.StateQueued && got.State != store.StateRunning
			})
			if got.State != c.wantState || got.Attempts != 1 {
				t.Fatalf("state %s after %d attempts, want %s (fault %+v)", got.State, got.Attempts, c.wantState, got.Fault)
			}
			// The plugin's own session handler sets ProvisioningCode
			// after reading SoftwareVersion; the task's calls follow.
			calls := r.Calls[min(2, len(r.Calls)):]
			if !slices.Equal(calls, c.wantCalls) {
				t.Fatalf("device saw %v, want %v after the handler's", r.Calls, c.wantCalls)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

package nbi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// Faults that tasks' calls provoke name their task, through the store,
// the fault listing, the event stream and the fault retry, even when
// several tasks fault with the same code in one session, which matching by
// time cannot tell apart. Faults without a task ID (stored before the
// engine recorded it) still find their task by time.
func TestFaultsNameTheirTask(t *testing.T) {
	e := newEnv(t)
	a := e.bootstrap("SN-FAULTS")
	dev := devID(a)
	stream := e.stream(t, "?types=fault&device="+esc(dev), "")

	cases := []struct {
		name string
		body string
		code int
	}{
		{"read-only parameter", `{"kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.DeviceInfo.SoftwareVersion", "Value": "x"}]}}`, 9003},
		{"same code, same session", `{"kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.DeviceInfo.Manufacturer", "Value": "x"}]}}`, 9003},
		{"unknown parameter", `{"kind": "GetParameterValues", "args": {"ParameterNames": ["Device.Nope.X"]}}`, 9005},
		{"unsupported method", `{"kind": "FactoryReset"}`, 9000},
	}
	taskIDs := make([]int64, len(cases))
	for i, c := range cases {
		r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+dev+`", `+c.body[1:])
		if r.status != 201 {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		var created struct{ IDs []int64 }
		r.json(t, &created)
		taskIDs[i] = created.IDs[0]
	}
	a.session("2 PERIODIC")

	// Every fault event of the session names its task.
	published := map[int64]bool{}
	for range cases {
		ev := stream.next(t, EventFault, 5*time.Second)
		var d struct {
			TaskID int64 `json:"taskId"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		published[d.TaskID] = true
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := taskIDs[i]
			if !published[id] {
				t.Errorf("no fault event names task %d", id)
			}
			r := e.do(RoleViewer, "GET", "/api/v1/faults?task="+itoa64(id), nil)
			var l struct{ Faults []apiFault }
			r.json(t, &l)
			if r.status != 200 || len(l.Faults) != 1 {
				t.Fatalf("faults of task %d: %d %s", id, r.status, r.body)
			}
			f := l.Faults[0]
			if f.TaskID != id || f.Code != c.code || f.DeviceID != dev {
				t.Fatalf("fault %+v, want task %d code %d", f, id, c.code)
			}
			task := e.waitTask(id, 2*time.Second, func(x apiTask) bool { return x.State == "fault" })
			if task.Fault == nil || task.Fault.Code != c.code {
				t.Fatalf("task %+v", task)
			}
			// Retrying the fault queues exactly its task.
			r = e.do(RoleOperator, "POST", "/api/v1/faults/"+itoa64(f.ID)+"/retry", nil)
			var retried apiTask
			r.json(t, &retried)
			if r.status != 200 || retried.ID != id || retried.State != "queued" {
				t.Fatalf("retry of fault %d: %d %s", f.ID, r.status, r.body)
			}
		})
	}

	// The listing shows taskId on every fault that has one, and leaves it
	// out where none is known.
	legacy, err := e.db.AddFault(bg, store.FaultRecord{DeviceID: dev, Code: 9005, Message: "from before task IDs", Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(RoleViewer, "GET", "/api/v1/faults?device="+esc(dev), nil)
	var raw struct{ Faults []map[string]any }
	r.json(t, &raw)
	for _, f := range raw.Faults {
		_, has := f["taskId"]
		if id := int64(f["id"].(float64)); has == (id == legacy) {
			t.Errorf("fault %d: taskId present %v", id, has)
		}
	}

	// Without a task ID the fault still finds a task by time and code:
	// the unknown-parameter task is back in fault after a second session.
	a.session("2 PERIODIC")
	gpv := taskIDs[2]
	e.waitTask(gpv, 2*time.Second, func(x apiTask) bool { return x.State == "fault" })
	old, err := e.db.AddFault(bg, store.FaultRecord{DeviceID: dev, Code: 9005, Message: "from before task IDs", Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do(RoleOperator, "POST", "/api/v1/faults/"+itoa64(old)+"/retry", nil)
	var retried apiTask
	r.json(t, &retried)
	if r.status != 200 || retried.ID != gpv {
		t.Fatalf("time-matched retry: %d %s", r.status, r.body)
	}
	orphan, _ := e.db.AddFault(bg, store.FaultRecord{DeviceID: dev, Code: 9999, Time: time.Now()})
	if r := e.do(RoleOperator, "POST", "/api/v1/faults/"+itoa64(orphan)+"/retry", nil); r.status != 409 || !strings.Contains(string(r.body), "no-task") {
		t.Fatalf("fault matching no task: %d %s", r.status, r.body)
	}
}

package nbi

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// fakeSession is enough of a session for the end and fault notifications.
type fakeSession struct{ start time.Time }

func (f fakeSession) ID() string { return "sess-1" }
func (f fakeSession) Device() hook.Device {
	return hook.Device{ID: "00D0B7-GW-1", OUI: "00D0B7", SerialNumber: "1", Root: "Device."}
}
func (f fakeSession) Inform() *cwmp.Inform {
	return &cwmp.Inform{Events: []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}}}
}
func (f fakeSession) HasEvent(c cwmp.EventCode) bool { return c == cwmp.EventPeriodic }
func (f fakeSession) Requests() []cwmp.Body          { return nil }
func (f fakeSession) Start() time.Time               { return f.start }
func (f fakeSession) Value(context.Context, string) (store.Param, bool, error) {
	return store.Param{}, false, nil
}
func (f fakeSession) Values(context.Context, string) ([]store.Param, error) { return nil, nil }
func (f fakeSession) Call(context.Context, cwmp.Body) (cwmp.Body, error)    { return nil, hook.ErrNotNow }
func (f fakeSession) Logger() *slog.Logger                                  { return slog.New(slog.DiscardHandler) }

// Through the hook registry: a session's end and the faults a device
// returns become events, once the engine calls NotifyEnd and NotifyFault.
func TestHooksPublishSessionEndAndFaults(t *testing.T) {
	e := newEnv(t)
	reg := &hook.Registry{}
	e.api.RegisterHooks(reg)
	st := e.stream(t, "?types=session.ended,fault", "")
	s := fakeSession{start: time.Now().Add(-1500 * time.Millisecond)}
	reg.NotifyFault(bg, s, &cwmp.SetParameterValues{}, cwmp.NewFault(cwmp.FaultInvalidParameterName, "no such parameter"))
	reg.NotifyEnd(bg, s, hook.Ending{Outcome: "cpe-timeout"})
	f := st.next(t, EventFault, 2*time.Second)
	if !strings.Contains(string(f.Data), `"code":9005`) || !strings.Contains(string(f.Data), "SetParameterValues") {
		t.Fatalf("%s", f.Data)
	}
	end := st.next(t, EventSessionEnded, 2*time.Second)
	if end.DeviceID != "00D0B7-GW-1" || !strings.Contains(string(end.Data), `"outcome":"cpe-timeout"`) || !strings.Contains(string(end.Data), "2 PERIODIC") {
		t.Fatalf("%+v %s", end, end.Data)
	}
}

// No input a client can send makes the API fail with a 5xx.
func TestNoServerErrorOnGarbage(t *testing.T) {
	e := newEnv(t)
	cpe := e.bootstrap("SN-G")
	id := devID(cpe)
	garbage := []string{
		``, `null`, `[]`, `"x"`, `1e400`, `{"device": null}`, `{"device": 5}`, `{"device": {}}`,
		`{"device": "` + id + `", "kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.A", "Value": {"Type": "string", "Text": 5}}]}}`,
		`{"device": "` + id + `", "kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.A", "Value": ["x"]}]}}`,
		`{"device": "` + id + `", "kind": "SetParameterValues", "args": {"ParameterList": [null]}}`,
		`{"device": "` + id + `", "kind": "Download", "args": {"FileType": "1 Firmware Upgrade Image", "URL": "http://"}}`,
		`{"device": "` + id + `", "kind": "Upload", "args": {"FileType": "x", "URL": "::"}}`,
		`{"device": "` + id + `", "kind": "AddObject", "args": {"ObjectName": "Device.X"}}`,
		`{"device": "` + id + `", "kind": "ScheduleInform", "args": {"DelaySeconds": -1}}`,
		`{"device": "` + id + `", "kind": "ScheduleInform", "args": {"DelaySeconds": 99999999999}}`,
		`{"device": "` + id + `", "kind": "GetParameterNames", "args": {"ParameterPath": "Device.\u0000"}}`,
		`{"device": "` + strings.Repeat("x", 5000) + `", "kind": "Reboot"}`,
		`{"filter": {"where": ["id=` + strings.Repeat("y", 2000) + `"]}, "kind": "Reboot"}`,
		`{"filter": {"where": [null]}, "kind": "Reboot"}`,
		`{"filter": {"informedAfter": "yesterday"}, "kind": "Reboot"}`,
		`{"filter": [], "kind": "Reboot"}`,
		`{"device": "` + id + `", "kind": "Reboot", "maxAttempts": 1.5}`,
		`{"device": "` + id + `", "kind": "Reboot", "expires": "2999-13-45T00:00:00Z"}`,
		"{\"device\": \"\xff\xfe\", \"kind\": \"Reboot\"}",
	}
	for _, g := range garbage {
		if r := e.do(RoleAdmin, "POST", "/api/v1/tasks", g); r.status >= 500 || r.status < 400 {
			t.Errorf("%.80s: %d %s", g, r.status, r.body)
		}
	}
	for _, q := range []string{
		"where=%00", "where=" + strings.Repeat("a.", 300) + "b%3D1", "sort=-", "sort=--id",
		"cursor=eyJzIjoiaWQiLCJpIjoxfQ", "cursor=" + strings.Repeat("A", 5000), "limit=99999999999999999999",
		"params=" + strings.Repeat("x", 300), "tag=%00", "informedBefore=0000-00-00T00:00:00Z",
	} {
		if r := e.do(RoleViewer, "GET", "/api/v1/devices?"+q, nil); r.status >= 500 || r.status < 400 {
			t.Errorf("%.80s: %d %s", q, r.status, r.body)
		}
	}
	for _, p := range []string{"/api/v1/devices/%00", "/api/v1/devices/" + strings.Repeat("z", 3000) + "/events",
		"/api/v1/tasks/99999999999999999999", "/api/v1/files/..%2F..%2Fetc", "/api/v1/faults/0"} {
		if r := e.do(RoleAdmin, "GET", p, nil); r.status >= 500 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
		if r := e.do(RoleAdmin, "DELETE", p, nil); r.status >= 500 {
			t.Errorf("DELETE %s: %d %s", p, r.status, r.body)
		}
	}
}

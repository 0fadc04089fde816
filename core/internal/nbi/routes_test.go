package nbi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// fixture holds the resources the route cases act on. Destructive cases
// get resources of their own.
type fixture struct {
	vals map[string]string
}

func (f *fixture) expand(s string) string {
	for k, v := range f.vals {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func makeFixture(t *testing.T, e *env) *fixture {
	t.Helper()
	f := &fixture{vals: map[string]string{}}
	a := e.bootstrap("SN-A")
	b := e.bootstrap("SN-B")
	f.vals["dev"], f.vals["devB"] = esc(devID(a)), esc(devID(b))
	f.vals["devRaw"] = devID(a)
	if err := e.db.AddTags(bg, devID(a), "lab", "gone"); err != nil {
		t.Fatal(err)
	}
	// Device A has a credential of its own (as after its bootstrap
	// rotation); B has none.
	cred, err := store.NewCPECredential(devID(a), devID(a), "device-secret", "provisor")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutCPECredential(bg, cred); err != nil {
		t.Fatal(err)
	}
	// A queued task.
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(a)+`", "kind": "Reboot"}`)
	var c struct{ IDs []int64 }
	r.json(t, &c)
	f.vals["taskQ"] = itoa64(c.IDs[0])
	// Two tasks that fault on the device, in separate sessions, each with
	// its fault record.
	for _, name := range []string{"taskF1", "taskF2"} {
		r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(a)+`", "kind": "SetParameterValues",
			"args": {"ParameterList": [{"Name": "Device.DeviceInfo.SoftwareVersion", "Value": "x"}]}}`)
		r.json(t, &c)
		f.vals[name] = itoa64(c.IDs[len(c.IDs)-1])
		// Cancel the reboot first so that it does not run with them.
		a.session("2 PERIODIC")
		time.Sleep(5 * time.Millisecond)
	}
	faults, _, err := e.db.Faults(bg, store.FaultFilter{DeviceID: devID(a)})
	if err != nil || len(faults) != 2 {
		t.Fatalf("faults %+v %v", faults, err)
	}
	f.vals["faultF2"] = itoa64(faults[0].ID) // newest: taskF2's
	id, err := e.db.AddFault(bg, store.FaultRecord{DeviceID: devID(a), Code: 9002, Message: "internal"})
	if err != nil {
		t.Fatal(err)
	}
	f.vals["faultDel"] = itoa64(id)
	// The reboot ran in the first of those sessions; queue another task to
	// cancel.
	r = e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(a)+`", "kind": "FactoryReset"}`)
	r.json(t, &c)
	f.vals["taskQ"] = itoa64(c.IDs[0])
	for _, name := range []string{"file", "fileDel"} {
		r := e.do(RoleOperator, "POST", "/api/v1/files?name="+name+".bin&type=1+Firmware+Upgrade+Image", strings.NewReader("bytes of "+name))
		var fm apiFile
		r.json(t, &fm)
		f.vals[name] = fm.ID
	}
	_, hash := NewToken()
	tid, err := e.db.AddToken(bg, store.Token{Name: "victim", Role: "viewer", Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	f.vals["token"] = itoa64(tid)
	if _, err := e.db.PromoteParam(bg, "Device.X.Gone"); err != nil {
		t.Fatal(err)
	}
	return f
}

type badInput struct {
	name   string
	method string // default: the case's
	path   string // default: the case's
	body   any    // default: the case's
	hdr    []string
	status int
	field  string // the invalid-params name expected, if any
}

type routeCase struct {
	op     string
	method string
	path   string
	body   any
	hdr    []string
	status int
	check  func(t *testing.T, e *env, f *fixture, r resp)
	stream bool
	bad    []badInput
}

var routeCases = []routeCase{
	{op: "healthz", method: "GET", path: "/healthz", status: 200},
	{op: "readyz", method: "GET", path: "/readyz", status: 200},
	{op: "metrics", method: "GET", path: "/metrics", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			if !strings.Contains(string(r.body), "provisor_api_requests_total") {
				t.Fatalf("metrics lack API counters:\n%s", r.body)
			}
		},
		bad: []badInput{{name: "unknown parameter", path: "/metrics?format=json", status: 400, field: "format"}}},
	{op: "getOpenAPI", method: "GET", path: "/api/v1/openapi.json", status: 200,
		bad: []badInput{{name: "unknown parameter", path: "/api/v1/openapi.json?v=2", status: 400, field: "v"}}},

	{op: "listDevices", method: "GET", path: "/api/v1/devices?where=Device.DeviceInfo.SoftwareVersion%3D1.0.0&tag=lab&params=Device.WiFi.&sort=-lastInform&online=true", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var l struct{ Devices []apiDevice }
			r.json(t, &l)
			if len(l.Devices) != 1 || len(l.Devices[0].Parameters) == 0 || !l.Devices[0].Online {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "malformed path", path: "/api/v1/devices?where=Device..X%3D1", status: 400, field: "where[0]"},
			{name: "no operator", path: "/api/v1/devices?where=Device.X.Y", status: 400, field: "where[0]"},
			{name: "second condition bad", path: "/api/v1/devices?where=id%3Dx&where=%3D3", status: 400, field: "where[1]"},
			{name: "bad limit", path: "/api/v1/devices?limit=0", status: 400, field: "limit"},
			{name: "bad sort", path: "/api/v1/devices?sort=uptime", status: 400, field: "sort"},
			{name: "bad time", path: "/api/v1/devices?informedAfter=yesterday", status: 400, field: "informedAfter"},
			{name: "bad bool", path: "/api/v1/devices?online=maybe", status: 400, field: "online"},
			{name: "bad cursor", path: "/api/v1/devices?cursor=%21%21", status: 400, field: "cursor"},
			{name: "bad tag", path: "/api/v1/devices?tag=" + strings.Repeat("x", 200), status: 400, field: "tag[0]"},
			{name: "unknown parameter", path: "/api/v1/devices?filter=x", status: 400, field: "filter"},
		}},
	{op: "getDevice", method: "GET", path: "/api/v1/devices/{dev}?path=Device.WiFi.", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var d apiDevice
			r.json(t, &d)
			if d.InformInterval != 3600 || len(d.Parameters) == 0 || !strings.HasPrefix(d.Parameters[0].Name, "Device.WiFi.") {
				t.Fatalf("%s", r.body)
			}
			if d.Credential == nil || !d.Credential.Set || d.Credential.Pending || d.Credential.Username != f.vals["devRaw"] ||
				strings.Contains(string(r.body), "device-secret") || strings.Contains(string(r.body), "pbkdf2") {
				t.Fatalf("credential shown as %s", r.body)
			}
		},
		bad: []badInput{
			{name: "unknown device", path: "/api/v1/devices/nope-1", status: 404, field: "id"},
			{name: "bad path", path: "/api/v1/devices/{dev}?path=Device..", status: 400, field: "path[0]"},
		}},
	{op: "deleteDevice", method: "DELETE", path: "/api/v1/devices/{devB}", status: 204,
		bad: []badInput{{name: "unknown device", path: "/api/v1/devices/nope-1", status: 404, field: "id"}}},
	{op: "addDeviceTags", method: "POST", path: "/api/v1/devices/{dev}/tags", body: `{"tags": ["north", "fiber"]}`, status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var d apiDevice
			r.json(t, &d)
			if !slices.Contains(d.Tags, "north") {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "empty tag", body: `{"tags": [""]}`, status: 400, field: "tags[0]"},
			{name: "unknown field", body: `{"tag": "x"}`, status: 400, field: "tag"},
			{name: "wrong type", body: `{"tags": "x"}`, status: 400, field: "tags"},
			{name: "no tags", body: `{}`, status: 400, field: "tags"},
			{name: "trailing data", body: `{"tags": ["a"]} {}`, status: 400, field: "body"},
			{name: "not json", body: `tags=a`, status: 400, field: "body"},
			{name: "too large", body: `{"tags": ["` + strings.Repeat("x", 2<<20) + `"]}`, status: 413},
			{name: "unknown device", path: "/api/v1/devices/nope-1/tags", status: 404, field: "id"},
		}},
	{op: "deleteDeviceCredential", method: "DELETE", path: "/api/v1/devices/{dev}/credential", status: 204,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			if creds, err := e.db.DeviceCredentials(bg, f.vals["devRaw"]); err != nil || len(creds) != 0 {
				t.Fatalf("credentials left: %v %v", creds, err)
			}
			var d apiDevice
			e.do(RoleViewer, "GET", f.expand("/api/v1/devices/{dev}?parameters=false"), nil).json(t, &d)
			if d.Credential == nil || d.Credential.Set || d.Credential.Username != "" {
				t.Fatalf("credential after delete: %+v", d.Credential)
			}
			if r := e.do(RoleOperator, "DELETE", f.expand("/api/v1/devices/{dev}/credential"), nil); r.status != 404 {
				t.Fatalf("second delete: %d", r.status)
			}
		},
		bad: []badInput{
			{name: "unknown device", path: "/api/v1/devices/nope-1/credential", status: 404, field: "id"},
			{name: "no credential", path: "/api/v1/devices/{devB}/credential", status: 404, field: "id"},
			{name: "unknown parameter", path: "/api/v1/devices/{dev}/credential?force=1", status: 400, field: "force"},
		}},
	{op: "removeDeviceTag", method: "DELETE", path: "/api/v1/devices/{dev}/tags/gone", status: 204,
		bad: []badInput{{name: "unknown device", path: "/api/v1/devices/nope-1/tags/gone", status: 404, field: "id"}}},
	{op: "listDeviceEvents", method: "GET", path: "/api/v1/devices/{dev}/events?limit=5", status: 200,
		bad: []badInput{
			{name: "bad limit", path: "/api/v1/devices/{dev}/events?limit=-1", status: 400, field: "limit"},
			{name: "unknown device", path: "/api/v1/devices/nope-1/events", status: 404, field: "id"},
		}},
	{op: "listDeviceSessions", method: "GET", path: "/api/v1/devices/{dev}/sessions", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var s struct{ Sessions []apiSession }
			r.json(t, &s)
			if len(s.Sessions) < 3 || s.Sessions[0].Outcome != "ok" {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "bad limit", path: "/api/v1/devices/{dev}/sessions?limit=x", status: 400, field: "limit"},
			{name: "unknown device", path: "/api/v1/devices/nope-1/sessions", status: 404, field: "id"},
		}},
	{op: "listDeviceConnectionRequests", method: "GET", path: "/api/v1/devices/{dev}/connection-requests", status: 200,
		bad: []badInput{{name: "unknown device", path: "/api/v1/devices/nope-1/connection-requests", status: 404, field: "id"}}},

	{op: "listTasks", method: "GET", path: "/api/v1/tasks?device={dev}&state=fault", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var l struct{ Tasks []apiTask }
			r.json(t, &l)
			if len(l.Tasks) != 2 || l.Tasks[0].Fault == nil || l.Tasks[0].Fault.Code != 9003 {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "bad state", path: "/api/v1/tasks?state=sleeping", status: 400, field: "state"},
			{name: "bad cursor", path: "/api/v1/tasks?cursor=abc", status: 400, field: "cursor"},
		}},
	{op: "createTasks", method: "POST", path: "/api/v1/tasks", status: 201,
		body: `{"device": "{devRaw}", "kind": "GetParameterValues", "args": {"ParameterNames": ["Device.DeviceInfo."]}, "expiresIn": "1h", "maxAttempts": 2}`,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var c struct{ IDs []int64 }
			r.json(t, &c)
			task, err := e.db.Task(bg, c.IDs[0])
			if err != nil || task.MaxAttempts != 2 || task.Expires.IsZero() {
				t.Fatalf("%+v %v", task, err)
			}
		},
		bad: []badInput{
			{name: "no kind", body: `{"device": "{devRaw}"}`, status: 400, field: "kind"},
			{name: "unknown kind", body: `{"device": "{devRaw}", "kind": "Inform"}`, status: 400, field: "kind"},
			{name: "unknown field", body: `{"device": "{devRaw}", "kind": "Reboot", "when": "now"}`, status: 400, field: "when"},
			{name: "unknown arg", body: `{"device": "{devRaw}", "kind": "Reboot", "args": {"Delay": 1}}`, status: 400, field: "args.Delay"},
			{name: "wrong arg type", body: `{"device": "{devRaw}", "kind": "GetParameterValues", "args": {"ParameterNames": "x"}}`, status: 400, field: "args.ParameterNames"},
			{name: "bad arg path", body: `{"device": "{devRaw}", "kind": "GetParameterValues", "args": {"ParameterNames": ["ok.", "Device WiFi"]}}`, status: 400, field: "args.ParameterNames[1]"},
			{name: "bad value", body: `{"device": "{devRaw}", "kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.ManagementServer.PeriodicInformInterval", "Value": "soon"}]}}`, status: 400, field: "args.ParameterList[0].Value"},
			{name: "bad type", body: `{"device": "{devRaw}", "kind": "SetParameterValues", "args": {"ParameterList": [{"Name": "Device.A.B", "Value": {"Type": "float", "Text": "1"}}]}}`, status: 400, field: "args.ParameterList[0].Value.Type"},
			{name: "no parameters", body: `{"device": "{devRaw}", "kind": "SetParameterValues", "args": {}}`, status: 400, field: "args.ParameterList"},
			{name: "unknown device", body: `{"device": "nope-1", "kind": "Reboot"}`, status: 404, field: "device"},
			{name: "no target", body: `{"kind": "Reboot"}`, status: 400, field: "device"},
			{name: "both targets", body: `{"device": "{devRaw}", "filter": {}, "kind": "Reboot"}`, status: 400, field: "filter"},
			{name: "bad filter", body: `{"filter": {"where": ["Device.X.Y"]}, "kind": "Reboot"}`, status: 400, field: "filter.where[0]"},
			{name: "unknown filter field", body: `{"filter": {"tag": "x"}, "kind": "Reboot"}`, status: 400, field: "filter.tag"},
			{name: "bad run", body: `{"device": "{devRaw}", "kind": "Reboot", "run": "later"}`, status: 400, field: "run"},
			{name: "bad expiry", body: `{"device": "{devRaw}", "kind": "Reboot", "expiresIn": "soon"}`, status: 400, field: "expiresIn"},
			{name: "past expiry", body: `{"device": "{devRaw}", "kind": "Reboot", "expires": "2001-01-01T00:00:00Z"}`, status: 400, field: "expires"},
			{name: "bad attempts", body: `{"device": "{devRaw}", "kind": "Reboot", "maxAttempts": 0}`, status: 400, field: "maxAttempts"},
			{name: "file on reboot", body: `{"device": "{devRaw}", "kind": "Reboot", "file": "x"}`, status: 400, field: "file"},
			{name: "unknown file", body: `{"device": "{devRaw}", "kind": "Download", "args": {"FileType": "1 Firmware Upgrade Image"}, "file": "nope"}`, status: 404, field: "file"},
			{name: "download without url", body: `{"device": "{devRaw}", "kind": "Download", "args": {"FileType": "1 Firmware Upgrade Image"}}`, status: 400, field: "args.URL"},
			{name: "args to connection request", body: `{"device": "{devRaw}", "kind": "connectionRequest", "args": {"x": 1}}`, status: 400, field: "args"},
			{name: "bad refresh path", body: `{"device": "{devRaw}", "kind": "refresh", "args": {"path": "Device"}}`, status: 400, field: "args.path"},
			{name: "empty body", body: ``, status: 400, field: "body"},
			{name: "wrong content type", body: `{}`, hdr: []string{"Content-Type", "text/plain"}, status: 415},
		}},
	{op: "getTask", method: "GET", path: "/api/v1/tasks/{taskQ}", status: 200,
		bad: []badInput{
			{name: "not a number", path: "/api/v1/tasks/abc", status: 400, field: "id"},
			{name: "unknown task", path: "/api/v1/tasks/999999", status: 404, field: "id"},
		}},
	{op: "cancelTask", method: "POST", path: "/api/v1/tasks/{taskQ}/cancel", status: 200,
		bad: []badInput{
			{name: "not a number", path: "/api/v1/tasks/-1/cancel", status: 400, field: "id"},
			{name: "unknown task", path: "/api/v1/tasks/999999/cancel", status: 404, field: "id"},
		}},
	{op: "retryTask", method: "POST", path: "/api/v1/tasks/{taskF1}/retry", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var task apiTask
			r.json(t, &task)
			if task.State != "queued" || itoa64(task.ID) != f.vals["taskF1"] {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "bad run", path: "/api/v1/tasks/{taskF1}/retry?run=later", status: 400, field: "run"},
			{name: "not in fault", path: "/api/v1/tasks/{taskQ}/retry", status: 409},
			{name: "unknown task", path: "/api/v1/tasks/999999/retry", status: 404, field: "id"},
		}},

	{op: "listFaults", method: "GET", path: "/api/v1/faults?device={dev}", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var l struct{ Faults []apiFault }
			r.json(t, &l)
			// Newest first: the fault added by hand (no task), then taskF2's.
			if len(l.Faults) < 3 || l.Faults[0].TaskID != 0 || itoa64(l.Faults[1].ID) != f.vals["faultF2"] || itoa64(l.Faults[1].TaskID) != f.vals["taskF2"] {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "bad cursor", path: "/api/v1/faults?cursor=x", status: 400, field: "cursor"},
			{name: "bad task", path: "/api/v1/faults?task=-3", status: 400, field: "task"},
		}},
	{op: "deleteFault", method: "DELETE", path: "/api/v1/faults/{faultDel}", status: 204,
		bad: []badInput{
			{name: "not a number", path: "/api/v1/faults/x", status: 400, field: "id"},
			{name: "unknown fault", path: "/api/v1/faults/999999", status: 404, field: "id"},
		}},
	{op: "retryFault", method: "POST", path: "/api/v1/faults/{faultF2}/retry", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var task apiTask
			r.json(t, &task)
			if task.State != "queued" || itoa64(task.ID) != f.vals["taskF2"] {
				t.Fatalf("%s", r.body)
			}
		},
		bad: []badInput{
			{name: "not a number", path: "/api/v1/faults/x/retry", status: 400, field: "id"},
			{name: "unknown fault", path: "/api/v1/faults/999999/retry", status: 404, field: "id"},
			{name: "no task", path: "/api/v1/faults/{faultDel}/retry", status: 409},
		}},

	{op: "listFiles", method: "GET", path: "/api/v1/files?type=1+Firmware+Upgrade+Image", status: 200,
		bad: []badInput{{name: "bad source", path: "/api/v1/files?source=ftp", status: 400, field: "source"}}},
	{op: "uploadFile", method: "POST", path: "/api/v1/files?name=cfg.alter&type=3+Vendor+Configuration+File&version=2", status: 201,
		body: strings.NewReader("/system identity set name=x"),
		bad: []badInput{
			{name: "no type", path: "/api/v1/files?name=a.bin", body: strings.NewReader("x"), status: 400, field: "type"},
			{name: "path in name", path: "/api/v1/files?name=../a&type=t", body: strings.NewReader("x"), status: 400, field: "name"},
			{name: "unknown parameter", path: "/api/v1/files?name=a&type=t&size=3", body: strings.NewReader("x"), status: 400, field: "size"},
		}},
	{op: "getFile", method: "GET", path: "/api/v1/files/{file}", status: 200,
		bad: []badInput{{name: "unknown file", path: "/api/v1/files/nope", status: 404, field: "id"}}},
	{op: "downloadFile", method: "GET", path: "/api/v1/files/{file}/content", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			if string(r.body) != "bytes of file" {
				t.Fatalf("%q", r.body)
			}
		},
		bad: []badInput{{name: "unknown file", path: "/api/v1/files/nope/content", status: 404, field: "id"}}},
	{op: "deleteFile", method: "DELETE", path: "/api/v1/files/{fileDel}", status: 204,
		bad: []badInput{{name: "unknown file", path: "/api/v1/files/nope", status: 404, field: "id"}}},

	{op: "streamEvents", method: "GET", path: "/api/v1/events?types=fault", status: 200, stream: true,
		bad: []badInput{{name: "unknown type", path: "/api/v1/events?types=reboot", status: 400, field: "types"},
			{name: "bad last id", hdr: []string{"Last-Event-ID", "x"}, status: 400, field: "Last-Event-ID"}}},

	{op: "listPromotedParameters", method: "GET", path: "/api/v1/promoted-parameters", status: 200,
		bad: []badInput{{name: "unknown parameter", path: "/api/v1/promoted-parameters?all=1", status: 400, field: "all"}}},
	{op: "promoteParameter", method: "POST", path: "/api/v1/promoted-parameters", body: `{"name": "Device.WiFi.SSID.1.SSID"}`, status: 202,
		bad: []badInput{
			{name: "object path", body: `{"name": "Device.WiFi."}`, status: 400, field: "name"},
			{name: "summary field", body: `{"name": "Device.DeviceInfo.SoftwareVersion"}`, status: 400, field: "name"},
			{name: "wrong type", body: `{"name": 3}`, status: 400, field: "name"},
		}},
	{op: "demoteParameter", method: "DELETE", path: "/api/v1/promoted-parameters/Device.X.Gone", status: 204,
		bad: []badInput{{name: "not promoted", path: "/api/v1/promoted-parameters/Device.Y", status: 404, field: "name"}}},

	{op: "listTokens", method: "GET", path: "/api/v1/tokens", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			if strings.Contains(string(r.body), `"token"`) || strings.Contains(string(r.body), "hash") {
				t.Fatalf("token list shows secrets: %s", r.body)
			}
		},
		bad: []badInput{{name: "unknown parameter", path: "/api/v1/tokens?role=admin", status: 400, field: "role"}}},
	{op: "createToken", method: "POST", path: "/api/v1/tokens", body: `{"name": "grafana", "role": "viewer", "expiresIn": "720h"}`, status: 201,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var tok apiToken
			r.json(t, &tok)
			if !strings.HasPrefix(tok.Token, TokenPrefix) || tok.Expires == nil {
				t.Fatalf("%s", r.body)
			}
			// The new token works.
			e.tokens[RoleNone+9] = tok.Token
			if r := e.do(RoleNone+9, "GET", "/api/v1/devices", nil); r.status != 200 {
				t.Fatalf("new token: %d", r.status)
			}
		},
		bad: []badInput{
			{name: "bad role", body: `{"name": "x", "role": "root"}`, status: 400, field: "role"},
			{name: "no name", body: `{"role": "viewer"}`, status: 400, field: "name"},
			{name: "bad expiry", body: `{"name": "x", "role": "viewer", "expiresIn": "-1h"}`, status: 400, field: "expiresIn"},
		}},
	{op: "revokeToken", method: "DELETE", path: "/api/v1/tokens/{token}", status: 204,
		bad: []badInput{
			{name: "not a number", path: "/api/v1/tokens/x", status: 400, field: "id"},
			{name: "unknown token", path: "/api/v1/tokens/999999", status: 404, field: "id"},
		}},
	{op: "listAudit", method: "GET", path: "/api/v1/audit?limit=500", status: 200,
		check: func(t *testing.T, e *env, f *fixture, r resp) {
			var a struct{ Records []apiAudit }
			r.json(t, &a)
			var actions []string
			for _, rec := range a.Records {
				actions = append(actions, rec.Action)
				if rec.Actor == "" || rec.Method == "" || rec.Time.IsZero() {
					t.Fatalf("incomplete record %+v", rec)
				}
			}
			for _, want := range []string{"createTasks", "deleteDevice", "revokeToken", "uploadFile", "addDeviceTags", "deleteDeviceCredential"} {
				if !slices.Contains(actions, want) {
					t.Errorf("no audit record for %s in %v", want, actions)
				}
			}
		},
		bad: []badInput{{name: "bad since", path: "/api/v1/audit?since=yesterday", status: 400, field: "since"}}},
}

// TestRoutes runs, for every route: the happy path, the call without a
// token, the call with a token of too low a role, and bad inputs; and
// checks that bad inputs stored nothing.
func TestRoutes(t *testing.T) {
	e := newEnv(t)
	f := makeFixture(t, e)

	var ops []string
	for _, c := range routeCases {
		ops = append(ops, c.op)
	}
	for _, rt := range routes {
		if !slices.Contains(ops, rt.op) {
			t.Errorf("route %s %s (%s) has no test case", rt.method, rt.path, rt.op)
		}
	}
	byOp := map[string]route{}
	for _, rt := range routes {
		byOp[rt.op] = rt
	}

	counts := func() string {
		tasks, _, _ := e.db.Tasks(bg, store.TaskFilter{Limit: 10000})
		files, _, _ := e.db.Files(bg, store.FileFilter{Limit: 10000})
		toks, _ := e.db.Tokens(bg)
		devs, _ := e.db.QueryDevices(bg, store.DeviceQuery{})
		pp, _ := e.db.PromotedParams(bg)
		var states []string
		for _, tk := range tasks {
			states = append(states, string(tk.State))
		}
		return fmt.Sprintf("tasks=%v files=%d tokens=%d devices=%d promoted=%d", states, len(files), len(toks), len(devs.Devices), len(pp))
	}
	before := counts()

	for _, c := range routeCases {
		rt, ok := byOp[c.op]
		if !ok {
			t.Errorf("case %s names no route", c.op)
			continue
		}
		path := f.expand(c.path)
		t.Run(c.op+"/auth", func(t *testing.T) {
			if rt.role == RoleNone {
				t.Skip("public route")
			}
			r := e.do(RoleNone, c.method, path, nil)
			if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("without token: %d %v", r.status, r.header)
			}
			r.problem(t)
			req := e.tokens[RoleViewer]
			e.tokens[RoleNone+8] = req[:len(req)-2] + "xx"
			if r := e.do(RoleNone+8, c.method, path, nil); r.status != 401 {
				t.Fatalf("with a wrong token: %d", r.status)
			}
		})
		t.Run(c.op+"/role", func(t *testing.T) {
			if rt.role <= RoleViewer {
				t.Skip("every role may call it")
			}
			r := e.do(rt.role-1, c.method, path, nil)
			if r.status != 403 {
				t.Fatalf("with role %s: %d %s", rt.role-1, r.status, r.body)
			}
			r.problem(t)
		})
		for _, b := range c.bad {
			t.Run(c.op+"/bad/"+b.name, func(t *testing.T) {
				method, p, body, hdr := c.method, c.path, c.body, c.hdr
				if b.method != "" {
					method = b.method
				}
				if b.path != "" {
					p = b.path
				}
				if b.body != nil {
					body = b.body
				}
				if b.hdr != nil {
					hdr = b.hdr
				}
				if s, ok := body.(string); ok {
					body = f.expand(s)
				}
				r := e.do(RoleAdmin, method, f.expand(p), body, hdr...)
				if r.status != b.status {
					t.Fatalf("status %d, want %d: %s", r.status, b.status, r.body)
				}
				pr := r.problem(t)
				if b.field != "" && (len(pr.InvalidParams) == 0 || pr.InvalidParams[0].Name != b.field) {
					t.Fatalf("invalid-params %+v, want %s", pr.InvalidParams, b.field)
				}
			})
		}
	}
	if after := counts(); after != before {
		t.Fatalf("bad requests changed the store:\nbefore %s\nafter  %s", before, after)
	}

	for _, c := range routeCases {
		t.Run(c.op+"/ok", func(t *testing.T) {
			role := byOp[c.op].role
			if c.stream {
				ctx, cancel := context.WithTimeout(bg, 2*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, c.method, e.apiSrv.URL+f.expand(c.path), nil)
				req.Header.Set("Authorization", "Bearer "+e.tokens[role])
				r, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				buf := make([]byte, 64)
				n, _ := r.Body.Read(buf)
				if r.StatusCode != c.status || !strings.Contains(string(buf[:n]), "retry:") {
					t.Fatalf("%d %q", r.StatusCode, buf[:n])
				}
				return
			}
			body := c.body
			if s, ok := body.(string); ok {
				body = f.expand(s)
			}
			r := e.do(role, c.method, f.expand(c.path), body, c.hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.check != nil {
				c.check(t, e, f, r)
			}
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newEnv(t)
	r := e.do(RoleViewer, "GET", "/api/v1/nothing", nil)
	if r.status != 404 {
		t.Fatalf("%d", r.status)
	}
	r.problem(t)
	r = e.do(RoleViewer, "PUT", "/api/v1/tasks", nil)
	if r.status != 405 || r.header.Get("Allow") == "" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	r.problem(t)
}

// Revoked and expired tokens stop working at once.
func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.do(RoleAdmin, "POST", "/api/v1/tokens", `{"name": "short", "role": "operator", "expiresIn": "1h"}`)
	var tok apiToken
	r.json(t, &tok)
	e.tokens[RoleNone+5] = tok.Token
	if r := e.do(RoleNone+5, "GET", "/api/v1/tasks", nil); r.status != 200 {
		t.Fatalf("%d", r.status)
	}
	if r := e.do(RoleAdmin, "DELETE", "/api/v1/tokens/"+itoa64(tok.ID), nil); r.status != 204 {
		t.Fatalf("%d", r.status)
	}
	if r := e.do(RoleNone+5, "GET", "/api/v1/tasks", nil); r.status != 401 {
		t.Fatalf("revoked token: %d", r.status)
	}
	secret, hash := NewToken()
	if _, err := e.db.AddToken(bg, store.Token{Name: "old", Role: "admin", Hash: hash, Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.tokens[RoleNone+6] = secret
	if r := e.do(RoleNone+6, "GET", "/api/v1/tasks", nil); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
}

package nbi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// A task created through the API reaches the device through a connection
// request, and its result is read back through the API.
func TestTaskRunsNowThroughConnectionRequest(t *testing.T) {
	e := newEnv(t)
	cpe := e.bootstrap("SN-CR1")
	before := cpe.sessions.Load()
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(cpe)+`", "kind": "SetParameterValues",
		"args": {"ParameterList": [{"Name": "Device.WiFi.SSID.1.SSID", "Value": "renamed"}]}, "run": "now"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		Count int     `json:"count"`
		IDs   []int64 `json:"ids"`
	}
	r.json(t, &created)
	if created.Count != 1 || r.header.Get("Location") != "/api/v1/tasks/"+itoa64(created.IDs[0]) {
		t.Fatalf("%s %v", r.body, r.header)
	}
	task := e.waitTask(created.IDs[0], 10*time.Second, func(t apiTask) bool {
		return t.State == "done" && t.ConnectionRequest != nil
	})
	if task.ConnectionRequest.Result != "ok" || !task.ConnectionRequest.Success || task.ConnectionRequest.Attempts != 2 {
		t.Fatalf("connection request %+v", task.ConnectionRequest)
	}
	if string(task.Result) != `{"Status":0}` || task.Attempts != 1 {
		t.Fatalf("task %+v", task)
	}
	cpe.waitSessions(t, before+1, 10*time.Second)
	cpe.mu.Lock()
	got := cpe.params["Device.WiFi.SSID.1.SSID"].Text
	cpe.mu.Unlock()
	if got != "renamed" {
		t.Fatalf("device value %q", got)
	}
	// The device confirmed the request with "6 CONNECTION REQUEST".
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = e.do(RoleViewer, "GET", "/api/v1/devices/"+esc(devID(cpe))+"/connection-requests", nil)
		var crs struct {
			ConnectionRequests []apiConnReq `json:"connectionRequests"`
		}
		r.json(t, &crs)
		if len(crs.ConnectionRequests) == 1 && crs.ConnectionRequests[0].Confirmed != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not confirmed: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The stored tree has the new value once the session's final write,
	// which follows the task's own, has landed.
	deadline = time.Now().Add(10 * time.Second)
	for {
		r = e.do(RoleViewer, "GET", "/api/v1/devices/"+esc(devID(cpe))+"?path=Device.WiFi.", nil)
		var dev apiDevice
		r.json(t, &dev)
		if len(dev.Parameters) > 0 && dev.Parameters[len(dev.Parameters)-1].Value == "renamed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An Inform with "6 CONNECTION REQUEST" makes the request a success even
// when the device dropped the GET without answering (quirk C23).
func TestConnectionRequestConfirmedByInform(t *testing.T) {
	e := newEnv(t)
	cpe := e.bootstrap("SN-CR2")
	cpe.crDropAnswer.Store(true)
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(cpe)+`", "kind": "connectionRequest", "run": "now"}`)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var created struct{ IDs []int64 }
	r.json(t, &created)
	task := e.waitTask(created.IDs[0], 10*time.Second, func(t apiTask) bool {
		return t.State == "done" && t.ConnectionRequest != nil && t.ConnectionRequest.Success
	})
	if task.ConnectionRequest.Result == "ok" || task.ConnectionRequest.Confirmed == nil {
		t.Fatalf("%+v", task.ConnectionRequest)
	}
}

// A file uploaded through the API is fetched by the device through a
// Download task, from a signed URL on the CPE listener.
func TestFirmwareDownloadedByDevice(t *testing.T) {
	e := newEnv(t)
	cpe := e.bootstrap("SN-FW")
	image := bytes.Repeat([]byte("routeros-7.14.npk "), 5000)
	r := e.do(RoleOperator, "POST", "/api/v1/files?name=routeros-7.14.npk&type=1+Firmware+Upgrade+Image&version=7.14&productClass=HomeGW", bytes.NewReader(image))
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var f apiFile
	r.json(t, &f)
	sum := sha256.Sum256(image)
	if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(image)) {
		t.Fatalf("%+v", f)
	}
	r = e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(cpe)+`", "kind": "Download",
		"args": {"FileType": "1 Firmware Upgrade Image"}, "file": "`+f.ID+`", "run": "now", "expiresIn": "1h"}`)
	if r.status != 201 {
		t.Fatalf("task: %d %s", r.status, r.body)
	}
	var created struct{ IDs []int64 }
	r.json(t, &created)
	task := e.waitTask(created.IDs[0], 10*time.Second, func(t apiTask) bool { return t.State == "done" })
	if !strings.Contains(string(task.Args), "routeros-7.14.npk") || !strings.Contains(string(task.Result), "CompleteTime") {
		t.Fatalf("task %+v", task)
	}
	cpe.mu.Lock()
	defer cpe.mu.Unlock()
	if len(cpe.downloaded) != 1 {
		t.Fatalf("device fetched %d files", len(cpe.downloaded))
	}
	for u, data := range cpe.downloaded {
		if !bytes.Equal(data, image) || !strings.HasSuffix(u, "/routeros-7.14.npk") || !strings.HasPrefix(u, e.cpeSrv.URL+"/files/") {
			t.Fatalf("fetched %d bytes from %s", len(data), u)
		}
	}
}

// A configuration backup the device uploads is stored and can be fetched
// through the API.
func TestUploadedBackupFetchedThroughAPI(t *testing.T) {
	e := newEnv(t)
	cpe := e.bootstrap("SN-UP")
	r := e.do(RoleOperator, "POST", "/api/v1/tasks", `{"device": "`+devID(cpe)+`", "kind": "Upload",
		"args": {"FileType": "1 Vendor Configuration File"}, "run": "now"}`)
	if r.status != 201 {
		t.Fatalf("task: %d %s", r.status, r.body)
	}
	var created struct{ IDs []int64 }
	r.json(t, &created)
	task := e.waitTask(created.IDs[0], 10*time.Second, func(t apiTask) bool { return t.State == "done" })
	r = e.do(RoleViewer, "GET", "/api/v1/files?device="+esc(devID(cpe)), nil)
	var list struct{ Files []apiFile }
	r.json(t, &list)
	if len(list.Files) != 1 || list.Files[0].CommandKey != task.CommandKey || list.Files[0].Source != store.FileFromDevice {
		t.Fatalf("files %s (task key %s)", r.body, task.CommandKey)
	}
	r = e.do(RoleViewer, "GET", "/api/v1/files/"+list.Files[0].ID+"/content", nil)
	if r.status != 200 || !bytes.Equal(r.body, cpe.uploadBody) || r.header.Get("ETag") == "" {
		t.Fatalf("content: %d %q", r.status, r.body)
	}
	r = e.do(RoleViewer, "GET", "/api/v1/files/"+list.Files[0].ID+"/content", nil, "Range", "bytes=0-6")
	if r.status != 206 || string(r.body) != "/export" {
		t.Fatalf("range: %d %q", r.status, r.body)
	}
}

package sim_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// acs is the real ACS on loopback: SQLite file, session engine, HTTP.
type acs struct {
	url   string
	store store.Store
	mgr   *session.Manager
	srv   *httptest.Server
}

func startACS(t *testing.T, ln net.Listener, cfg session.Config) *acs {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "provisor.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hooks := &hook.Registry{}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	mgr := session.NewManager(cfg, st, hooks, log)
	h := &server.Handler{Sessions: mgr, Log: log}
	srv := httptest.NewUnstartedServer(h)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config.ConnContext = h.ConnContext
	srv.Config.ConnState = h.ConnState
	srv.Start()
	a := &acs{url: srv.URL + "/cwmp", store: st, mgr: mgr, srv: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mgr.Close(ctx)
		srv.Close()
		if err := st.Close(ctx); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return a
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startSim runs a simulator with fast timings for tests.
func startSim(t *testing.T, cfg sim.Config) *sim.Simulator {
	t.Helper()
	if cfg.Profile == nil {
		p, err := sim.LookupProfile("tr181")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Profile = p
	}
	if cfg.Devices == 0 {
		cfg.Devices = 1
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.BootDelay == 0 {
		cfg.BootDelay = 50 * time.Millisecond
	}
	if cfg.CRDelay == 0 {
		cfg.CRDelay = 20 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.LoopbackOnly = true
	if cfg.CRListen == "" {
		cfg.CRListen = "127.0.0.1:0"
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func waitSessions(t *testing.T, d *sim.Device, n int) sim.SessionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := d.WaitSessions(ctx, n)
	if err != nil {
		t.Fatalf("%v (history %+v)", err, d.Sessions())
	}
	return r
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deviceID(d *sim.Device) string {
	id := d.Identity()
	return store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber)
}

// runTask queues an RPC for the device, kicks it, and waits until the
// task has ended (done or fault).
func runTask(t *testing.T, a *acs, d *sim.Device, req cwmp.Body) store.Task {
	t.Helper()
	ctx := context.Background()
	task, err := session.NewTask(deviceID(d), req)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.store.AddTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	n := d.SessionCount()
	d.Kick()
	var got store.Task
	waitFor(t, req.Method()+" task to end", func() bool {
		got, err = a.store.Task(ctx, id)
		return err == nil && (got.State == store.StateDone || got.State == store.StateFault)
	})
	// The task ends inside the session; let the device finish it too.
	waitSessions(t, d, n+1)
	waitFor(t, "the device to be idle", func() bool { return !d.Busy() })
	return got
}

func hasEvents(r sim.SessionResult, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(r.Events, w) {
			return false
		}
	}
	return true
}

// fileServer serves and accepts files behind Basic or Digest auth.
type fileServer struct {
	*httptest.Server
	mu      sync.Mutex
	files   map[string][]byte
	puts    map[string][]byte
	user    string
	pass    string
	methods []string
}

const fileRealm = "files"

func newFileServer(t *testing.T) *fileServer {
	fs := &fileServer{files: map[string][]byte{}, puts: map[string][]byte{}, user: "fetch", pass: "s3cret"}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

// serve checks credentials with its own Digest arithmetic, written apart
// from the simulator's, so that one mistake cannot hide in both sides.
func (fs *fileServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.methods = append(fs.methods, r.Method+" "+r.URL.Path)
	scheme := "digest"
	if strings.HasPrefix(r.URL.Path, "/basic/") {
		scheme = "basic"
	}
	if !strings.HasPrefix(r.URL.Path, "/open/") && !fs.authorized(r, scheme) {
		if scheme == "basic" {
			w.Header().Set("WWW-Authenticate", `Basic realm="files"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Digest realm="files", qop="auth", nonce="abc123", opaque="xyz"`)
		}
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodGet:
		b, ok := fs.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	case http.MethodPut, http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		fs.puts[r.URL.Path] = b
		w.WriteHeader(http.StatusCreated)
	}
}

func (fs *fileServer) authorized(r *http.Request, scheme string) bool {
	h := r.Header.Get("Authorization")
	if scheme == "basic" {
		u, p, ok := r.BasicAuth()
		return ok && u == fs.user && p == fs.pass
	}
	if !strings.HasPrefix(h, "Digest ") {
		return false
	}
	f := map[string]string{}
	for _, part := range strings.Split(h[len("Digest "):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		f[k] = strings.Trim(v, `"`)
	}
	md := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1 := md(fs.user + ":" + fileRealm + ":" + fs.pass)
	ha2 := md(r.Method + ":" + f["uri"])
	want := md(ha1 + ":" + f["nonce"] + ":" + f["nc"] + ":" + f["cnonce"] + ":" + f["qop"] + ":" + ha2)
	return f["username"] == fs.user && f["response"] == want && f["nonce"] == "abc123" && f["uri"] == r.URL.RequestURI()
}

func (fs *fileServer) put(path string, b []byte) {
	fs.mu.Lock()
	fs.files[path] = b
	fs.mu.Unlock()
}

func (fs *fileServer) uploaded(path string) []byte {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.puts[path]
}

// TestEveryRPC drives every RPC through the real ACS: a task queued in the
// store, the device kicked, the task's outcome and the device's state
// checked.
func TestEveryRPC(t *testing.T) {
	a := startACS(t, nil, session.Config{})
	fs := newFileServer(t)
	fs.put("/fw/image.bin", []byte(sim.FirmwareMagic+"2.5.0\nbinary"))
	fs.put("/open/du/app.ipk", []byte("version=3.1\npayload"))
	s := startSim(t, sim.Config{ACSURL: a.url, TrafficInterval: time.Hour})
	d := s.Device(0)
	first := waitSessions(t, d, 1)
	if first.Err != nil || !hasEvents(first, "0 BOOTSTRAP", "1 BOOT") || first.Calls[0] != "GetParameterNames" {
		t.Fatalf("first session %+v", first)
	}
	ctx := context.Background()
	id := deviceID(d)
	result := func(t *testing.T, task store.Task, v any) {
		t.Helper()
		if err := json.Unmarshal(task.Result, v); err != nil {
			t.Fatalf("result %s: %v", task.Result, err)
		}
	}
	fault := func(t *testing.T, task store.Task, code int) {
		t.Helper()
		if task.State != store.StateFault || task.Fault == nil || task.Fault.Code != code {
			t.Fatalf("want fault %d, got %s %+v", code, task.State, task.Fault)
		}
	}
	done := func(t *testing.T, task store.Task) {
		t.Helper()
		if task.State != store.StateDone {
			t.Fatalf("want done, got %s %+v", task.State, task.Fault)
		}
	}
	cases := []struct {
		name  string
		req   cwmp.Body
		check func(t *testing.T, task store.Task)
	}{
		{"GetRPCMethods", &cwmp.GetRPCMethods{}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.GetRPCMethodsResponse
			result(t, task, &r)
			if !slices.Contains(r.MethodList, "ChangeDUState") || !slices.Contains(r.MethodList, "GetParameterNames") {
				t.Fatalf("methods %v", r.MethodList)
			}
		}},
		{"GetParameterNames next level", &cwmp.GetParameterNames{ParameterPath: "Device.WiFi.", NextLevel: true}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.GetParameterNamesResponse
			result(t, task, &r)
			names := map[string]bool{}
			for _, p := range r.ParameterList {
				names[p.Name] = p.Writable
			}
			if w, ok := names["Device.WiFi.SSID."]; !ok || !w {
				t.Fatalf("SSID table missing or not writable: %v", r.ParameterList)
			}
			if _, ok := names["Device.WiFi.RadioNumberOfEntries"]; !ok || names["Device.WiFi.SSID.1."] {
				t.Fatalf("next level wrong: %v", r.ParameterList)
			}
		}},
		{"GetParameterNames parameter", &cwmp.GetParameterNames{ParameterPath: "Device.WiFi.SSID.1.SSID"}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.GetParameterNamesResponse
			result(t, task, &r)
			if len(r.ParameterList) != 1 || !r.ParameterList[0].Writable {
				t.Fatalf("%+v", r.ParameterList)
			}
		}},
		{"GetParameterNames unknown", &cwmp.GetParameterNames{ParameterPath: "Device.Nope."}, func(t *testing.T, task store.Task) { fault(t, task, 9005) }},
		{"GetParameterValues partial path", &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.", "Device.ManagementServer.ConnectionRequestPassword"}}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.GetParameterValuesResponse
			result(t, task, &r)
			got := map[string]cwmp.Value{}
			for _, p := range r.ParameterList {
				got[p.Name] = p.Value
			}
			if got["Device.DeviceInfo.SerialNumber"].Text != d.Serial() || got["Device.DeviceInfo.UpTime"].Type != cwmp.TypeUnsignedInt {
				t.Fatalf("values %+v", got)
			}
			if v, ok := got["Device.ManagementServer.ConnectionRequestPassword"]; !ok || v.Text != "" {
				t.Fatalf("password must read back empty: %+v", v)
			}
		}},
		{"GetParameterValues unknown", &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime", "Device.DeviceInfo.Bogus"}}, func(t *testing.T, task store.Task) { fault(t, task, 9005) }},
		{"SetParameterValues", &cwmp.SetParameterValues{ParameterKey: "pk-1", ParameterList: []cwmp.ParameterValue{
			{Name: "Device.WiFi.SSID.1.SSID", Value: cwmp.String("home")},
			{Name: "Device.ManagementServer.PeriodicInformInterval", Value: cwmp.Uint(600)},
		}}, func(t *testing.T, task store.Task) {
			done(t, task)
			if v, _ := d.Get("Device.WiFi.SSID.1.SSID"); v.Text != "home" {
				t.Fatalf("SSID %q", v.Text)
			}
			if v, _ := d.Get("Device.ManagementServer.ParameterKey"); v.Text != "pk-1" {
				t.Fatalf("ParameterKey %q", v.Text)
			}
		}},
		{"SetParameterValues faults", &cwmp.SetParameterValues{ParameterKey: "pk-2", ParameterList: []cwmp.ParameterValue{
			{Name: "Device.WiFi.SSID.2.SSID", Value: cwmp.String("never")},
			{Name: "Device.DeviceInfo.Nope", Value: cwmp.String("x")},
			{Name: "Device.DeviceInfo.SoftwareVersion", Value: cwmp.String("9")},
			{Name: "Device.ManagementServer.PeriodicInformInterval", Value: cwmp.Value{Type: cwmp.TypeUnsignedInt, Text: "-5"}},
			{Name: "Device.WiFi.Radio.1.Enable", Value: cwmp.Value{Type: cwmp.TypeDateTime, Text: "2024-01-01T00:00:00Z"}},
		}}, func(t *testing.T, task store.Task) {
			fault(t, task, 9003)
			var faults []cwmp.SetParameterValuesFault
			if err := json.Unmarshal(task.Fault.Detail, &faults); err != nil {
				t.Fatal(err)
			}
			codes := map[string]cwmp.FaultCode{}
			for _, f := range faults {
				codes[f.ParameterName] = f.FaultCode
			}
			want := map[string]cwmp.FaultCode{
				"Device.DeviceInfo.Nope": 9005, "Device.DeviceInfo.SoftwareVersion": 9008,
				"Device.ManagementServer.PeriodicInformInterval": 9007, "Device.WiFi.Radio.1.Enable": 9006,
			}
			for n, c := range want {
				if codes[n] != c {
					t.Errorf("%s: fault %d, want %d (all: %v)", n, codes[n], c, codes)
				}
			}
			if v, _ := d.Get("Device.WiFi.SSID.2.SSID"); v.Text == "never" {
				t.Fatal("a failed SetParameterValues changed a value")
			}
			if v, _ := d.Get("Device.ManagementServer.ParameterKey"); v.Text != "pk-1" {
				t.Fatalf("ParameterKey changed by a failed set: %q", v.Text)
			}
		}},
		{"GetParameterAttributes", &cwmp.GetParameterAttributes{ParameterNames: []string{"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.UpTime"}}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.GetParameterAttributesResponse
			result(t, task, &r)
			if len(r.ParameterList) != 2 || r.ParameterList[0].Notification != 2 || r.ParameterList[1].Notification != 0 {
				t.Fatalf("%+v", r.ParameterList)
			}
		}},
		{"SetParameterAttributes refused", &cwmp.SetParameterAttributes{ParameterList: []cwmp.SetParameterAttributesStruct{{Name: "Device.DeviceInfo.UpTime", NotificationChange: true, Notification: 2}}}, func(t *testing.T, task store.Task) {
			fault(t, task, 9009)
		}},
		{"AddObject", &cwmp.AddObject{ObjectName: "Device.NAT.PortMapping.", ParameterKey: "pk-3"}, func(t *testing.T, task store.Task) {
			done(t, task)
			var r cwmp.AddObjectResponse
			result(t, task, &r)
			if r.InstanceNumber != 3 || !d.Has("Device.NAT.PortMapping.3.ExternalPort") {
				t.Fatalf("instance %d", r.InstanceNumber)
			}
			if v, _ := d.Get("Device.NAT.PortMapping.3.Alias"); v.Text != "cpe-3" {
				t.Fatalf("Alias %q", v.Text)
			}
			if v, _ := d.Get("Device.NAT.PortMappingNumberOfEntries"); v.Text != "3" {
				t.Fatalf("PortMappingNumberOfEntries %q", v.Text)
			}
		}},
		{"DeleteObject", &cwmp.DeleteObject{ObjectName: "Device.NAT.PortMapping.3."}, func(t *testing.T, task store.Task) {
			done(t, task)
			if d.Has("Device.NAT.PortMapping.3.") {
				t.Fatal("row still there")
			}
		}},
		{"AddObject never reuses an instance", &cwmp.AddObject{ObjectName: "Device.NAT.PortMapping."}, func(t *testing.T, task store.Task) {
			var r cwmp.AddObjectResponse
			result(t, task, &r)
			if r.InstanceNumber != 4 {
				t.Fatalf("instance %d", r.InstanceNumber)
			}
		}},
		{"AddObject on a read-only table", &cwmp.AddObject{ObjectName: "Device.WiFi.Radio."}, func(t *testing.T, task store.Task) { fault(t, task, 9001) }},
		{"DeleteObject unknown", &cwmp.DeleteObject{ObjectName: "Device.NAT.PortMapping.77."}, func(t *testing.T, task store.Task) { fault(t, task, 9005) }},
		{"GetAllQueuedTransfers empty", &cwmp.GetAllQueuedTransfers{}, func(t *testing.T, task store.Task) { done(t, task) }},
		{"CancelTransfer unknown", &cwmp.CancelTransfer{CommandKey: "none"}, func(t *testing.T, task store.Task) { fault(t, task, 9003) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, runTask(t, a, d, c.req))
		})
	}

	t.Run("Reboot", func(t *testing.T) {
		n := d.SessionCount()
		done(t, runTask(t, a, d, &cwmp.Reboot{CommandKey: "rb-1"}))
		r := waitSessions(t, d, n+2)
		if !hasEvents(r, "1 BOOT", "M Reboot") || hasEvents(r, "0 BOOTSTRAP") {
			t.Fatalf("after Reboot: %+v", r)
		}
	})
	t.Run("ScheduleInform", func(t *testing.T) {
		n := d.SessionCount()
		done(t, runTask(t, a, d, &cwmp.ScheduleInform{DelaySeconds: 1, CommandKey: "si-1"}))
		r := waitSessions(t, d, n+2)
		if !hasEvents(r, "3 SCHEDULED", "M ScheduleInform") {
			t.Fatalf("after ScheduleInform: %+v", r)
		}
	})
	t.Run("Download firmware with Digest", func(t *testing.T) {
		n := d.SessionCount()
		task := runTask(t, a, d, &cwmp.Download{FileType: cwmp.FileFirmware, URL: fs.URL + "/fw/image.bin", Username: "fetch", Password: "s3cret"})
		done(t, task)
		var tc cwmp.TransferComplete
		result(t, task, &tc)
		if tc.StartTime.IsZero() || tc.CompleteTime.Before(tc.StartTime) {
			t.Fatalf("TransferComplete %+v", tc)
		}
		if v, _ := d.Get("Device.DeviceInfo.SoftwareVersion"); v.Text != "2.5.0" {
			t.Fatalf("SoftwareVersion %q", v.Text)
		}
		last := waitSessions(t, d, n+2)
		if !hasEvents(last, "1 BOOT", "7 TRANSFER COMPLETE", "M Download", "4 VALUE CHANGE") {
			t.Fatalf("session after the firmware download: %+v", last)
		}
	})
	for _, c := range []struct {
		name, url, user string
		code            int
	}{
		{"bad credentials", fs.URL + "/fw/image.bin", "nobody", 9012},
		{"missing file", fs.URL + "/open/none.bin", "", 9016},
		{"unreachable server", "http://127.0.0.1:1/fw.bin", "", 9015},
	} {
		t.Run("Download "+c.name, func(t *testing.T) {
			fault(t, runTask(t, a, d, &cwmp.Download{FileType: cwmp.FileWebContent, URL: c.url, Username: c.user, Password: "x"}), c.code)
		})
	}
	t.Run("Upload with Basic", func(t *testing.T) {
		done(t, runTask(t, a, d, &cwmp.Upload{FileType: cwmp.FileUploadVendorConfig, URL: fs.URL + "/basic/cfg.txt", Username: "fetch", Password: "s3cret"}))
		if got := string(fs.uploaded("/basic/cfg.txt")); !strings.Contains(got, "Device.WiFi.SSID.1.SSID=home") {
			t.Fatalf("uploaded %q", got)
		}
	})
	t.Run("Upload refused", func(t *testing.T) {
		fault(t, runTask(t, a, d, &cwmp.Upload{FileType: cwmp.FileUploadVendorLog, URL: fs.URL + "/basic/log.txt", Username: "fetch", Password: "wrong"}), 9012)
	})
	t.Run("queued transfers and CancelTransfer", func(t *testing.T) {
		dl, _ := session.NewTask(id, &cwmp.Download{CommandKey: "later", FileType: cwmp.FileWebContent, URL: fs.URL + "/open/x", DelaySeconds: 3600})
		if _, err := a.store.AddTask(ctx, dl); err != nil {
			t.Fatal(err)
		}
		task := runTask(t, a, d, &cwmp.GetAllQueuedTransfers{})
		var r cwmp.GetAllQueuedTransfersResponse
		result(t, task, &r)
		if len(r.TransferList) != 1 || r.TransferList[0].CommandKey != "later" || r.TransferList[0].State != 1 || !r.TransferList[0].IsDownload {
			t.Fatalf("queued %+v", r.TransferList)
		}
		task = runTask(t, a, d, &cwmp.GetQueuedTransfers{})
		var q cwmp.GetQueuedTransfersResponse
		result(t, task, &q)
		if len(q.TransferList) != 1 {
			t.Fatalf("queued %+v", q)
		}
		done(t, runTask(t, a, d, &cwmp.CancelTransfer{CommandKey: "later"}))
		task = runTask(t, a, d, &cwmp.GetAllQueuedTransfers{})
		r = cwmp.GetAllQueuedTransfersResponse{}
		result(t, task, &r)
		if len(r.TransferList) != 0 {
			t.Fatalf("after cancel %+v", r.TransferList)
		}
	})
	t.Run("ScheduleDownload", func(t *testing.T) {
		n := d.SessionCount()
		task := runTask(t, a, d, &cwmp.ScheduleDownload{FileType: cwmp.FileWebContent, URL: fs.URL + "/open/du/app.ipk",
			TimeWindowList: []cwmp.TimeWindow{{WindowStart: 1, WindowEnd: 60, WindowMode: "1 At Any Time", MaxRetries: -1}}})
		if task.State != store.StateDone {
			// A ScheduleDownload task waits for its TransferComplete.
			waitFor(t, "the scheduled download", func() bool {
				task, _ = a.store.Task(ctx, task.ID)
				return task.State == store.StateDone
			})
		}
		last := waitSessions(t, d, n+2)
		if !hasEvents(last, "7 TRANSFER COMPLETE", "M ScheduleDownload") {
			t.Fatalf("session %+v", last)
		}
	})
	t.Run("ChangeDUState", func(t *testing.T) {
		n := d.SessionCount()
		done(t, runTask(t, a, d, &cwmp.ChangeDUState{CommandKey: "du-1", Operations: []cwmp.DUOperation{
			{Kind: cwmp.DUInstall, URL: fs.URL + "/open/du/app.ipk", UUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", ExecutionEnvRef: "Device.SoftwareModules.ExecEnv.1"},
			{Kind: cwmp.DUUninstall, UUID: "1b4e28ba-2fa1-41d2-883f-0016d3cca427"},
			{Kind: cwmp.DUUninstall, UUID: "00000000-0000-0000-0000-000000000000"},
		}}))
		r := waitSessions(t, d, n+2)
		if !hasEvents(r, "11 DU STATE CHANGE COMPLETE", "M ChangeDUState") {
			t.Fatalf("session %+v", r)
		}
		if v, _ := d.Get("Device.SoftwareModules.DeploymentUnit.2.Version"); v.Text != "3.1" {
			t.Fatalf("installed DU version %q", v.Text)
		}
		if d.Has("Device.SoftwareModules.DeploymentUnit.1.") {
			t.Fatal("uninstalled DU still there")
		}
	})
	t.Run("value change with active notification", func(t *testing.T) {
		counter := "Device.Ethernet.Interface.1.Stats.BytesSent"
		done(t, runTask(t, a, d, &cwmp.SetParameterAttributes{ParameterList: []cwmp.SetParameterAttributesStruct{{Name: counter, NotificationChange: true, Notification: 2}}}))
		n := d.SessionCount()
		before, _ := d.Get(counter)
		d.Tick()
		r := waitSessions(t, d, n+1)
		after, _ := d.Get(counter)
		if !hasEvents(r, "4 VALUE CHANGE") || before.Text == after.Text {
			t.Fatalf("session %+v (counter %s -> %s)", r, before.Text, after.Text)
		}
		// The ACS writes what it learned after its final answer.
		waitFor(t, "the ACS to store the changed counter", func() bool {
			tree, err := a.store.ParamSubtree(ctx, id, counter)
			p, ok := tree.Get(counter)
			return err == nil && ok && p.Value == after.Text
		})
	})
	t.Run("FactoryReset", func(t *testing.T) {
		n := d.SessionCount()
		done(t, runTask(t, a, d, &cwmp.FactoryReset{}))
		r := waitSessions(t, d, n+2)
		if !hasEvents(r, "0 BOOTSTRAP", "1 BOOT") {
			t.Fatalf("after FactoryReset: %+v", r)
		}
		if v, _ := d.Get("Device.WiFi.SSID.1.SSID"); v.Text != "SIM-"+d.Serial() {
			t.Fatalf("SSID after reset %q", v.Text)
		}
		if d.Has("Device.NAT.PortMapping.4.") {
			t.Fatal("added row survived the reset")
		}
	})
}

// TestUnsupportedRPC: a CWMP 1.0 RouterOS device knows no ChangeDUState.
func TestUnsupportedRPC(t *testing.T) {
	a := startACS(t, nil, session.Config{})
	p, _ := sim.LookupProfile("mikrotik")
	s := startSim(t, sim.Config{ACSURL: a.url, Profile: p})
	d := s.Device(0)
	waitSessions(t, d, 1)
	task := runTask(t, a, d, &cwmp.ChangeDUState{Operations: []cwmp.DUOperation{{Kind: cwmp.DUUninstall, UUID: "x"}}})
	if task.State != store.StateFault || task.Fault.Code != 9000 {
		t.Fatalf("%s %+v", task.State, task.Fault)
	}
}

// crGet sends a connection request, answering a Digest challenge with
// arithmetic written apart from the simulator's.
func crGet(t *testing.T, url, user, pass string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return resp.StatusCode
	}
	ch := resp.Header.Get("WWW-Authenticate")
	f := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(ch, "Digest "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		f[k] = strings.Trim(v, `"`)
	}
	if f["qop"] != "auth" || f["algorithm"] != "MD5" {
		t.Fatalf("challenge %q", ch)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	md := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	uri := req.URL.RequestURI()
	ha1 := md(user + ":" + f["realm"] + ":" + pass)
	ha2 := md("GET:" + uri)
	cnonce, nc := "0a4f113b", "00000001"
	response := md(ha1 + ":" + f["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	req.Header.Set("Authorization", fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=%s, cnonce="%s", response="%s", opaque="%s"`,
		user, f["realm"], f["nonce"], uri, nc, cnonce, response, f["opaque"]))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestConnectionRequest(t *testing.T) {
	a := startACS(t, nil, session.Config{})
	s := startSim(t, sim.Config{ACSURL: a.url, CRDelay: 300 * time.Millisecond})
	d := s.Device(0)
	waitSessions(t, d, 1)
	url := d.ConnectionRequestURL()
	if !strings.HasSuffix(url, "/"+d.Serial()) {
		t.Fatalf("URL %s", url)
	}
	if st := crGet(t, url, d.Serial(), "wrong"); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", st)
	}
	if st, _ := http.Get(strings.TrimSuffix(url, d.Serial()) + "nobody"); st.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", st.StatusCode)
	}
	n := d.SessionCount()
	start := time.Now()
	for range 3 {
		if st := crGet(t, url, d.Serial(), "sim"); st != http.StatusOK {
			t.Fatalf("connection request: %d", st)
		}
	}
	r := waitSessions(t, d, n+1)
	if !hasEvents(r, "6 CONNECTION REQUEST") || r.Start.Sub(start) > time.Second {
		t.Fatalf("session %+v after %v", r, r.Start.Sub(start))
	}
	time.Sleep(500 * time.Millisecond)
	if got := d.SessionCount(); got != n+1 {
		t.Fatalf("three connection requests before the session gave %d sessions", got-n)
	}
	// The ACS sets new credentials; the device checks against them.
	task := runTask(t, a, d, &cwmp.SetParameterValues{ParameterList: []cwmp.ParameterValue{
		{Name: "Device.ManagementServer.ConnectionRequestUsername", Value: cwmp.String("acs")},
		{Name: "Device.ManagementServer.ConnectionRequestPassword", Value: cwmp.String("n3w")},
	}})
	if task.State != store.StateDone {
		t.Fatalf("%s %+v", task.State, task.Fault)
	}
	if st := crGet(t, url, d.Serial(), "sim"); st != http.StatusUnauthorized {
		t.Fatalf("old credentials: %d", st)
	}
	n = d.SessionCount()
	if st := crGet(t, url, "acs", "n3w"); st != http.StatusOK {
		t.Fatalf("new credentials: %d", st)
	}
	waitSessions(t, d, n+1)
}

// TestConnectionRequestDuringSession: a CR while the device is in a
// session is refused with 503. The ACS here holds the InformResponse until
// the request has been made.
func TestConnectionRequestDuringSession(t *testing.T) {
	release := make(chan struct{})
	inInform := make(chan struct{}, 1)
	acsStub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) > 0 {
			select {
			case inInform <- struct{}{}:
			default:
			}
			<-release
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprint(w, `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer acsStub.Close()
	s := startSim(t, sim.Config{ACSURL: acsStub.URL})
	d := s.Device(0)
	<-inInform
	st := crGet(t, d.ConnectionRequestURL(), d.Serial(), "sim")
	close(release)
	if st != http.StatusServiceUnavailable {
		t.Fatalf("connection request during a session: %d", st)
	}
	waitSessions(t, d, 1)
}

// TestEventRetention: while the ACS is unreachable the device retries with
// TR-069's back-off and a growing RetryCount, keeps 0 BOOTSTRAP and 1 BOOT,
// and drops 6 CONNECTION REQUEST, which must never be retried.
func TestEventRetention(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startSim(t, sim.Config{ACSURL: "http://" + addr + "/cwmp", RetryMin: 100 * time.Millisecond})
	d := s.Device(0)
	r1 := waitSessions(t, d, 1)
	if r1.Kind != sim.ErrConn || r1.RetryCount != 0 || !hasEvents(r1, "0 BOOTSTRAP", "1 BOOT") {
		t.Fatalf("first attempt %+v", r1)
	}
	d.Kick(cwmp.EventConnectionRequest)
	r2 := waitSessions(t, d, 2)
	if r2.RetryCount != 1 || !hasEvents(r2, "0 BOOTSTRAP", "1 BOOT", "6 CONNECTION REQUEST") {
		t.Fatalf("second attempt %+v", r2)
	}
	r3 := waitSessions(t, d, 3)
	if r3.RetryCount != 2 || hasEvents(r3, "6 CONNECTION REQUEST") || !hasEvents(r3, "0 BOOTSTRAP", "1 BOOT") {
		t.Fatalf("third attempt %+v", r3)
	}
	// The back-off waits grow: m·k^(n−1) at least before attempt n+1.
	if gap := r3.Start.Sub(r2.End); gap < 200*time.Millisecond {
		t.Fatalf("second retry after %v, want at least 200ms", gap)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	a := startACS(t, ln, session.Config{})
	var ok sim.SessionResult
	waitFor(t, "a successful session", func() bool {
		for _, r := range d.Sessions() {
			if r.Err == nil {
				ok = r
				return true
			}
		}
		return false
	})
	if ok.RetryCount < 2 || !hasEvents(ok, "0 BOOTSTRAP", "1 BOOT") {
		t.Fatalf("delivered %+v", ok)
	}
	dev, err := a.store.Device(context.Background(), deviceID(d))
	if err != nil || dev.LastBootstrap.IsZero() {
		t.Fatalf("stored %+v %v", dev, err)
	}
	// Once delivered, the events are gone and the retry count is reset.
	n := d.SessionCount()
	d.Kick()
	r := waitSessions(t, d, n+1)
	if r.RetryCount != 0 || hasEvents(r, "0 BOOTSTRAP") || !hasEvents(r, "6 CONNECTION REQUEST") {
		t.Fatalf("after recovery %+v", r)
	}
}

// TestQuirksAgainstTheACS runs a bootstrap and a set through the real ACS
// with each quirk switch that bends the wire format.
func TestQuirksAgainstTheACS(t *testing.T) {
	a := startACS(t, nil, session.Config{})
	for i, q := range []string{"numeric-booleans", "no-cookies", "conn-per-post", "no-xsi-type", "no-inform-header", "routeros-style,encoding-mustunderstand"} {
		t.Run(q, func(t *testing.T) {
			s := startSim(t, sim.Config{ACSURL: a.url, Quirks: q, SerialPattern: fmt.Sprintf("Q%d-%%03d", i)})
			d := s.Device(0)
			r := waitSessions(t, d, 1)
			if r.Err != nil || len(r.Calls) < 2 {
				t.Fatalf("bootstrap %+v", r)
			}
			task := runTask(t, a, d, &cwmp.SetParameterValues{ParameterList: []cwmp.ParameterValue{
				{Name: "Device.WiFi.Radio.1.Enable", Value: cwmp.Bool(false)},
				{Name: "Device.WiFi.SSID.1.SSID", Value: cwmp.String("q")},
			}})
			if task.State != store.StateDone {
				t.Fatalf("%s %+v", task.State, task.Fault)
			}
			if v, _ := d.Get("Device.WiFi.Radio.1.Enable"); v.Text != "false" {
				t.Fatalf("Enable %q", v.Text)
			}
		})
	}
}

// TestRetryAfterFailureMidSession: a session that fails after its
// InformResponse is retried with its events and a RetryCount.
func TestRetryAfterFailureMidSession(t *testing.T) {
	var mu sync.Mutex
	informs := 0
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if len(body) == 0 {
			if informs == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		informs++
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>`)
	}))
	defer stub.Close()
	s := startSim(t, sim.Config{ACSURL: stub.URL})
	d := s.Device(0)
	r1 := waitSessions(t, d, 1)
	r2 := waitSessions(t, d, 2)
	if r1.Kind != sim.ErrHTTP || r2.Err != nil || r2.RetryCount != 1 || !hasEvents(r2, "0 BOOTSTRAP", "1 BOOT") {
		t.Fatalf("first %+v\nsecond %+v", r1, r2)
	}
}

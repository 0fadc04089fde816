package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// acs is a real ACS on loopback: SQLite file, session engine, HTTP server.
type acs struct {
	url   string
	store store.Store
	mgr   *session.Manager
	srv   *httptest.Server
	path  string
	h     *server.Handler
}

// The shared bootstrap credential of test ACSs; test CPEs answer with it.
const (
	sharedUser     = "provisor-bootstrap"
	sharedPassword = "bootstrap-secret"
)

// startACS starts an ACS that requires Digest (or Basic over TLS) with the
// shared credential, as `provisor serve` does by default, unless
// withoutAuth is given.
func startACS(t testing.TB, path string, cfg session.Config, withoutAuth ...bool) *acs {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "provisor.db")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{tt}, nil))
	}
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	hooks := &hook.Registry{}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	mgr := session.NewManager(cfg, st, hooks, log)
	h := &server.Handler{Sessions: mgr, Log: log}
	if len(withoutAuth) == 0 || !withoutAuth[0] {
		auth, err := server.NewAuth(server.AuthConfig{SharedUsername: sharedUser, SharedPassword: sharedPassword, Store: st, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		h.Auth = auth
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = h.ConnContext
	srv.Config.ConnState = h.ConnState
	srv.Start()
	a := &acs{url: srv.URL + "/cwmp", store: st, mgr: mgr, srv: srv, path: path, h: h}
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *acs) stop(t testing.TB) {
	if a.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = a.mgr.Close(ctx)
	a.srv.Close()
	if err := a.store.Close(context.Background()); err != nil {
		t.Errorf("closing the store: %v", err)
	}
	a.srv = nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestBootstrapDiscoversTheDevice(t *testing.T) {
	a := startACS(t, "", session.Config{GPVBatchSize: 4})
	cpe := newTestCPE(t, a.url, "SN-BOOT")
	calls := cpe.session(cwmp.EventBootstrap, cwmp.EventBoot)
	if len(calls) < 2 || calls[0] != "GetParameterNames" {
		t.Fatalf("calls = %v", calls)
	}
	id := store.DeviceIDFrom("00D0B7", "HomeGW", "SN-BOOT")
	dev, err := a.store.Device(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if dev.SoftwareVersion != "1.0.0" || dev.LastBootstrap.IsZero() || dev.FirstInform.IsZero() {
		t.Fatalf("device row: %+v", dev)
	}
	tree, err := a.store.Params(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range cpe.params {
		p, ok := tree.Get(name)
		if !ok || p.Value != want.Text || p.Type != string(want.Type) {
			t.Errorf("%s: stored %+v, want %q (%s)", name, p, want.Text, want.Type)
		}
		if ok && p.Writable != boolWritable(cpe.writable[name]) {
			t.Errorf("%s: writable %d", name, p.Writable)
		}
	}
	// The leaves in batches of 4 after one GetParameterNames.
	if got, want := strings.Count(strings.Join(calls, ","), "GetParameterValues"), (len(cpe.params)+3)/4; got != want {
		t.Errorf("GPV batches = %d (%v)", got, calls)
	}
}

// A device that lists a name it then refuses, faulting the whole batch
// with 9005, still gets the rest of its tree discovered.
func TestDiscoverySplitsBatchOn9005(t *testing.T) {
	a := startACS(t, "", session.Config{GPVBatchSize: 8})
	cpe := newTestCPE(t, a.url, "SN-GHOST")
	cpe.ghost = "Device.WiFi.SSID.2.Ghost"
	calls := cpe.session(cwmp.EventBootstrap)
	tree := mustTree(t, a, store.DeviceIDFrom("00D0B7", "HomeGW", "SN-GHOST"))
	for name, want := range cpe.params {
		if p, ok := tree.Get(name); !ok || p.Value != want.Text {
			t.Errorf("%s not discovered: %+v", name, p)
		}
	}
	if p, ok := tree.Get(cpe.ghost); ok && p.Value != "" {
		t.Errorf("ghost has a value: %+v", p)
	}
	// The batch with the ghost is halved until the ghost stands alone.
	if got := strings.Count(strings.Join(calls, ","), "GetParameterValues"); got <= 3 {
		t.Errorf("no splitting seen: %v", calls)
	}
}

func boolWritable(w bool) int8 {
	if w {
		return store.WritableYes
	}
	return store.WritableNo
}

func TestPeriodicSessionWithNoWork(t *testing.T) {
	a := startACS(t, "", session.Config{})
	cpe := newTestCPE(t, a.url, "SN-PER")
	cpe.session(cwmp.EventBootstrap)
	if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 {
		t.Fatalf("periodic session called %v", calls)
	}
	id := store.DeviceIDFrom("00D0B7", "HomeGW", "SN-PER")
	if err := a.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	hist, err := a.store.Sessions(context.Background(), id, 0)
	if err != nil || len(hist) != 2 {
		t.Fatalf("sessions %v %v", hist, err)
	}
	if hist[0].Outcome != "ok" || !slices.Equal(hist[0].Events, []string{"2 PERIODIC"}) || hist[0].RPCs != 0 {
		t.Fatalf("newest session record %+v", hist[0])
	}
}

func TestEveryTaskKind(t *testing.T) {
	a := startACS(t, "", session.Config{})
	cpe := newTestCPE(t, a.url, "SN-TASKS")
	cpe.session(cwmp.EventBootstrap)
	id := store.DeviceIDFrom("00D0B7", "HomeGW", "SN-TASKS")
	ctx := context.Background()
	cases := []struct {
		req       cwmp.Body
		wantState store.TaskState
		check     func(t *testing.T, task store.Task)
	}{
		{&cwmp.SetParameterValues{ParameterList: []cwmp.ParameterValue{{Name: "Device.WiFi.SSID.2.SSID", Value: cwmp.String("renamed")}}, ParameterKey: "k1"}, store.StateDone, func(t *testing.T, _ store.Task) {
			if cpe.params["Device.WiFi.SSID.2.SSID"].Text != "renamed" {
				t.Fatal("value not set on the device")
			}
			p, _ := mustTree(t, a, id).Get("Device.WiFi.SSID.2.SSID")
			if p.Value != "renamed" || p.SetAt.IsZero() {
				t.Fatalf("stored %+v", p)
			}
		}},
		{&cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime"}}, store.StateDone, nil},
		{&cwmp.GetParameterNames{ParameterPath: "Device.WiFi.", NextLevel: true}, store.StateDone, nil},
		{&cwmp.AddObject{ObjectName: "Device.WiFi.SSID."}, store.StateDone, func(t *testing.T, task store.Task) {
			var r cwmp.AddObjectResponse
			if err := json.Unmarshal(task.Result, &r); err != nil || r.InstanceNumber != 4 {
				t.Fatalf("result %s %v", task.Result, err)
			}
		}},
		{&cwmp.DeleteObject{ObjectName: "Device.WiFi.SSID.3."}, store.StateDone, func(t *testing.T, _ store.Task) {
			if _, ok := mustTree(t, a, id).Get("Device.WiFi.SSID.3.SSID"); ok {
				t.Fatal("deleted object still stored")
			}
		}},
		{&cwmp.GetParameterAttributes{ParameterNames: []string{"Device.DeviceInfo.UpTime"}}, store.StateDone, nil},
		{&cwmp.SetParameterAttributes{ParameterList: []cwmp.SetParameterAttributesStruct{{Name: "Device.DeviceInfo.UpTime", NotificationChange: true, Notification: 2}}}, store.StateDone, nil},
		{&cwmp.GetRPCMethods{}, store.StateDone, nil},
		{&cwmp.ScheduleInform{DelaySeconds: 30}, store.StateDone, nil},
		{&cwmp.Reboot{}, store.StateDone, nil},
		{&cwmp.FactoryReset{}, store.StateDone, nil},
		{&cwmp.Upload{FileType: cwmp.FileUploadVendorConfig, URL: "http://127.0.0.1:1/up"}, store.StateWaitingTransfer, nil},
		{&cwmp.GetAllQueuedTransfers{}, store.StateFault, func(t *testing.T, task store.Task) {
			if task.Fault == nil || task.Fault.Code != int(cwmp.FaultMethodNotSupported) {
				t.Fatalf("fault %+v", task.Fault)
			}
		}},
		{&cwmp.SetParameterValues{ParameterList: []cwmp.ParameterValue{{Name: "Device.DeviceInfo.SoftwareVersion", Value: cwmp.String("x")}}}, store.StateFault, func(t *testing.T, task store.Task) {
			if task.Fault == nil || task.Fault.Code != 9003 || !strings.Contains(string(task.Fault.Detail), "Device.DeviceInfo.SoftwareVersion") {
				t.Fatalf("fault %+v", task.Fault)
			}
			faults, _, err := a.store.Faults(ctx, store.FaultFilter{DeviceID: id})
			if err != nil || len(faults) == 0 || faults[0].Code != 9003 {
				t.Fatalf("fault records %+v %v", faults, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.req.Method(), func(t *testing.T) {
			task, err := session.NewTask(id, c.req)
			if err != nil {
				t.Fatal(err)
			}
			tid, err := a.store.AddTask(ctx, task)
			if err != nil {
				t.Fatal(err)
			}
			calls := cpe.session(cwmp.EventPeriodic)
			if !slices.Contains(calls, c.req.Method()) {
				t.Fatalf("device saw %v", calls)
			}
			got, err := a.store.Task(ctx, tid)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != c.wantState {
				t.Fatalf("state %s, want %s (fault %+v)", got.State, c.wantState, got.Fault)
			}
			if c.wantState == store.StateDone && len(got.Result) == 0 {
				t.Fatal("no result stored")
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
	t.Run("refresh", func(t *testing.T) {
		cpe.params["Device.DeviceInfo.UpTime"] = cwmp.Uint(4242)
		tid, err := a.store.AddTask(ctx, session.RefreshTask(id, "Device.DeviceInfo."))
		if err != nil {
			t.Fatal(err)
		}
		cpe.session(cwmp.EventPeriodic)
		if got, _ := a.store.Task(ctx, tid); got.State != store.StateDone {
			t.Fatalf("state %s", got.State)
		}
		if p, _ := mustTree(t, a, id).Get("Device.DeviceInfo.UpTime"); p.Value != "4242" {
			t.Fatalf("stored %+v", p)
		}
	})
	t.Run("connectionRequest", func(t *testing.T) {
		tid, err := a.store.AddTask(ctx, store.Task{DeviceID: id, Kind: store.KindConnectionRequest})
		if err != nil {
			t.Fatal(err)
		}
		if calls := cpe.session(cwmp.EventConnectionRequest); len(calls) != 0 {
			t.Fatalf("calls %v", calls)
		}
		if got, _ := a.store.Task(ctx, tid); got.State != store.StateDone {
			t.Fatalf("state %s", got.State)
		}
	})
}

func mustTree(t *testing.T, a *acs, id string) store.ParamTree {
	t.Helper()
	if err := a.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tree, err := a.store.Params(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestTransferCompleteAfterRebootCompletesDownloadOnce(t *testing.T) {
	a := startACS(t, "", session.Config{})
	cpe := newTestCPE(t, a.url, "SN-DL")
	cpe.session(cwmp.EventBootstrap)
	id := store.DeviceIDFrom("00D0B7", "HomeGW", "SN-DL")
	ctx := context.Background()
	ok, _ := session.NewTask(id, &cwmp.Download{FileType: cwmp.FileFirmware, URL: "http://127.0.0.1:1/fw.bin"})
	bad, _ := session.NewTask(id, &cwmp.Download{FileType: cwmp.FileFirmware, URL: "http://127.0.0.1:1/missing.bin"})
	okID, _ := a.store.AddTask(ctx, ok)
	badID, _ := a.store.AddTask(ctx, bad)
	cpe.session(cwmp.EventPeriodic)
	for _, id := range []int64{okID, badID} {
		if got, _ := a.store.Task(ctx, id); got.State != store.StateWaitingTransfer {
			t.Fatalf("task %d state %s before TransferComplete", id, got.State)
		}
	}
	repeat := slices.Clone(cpe.transfers)
	// The device reboots into the new image and reports in a new session.
	cpe.session(cwmp.EventBoot)
	okTask, _ := a.store.Task(ctx, okID)
	badTask, _ := a.store.Task(ctx, badID)
	if okTask.State != store.StateDone || badTask.State != store.StateFault || badTask.Fault == nil || badTask.Fault.Code != 9016 {
		t.Fatalf("ok %s, bad %s %+v", okTask.State, badTask.State, badTask.Fault)
	}
	// A TransferComplete delivered twice completes its task once.
	cpe.transfers = repeat
	cpe.session(cwmp.EventBoot)
	again, _ := a.store.Task(ctx, okID)
	if again.State != store.StateDone || !again.Updated.Equal(okTask.Updated) {
		t.Fatalf("task changed by a repeated TransferComplete: %+v", again)
	}
}

func TestConcurrentSessions(t *testing.T) {
	a := startACS(t, "", session.Config{})
	const devices = 200
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ft := &failT{TB: t}
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(*failT); !ok {
						panic(r)
					}
					errs <- ft.err
				}
			}()
			cpe := newTestCPE(ft, a.url, fmt.Sprintf("SN-C%03d", i))
			cpe.session(cwmp.EventBootstrap, cwmp.EventBoot)
			cpe.session(cwmp.EventPeriodic)
			if ft.err != nil {
				errs <- ft.err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := a.store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	page, _, err := a.store.Devices(context.Background(), store.DeviceFilter{Limit: 1000})
	if err != nil || len(page) != devices {
		t.Fatalf("%d devices stored (%v)", len(page), err)
	}
	if got := a.mgr.Stats.Completed.Load(); got != 2*devices {
		t.Fatalf("completed sessions %d", got)
	}
}

// failT turns Fatal in a goroutine into a recorded error.
type failT struct {
	testing.TB
	mu  sync.Mutex
	err error
}

func (f *failT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.err = fmt.Errorf(format, args...)
	f.mu.Unlock()
	panic(f)
}

func (f *failT) Helper() {}

// A device that goes silent mid-session leaves its task queued; after a
// restart of the ACS on the same database the task runs.
func TestSilentDeviceAndRestartResumeTasks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "provisor.db")
	a := startACS(t, path, session.Config{ExchangeTimeout: 300 * time.Millisecond})
	cpe := newTestCPE(t, a.url, "SN-RESUME")
	cpe.session(cwmp.EventBootstrap)
	id := store.DeviceIDFrom("00D0B7", "HomeGW", "SN-RESUME")
	ctx := context.Background()
	task, _ := session.NewTask(id, &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo."}})
	tid, _ := a.store.AddTask(ctx, task)
	cpe.silentAt = 1
	cpe.session(cwmp.EventPeriodic) // the device receives the GPV and never answers
	deadline := time.Now().Add(5 * time.Second)
	for a.mgr.Live() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got, _ := a.store.Task(ctx, tid)
	if got.State != store.StateQueued || got.Attempts != 1 {
		t.Fatalf("after silence: %s attempts %d", got.State, got.Attempts)
	}
	a.stop(t)

	b := startACS(t, path, session.Config{})
	cpe.url = b.url
	cpe.silentAt = 0
	if calls := cpe.session(cwmp.EventPeriodic); !slices.Equal(calls, []string{"GetParameterValues"}) {
		t.Fatalf("calls after restart %v", calls)
	}
	if got, _ := b.store.Task(ctx, tid); got.State != store.StateDone {
		t.Fatalf("after restart: %s", got.State)
	}
}

func TestBadInput(t *testing.T) {
	a := startACS(t, "", session.Config{})
	post := func(method, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, a.url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	env := func(body string) string {
		return `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Body>` + body + `</soap-env:Body></soap-env:Envelope>`
	}
	cases := []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		contains           string
	}{
		{"GET", http.MethodGet, "", nil, http.StatusMethodNotAllowed, "POST"},
		{"malformed XML", http.MethodPost, "<soap-env:Envelope><oops>", nil, http.StatusBadRequest, "malformed"},
		{"billion laughs", http.MethodPost, `<!DOCTYPE x [<!ENTITY a "b">]><x/>`, nil, http.StatusBadRequest, "document type"},
		{"oversize body", http.MethodPost, strings.Repeat(" ", 5<<20), nil, http.StatusRequestEntityTooLarge, "too large"},
		{"unknown content coding", http.MethodPost, "x", map[string]string{"Content-Encoding": "br"}, http.StatusUnsupportedMediaType, "br"},
		{"request before Inform", http.MethodPost, env(`<cwmp:TransferComplete><CommandKey>x</CommandKey></cwmp:TransferComplete>`), nil, http.StatusBadRequest, "Inform"},
		{"empty POST outside a session", http.MethodPost, "", nil, http.StatusNoContent, ""},
		{"Inform without DeviceId", http.MethodPost, env(`<cwmp:Inform><DeviceId><Manufacturer>x</Manufacturer></DeviceId></cwmp:Inform>`), nil, http.StatusInternalServerError, "<FaultCode>8003</FaultCode>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := post(c.method, c.body, c.hdr)
			if status != c.status || !strings.Contains(body, c.contains) {
				t.Fatalf("got %d %q", status, body)
			}
		})
	}
	t.Run("unknown RPC from the CPE", func(t *testing.T) {
		cpe := newTestCPE(t, a.url, "SN-BAD")
		inform := &cwmp.Inform{DeviceID: cpe.id, Events: []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}}}
		if st, _ := cpe.post(&cwmp.Envelope{Body: inform}); st != http.StatusOK {
			t.Fatalf("Inform %d", st)
		}
		st, resp := cpe.post(&cwmp.Envelope{Body: &cwmp.Unknown{Name: "X_00D0B7_Frobnicate"}})
		f, ok := resp.Body.(*cwmp.Fault)
		if st != http.StatusInternalServerError || !ok || f.Code != cwmp.FaultACSMethodNotSupported {
			t.Fatalf("%d %+v", st, resp.Body)
		}
		// The session goes on: the new device is discovered.
		if st, req := cpe.post(nil); st != http.StatusOK || req.Body.Method() != "GetParameterNames" {
			t.Fatalf("after the fault: %d %v", st, req)
		}
	})
	t.Run("1.4 version negotiation", func(t *testing.T) {
		cpe := newTestCPE(t, a.url, "SN-14")
		cpe.ns = cwmp.NS12
		st, resp := cpe.post(&cwmp.Envelope{Header: cwmp.Header{SupportedCWMPVersions: "1.0,1.4,1.9"}, Body: &cwmp.Inform{DeviceID: cpe.id}})
		if st != http.StatusOK || resp.Header.UseCWMPVersion != "1.4" || resp.Namespace != cwmp.NS12 {
			t.Fatalf("%d %+v %s", st, resp.Header, resp.Namespace)
		}
		cpe.post(nil)
		cpe2 := newTestCPE(t, a.url, "SN-19")
		cpe2.ns = cwmp.NS12
		st, resp = cpe2.post(&cwmp.Envelope{Header: cwmp.Header{SupportedCWMPVersions: "2.0"}, Body: &cwmp.Inform{DeviceID: cpe2.id}})
		if f, ok := resp.Body.(*cwmp.Fault); st != http.StatusInternalServerError || !ok || f.Code != cwmp.FaultACSVersionIncompatible {
			t.Fatalf("%d %+v", st, resp.Body)
		}
	})
}

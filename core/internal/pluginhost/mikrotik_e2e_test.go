package pluginhost_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
)

// functionCaller stands in for a script handler that calls
// require("provisor/x/mikrotik").<fn>(…): it makes the calls queued for
// the next session, inside that session.
type functionCaller struct {
	host    *pluginhost.Host
	mu      sync.Mutex
	queue   []queuedCall
	results chan callResult
}

type queuedCall struct {
	name string
	args []any
}

type callResult struct {
	res json.RawMessage
	err error
}

func (*functionCaller) Name() string { return "script-stand-in" }

func (f *functionCaller) Run(ctx context.Context, s hook.Session) error {
	f.mu.Lock()
	q := f.queue
	f.queue = nil
	f.mu.Unlock()
	for _, c := range q {
		var args []json.RawMessage
		for _, a := range c.args {
			b, _ := json.Marshal(a)
			args = append(args, b)
		}
		res, err := f.host.CallFunction(ctx, pluginhost.FunctionCall{Plugin: "mikrotik", Name: c.name, Args: args, Session: s})
		f.results <- callResult{res, err}
	}
	return nil
}

func (f *functionCaller) call(t *testing.T, d *sim.Device, name string, args ...any) json.RawMessage {
	t.Helper()
	f.mu.Lock()
	f.queue = append(f.queue, queuedCall{name, args})
	f.mu.Unlock()
	d.Kick()
	select {
	case r := <-f.results:
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		return r.res
	case <-time.After(15 * time.Second):
		t.Fatalf("%s was not called", name)
	}
	return nil
}

// installMikroTik builds the plugin from its own module and installs it
// with the repository's manifest.
func installMikroTik(t *testing.T, dir string) {
	t.Helper()
	src, err := filepath.Abs("../../../plugins/mikrotik")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "provisor-plugin-mikrotik")
	goBuild(t, src, bin)
	var manifest map[string]any
	b, err := os.ReadFile(filepath.Join(src, "plugin.json"))
	if err != nil || json.Unmarshal(b, &manifest) != nil {
		t.Fatalf("manifest: %v", err)
	}
	install(t, dir, "mikrotik", bin, func(m map[string]any) {
		sum := m["sha256"]
		for k, v := range manifest {
			m[k] = v
		}
		m["executable"], m["sha256"] = "plugin-mikrotik", sum
	})
}

// transferLog keeps the HTTP requests the simulated device made for its
// transfers, as it saw them.
type transferLog struct {
	mu   sync.Mutex
	reqs []sim.FileRequest
}

func (l *transferLog) record(_ *sim.Device, r sim.FileRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

// find returns the device's last request of the method whose URL passes
// match.
func (l *transferLog) find(method string, match func(url string) bool) (sim.FileRequest, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.reqs) - 1; i >= 0; i-- {
		if r := l.reqs[i]; r.Method == method && match(r.URL) {
			return r, true
		}
	}
	return sim.FileRequest{}, false
}

// storedFile finds the file of a name among a device's or the operator's
// files.
func storedFile(t *testing.T, e *env, f store.FileFilter, name string) store.FileMeta {
	t.Helper()
	list, _, err := e.files.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no stored file %q among %+v", name, list)
	return store.FileMeta{}
}

// TestMikroTikEndToEnd runs the MikroTik plugin, built from its module,
// through the real host against the simulator's RouterOS profile, with
// the real file store served on the CPE listener: the device fetches the
// .alter script, the firmware descriptor and its packages from it and
// uploads its backup to it.
func TestMikroTikEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	dir := t.TempDir()
	installMikroTik(t, dir)
	fc := &functionCaller{results: make(chan callResult, 1)}
	cfg, _ := json.Marshal(map[string]any{"identityPrefix": "edge-", "periodicInformInterval": 900, "fileTTL": "10m"})
	e := startEnv(t, pluginhost.Options{Dir: dir, Config: map[string]json.RawMessage{"mikrotik": cfg}}, session.Config{}, fc)
	fc.host = e.host
	if h := health(e.host, "mikrotik"); h.State != pluginhost.StateRunning {
		t.Fatalf("plugin not running: %+v", h)
	}
	ctx := context.Background()
	log := &transferLog{}
	s := startSimWith(t, e.url, "mikrotik", func(c *sim.Config) { c.OnFileRequest = log.record })
	d := s.Device(0)
	id := deviceID(d)
	served := func(u string) bool { return strings.HasPrefix(u, e.base+filestore.Prefix+"d/") }

	t.Run("bootstrap", func(t *testing.T) {
		r := waitSessions(t, d, 1)
		if r.Err != nil || !slices.Contains(r.Events, "0 BOOTSTRAP") {
			t.Fatalf("first session %+v", r)
		}
		for name, want := range map[string]string{
			"Device.DeviceInfo.X_MIKROTIK_SystemIdentity":       "edge-" + d.Serial(),
			"Device.ManagementServer.PeriodicInformEnable":      "true",
			"Device.ManagementServer.PeriodicInformInterval":    "900",
			"Device.ManagementServer.ConnectionRequestUsername": d.Serial(),
		} {
			if v, _ := d.Get(name); v.Text != want {
				t.Errorf("%s = %q, want %q", name, v.Text, want)
			}
		}
		dev, err := e.store.Device(ctx, id)
		if err != nil || !slices.Contains(dev.Tags, "mikrotik") {
			t.Fatalf("device %+v %v", dev, err)
		}
		if h := health(e.host, "mikrotik"); h.Calls != 1 || h.Failures != 0 {
			t.Fatalf("health %+v", h)
		}
		var profile bool
		for _, p := range e.host.SessionProfiles() {
			profile = profile || p.Name == "plugin:mikrotik:routeros" && p.Manufacturer == "MikroTik" && p.GPVBatchSize == 16 &&
				p.MaxCWMPVersion == "1.0" && slices.Equal(p.TransferEndsSession, []string{"1 Firmware Upgrade Image"})
		}
		if !profile {
			t.Fatalf("profiles %+v", e.host.SessionProfiles())
		}
	})

	t.Run("alter script", func(t *testing.T) {
		const script = "/system identity set name=edge-7"
		n := d.SessionCount()
		var tr struct {
			CommandKey string
			Status     int
			File       string
		}
		_ = json.Unmarshal(fc.call(t, d, "runScript", script), &tr)
		if !strings.HasSuffix(tr.File, ".alter") || !strings.HasPrefix(tr.CommandKey, "x-mikrotik-") || tr.Status != 1 {
			t.Fatalf("result %+v", tr)
		}
		last := waitSessions(t, d, n+2)
		if !slices.Contains(last.Events, "7 TRANSFER COMPLETE") || slices.Contains(last.Events, "1 BOOT") {
			t.Fatalf("after the script: %+v", last)
		}
		// RouterOS runs the file as a script only if its URL ends in .alter.
		got, ok := log.find(http.MethodGet, func(u string) bool { return served(u) && strings.HasSuffix(u, "/"+tr.File) })
		if !ok || got.Status != http.StatusOK || string(got.Body) != script+"\n" {
			t.Fatalf("the device's fetch of %s: %+v ok %v", tr.File, got, ok)
		}
		m := storedFile(t, e, store.FileFilter{DeviceID: id, Type: "3 Vendor Configuration File"}, tr.File)
		if _, b := e.content(t, m.ID); m.CreatedBy != "plugin:mikrotik" || string(b) != string(got.Body) {
			t.Fatalf("stored %+v %q", m, b)
		}
		if v, _ := d.Get("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"); v.Text != "edge-7" {
			t.Fatalf("identity %q", v.Text)
		}
		waitFor(t, "the plugin to note the TransferComplete", 5*time.Second, func() bool {
			b, err := e.store.Data(ctx, id, "x/mikrotik/transfer/"+tr.CommandKey)
			return err == nil && !strings.Contains(string(b), "fault")
		})
	})

	t.Run("firmware descriptor", func(t *testing.T) {
		// The operator's packages, stored through the file store as the
		// API stores them; the arm one is not for this device.
		npk := map[string]string{}
		for _, name := range []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk", "routeros-7.14.2-arm.npk"} {
			npk[name] = "npk " + name
			if _, err := e.files.Put(ctx, store.FileMeta{Name: name, Type: "1 Firmware Upgrade Image", Version: "7.14.2"}, strings.NewReader(npk[name])); err != nil {
				t.Fatal(err)
			}
		}
		n := d.SessionCount()
		var tr struct {
			File     string
			Packages []string
		}
		_ = json.Unmarshal(fc.call(t, d, "firmware", "7.14.2"), &tr)
		want := []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk"}
		if !slices.Equal(tr.Packages, want) {
			t.Fatalf("result %+v", tr)
		}
		last := waitSessions(t, d, n+2)
		if !slices.Contains(last.Events, "1 BOOT") || !slices.Contains(last.Events, "7 TRANSFER COMPLETE") {
			t.Fatalf("after the upgrade: %+v\nhistory %+v", last, d.Sessions())
		}
		// What the device fetched as its "firmware image" is the
		// descriptor, valid XML that lists the packages of its
		// architecture at URLs of the file store.
		got, ok := log.find(http.MethodGet, func(u string) bool { return served(u) && strings.HasSuffix(u, "/"+tr.File) })
		if !ok || got.Status != http.StatusOK {
			t.Fatalf("the device's fetch of %s: %+v ok %v", tr.File, got, ok)
		}
		var desc struct {
			XMLName xml.Name  `xml:"upgrade"`
			Version string    `xml:"version,attr"`
			Type    string    `xml:"type,attr"`
			Config  *struct{} `xml:"config"`
			Links   []string  `xml:"links>link>url"`
		}
		if err := xml.Unmarshal(got.Body, &desc); err != nil || desc.Version != "1" || desc.Type != "links" || desc.Config == nil || len(desc.Links) != len(want) {
			t.Fatalf("descriptor %s: %+v %v", got.Body, desc, err)
		}
		m := storedFile(t, e, store.FileFilter{Type: "1 Firmware Upgrade Image", DeviceID: id}, tr.File)
		if _, b := e.content(t, m.ID); string(b) != string(got.Body) || m.Version != "7.14.2" {
			t.Fatalf("stored descriptor %+v:\n%s", m, b)
		}
		// Each link is a signed URL of the file store that resolved, for
		// the device, to the package's bytes.
		for i, link := range desc.Links {
			if !served(link) || !strings.HasSuffix(link, "/"+want[i]) {
				t.Errorf("link %d: %s", i, link)
				continue
			}
			pkg, ok := log.find(http.MethodGet, func(u string) bool { return u == link })
			if !ok || pkg.Status != http.StatusOK || string(pkg.Body) != npk[want[i]] {
				t.Errorf("the device's fetch of %s: %+v ok %v", link, pkg, ok)
			}
		}
		if _, ok := log.find(http.MethodGet, func(u string) bool { return strings.HasSuffix(u, "/routeros-7.14.2-arm.npk") }); ok {
			t.Error("the device fetched the package of another architecture")
		}
		if v, _ := d.Get("Device.DeviceInfo.SoftwareVersion"); v.Text != "7.14.2" {
			t.Fatalf("SoftwareVersion %q", v.Text)
		}
		// The boot after the upgrade sees the promised version.
		waitFor(t, "the upgrade to be confirmed", 5*time.Second, func() bool {
			dev, err := e.store.Device(ctx, id)
			return err == nil && slices.Contains(dev.Tags, "routeros-7.14.2")
		})
	})

	t.Run("backup upload", func(t *testing.T) {
		n := d.SessionCount()
		var tr struct {
			CommandKey string
			Status     int
		}
		_ = json.Unmarshal(fc.call(t, d, "backup"), &tr)
		if last := waitSessions(t, d, n+2); !slices.Contains(last.Events, "M Upload") || tr.Status != 1 {
			t.Fatalf("after the upload: %+v, result %+v", last, tr)
		}
		sent, ok := log.find(http.MethodPut, func(u string) bool { return strings.HasPrefix(u, e.base+filestore.Prefix+"u/") })
		if !ok || sent.Status != http.StatusCreated || !sent.Fault.OK() || !strings.Contains(string(sent.Body), "by RouterOS 7.14.2") {
			t.Fatalf("the device's upload: %+v ok %v", sent, ok)
		}
		list, _, err := e.files.List(ctx, store.FileFilter{DeviceID: id, Type: "1 Vendor Configuration File", Source: store.FileFromDevice})
		if err != nil || len(list) != 1 {
			t.Fatalf("the device's stored uploads: %+v %v", list, err)
		}
		m, b := e.content(t, list[0].ID)
		if string(b) != string(sent.Body) || m.Size != int64(len(b)) {
			t.Fatalf("stored %+v:\n%s\nsent:\n%s", m, b, sent.Body)
		}
		// The plugin named it from the export's header.
		if !regexp.MustCompile(`^` + d.Serial() + `-\d{8}-\d{6}\.rsc$`).MatchString(m.Name) {
			t.Fatalf("stored as %q", m.Name)
		}
	})

	if h := health(e.host, "mikrotik"); h.Failures != 0 || h.Restarts != 0 || h.State != pluginhost.StateRunning {
		t.Fatalf("health %+v", h)
	}
}

package pluginhost_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
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

// TestMikroTikEndToEnd runs the MikroTik plugin, built from its module,
// through the real host against the simulator's RouterOS profile.
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
	s := startSim(t, e.url, "mikrotik")
	d := s.Device(0)
	id := deviceID(d)

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
		n := d.SessionCount()
		var tr struct {
			CommandKey string
			Status     int
			File       string
		}
		_ = json.Unmarshal(fc.call(t, d, "runScript", "/system identity set name=edge-7"), &tr)
		if !strings.HasSuffix(tr.File, ".alter") || !strings.HasPrefix(tr.CommandKey, "x-mikrotik-") {
			t.Fatalf("result %+v", tr)
		}
		last := waitSessions(t, d, n+2)
		if !slices.Contains(last.Events, "7 TRANSFER COMPLETE") || slices.Contains(last.Events, "1 BOOT") {
			t.Fatalf("after the script: %+v", last)
		}
		if v, _ := d.Get("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"); v.Text != "edge-7" {
			t.Fatalf("identity %q", v.Text)
		}
		if !e.files.wasFetched(tr.File) {
			t.Fatal("the device did not fetch the .alter file")
		}
		waitFor(t, "the plugin to note the TransferComplete", 5*time.Second, func() bool {
			b, err := e.store.Data(ctx, id, "x/mikrotik/transfer/"+tr.CommandKey)
			return err == nil && !strings.Contains(string(b), "fault")
		})
	})

	t.Run("firmware descriptor", func(t *testing.T) {
		for _, name := range []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk", "routeros-7.14.2-arm.npk"} {
			if _, err := e.files.Put(ctx, pluginhost.FileInfo{Name: name, FileType: "1 Firmware Upgrade Image", Version: "7.14.2"}, strings.NewReader("npk "+name)); err != nil {
				t.Fatal(err)
			}
		}
		n := d.SessionCount()
		var tr struct {
			File     string
			Packages []string
		}
		_ = json.Unmarshal(fc.call(t, d, "firmware", "7.14.2"), &tr)
		if !slices.Equal(tr.Packages, []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk"}) {
			t.Fatalf("result %+v", tr)
		}
		_, doc, ok := e.files.get(tr.File)
		if !ok {
			t.Fatalf("descriptor %s not stored", tr.File)
		}
		var desc struct {
			XMLName xml.Name  `xml:"upgrade"`
			Version string    `xml:"version,attr"`
			Type    string    `xml:"type,attr"`
			Config  *struct{} `xml:"config"`
			Links   []string  `xml:"links>link>url"`
		}
		if err := xml.Unmarshal(doc, &desc); err != nil || desc.Version != "1" || desc.Type != "links" || desc.Config == nil || len(desc.Links) != 2 {
			t.Fatalf("descriptor %s: %+v %v", doc, desc, err)
		}
		last := waitSessions(t, d, n+2)
		if !slices.Contains(last.Events, "1 BOOT") || !slices.Contains(last.Events, "7 TRANSFER COMPLETE") {
			t.Fatalf("after the upgrade: %+v\nhistory %+v", last, d.Sessions())
		}
		for _, name := range append([]string{tr.File}, tr.Packages...) {
			if !e.files.wasFetched(name) {
				t.Errorf("the device did not fetch %s", name)
			}
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
		var tr struct{ CommandKey string }
		_ = json.Unmarshal(fc.call(t, d, "backup"), &tr)
		if last := waitSessions(t, d, n+2); !slices.Contains(last.Events, "M Upload") {
			t.Fatalf("after the upload: %+v", last)
		}
		var stored pluginhost.FileInfo
		var data []byte
		waitFor(t, "the export to be stored", 10*time.Second, func() bool {
			list, _ := e.files.List(ctx, pluginhost.FileQuery{DeviceID: id, FileType: "1 Vendor Configuration File"})
			for _, f := range list {
				if strings.HasSuffix(f.Name, ".rsc") {
					stored = f
					_, data, _ = e.files.get(f.Name)
					return true
				}
			}
			return false
		})
		if !strings.HasPrefix(stored.Name, d.Serial()+"-") || !strings.Contains(string(data), "by RouterOS 7.14.2") || stored.Metadata["routeros"] != "7.14.2" {
			t.Fatalf("stored %+v:\n%s", stored, data)
		}
	})

	if h := health(e.host, "mikrotik"); h.Failures != 0 || h.Restarts != 0 || h.State != pluginhost.StateRunning {
		t.Fatalf("health %+v", h)
	}
}

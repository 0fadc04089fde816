package pluginhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/session"
)

func testConfig(v any) map[string]json.RawMessage {
	b, _ := json.Marshal(v)
	return map[string]json.RawMessage{"testplugin": b}
}

// TestPluginServesSessions: one plugin call per session, device calls
// served on the live session, tags and profiles reach the ACS.
func TestPluginServesSessions(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "testplugin", bins.testplugin, nil)
	e := startEnv(t, pluginhost.Options{Dir: dir, Config: testConfig(map[string]string{"mode": "ok"})}, session.Config{})
	s := startSim(t, e.url, "tr181")
	d := s.Device(0)
	r := waitSessions(t, d, 1)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := d.Get("Device.DeviceInfo.ProvisioningCode"); v.Text != "v=2.4.1" {
		t.Fatalf("ProvisioningCode %q; session %+v", v.Text, r)
	}
	dev, err := e.store.Device(context.Background(), deviceID(d))
	if err != nil || !slices.Contains(dev.Tags, "seen-by-testplugin") {
		t.Fatalf("device %+v %v", dev, err)
	}
	h := health(e.host, "testplugin")
	if h.State != pluginhost.StateRunning || h.Calls != 1 || h.Failures != 0 || h.Version != "1.2.3" {
		t.Fatalf("health %+v", h)
	}
	profiles := e.host.SessionProfiles()
	if len(profiles) != 1 || profiles[0].Name != "plugin:testplugin:test" || profiles[0].GPVBatchSize != 7 || !profiles[0].NumericBooleans {
		t.Fatalf("profiles %+v", profiles)
	}
	// A periodic session: the plugin handles "inform", so once more.
	d.Kick()
	waitSessions(t, d, 2)
	if h := health(e.host, "testplugin"); h.Calls != 2 {
		t.Fatalf("calls %d after two sessions", h.Calls)
	}
	res, err := e.host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "testplugin", Name: "echo", Args: []json.RawMessage{json.RawMessage(`{"a":[1,"b"]}`)}})
	if err != nil || string(res) != `{"a":[1,"b"]}` {
		t.Fatalf("echo %s %v", res, err)
	}
}

// TestPluginCrashMidSession: the plugin exits in the middle of its
// session; the session completes without it, and the plugin is back and
// serving within 2 s.
func TestPluginCrashMidSession(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "testplugin", bins.testplugin, nil)
	marker := filepath.Join(t.TempDir(), "crashed")
	e := startEnv(t, pluginhost.Options{Dir: dir, Config: testConfig(map[string]string{"mode": "crash-once", "marker": marker})}, session.Config{})
	p, _ := e.host.Plugin("testplugin")
	pidBefore := p.Health().PID
	s := startSim(t, e.url, "tr181")
	d := s.Device(0)
	r := waitSessions(t, d, 1)
	crashedAt := time.Now()
	if r.Err != nil {
		t.Fatalf("the session failed: %v", r.Err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the plugin did not crash")
	}
	rec := lastSession(t, e.store, deviceID(d))
	if rec.Outcome != "ok" || !strings.Contains(rec.Error, "plugin:testplugin") || !strings.Contains(rec.Error, "unavailable") && !strings.Contains(rec.Error, "restarting") {
		t.Fatalf("session record %+v", rec)
	}
	if !slices.Contains(r.Calls, "GetParameterValues") {
		t.Fatalf("the plugin's device call did not reach the device: %v", r.Calls)
	}
	var res json.RawMessage
	waitFor(t, "the plugin to serve again", 2*time.Second-time.Since(crashedAt), func() bool {
		var err error
		res, err = e.host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "testplugin", Name: "echo", Args: []json.RawMessage{json.RawMessage(`"back"`)}})
		return err == nil
	})
	t.Logf("serving again %v after the crashed session ended", time.Since(crashedAt).Round(time.Millisecond))
	h := p.Health()
	if string(res) != `"back"` || h.State != pluginhost.StateRunning || h.Restarts != 1 || h.Crashes != 1 || h.PID == pidBefore {
		t.Fatalf("after restart: %s %+v (pid before %s)", res, h, pidBefore)
	}
	// The restarted plugin serves the next session in full.
	d.Kick()
	waitSessions(t, d, 2)
	if v, _ := d.Get("Device.DeviceInfo.ProvisioningCode"); v.Text != "v=2.4.1" {
		t.Fatalf("ProvisioningCode %q", v.Text)
	}
}

// TestPluginHangTimesOut: a plugin that never returns from its session
// costs the session CallTimeout and no more.
func TestPluginHangTimesOut(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "testplugin", bins.testplugin, nil)
	e := startEnv(t, pluginhost.Options{Dir: dir, CallTimeout: 300 * time.Millisecond, Config: testConfig(map[string]string{"mode": "hang"})}, session.Config{})
	s := startSim(t, e.url, "tr181")
	d := s.Device(0)
	r := waitSessions(t, d, 1)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if took := r.End.Sub(r.Start); took > 3*time.Second {
		t.Fatalf("the session took %v", took)
	}
	rec := lastSession(t, e.store, deviceID(d))
	if rec.Outcome != "ok" || !strings.Contains(rec.Error, "timed out") {
		t.Fatalf("session record %+v", rec)
	}
	h := health(e.host, "testplugin")
	if h.Timeouts != 1 || h.Failures != 1 {
		t.Fatalf("health %+v", h)
	}
	// Its health service still answers, so it is not restarted for one
	// stuck handler.
	time.Sleep(200 * time.Millisecond)
	if h := health(e.host, "testplugin"); h.State != pluginhost.StateRunning || h.Restarts != 0 {
		t.Fatalf("health %+v", h)
	}
}

// TestWrongChecksumRefused: a binary that is not the one the manifest
// names never runs; sessions go on without it.
func TestWrongChecksumRefused(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "testplugin", bins.testplugin, func(m map[string]any) {
		m["sha256"] = strings.Repeat("ab", 32)
	})
	e := startEnv(t, pluginhost.Options{Dir: dir}, session.Config{})
	h := health(e.host, "testplugin")
	if h.State != pluginhost.StateRefused || !strings.Contains(h.LastError, "checksum mismatch") || h.PID != "" {
		t.Fatalf("health %+v", h)
	}
	p, _ := e.host.Plugin("testplugin")
	_, err := e.host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "testplugin", Name: "echo"})
	var ue *pluginhost.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, pluginhost.ErrUnavailable) || !errors.Is(err, pluginhost.ErrChecksum) {
		t.Fatalf("call on a refused plugin: %v", err)
	}
	s := startSim(t, e.url, "tr181")
	if r := waitSessions(t, s.Device(0), 1); r.Err != nil {
		t.Fatal(r.Err)
	}
	if p.Health().Restarts != 0 {
		t.Fatal("a refused plugin was restarted")
	}
}

// TestProtocolMismatchRefused: a manifest or an executable of another
// major version is refused with a message that says what to do.
func TestProtocolMismatchRefused(t *testing.T) {
	t.Run("manifest", func(t *testing.T) {
		dir := t.TempDir()
		install(t, dir, "testplugin", bins.testplugin, func(m map[string]any) { m["protocol"] = 2 })
		e := startEnv(t, pluginhost.Options{Dir: dir}, session.Config{})
		h := health(e.host, "testplugin")
		want := "its manifest declares provisor.plugin.v2, but this ACS speaks v1; rebuild the plugin against a v1 SDK"
		if h.State != pluginhost.StateRefused || !strings.Contains(h.LastError, want) {
			t.Fatalf("health %+v", h)
		}
	})
	t.Run("executable", func(t *testing.T) {
		dir := t.TempDir()
		install(t, dir, "future", bins.v2plugin, nil)
		e := startEnv(t, pluginhost.Options{Dir: dir}, session.Config{})
		h := health(e.host, "future")
		want := "the executable speaks provisor.plugin v2, but this ACS speaks v1"
		if h.State != pluginhost.StateRefused || !strings.Contains(h.LastError, want) {
			t.Fatalf("health %+v", h)
		}
		_, err := e.host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "future", Name: "x"})
		if !errors.Is(err, pluginhost.ErrProtocol) {
			t.Fatalf("call: %v", err)
		}
	})
}

func TestManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(sub, body string) {
		_ = os.MkdirAll(filepath.Join(dir, sub), 0o755)
		_ = os.WriteFile(filepath.Join(dir, sub, "plugin.json"), []byte(body), 0o644)
	}
	write("a", `{"id":"acme","version":"1","protocol":1,"executable":"acme","match":[{"manufacturer":"Acme"},{"oui":"00AABB","productClass":"RB*"}],"events":["0 bootstrap","X 00aabb Alarm"]}`)
	write("b", `{"id":"acme","version":"1","protocol":1,"executable":"acme"}`)
	write("c", `{"id":"Bad Id","protocol":0,"executable":"../x","sha256":"zz","match":[{}],"events":["nope"],"extra":1}`)
	write("d", `{"id":"bad","protocol":1,"executable":"x","match":[{}],"events":["nope"]}`)
	ms, errs := pluginhost.Discover(dir)
	if len(ms) != 1 || ms[0].ID != "acme" || len(errs) != 3 {
		t.Fatalf("manifests %v errors %v", ms, errs)
	}
	for _, want := range []string{"also used by", "unknown field", "an empty rule"} {
		if !strings.Contains(errors.Join(errs...).Error(), want) {
			t.Errorf("errors %v lack %q", errs, want)
		}
	}
	m := ms[0]
	for _, c := range []struct {
		d    hook.Device
		want bool
	}{
		{hook.Device{Manufacturer: "ACME"}, true},
		{hook.Device{OUI: "00aabb", ProductClass: "rb2011"}, true},
		{hook.Device{OUI: "00AABB", ProductClass: "hAP"}, false},
		{hook.Device{Manufacturer: "Other"}, false},
	} {
		if got := m.Matches(c.d); got != c.want {
			t.Errorf("Matches(%+v) = %v", c.d, got)
		}
	}
}

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

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
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
	if r.Err != nil {
		t.Fatalf("the session failed: %v", r.Err)
	}
	// The plugin writes the marker just before it exits.
	fi, err := os.Stat(marker)
	if err != nil {
		t.Fatal("the plugin did not crash")
	}
	crashedAt := fi.ModTime()
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
	t.Logf("serving again %v after the crash", time.Since(crashedAt).Round(time.Millisecond))
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
	// The call itself ends in the typed error, after the plugin's device
	// call was answered.
	p, _ := e.host.Plugin("testplugin")
	err := p.Handler().Run(context.Background(), newFakeSession())
	var ue *pluginhost.UnavailableError
	if !errors.Is(err, pluginhost.ErrTimeout) || errors.As(err, &ue) {
		t.Fatalf("a hung call: %v", err)
	}
	if h := health(e.host, "testplugin"); h.Timeouts != 2 || h.Calls != 2 {
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
// major version is refused with a message that says what to do, and
// calls on it fail at once with ErrProtocol.
func TestProtocolMismatchRefused(t *testing.T) {
	for _, c := range []struct {
		name, binary string
		edit         func(m map[string]any)
		want         string
	}{
		{"manifest", bins.testplugin, func(m map[string]any) { m["protocol"] = 2 },
			"its manifest declares provisor.plugin.v2, but this ACS speaks v1; rebuild the plugin against a v1 SDK"},
		{"executable", bins.v2plugin, nil,
			"the executable speaks provisor.plugin v2, but this ACS speaks v1 (its manifest claims v1); rebuild the plugin against a v1 SDK"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			install(t, dir, "future", c.binary, c.edit)
			e := startEnv(t, pluginhost.Options{Dir: dir}, session.Config{})
			h := health(e.host, "future")
			if h.State != pluginhost.StateRefused || !strings.Contains(h.LastError, c.want) || h.PID != "" {
				t.Fatalf("health %+v", h)
			}
			_, err := e.host.CallFunction(context.Background(), pluginhost.FunctionCall{Plugin: "future", Name: "echo"})
			if !errors.Is(err, pluginhost.ErrProtocol) || !errors.Is(err, pluginhost.ErrUnavailable) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("call: %v", err)
			}
			s := startSim(t, e.url, "tr181")
			if r := waitSessions(t, s.Device(0), 1); r.Err != nil {
				t.Fatal(r.Err)
			}
			if h := health(e.host, "future"); h.Restarts != 0 || h.Calls != 0 {
				t.Fatalf("a refused plugin was restarted or called: %+v", h)
			}
		})
	}
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

// TestOnePluginCallPerSession: a session reaches a plugin at most once,
// whatever the number of events its Inform carries, the parameters in
// it, or the device calls the plugin makes back; a session with none of
// the plugin's events does not reach it at all.
func TestOnePluginCallPerSession(t *testing.T) {
	prof, err := sim.LookupProfile("tr181")
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.InformParams) < 5 {
		t.Fatalf("the profile's Informs carry %d parameters; the test needs several", len(prof.InformParams))
	}
	type step struct {
		name  string
		kick  []cwmp.EventCode // nil: the first boot
		calls int64            // plugin calls the session costs
	}
	for _, c := range []struct {
		name   string
		events []string // the manifest's; nil: what the plugin reports ("inform")
		steps  []step
	}{
		{"every session", nil, []step{
			{"0 BOOTSTRAP, 1 BOOT", nil, 1},
			{"three events", []cwmp.EventCode{cwmp.EventPeriodic, cwmp.EventScheduled, cwmp.EventConnectionRequest}, 1},
			{"periodic", []cwmp.EventCode{cwmp.EventPeriodic}, 1},
		}},
		{"bootstrap only", []string{"0 BOOTSTRAP"}, []step{
			{"0 BOOTSTRAP, 1 BOOT", nil, 1},
			{"three events, none of the plugin's", []cwmp.EventCode{cwmp.EventPeriodic, cwmp.EventScheduled, cwmp.EventConnectionRequest}, 0},
			{"bootstrap again with others", []cwmp.EventCode{cwmp.EventBootstrap, cwmp.EventBoot, cwmp.EventPeriodic}, 1},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			install(t, dir, "testplugin", bins.testplugin, func(m map[string]any) {
				if c.events != nil {
					m["events"] = c.events
				}
			})
			e := startEnv(t, pluginhost.Options{Dir: dir, Config: testConfig(map[string]string{"mode": "ok"})}, session.Config{})
			s := startSim(t, e.url, "tr181")
			d := s.Device(0)
			for i, st := range c.steps {
				before := health(e.host, "testplugin").Calls
				if st.kick != nil {
					d.Kick(st.kick...)
				}
				r := waitSessions(t, d, i+1)
				events := len(st.kick)
				if st.kick == nil {
					events = 2 // 0 BOOTSTRAP, 1 BOOT
				}
				if r.Err != nil || len(r.Events) != events {
					t.Fatalf("%s: session %+v", st.name, r)
				}
				// The handler's device calls (GetParameterValues,
				// SetParameterValues) run inside its one call.
				if st.calls == 1 && !slices.Contains(r.Calls, "SetParameterValues") || st.calls == 0 && len(r.Calls) != 0 {
					t.Fatalf("%s: device calls %v", st.name, r.Calls)
				}
				h := health(e.host, "testplugin")
				if got := h.Calls - before; got != st.calls || h.Failures != 0 {
					t.Fatalf("%s: %d plugin calls for a session of %d events and %d Inform parameters, want %d (health %+v)",
						st.name, got, len(r.Events), len(prof.InformParams), st.calls, h)
				}
			}
		})
	}
}

package sim

import (
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/soap"
)

func newTestSim(t testing.TB, profile string, devices int, seed uint64) *Simulator {
	t.Helper()
	p, err := LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{ACSURL: "http://127.0.0.1:9/acs", Profile: p, Devices: devices, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// call answers one RPC as the device would in a session.
func call(d *Device, req cwmp.Body) cwmp.Body {
	ss := &session{d: d}
	return ss.answer(req)
}

func names(b cwmp.Body) []string {
	var out []string
	switch r := b.(type) {
	case *cwmp.GetParameterNamesResponse:
		for _, p := range r.ParameterList {
			out = append(out, p.Name)
		}
	case *cwmp.GetParameterValuesResponse:
		for _, p := range r.ParameterList {
			out = append(out, p.Name)
		}
	}
	return out
}

func faultCode(b cwmp.Body) cwmp.FaultCode {
	if f, ok := b.(*cwmp.Fault); ok {
		return f.Code
	}
	return 0
}

func TestGetParameterNames(t *testing.T) {
	d := newTestSim(t, "tr181", 1, 1).Device(0)
	cases := []struct {
		path      string
		nextLevel bool
		fault     cwmp.FaultCode
		has       []string
		hasNot    []string
		count     int
	}{
		{path: "", nextLevel: true, has: []string{"Device."}, count: 1},
		{path: "", has: []string{"Device.", "Device.DeviceInfo.SerialNumber", "Device.NAT.PortMapping.", "Device.NAT.PortMapping.2.Enable"}},
		{path: "Device.NAT.", nextLevel: true, has: []string{"Device.NAT.PortMapping.", "Device.NAT.PortMappingNumberOfEntries", "Device.NAT.InterfaceSetting."}, hasNot: []string{"Device.NAT.", "Device.NAT.PortMapping.1."}},
		{path: "Device.NAT.PortMapping.", nextLevel: true, has: []string{"Device.NAT.PortMapping.1.", "Device.NAT.PortMapping.2."}, count: 2},
		{path: "Device.NAT.PortMapping.1.", has: []string{"Device.NAT.PortMapping.1.", "Device.NAT.PortMapping.1.ExternalPort"}, hasNot: []string{"Device.NAT.PortMapping.2.Enable"}},
		{path: "Device.DeviceInfo.UpTime", has: []string{"Device.DeviceInfo.UpTime"}, count: 1},
		{path: "Device.DeviceInfo.UpTime", nextLevel: true, fault: 9003},
		{path: "Device.DeviceInfo.UpTime.", fault: 9005},
		{path: "Device.Nothing.", fault: 9005},
		{path: "Device.NAT.PortMapping.9.", fault: 9005},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp := call(d, &cwmp.GetParameterNames{ParameterPath: c.path, NextLevel: c.nextLevel})
			if c.fault != 0 || faultCode(resp) != 0 {
				if faultCode(resp) != c.fault {
					t.Fatalf("got %+v, want fault %d", resp, c.fault)
				}
				return
			}
			got := names(resp)
			for _, n := range c.has {
				if !slices.Contains(got, n) {
					t.Errorf("%s missing", n)
				}
			}
			for _, n := range c.hasNot {
				if slices.Contains(got, n) {
					t.Errorf("%s listed", n)
				}
			}
			if c.count > 0 && len(got) != c.count {
				t.Errorf("%d names: %v", len(got), got)
			}
			if !slices.IsSortedFunc(got, comparePaths) {
				t.Errorf("not in device order")
			}
		})
	}
	// Table objects say whether rows can be added; rows whether they can
	// be deleted.
	resp := call(d, &cwmp.GetParameterNames{ParameterPath: "Device.WiFi.", NextLevel: true}).(*cwmp.GetParameterNamesResponse)
	for _, p := range resp.ParameterList {
		switch p.Name {
		case "Device.WiFi.SSID.":
			if !p.Writable {
				t.Error("SSID table not writable")
			}
		case "Device.WiFi.Radio.":
			if p.Writable {
				t.Error("Radio table writable")
			}
		}
	}
}

func TestGetParameterValuesBatchQuirk(t *testing.T) {
	for _, c := range []struct {
		profile string
		bare    bool
	}{{"tr181", false}, {"mikrotik", true}} {
		d := newTestSim(t, c.profile, 1, 1).Device(0)
		f, ok := call(d, &cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime", "Device.X"}}).(*cwmp.Fault)
		if !ok || f.Code != 9005 || strings.Contains(f.String, "Device.X") != !c.bare {
			t.Errorf("%s: %+v", c.profile, f)
		}
	}
}

func TestSetParameterValuesIsAtomic(t *testing.T) {
	d := newTestSim(t, "tr181", 1, 1).Device(0)
	resp := call(d, &cwmp.SetParameterValues{ParameterKey: "k", ParameterList: []cwmp.ParameterValue{
		{Name: "Device.WiFi.SSID.1.SSID", Value: cwmp.String("a")},
		{Name: "Device.WiFi.SSID.1.Enable", Value: cwmp.String("maybe")},
	}})
	f, ok := resp.(*cwmp.Fault)
	if !ok || f.Code != 9003 || len(f.SetParameterValuesFaults) != 1 || f.SetParameterValuesFaults[0].FaultCode != 9007 {
		t.Fatalf("%+v", resp)
	}
	if v, _ := d.Get("Device.WiFi.SSID.1.SSID"); v.Text == "a" {
		t.Fatal("partial set applied")
	}
	dup := call(d, &cwmp.SetParameterValues{ParameterList: []cwmp.ParameterValue{
		{Name: "Device.WiFi.SSID.1.SSID", Value: cwmp.String("a")}, {Name: "Device.WiFi.SSID.1.SSID", Value: cwmp.String("b")},
	}})
	if faultCode(dup) != 9003 {
		t.Fatalf("duplicate name: %+v", dup)
	}
	ok1 := call(d, &cwmp.SetParameterValues{ParameterKey: "k2", ParameterList: []cwmp.ParameterValue{
		{Name: "Device.WiFi.SSID.1.Enable", Value: cwmp.Value{Type: cwmp.TypeBoolean, Text: "0"}},
		{Name: "Device.ManagementServer.URL", Value: cwmp.String("http://127.0.0.1:9/other")},
	}})
	if _, ok := ok1.(*cwmp.SetParameterValuesResponse); !ok {
		t.Fatalf("%+v", ok1)
	}
	if v, _ := d.Get("Device.WiFi.SSID.1.Enable"); v.Text != "false" || v.Type != cwmp.TypeBoolean {
		t.Fatalf("Enable %+v", v)
	}
	if !slices.ContainsFunc(d.pending, func(e cwmp.EventStruct) bool { return e.EventCode == cwmp.EventBootstrap }) {
		t.Fatal("a new ACS URL must bring 0 BOOTSTRAP")
	}
}

func TestObjectsAndInstances(t *testing.T) {
	d := newTestSim(t, "tr181", 1, 1).Device(0)
	add := func(obj string) uint32 {
		r, ok := call(d, &cwmp.AddObject{ObjectName: obj}).(*cwmp.AddObjectResponse)
		if !ok {
			t.Fatalf("AddObject %s failed", obj)
		}
		return r.InstanceNumber
	}
	if n := add("Device.WiFi.AccessPoint."); n != 3 {
		t.Fatalf("instance %d", n)
	}
	// A new row has the model's sub-objects and empty nested tables.
	for _, n := range []string{"Device.WiFi.AccessPoint.3.Security.ModeEnabled", "Device.WiFi.AccessPoint.3.AssociatedDevice.", "Device.WiFi.AccessPoint.3.Enable"} {
		if !d.Has(n) {
			t.Errorf("%s missing", n)
		}
	}
	if v, _ := d.Get("Device.WiFi.AccessPoint.3.Enable"); v.Text != "false" {
		t.Errorf("default Enable %q", v.Text)
	}
	if faultCode(call(d, &cwmp.DeleteObject{ObjectName: "Device.WiFi.AccessPoint.1."})) != 0 {
		t.Fatal("delete of a factory row failed")
	}
	if d.Has("Device.WiFi.AccessPoint.1.Security.") || d.Has("Device.WiFi.AccessPoint.1.") {
		t.Fatal("deleted factory row still there")
	}
	if faultCode(call(d, &cwmp.DeleteObject{ObjectName: "Device.WiFi.AccessPoint.3."})) != 0 {
		t.Fatal("delete of an added row failed")
	}
	if n := add("Device.WiFi.AccessPoint."); n != 4 {
		t.Fatalf("instance %d reused", n)
	}
	if v, _ := d.Get("Device.WiFi.AccessPointNumberOfEntries"); v.Text != "2" {
		t.Fatalf("AccessPointNumberOfEntries %q", v.Text)
	}
	names := names(call(d, &cwmp.GetParameterNames{ParameterPath: "Device.WiFi.AccessPoint.", NextLevel: true}))
	if !slices.Equal(names, []string{"Device.WiFi.AccessPoint.2.", "Device.WiFi.AccessPoint.4."}) {
		t.Fatalf("rows %v", names)
	}
	d.t.reset()
	if !d.Has("Device.WiFi.AccessPoint.1.") || d.Has("Device.WiFi.AccessPoint.4.") {
		t.Fatal("reset did not restore the factory tree")
	}
}

func TestComparePaths(t *testing.T) {
	in := []string{"A.B.10.", "A.B.2.X", "A.B.", "A.BNumberOfEntries", "A.B.2.", "A.", "A.B.10.Y", "A.C"}
	slices.SortFunc(in, comparePaths)
	want := []string{"A.", "A.B.", "A.B.2.", "A.B.2.X", "A.B.10.", "A.B.10.Y", "A.BNumberOfEntries", "A.C"}
	if !slices.Equal(in, want) {
		t.Fatalf("%v", in)
	}
}

// TestDigestVector checks the Digest client against RFC 7616 §3.9.1.
func TestDigestVector(t *testing.T) {
	ch := challenge{scheme: "digest", params: map[string]string{
		"realm": "http-auth@example.org", "qop": "auth, auth-int", "algorithm": "MD5",
		"nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
	}}
	h, err := authorization(ch, "GET", "/dir/index.html", "Mufasa", "Circle of Life", 1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, `response="8ca523f5e9506fed4657c9700eebdbec"`) {
		t.Fatalf("%s", h)
	}
	ch.params["algorithm"] = "SHA-256"
	h, _ = authorization(ch, "GET", "/dir/index.html", "Mufasa", "Circle of Life", 1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
	if !strings.Contains(h, `response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"`) {
		t.Fatalf("%s", h)
	}
	// The server side accepts what the client computes, and refuses a
	// wrong password and a forged nonce.
	ds := &digestServer{realm: "r", key: []byte("k"), lifetime: time.Minute, now: time.Now}
	chs := parseChallenges([]string{ds.challenge(false)})
	for _, c := range []struct {
		pass, nonce string
		ok          bool
	}{{"p", "", true}, {"wrong", "", false}, {"p", "00", false}} {
		ch := chs[0]
		if c.nonce != "" {
			ch.params["nonce"] = c.nonce
		}
		auth, _ := authorization(ch, "GET", "/x", "u", c.pass, 1, "cn")
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Authorization", auth)
		if ok, _ := ds.check(req, "u", "p"); ok != c.ok {
			t.Errorf("%+v: %v", c, ok)
		}
	}
	expired := &digestServer{realm: "r", key: []byte("k"), lifetime: -time.Second, now: time.Now}
	auth, _ := authorization(parseChallenges([]string{expired.challenge(false)})[0], "GET", "/x", "u", "p", 1, "cn")
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", auth)
	if ok, stale := expired.check(req, "u", "p"); ok || !stale {
		t.Errorf("expired nonce: ok %v stale %v", ok, stale)
	}
}

func TestParseChallenges(t *testing.T) {
	chs := parseChallenges([]string{`Digest realm="a, b", nonce=xyz, qop="auth", Basic realm=files`})
	if len(chs) != 2 || chs[0].params["realm"] != "a, b" || chs[0].params["nonce"] != "xyz" || chs[1].scheme != "basic" {
		t.Fatalf("%+v", chs)
	}
	if c, _ := pickChallenge(chs); c.scheme != "digest" {
		t.Fatal("Digest not preferred")
	}
}

func TestRetryBackoff(t *testing.T) {
	d := newTestSim(t, "tr181", 1, 7).Device(0)
	d.sim.cfg.RetryMin = 5 * time.Second
	for n := 1; n <= 12; n++ {
		d.retries = uint32(n)
		e := min(n, 10)
		lo := 5 * time.Second << (e - 1)
		for range 50 {
			if w := d.retryWait(); w < lo || w > 2*lo {
				t.Fatalf("retry %d waits %v, want [%v, %v]", n, w, lo, 2*lo)
			}
		}
	}
	// The ACS may change the interval and the multiplier.
	d.t.set("Device.ManagementServer.CWMPRetryMinimumWaitInterval", "10")
	d.t.set("Device.ManagementServer.CWMPRetryIntervalMultiplier", "3000")
	d.retries = 2
	if w := d.retryWait(); w < 30*time.Second || w > 90*time.Second {
		t.Fatalf("with m=10 k=3, retry 2 waits %v", w)
	}
}

func TestDeterministic(t *testing.T) {
	values := func(seed uint64) map[string]string {
		s := newTestSim(t, "tr181", 10, seed)
		d := s.Device(7)
		d.Tick()
		d.Tick()
		out := map[string]string{"token": d.token}
		d.t.walk("", func(e *entry) bool {
			if e.kind == kindParam && e.gen != genUptime && e.gen != genNow {
				out[e.name] = d.value(e)
			}
			return true
		})
		d.retries = 3
		out["jitter"] = d.retryWait().String()
		return out
	}
	a, b, c := values(42), values(42), values(43)
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %q then %q with the same seed", k, v, b[k])
		}
	}
	if a["Device.Ethernet.Interface.1.MACAddress"] == c["Device.Ethernet.Interface.1.MACAddress"] ||
		a["Device.Ethernet.Interface.1.Stats.BytesSent"] == c["Device.Ethernet.Interface.1.Stats.BytesSent"] {
		t.Error("another seed gave the same MAC and counters")
	}
	if a["Device.DeviceInfo.SerialNumber"] != "SIM000008" {
		t.Errorf("serial %s", a["Device.DeviceInfo.SerialNumber"])
	}
}

func TestQuirkRewrites(t *testing.T) {
	env := &cwmp.Envelope{Namespace: cwmp.NS10, Header: cwmp.Header{ID: "7", HasID: true}, Body: &cwmp.GetParameterValuesResponse{
		ParameterList: []cwmp.ParameterValue{{Name: "A.B", Value: cwmp.Value{Type: cwmp.TypeString, Text: `say "x" <y>`}}, {Name: "A.C", Value: cwmp.Bool(true)}},
	}}
	for _, c := range []struct {
		quirks      string
		has, hasNot []string
	}{
		{"no-xsi-type", []string{"<Value>say \"x\" &lt;y&gt;</Value>"}, []string{"xsi:type"}},
		{"numeric-booleans", []string{`<Value xsi:type="xsd:boolean">1</Value>`}, nil},
		{"routeros-style,encoding-mustunderstand", []string{`<cwmp:ID soap:mustUnderstand='1'>7</cwmp:ID>`, `say "x"`, `<soapenv:Body>`}, []string{"<?xml", "soap-env"}},
	} {
		var q Quirks
		if err := q.Apply(c.quirks); err != nil {
			t.Fatal(err)
		}
		out := string(encode(nil, env, q))
		for _, h := range c.has {
			if !strings.Contains(out, h) {
				t.Errorf("%s: %q missing in %s", c.quirks, h, out)
			}
		}
		for _, h := range c.hasNot {
			if strings.Contains(out, h) {
				t.Errorf("%s: %q present in %s", c.quirks, h, out)
			}
		}
		back, err := soap.Decode([]byte(out), soap.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.quirks, err)
		}
		if got := back.Body.(*cwmp.GetParameterValuesResponse).ParameterList[0].Value.Text; got != `say "x" <y>` {
			t.Errorf("%s: value came back as %q", c.quirks, got)
		}
	}
	var q Quirks
	if err := q.Apply("no-such-quirk"); err == nil {
		t.Error("unknown quirk accepted")
	}
}

// TestMemoryPerDevice: 100,000 devices must fit in one process; a device
// at rest costs its identity, its timers and a few words of tree.
func TestMemoryPerDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 devices")
	}
	LookupProfile("tr181")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newTestSim(t, "tr181", MaxDevices, 1)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / MaxDevices
	t.Logf("%.0f bytes per idle device", per)
	if per > 2048 {
		t.Errorf("%.0f bytes per device", per)
	}
	runtime.KeepAlive(s)
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	q := h.quantiles(0.5, 0.99)
	if q[0] < 495*time.Millisecond || q[0] > 510*time.Millisecond || q[1] < 985*time.Millisecond || q[1] > 1005*time.Millisecond {
		t.Fatalf("p50 %v p99 %v", q[0], q[1])
	}
}

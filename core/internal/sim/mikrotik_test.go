package sim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
)

// recordingACS is a scripted ACS that keeps every message the device sent:
// after the Inform and the empty POST it sends the given requests in turn,
// then ends the session.
type recordingACS struct {
	*httptest.Server
	mu       sync.Mutex
	requests []cwmp.Body
	got      [][]byte
	agents   []string
}

func newRecordingACS(t *testing.T, ns string, requests ...cwmp.Body) *recordingACS {
	r := &recordingACS{requests: requests}
	next := 0
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, body)
		r.agents = append(r.agents, req.Header.Get("User-Agent"))
		var out *cwmp.Envelope
		switch {
		case strings.Contains(string(body), "Inform>"):
			next = 0
			out = &cwmp.Envelope{Namespace: ns, Body: &cwmp.InformResponse{MaxEnvelopes: 1}}
		case next < len(r.requests):
			next++
			out = &cwmp.Envelope{Namespace: ns, Header: cwmp.Header{ID: fmt.Sprintf("req-%d", next), HasID: true}, Body: r.requests[next-1]}
		default:
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", soap.ContentType)
		_, _ = w.Write(soap.Encode(nil, out, soap.Options{}))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recordingACS) messages() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...)
}

// TestRouterOSWire checks each RouterOS wire habit of reference Part A on
// the bytes the simulated device sends.
func TestRouterOSWire(t *testing.T) {
	acs := newRecordingACS(t, cwmp.NS10,
		&cwmp.GetParameterValues{ParameterNames: []string{"Device.Ethernet.Interface.1.Stats.BytesSent", "Device.DeviceInfo.X_MIKROTIK_ArchName"}},
		&cwmp.GetParameterValues{ParameterNames: []string{"Device.DeviceInfo.UpTime", "Device.Bogus.Name"}},
	)
	p, _ := sim.LookupProfile("mikrotik")
	s := startSim(t, sim.Config{ACSURL: acs.URL + "/acs", Profile: p})
	d := s.Device(0)
	r := waitSessions(t, d, 1)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	msgs := acs.messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages", len(msgs))
	}
	inform, gpv, bad := string(msgs[0]), string(msgs[2]), string(msgs[3])
	cases := []struct {
		name string
		msg  string
		re   string
		want bool
	}{
		{"no XML declaration", inform, `^<soapenv:Envelope `, true},
		{"CWMP 1.0 namespace", inform, `xmlns:cwmp='urn:dslforum-org:cwmp-1-0'`, true},
		{"encoding prefix soap", inform, `xmlns:soap='http://schemas.xmlsoap.org/soap/encoding/'`, true},
		{"Inform without SOAP header", inform, `Header`, false},
		{"single-quoted attributes", inform, `"`, false},
		{"event array typed with the encoding prefix", inform, `<Event soap:arrayType='cwmp:EventStruct\[2\]'>`, true},
		{"AliasBasedAddressing among the Inform parameters", inform, `<Name>Device.ManagementServer.AliasBasedAddressing</Name>`, true},
		{"ID echoed with mustUnderstand in the encoding namespace", gpv, `<soapenv:Header><cwmp:ID soap:mustUnderstand='1'>req-1</cwmp:ID></soapenv:Header>`, true},
		{"64-bit counter typed unsignedInt", gpv, `<Name>Device.Ethernet.Interface.1.Stats.BytesSent</Name><Value xsi:type='xsd:unsignedInt'>`, true},
		{"bare 9005 for a bad batch", bad, `<FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString>`, true},
		{"bad name not named", bad, `Bogus`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := regexp.MustCompile(c.re).MatchString(c.msg); got != c.want {
				t.Fatalf("%q found %v, want %v in\n%s", c.re, got, c.want, c.msg)
			}
		})
	}
	env, err := soap.Decode(msgs[0], soap.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	in := env.Body.(*cwmp.Inform)
	if env.Header.HasID || in.DeviceID.OUI != "E48D8C" || in.DeviceID.Manufacturer != "MikroTik" || len(in.ParameterList) != 7 {
		t.Fatalf("decoded Inform %+v %+v", env.Header, in)
	}
	env, err = soap.Decode(msgs[2], soap.Limits{})
	if err != nil || !env.Header.IDMustUnderstand {
		t.Fatalf("decoded response %+v %v", env, err)
	}
	if ua := acs.agents[0]; ua != "MikroTik" {
		t.Fatalf("User-Agent %q", ua)
	}
	if u := d.ConnectionRequestURL(); !regexp.MustCompile(`/[0-9a-f]{40}$`).MatchString(u) {
		t.Fatalf("connection request URL %s", u)
	}
}

// TestRouterOSFiles: .alter scripts run without reboot, a full
// configuration makes the device leave the session and come back with
// 0 BOOTSTRAP, and firmware goes through an XML descriptor of packages.
func TestRouterOSFiles(t *testing.T) {
	a := startACS(t, nil, session.Config{ExchangeTimeout: 2 * time.Second})
	fs := newFileServer(t)
	fs.put("/open/setup.alter", []byte("/system identity set name=edge-7\n"))
	fs.put("/open/full.rsc", []byte("/interface bridge add name=bridge\n"))
	fs.put("/fw/routeros-mipsbe-7.14.2.npk", []byte("npk"))
	fs.put("/fw/tr069-client-7.14.2-mipsbe.npk", []byte("npk"))
	fs.put("/open/upgrade.xml", []byte(`<upgrade version="1" type="links"><config/><links>`+
		`<link><url>`+fs.URL+`/fw/routeros-mipsbe-7.14.2.npk</url></link>`+
		`<link><url>`+fs.URL+`/fw/tr069-client-7.14.2-mipsbe.npk</url></link></links></upgrade>`))
	fs.put("/open/broken.xml", []byte(`<upgrade version="1"><links><link><url>`+fs.URL+`/fw/missing.npk</url></link></links></upgrade>`))
	p, _ := sim.LookupProfile("mikrotik")
	var (
		reqMu sync.Mutex
		reqs  []sim.FileRequest
	)
	s := startSim(t, sim.Config{ACSURL: a.url, Profile: p, OnFileRequest: func(_ *sim.Device, r sim.FileRequest) {
		reqMu.Lock()
		defer reqMu.Unlock()
		reqs = append(reqs, r)
	}})
	// fetched returns what the device got from a URL path, and whether it
	// was a 200.
	fetched := func(urlPath string) (string, bool) {
		reqMu.Lock()
		defer reqMu.Unlock()
		for _, r := range reqs {
			if r.Method == http.MethodGet && r.URL == fs.URL+urlPath {
				return string(r.Body), r.Status == http.StatusOK && r.Fault.OK()
			}
		}
		return "", false
	}
	d := s.Device(0)
	waitSessions(t, d, 1)
	cases := []struct {
		name     string
		req      *cwmp.Download
		state    store.TaskState
		sessions int // until the TransferComplete is in
		events   []string
		check    func(t *testing.T, rs []sim.SessionResult)
	}{
		{"alter script", &cwmp.Download{FileType: cwmp.FileVendorConfig, URL: fs.URL + "/open/setup.alter"}, store.StateDone, 2,
			[]string{"7 TRANSFER COMPLETE", "M Download"}, func(t *testing.T, rs []sim.SessionResult) {
				if v, _ := d.Get("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"); v.Text != "edge-7" {
					t.Fatalf("identity %q", v.Text)
				}
				if hasEvents(rs[len(rs)-1], "1 BOOT") {
					t.Fatal(".alter rebooted the device")
				}
			}},
		{"full configuration", &cwmp.Download{FileType: cwmp.FileVendorConfig, URL: fs.URL + "/open/full.rsc"}, store.StateDone, 2,
			[]string{"0 BOOTSTRAP", "1 BOOT", "7 TRANSFER COMPLETE", "M Download"}, func(t *testing.T, rs []sim.SessionResult) {
				if !rs[len(rs)-2].Abandoned {
					t.Fatalf("the device finished the session: %+v", rs[len(rs)-2])
				}
				if v, _ := d.Get("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"); v.Text != "MikroTik" {
					t.Fatalf("identity survived a full configuration: %q", v.Text)
				}
			}},
		{"firmware descriptor", &cwmp.Download{FileType: cwmp.FileFirmware, URL: fs.URL + "/open/upgrade.xml", Username: "fetch", Password: "s3cret"}, store.StateDone, 2,
			[]string{"1 BOOT", "7 TRANSFER COMPLETE", "M Download", "4 VALUE CHANGE"}, func(t *testing.T, _ []sim.SessionResult) {
				if v, _ := d.Get("Device.DeviceInfo.SoftwareVersion"); v.Text != "7.14.2" {
					t.Fatalf("SoftwareVersion %q", v.Text)
				}
				for _, f := range []string{"/open/upgrade.xml", "/fw/routeros-mipsbe-7.14.2.npk", "/fw/tr069-client-7.14.2-mipsbe.npk"} {
					if body, ok := fetched(f); !ok || body == "" {
						t.Errorf("the device's fetch of %s: ok %v, %q", f, ok, body)
					}
				}
			}},
		{"firmware descriptor with a missing package", &cwmp.Download{FileType: cwmp.FileFirmware, URL: fs.URL + "/open/broken.xml", Username: "fetch", Password: "s3cret"}, store.StateFault, 2,
			[]string{"7 TRANSFER COMPLETE", "M Download"}, nil},
		{"factory configuration file", &cwmp.Download{FileType: sim.FileMikroTikFactoryConfig, URL: fs.URL + "/open/setup.alter"}, store.StateDone, 2,
			[]string{"7 TRANSFER COMPLETE", "M Download"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := d.SessionCount()
			task := runTask(t, a, d, c.req)
			if task.State != c.state {
				t.Fatalf("task %s %+v", task.State, task.Fault)
			}
			last := waitSessions(t, d, n+c.sessions)
			if !hasEvents(last, c.events...) {
				t.Fatalf("last session %+v, want events %v", last, c.events)
			}
			if c.check != nil {
				c.check(t, d.Sessions())
			}
		})
	}
	t.Run("upload export", func(t *testing.T) {
		task := runTask(t, a, d, &cwmp.Upload{FileType: cwmp.FileUploadVendorConfig, URL: fs.URL + "/basic/export.rsc", Username: "fetch", Password: "s3cret"})
		if task.State != store.StateDone {
			t.Fatalf("%s %+v", task.State, task.Fault)
		}
		got := string(fs.uploaded("/basic/export.rsc"))
		if !strings.Contains(got, "by RouterOS 7.14.2") {
			t.Fatalf("export %q", got)
		}
		reqMu.Lock()
		defer reqMu.Unlock()
		last := reqs[len(reqs)-1]
		if last.Method != http.MethodPut || last.URL != fs.URL+"/basic/export.rsc" || string(last.Body) != got || last.Status/100 != 2 {
			t.Fatalf("the upload as the device saw it: %s %s %d %q", last.Method, last.URL, last.Status, last.Body)
		}
	})
	t.Run("deny active notification", func(t *testing.T) {
		task := runTask(t, a, d, &cwmp.SetParameterAttributes{ParameterList: []cwmp.SetParameterAttributesStruct{{Name: "Device.Ethernet.Interface.1.Stats.BytesSent", NotificationChange: true, Notification: 2}}})
		if task.State != store.StateFault || task.Fault.Code != 9009 {
			t.Fatalf("%s %+v", task.State, task.Fault)
		}
	})
	t.Run("vendor table rows", func(t *testing.T) {
		task := runTask(t, a, d, &cwmp.AddObject{ObjectName: "Device.Firewall.X_MIKROTIK_Filter.Chain.1.Rule."})
		if task.State != store.StateDone || !d.Has("Device.Firewall.X_MIKROTIK_Filter.Chain.1.Rule.2.Target") {
			t.Fatalf("%s %+v", task.State, task.Fault)
		}
	})
}

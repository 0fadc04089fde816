package server_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/server/authtest"
	"github.com/provisor/provisor/core/internal/soap"
)

// testCPE is a small CWMP device for end-to-end tests: it keeps a parameter
// tree and answers the ACS's RPCs with TR-069 semantics. (The full
// simulator is `provisor sim`; this one stays small and in test code.)
type testCPE struct {
	t      testing.TB
	url    string
	client *http.Client
	id     cwmp.DeviceID
	ns     string

	mu       sync.Mutex
	params   map[string]cwmp.Value
	writable map[string]bool
	received []string // methods the ACS called, in order
	// pending TransferCompletes to report in the next session.
	transfers []cwmp.TransferComplete
	// silentAt makes the device stop answering at the n-th RPC of a
	// session (0 = never), to test sessions a device abandons.
	silentAt int
	// ghost is a name GetParameterNames lists but GetParameterValues
	// refuses, faulting the whole batch with a bare 9005 as some devices
	// do.
	ghost string

	// auth is how the device answers the ACS's challenges; nil: it never
	// sends credentials. A user name and password set in
	// ManagementServer (by the ACS) take the place of auth's, as on a
	// real device.
	auth *authtest.Credentials
	// newConnAfter401 answers a challenge on a new TCP connection, as AVM
	// FritzBoxes do.
	newConnAfter401 bool
	// resendAuth sends the last Authorization on every later POST, as
	// many CPEs do; preemptive sends Basic before any challenge.
	resendAuth, preemptive bool
	// sessionCreds keeps answering challenges with the credentials a
	// session began with, applying new ones only for the next session, as
	// many CPEs do; unbound sends every POST on a new connection without
	// cookies, so each must be authenticated anew.
	sessionCreds, unbound bool
	frozen                *authtest.Credentials
	lastAuth              string
	// header is the last response's headers; extra is sent with every
	// request.
	header, extra http.Header
	// supported is sent as the Inform's SupportedCWMPVersions header;
	// informResponse is the last InformResponse's envelope.
	supported      string
	informResponse *cwmp.Envelope
}

func newTestCPE(t testing.TB, url, serial string) *testCPE {
	jar, _ := cookiejar.New(nil)
	c := &testCPE{
		t: t, url: url, ns: cwmp.NS10,
		// Each device has its own connections, as real CPEs do.
		client:   &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
		auth:     &authtest.Credentials{Username: sharedUser, Password: sharedPassword},
		id:       cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial},
		params:   map[string]cwmp.Value{},
		writable: map[string]bool{},
	}
	set := func(name string, v cwmp.Value, w bool) { c.params[name] = v; c.writable[name] = w }
	set("Device.DeviceInfo.Manufacturer", cwmp.String("Provisor Labs"), false)
	set("Device.DeviceInfo.SerialNumber", cwmp.String(serial), false)
	set("Device.DeviceInfo.SoftwareVersion", cwmp.String("1.0.0"), false)
	set("Device.DeviceInfo.HardwareVersion", cwmp.String("rev.A"), false)
	set("Device.DeviceInfo.UpTime", cwmp.Uint(1000), false)
	set("Device.ManagementServer.PeriodicInformInterval", cwmp.Uint(3600), true)
	set("Device.ManagementServer.ConnectionRequestURL", cwmp.String("http://127.0.0.1:1/"+serial), false)
	set("Device.ManagementServer.ParameterKey", cwmp.String(""), false)
	set("Device.ManagementServer.Username", cwmp.String(""), true)
	set("Device.ManagementServer.Password", cwmp.String(""), true)
	for i := 1; i <= 3; i++ {
		p := "Device.WiFi.SSID." + strconv.Itoa(i) + "."
		set(p+"SSID", cwmp.String("net-"+strconv.Itoa(i)), true)
		set(p+"Enable", cwmp.Bool(i == 1), true)
		set(p+"Stats.BytesSent", cwmp.ULong(uint64(i)*1e10), false)
	}
	return c
}

// objects lists the object paths implied by the parameter names.
func (c *testCPE) objects() []string {
	seen := map[string]bool{}
	for name := range c.params {
		for i := 0; i < len(name); i++ {
			if name[i] == '.' {
				seen[name[:i+1]] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for o := range seen {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

func (c *testCPE) post(env *cwmp.Envelope) (int, *cwmp.Envelope) {
	c.t.Helper()
	var body []byte
	if env != nil {
		env.Namespace = c.ns
		body = soap.Encode(nil, env, soap.Options{})
	}
	resp := c.do(body, env != nil)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(data)) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		return resp.StatusCode, nil
	}
	out, err := soap.Decode(data, soap.Limits{})
	if err != nil {
		c.t.Fatalf("decoding the ACS's reply: %v\n%s", err, data)
	}
	return resp.StatusCode, out
}

// do sends one POST, answering a 401 challenge once.
func (c *testCPE) do(body []byte, hasEnv bool) *http.Response {
	c.t.Helper()
	send := func(auth string) *http.Response {
		c.t.Helper()
		req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
		if hasEnv {
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			req.Header.Set("SOAPAction", "")
		}
		for k, v := range c.extra {
			req.Header[k] = v
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			c.t.Fatalf("POST: %v", err)
		}
		return resp
	}
	if c.unbound {
		c.client.CloseIdleConnections()
		jar, _ := cookiejar.New(nil)
		c.client.Jar = jar
	}
	creds, haveCreds := c.credentials()
	auth := ""
	if c.resendAuth {
		auth = c.lastAuth
	}
	if auth == "" && haveCreds && c.preemptive {
		auth = creds.Basic()
	}
	resp := send(auth)
	if resp.StatusCode == http.StatusUnauthorized && haveCreds {
		chs := authtest.Challenges(resp.Header)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if c.newConnAfter401 {
			c.client.CloseIdleConnections()
		}
		u, _ := url.Parse(c.url)
		a, _, err := creds.Answer(chs, http.MethodPost, u.RequestURI(), 1)
		if err != nil {
			c.t.Fatalf("answering %v: %v", resp.Header.Values("WWW-Authenticate"), err)
		}
		c.lastAuth = a
		resp = send(a)
	}
	c.header = resp.Header
	return resp
}

// credentials are what the device would answer a challenge with.
func (c *testCPE) credentials() (authtest.Credentials, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth == nil {
		return authtest.Credentials{}, false
	}
	if c.frozen != nil {
		return *c.frozen, true
	}
	cr := *c.auth
	if u := c.params["Device.ManagementServer.Username"].Text; u != "" {
		cr.Username, cr.Password = u, c.params["Device.ManagementServer.Password"].Text
	}
	return cr, true
}

// useTLS makes the device talk HTTPS with cfg.
func (c *testCPE) useTLS(cfg *tls.Config) {
	c.client.Transport = &http.Transport{MaxIdleConnsPerHost: 1, TLSClientConfig: cfg}
}

// session runs one CWMP session and returns the methods the ACS called.
func (c *testCPE) session(events ...cwmp.EventCode) []string {
	c.t.Helper()
	if c.sessionCreds {
		if cr, ok := c.credentials(); ok {
			c.frozen = &cr
		}
		defer func() { c.frozen = nil }()
	}
	c.mu.Lock()
	c.received = nil
	inform := &cwmp.Inform{DeviceID: c.id, MaxEnvelopes: 1, CurrentTime: time.Now()}
	for _, e := range events {
		inform.Events = append(inform.Events, cwmp.EventStruct{EventCode: e})
	}
	for _, tc := range c.transfers {
		inform.Events = append(inform.Events, cwmp.EventStruct{EventCode: cwmp.EventMDownload, CommandKey: tc.CommandKey})
	}
	if len(c.transfers) > 0 {
		inform.Events = append(inform.Events, cwmp.EventStruct{EventCode: cwmp.EventTransferComplete})
	}
	for _, n := range []string{"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.HardwareVersion", "Device.ManagementServer.ConnectionRequestURL", "Device.ManagementServer.ParameterKey"} {
		inform.ParameterList = append(inform.ParameterList, cwmp.ParameterValue{Name: n, Value: c.params[n]})
	}
	transfers := c.transfers
	c.mu.Unlock()

	status, resp := c.post(&cwmp.Envelope{Header: cwmp.Header{ID: "inform-1", HasID: true, SupportedCWMPVersions: c.supported}, Body: inform})
	if status != http.StatusOK || resp == nil {
		c.t.Fatalf("Inform answered %d", status)
	}
	c.informResponse = resp
	if _, ok := resp.Body.(*cwmp.InformResponse); !ok {
		c.t.Fatalf("Inform answered with %T", resp.Body)
	}
	for _, tc := range transfers {
		tc := tc
		status, resp := c.post(&cwmp.Envelope{Header: cwmp.Header{ID: "tc", HasID: true}, Body: &tc})
		if status != http.StatusOK || resp == nil {
			c.t.Fatalf("TransferComplete answered %d", status)
		}
		if _, ok := resp.Body.(*cwmp.TransferCompleteResponse); !ok {
			c.t.Fatalf("TransferComplete answered with %T", resp.Body)
		}
	}
	c.mu.Lock()
	c.transfers = nil
	c.mu.Unlock()
	status, resp = c.post(nil)
	for n := 1; status == http.StatusOK && resp != nil; n++ {
		c.mu.Lock()
		c.received = append(c.received, resp.Body.Method())
		silent := c.silentAt > 0 && n >= c.silentAt
		c.mu.Unlock()
		if silent {
			return c.received
		}
		answer := c.answer(resp.Body)
		status, resp = c.post(&cwmp.Envelope{Header: resp.Header, Body: answer})
	}
	if status != http.StatusNoContent {
		c.t.Fatalf("session ended with HTTP %d", status)
	}
	return c.received
}

func (c *testCPE) answer(req cwmp.Body) cwmp.Body {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r := req.(type) {
	case *cwmp.GetParameterNames:
		var out []cwmp.ParameterInfo
		for _, o := range c.objects() {
			if strings.HasPrefix(o, r.ParameterPath) && (!r.NextLevel || strings.Count(o[len(r.ParameterPath):], ".") == 1) {
				out = append(out, cwmp.ParameterInfo{Name: o, Writable: false})
			}
		}
		for name, w := range c.writable {
			if strings.HasPrefix(name, r.ParameterPath) && (!r.NextLevel || !strings.Contains(name[len(r.ParameterPath):], ".")) {
				out = append(out, cwmp.ParameterInfo{Name: name, Writable: w})
			}
		}
		if c.ghost != "" && strings.HasPrefix(c.ghost, r.ParameterPath) {
			out = append(out, cwmp.ParameterInfo{Name: c.ghost})
		}
		if len(out) == 0 {
			return cwmp.NewFault(cwmp.FaultInvalidParameterName, "")
		}
		return &cwmp.GetParameterNamesResponse{ParameterList: out}
	case *cwmp.GetParameterValues:
		var out []cwmp.ParameterValue
		for _, n := range r.ParameterNames {
			found := false
			for name, v := range c.params {
				if name == n || (strings.HasSuffix(n, ".") && strings.HasPrefix(name, n)) {
					if strings.HasSuffix(name, "Password") {
						v.Text = "" // TR-098/181: passwords read as empty
					}
					out = append(out, cwmp.ParameterValue{Name: name, Value: v})
					found = true
				}
			}
			if !found {
				return cwmp.NewFault(cwmp.FaultInvalidParameterName, "")
			}
		}
		return &cwmp.GetParameterValuesResponse{ParameterList: out}
	case *cwmp.SetParameterValues:
		f := cwmp.NewFault(cwmp.FaultInvalidArguments, "")
		for _, p := range r.ParameterList {
			if w, ok := c.writable[p.Name]; !ok {
				f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, cwmp.SetParameterValuesFault{ParameterName: p.Name, FaultCode: cwmp.FaultInvalidParameterName})
			} else if !w {
				f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, cwmp.SetParameterValuesFault{ParameterName: p.Name, FaultCode: cwmp.FaultNonWritableParameter})
			}
		}
		if len(f.SetParameterValuesFaults) > 0 {
			return f
		}
		for _, p := range r.ParameterList {
			c.params[p.Name] = p.Value
		}
		c.params["Device.ManagementServer.ParameterKey"] = cwmp.String(r.ParameterKey)
		return &cwmp.SetParameterValuesResponse{Status: 0}
	case *cwmp.AddObject:
		n := 1
		for {
			if _, ok := c.params[r.ObjectName+strconv.Itoa(n)+".SSID"]; !ok {
				break
			}
			n++
		}
		c.params[r.ObjectName+strconv.Itoa(n)+".SSID"] = cwmp.String("")
		c.writable[r.ObjectName+strconv.Itoa(n)+".SSID"] = true
		return &cwmp.AddObjectResponse{InstanceNumber: uint32(n)}
	case *cwmp.DeleteObject:
		found := false
		for name := range c.params {
			if strings.HasPrefix(name, r.ObjectName) {
				delete(c.params, name)
				delete(c.writable, name)
				found = true
			}
		}
		if !found {
			return cwmp.NewFault(cwmp.FaultInvalidParameterName, "")
		}
		return &cwmp.DeleteObjectResponse{}
	case *cwmp.GetParameterAttributes:
		var out []cwmp.ParameterAttribute
		for _, n := range r.ParameterNames {
			out = append(out, cwmp.ParameterAttribute{Name: n, AccessList: []string{}})
		}
		return &cwmp.GetParameterAttributesResponse{ParameterList: out}
	case *cwmp.SetParameterAttributes:
		return &cwmp.SetParameterAttributesResponse{}
	case *cwmp.Reboot:
		return &cwmp.RebootResponse{}
	case *cwmp.FactoryReset:
		return &cwmp.FactoryResetResponse{}
	case *cwmp.ScheduleInform:
		return &cwmp.ScheduleInformResponse{}
	case *cwmp.GetRPCMethods:
		return &cwmp.GetRPCMethodsResponse{MethodList: []string{"GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues", "Download", "Reboot"}}
	case *cwmp.Download:
		now := time.Now()
		fault := cwmp.FaultStruct{}
		if strings.Contains(r.URL, "missing") {
			fault = cwmp.FaultStruct{FaultCode: cwmp.FaultFileAccessFailure, FaultString: "not found"}
		}
		c.transfers = append(c.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, FaultStruct: fault, StartTime: now, CompleteTime: now})
		return &cwmp.DownloadResponse{Status: 1}
	case *cwmp.Upload:
		now := time.Now()
		c.transfers = append(c.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, StartTime: now, CompleteTime: now})
		return &cwmp.UploadResponse{Status: 1}
	}
	return cwmp.NewFault(cwmp.FaultMethodNotSupported, fmt.Sprintf("%s not supported", req.Method()))
}

package nbi

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/soap"
)

// testCPE is a small CWMP device: a parameter tree, the RPCs the tests
// need, real HTTP transfers, and a connection request endpoint that checks
// Digest credentials and then opens a session, as TR-069 §3.2.2 says.
type testCPE struct {
	t      testing.TB
	acsURL string
	client *http.Client
	id     cwmp.DeviceID

	crSrv        *httptest.Server
	crUser       string
	crPass       string
	crDropAnswer atomic.Bool // close the CR connection without answering, but start the session anyway
	crHits       atomic.Int32

	mu         sync.Mutex
	sessionMu  sync.Mutex // one session at a time
	params     map[string]cwmp.Value
	writable   map[string]bool
	calls      []string
	transfers  []cwmp.TransferComplete
	downloaded map[string][]byte // URL -> bytes fetched
	uploadBody []byte
	sessions   atomic.Int32
	errs       chan error
}

func newTestCPE(t testing.TB, acsURL, serial string) *testCPE {
	jar, _ := cookiejar.New(nil)
	c := &testCPE{
		t: t, acsURL: acsURL,
		client:     &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
		id:         cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial},
		params:     map[string]cwmp.Value{},
		writable:   map[string]bool{},
		downloaded: map[string][]byte{},
		crUser:     "cr-" + serial, crPass: "secret-" + serial,
		uploadBody: []byte("/export of " + serial),
		errs:       make(chan error, 16),
	}
	c.crSrv = httptest.NewServer(http.HandlerFunc(c.serveCR))
	t.Cleanup(c.crSrv.Close)
	set := func(name string, v cwmp.Value, w bool) { c.params[name] = v; c.writable[name] = w }
	set("Device.DeviceInfo.Manufacturer", cwmp.String("Provisor Labs"), false)
	set("Device.DeviceInfo.SerialNumber", cwmp.String(serial), false)
	set("Device.DeviceInfo.SoftwareVersion", cwmp.String("1.0.0"), false)
	set("Device.DeviceInfo.UpTime", cwmp.Uint(1000), false)
	set("Device.ManagementServer.PeriodicInformInterval", cwmp.Uint(3600), true)
	set("Device.ManagementServer.ConnectionRequestURL", cwmp.String(c.crSrv.URL+"/cr/"+serial), false)
	set("Device.ManagementServer.ConnectionRequestUsername", cwmp.String(c.crUser), true)
	set("Device.WiFi.SSID.1.SSID", cwmp.String("home"), true)
	return c
}

// serveCR answers a connection request: a Digest challenge, then 204 and
// a session shortly after.
func (c *testCPE) serveCR(w http.ResponseWriter, r *http.Request) {
	c.crHits.Add(1)
	if !c.checkDigest(r) {
		w.Header().Set("WWW-Authenticate", `Digest realm="cpe", nonce="`+strconv.FormatInt(time.Now().UnixNano(), 16)+`", qop="auth"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if c.crDropAnswer.Load() {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		if err := c.trySession(cwmp.EventConnectionRequest); err != nil {
			c.errs <- err
		}
	}()
}

func (c *testCPE) checkDigest(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Digest ") {
		return false
	}
	p := map[string]string{}
	for _, part := range splitParams(h[len("Digest "):]) {
		k, v, _ := strings.Cut(part, "=")
		p[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	md := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1 := md(c.crUser + ":" + p["realm"] + ":" + c.crPass)
	ha2 := md("GET:" + p["uri"])
	return p["username"] == c.crUser && p["uri"] == r.URL.RequestURI() &&
		p["response"] == md(strings.Join([]string{ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2}, ":"))
}

func splitParams(s string) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func (c *testCPE) post(env *cwmp.Envelope) (int, *cwmp.Envelope, error) {
	var body []byte
	if env != nil {
		env.Namespace = cwmp.NS10
		body = soap.Encode(nil, env, soap.Options{})
	}
	req, _ := http.NewRequest(http.MethodPost, c.acsURL, bytes.NewReader(body))
	if env != nil {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(bytes.TrimSpace(data)) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		return resp.StatusCode, nil, nil
	}
	out, err := soap.Decode(data, soap.Limits{})
	return resp.StatusCode, out, err
}

// session runs one session, failing the test on protocol errors.
func (c *testCPE) session(events ...cwmp.EventCode) []string {
	c.t.Helper()
	if err := c.trySession(events...); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// trySession runs a session and then, if a transfer finished in it,
// another one that reports it, as a device does.
func (c *testCPE) trySession(events ...cwmp.EventCode) error {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	for {
		if err := c.oneSession(events); err != nil {
			return err
		}
		c.mu.Lock()
		more := len(c.transfers) > 0
		c.mu.Unlock()
		if !more {
			return nil
		}
		events = []cwmp.EventCode{cwmp.EventTransferComplete}
	}
}

func (c *testCPE) oneSession(events []cwmp.EventCode) error {
	c.sessions.Add(1)
	c.mu.Lock()
	c.calls = nil
	inform := &cwmp.Inform{DeviceID: c.id, MaxEnvelopes: 1, CurrentTime: time.Now()}
	for _, e := range events {
		inform.Events = append(inform.Events, cwmp.EventStruct{EventCode: e})
	}
	transfers := c.transfers
	c.transfers = nil
	for _, tc := range transfers {
		inform.Events = append(inform.Events, cwmp.EventStruct{EventCode: "M Download", CommandKey: tc.CommandKey})
	}
	for _, n := range []string{"Device.DeviceInfo.SoftwareVersion", "Device.ManagementServer.ConnectionRequestURL"} {
		inform.ParameterList = append(inform.ParameterList, cwmp.ParameterValue{Name: n, Value: c.params[n]})
	}
	c.mu.Unlock()
	status, resp, err := c.post(&cwmp.Envelope{Header: cwmp.Header{ID: "1", HasID: true}, Body: inform})
	if err != nil || status != http.StatusOK || resp == nil {
		return fmt.Errorf("inform: %d %v", status, err)
	}
	for _, tc := range transfers {
		status, _, err := c.post(&cwmp.Envelope{Header: cwmp.Header{ID: "tc", HasID: true}, Body: &tc})
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("TransferComplete: %d %v", status, err)
		}
	}
	status, resp, err = c.post(nil)
	for err == nil && status == http.StatusOK && resp != nil {
		c.mu.Lock()
		c.calls = append(c.calls, resp.Body.Method())
		c.mu.Unlock()
		answer := c.answer(resp.Body)
		status, resp, err = c.post(&cwmp.Envelope{Header: resp.Header, Body: answer})
	}
	if err != nil || status != http.StatusNoContent {
		return fmt.Errorf("session ended with %d %v", status, err)
	}
	return nil
}

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

func (c *testCPE) answer(req cwmp.Body) cwmp.Body {
	switch r := req.(type) {
	case *cwmp.Download:
		// Fetch the file as a device does, outside the lock.
		fault := cwmp.FaultStruct{}
		start := time.Now()
		resp, err := http.Get(r.URL)
		var data []byte
		if err == nil {
			data, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			fault = cwmp.FaultStruct{FaultCode: cwmp.FaultFileAccessFailure, FaultString: err.Error()}
		}
		c.mu.Lock()
		c.downloaded[r.URL] = data
		c.transfers = append(c.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, FaultStruct: fault, StartTime: start, CompleteTime: time.Now()})
		c.mu.Unlock()
		return &cwmp.DownloadResponse{Status: 1}
	case *cwmp.Upload:
		fault := cwmp.FaultStruct{}
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPut, r.URL, bytes.NewReader(c.uploadBody))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			fault = cwmp.FaultStruct{FaultCode: cwmp.FaultUploadFailure, FaultString: err.Error()}
		}
		c.mu.Lock()
		c.transfers = append(c.transfers, cwmp.TransferComplete{CommandKey: r.CommandKey, FaultStruct: fault, StartTime: start, CompleteTime: time.Now()})
		c.mu.Unlock()
		return &cwmp.UploadResponse{Status: 1}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r := req.(type) {
	case *cwmp.GetParameterNames:
		var out []cwmp.ParameterInfo
		for _, o := range c.objects() {
			if strings.HasPrefix(o, r.ParameterPath) {
				out = append(out, cwmp.ParameterInfo{Name: o})
			}
		}
		for name, w := range c.writable {
			if strings.HasPrefix(name, r.ParameterPath) {
				out = append(out, cwmp.ParameterInfo{Name: name, Writable: w})
			}
		}
		return &cwmp.GetParameterNamesResponse{ParameterList: out}
	case *cwmp.GetParameterValues:
		var out []cwmp.ParameterValue
		for _, n := range r.ParameterNames {
			found := false
			for name, v := range c.params {
				if name == n || (strings.HasSuffix(n, ".") && strings.HasPrefix(name, n)) {
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
			if w, ok := c.writable[p.Name]; !ok || !w {
				f.SetParameterValuesFaults = append(f.SetParameterValuesFaults, cwmp.SetParameterValuesFault{ParameterName: p.Name, FaultCode: cwmp.FaultNonWritableParameter})
			}
		}
		if len(f.SetParameterValuesFaults) > 0 {
			return f
		}
		for _, p := range r.ParameterList {
			c.params[p.Name] = p.Value
		}
		return &cwmp.SetParameterValuesResponse{}
	case *cwmp.Reboot:
		return &cwmp.RebootResponse{}
	}
	return cwmp.NewFault(cwmp.FaultMethodNotSupported, req.Method())
}

func (c *testCPE) waitSessions(t testing.TB, n int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.sessions.Load() < n {
		select {
		case err := <-c.errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d sessions in %v", c.sessions.Load(), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

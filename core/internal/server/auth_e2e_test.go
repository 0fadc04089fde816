package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/server/authtest"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// secureACS is an ACS wired the way `provisor serve` wires it: real
// listeners on loopback (HTTP and, optionally, HTTPS and more HTTP
// listeners with allow-lists), CPE authentication, SQLite.
type secureACS struct {
	store store.Store
	mgr   *session.Manager
	h     *server.Handler
	auth  *server.Auth
	pki   *testPKI
	tls   *server.TLS
	// urls and accepted connections per endpoint name.
	urls     map[string]string
	accepted map[string]*atomic.Int64
}

type secureOpts struct {
	auth    server.AuthConfig
	noAuth  bool
	cfg     session.Config
	tls     *server.TLSOptions // nil: no HTTPS endpoint; files come from the test PKI
	rotate  bool
	trusted string
	rate    float64
	burst   int
	// endpoints are extra plain-HTTP listeners.
	endpoints []endpointSpec
}

type endpointSpec struct {
	name, addr, allow string
}

func startSecure(t *testing.T, o secureOpts) *secureACS {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "provisor.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a := &secureACS{store: st, urls: map[string]string{}, accepted: map[string]*atomic.Int64{}, pki: newPKI(t)}
	hooks := &hook.Registry{}
	if o.rotate {
		hooks.Register(hook.StageBuiltin, &session.RotateCredential{Store: st, Realm: "provisor"})
	}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	if o.cfg.ExchangeTimeout == 0 {
		o.cfg.ExchangeTimeout = 5 * time.Second
	}
	a.mgr = session.NewManager(o.cfg, st, hooks, log)
	trusted, err := server.ParsePrefixes(o.trusted)
	if err != nil {
		t.Fatal(err)
	}
	a.h = &server.Handler{Sessions: a.mgr, Log: log, TrustedProxies: trusted, RateLimit: o.rate, RateBurst: o.burst}
	if !o.noAuth {
		ac := o.auth
		if ac.SharedUsername == "" {
			ac.SharedUsername, ac.SharedPassword = sharedUser, sharedPassword
		}
		ac.Store, ac.Log = st, log
		if a.auth, err = server.NewAuth(ac); err != nil {
			t.Fatal(err)
		}
		a.h.Auth = a.auth
	}
	var servers []*http.Server
	serve := func(ep *server.Endpoint, addr, scheme string) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		n := &atomic.Int64{}
		a.accepted[ep.Name] = n
		srv := a.h.NewEndpointServer(ep)
		servers = append(servers, srv)
		go func() { _ = srv.Serve(a.h.Listen(countingListener{ln, n}, ep)) }()
		a.urls[ep.Name] = scheme + "://" + ln.Addr().String() + "/cwmp"
	}
	serve(&server.Endpoint{Name: "http"}, "127.0.0.1:0", "http")
	if o.tls != nil {
		opts := *o.tls
		if opts.CertFile == "" {
			opts.CertFile, opts.KeyFile = a.pki.serverFiles("acs", false)
		}
		if opts.ClientCAFile == "-" {
			opts.ClientCAFile = a.pki.caFile
		}
		if a.tls, err = server.NewTLS(opts); err != nil {
			t.Fatal(err)
		}
		serve(&server.Endpoint{Name: "https", TLS: a.tls}, "127.0.0.1:0", "https")
	}
	for _, e := range o.endpoints {
		allow, err := server.ParsePrefixes(e.allow)
		if err != nil {
			t.Fatal(err)
		}
		serve(&server.Endpoint{Name: e.name, Allow: allow}, e.addr, "http")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.mgr.Close(ctx)
		for _, srv := range servers {
			_ = srv.Close()
		}
		if err := st.Close(ctx); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return a
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// inform builds the device's Inform without running a session.
func (c *testCPE) inform(events ...cwmp.EventCode) *cwmp.Envelope {
	in := &cwmp.Inform{DeviceID: c.id, MaxEnvelopes: 1, CurrentTime: time.Now()}
	for _, e := range events {
		in.Events = append(in.Events, cwmp.EventStruct{EventCode: e})
	}
	return &cwmp.Envelope{Header: cwmp.Header{ID: "inform-1", HasID: true}, Body: in}
}

func deviceID(serial string) string { return store.DeviceIDFrom("00D0B7", "HomeGW", serial) }

// known stores the device, so that its sessions are just Inform and the
// empty POST (no discovery).
func (a *secureACS) known(t *testing.T, serial string) {
	t.Helper()
	if err := a.store.UpsertDevice(context.Background(), store.Device{ID: deviceID(serial), OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial}); err != nil {
		t.Fatal(err)
	}
}

// grew checks that a counter grew by want while fn ran.
func grew(t *testing.T, what string, c *atomic.Int64, want int64, fn func()) {
	t.Helper()
	before := c.Load()
	fn()
	if got := c.Load() - before; got != want {
		t.Fatalf("%s grew by %d, want %d", what, got, want)
	}
}

func TestCPEAuthentication(t *testing.T) {
	a := startSecure(t, secureOpts{tls: &server.TLSOptions{}})
	st := &a.auth.Stats
	shared := func(c authtest.Credentials) *authtest.Credentials {
		if c.Username == "" {
			c.Username = sharedUser
		}
		if c.Password == "" {
			c.Password = sharedPassword
		}
		return &c
	}
	cases := []struct {
		name       string
		https      bool
		creds      *authtest.Credentials
		preemptive bool
		newConn    bool
		want       int
		counter    *atomic.Int64 // grows by one
		conns      int64         // connections the session took; 0: not checked
	}{
		{"digest MD5 with qop", false, shared(authtest.Credentials{Algorithm: "MD5"}), false, false, 200, &st.OK, 1},
		{"digest MD5 without qop", false, shared(authtest.Credentials{Algorithm: "MD5", NoQop: true}), false, false, 200, &st.OK, 0},
		{"digest SHA-256 with qop", false, shared(authtest.Credentials{Algorithm: "SHA-256"}), false, false, 200, &st.OK, 0},
		{"digest SHA-256 without qop", false, shared(authtest.Credentials{Algorithm: "SHA-256", NoQop: true}), false, false, 200, &st.OK, 0},
		{"digest MD5-sess", false, shared(authtest.Credentials{Algorithm: "MD5-sess"}), false, false, 200, &st.OK, 0},
		{"digest SHA-256 over TLS", true, shared(authtest.Credentials{Algorithm: "SHA-256"}), false, false, 200, &st.OK, 0},
		{"basic over TLS, preemptive", true, shared(authtest.Credentials{Scheme: "basic"}), true, false, 200, &st.OK, 1},
		{"basic over TLS, after the challenge", true, shared(authtest.Credentials{Scheme: "basic"}), false, false, 200, &st.OK, 0},
		{"basic refused without TLS", false, shared(authtest.Credentials{Scheme: "basic"}), false, false, 401, &st.SchemeRefused, 0},
		{"wrong password", false, shared(authtest.Credentials{Password: "guess"}), false, false, 401, &st.WrongPassword, 0},
		{"unknown user", false, shared(authtest.Credentials{Username: "mallory"}), false, false, 401, &st.UnknownUsers, 0},
		{"no credentials", false, nil, false, false, 401, &st.NoCredentials, 0},
		{"new connection after 401", false, shared(authtest.Credentials{}), false, true, 200, &st.OK, 2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scheme := "http"
			if c.https {
				scheme = "https"
			}
			serial := fmt.Sprintf("SN-AUTH-%02d", i)
			a.known(t, serial)
			cpe := newTestCPE(t, a.urls[scheme], serial)
			if c.https {
				cpe.useTLS(a.pki.clientTLS())
			}
			cpe.auth, cpe.preemptive, cpe.newConnAfter401 = c.creds, c.preemptive, c.newConn
			conns := a.accepted[scheme].Load()
			grew(t, c.name, c.counter, 1, func() {
				if c.want == http.StatusOK {
					cpe.session(cwmp.EventPeriodic)
					return
				}
				status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic))
				if status != c.want {
					t.Fatalf("Inform answered %d, want %d", status, c.want)
				}
				if c.want == http.StatusUnauthorized && len(cpe.header.Values("WWW-Authenticate")) == 0 {
					t.Fatal("401 without a challenge")
				}
			})
			if c.conns > 0 {
				if got := a.accepted[scheme].Load() - conns; got != c.conns {
					t.Fatalf("session took %d connections, want %d", got, c.conns)
				}
			}
		})
	}
	t.Run("challenges", func(t *testing.T) {
		for _, scheme := range []string{"http", "https"} {
			cpe := newTestCPE(t, a.urls[scheme], "SN-CHALLENGE")
			cpe.useTLS(a.pki.clientTLS())
			cpe.auth = nil
			cpe.post(cpe.inform(cwmp.EventPeriodic))
			got := strings.Join(cpe.header.Values("WWW-Authenticate"), " | ")
			for _, want := range []string{`Digest realm="provisor", qop="auth", algorithm=MD5, nonce="`, `algorithm=SHA-256`} {
				if !strings.Contains(got, want) {
					t.Errorf("%s challenge %q lacks %q", scheme, got, want)
				}
			}
			// Basic is offered only where it may be used.
			if strings.Contains(got, "Basic") != (scheme == "https") {
				t.Errorf("%s challenge %q", scheme, got)
			}
		}
	})
}

// rawPost sends one POST with an optional Authorization header.
func rawPost(t *testing.T, client *http.Client, url string, body []byte, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func freshClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
}

func informBytes(serial string) []byte {
	return soap.Encode(nil, &cwmp.Envelope{Namespace: cwmp.NS10, Body: &cwmp.Inform{
		DeviceID: cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial},
		Events:   []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}}, MaxEnvelopes: 1,
	}}, soap.Options{})
}

// Nonces: a nonce count may only grow, an RFC 2069 nonce is good once,
// an old or foreign nonce earns stale=true when the password is right.
func TestDigestNonces(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	a := startSecure(t, secureOpts{auth: server.AuthConfig{NonceLifetime: time.Minute, Now: clock}})
	st := &a.auth.Stats
	url := a.urls["http"]
	uri := "/cwmp"
	a.known(t, "SN-NONCE")
	body := informBytes("SN-NONCE")
	creds := authtest.Credentials{Username: sharedUser, Password: sharedPassword}
	challenge := func() authtest.Challenge {
		resp := rawPost(t, freshClient(), url, body, "")
		chs := authtest.Challenges(resp.Header)
		if resp.StatusCode != 401 || len(chs) == 0 {
			t.Fatalf("no challenge: %d", resp.StatusCode)
		}
		return chs[0]
	}
	// session opens a session with the header and ends it; it returns the
	// Inform's status.
	session := func(auth string) (int, http.Header) {
		t.Helper()
		client := freshClient()
		resp := rawPost(t, client, url, body, auth)
		if resp.StatusCode == http.StatusOK {
			if end := rawPost(t, client, url, nil, ""); end.StatusCode != http.StatusNoContent {
				t.Fatalf("session end %d", end.StatusCode)
			}
		}
		return resp.StatusCode, resp.Header
	}
	stale := func(h http.Header) bool {
		return strings.Contains(strings.Join(h.Values("WWW-Authenticate"), ","), "stale=true")
	}

	ch := challenge()
	h1, _ := creds.Digest(ch, "POST", uri, 1, "c1")
	if st, _ := session(h1); st != 200 {
		t.Fatalf("first use %d", st)
	}
	grew(t, "replays", &st.Replays, 1, func() {
		if st, h := session(h1); st != 401 || !stale(h) {
			t.Fatalf("replayed header: %d %v", st, h)
		}
	})
	// The same nonce with a higher count is a CPE reusing its nonce, as
	// it may.
	h2, _ := creds.Digest(ch, "POST", uri, 2, "c2")
	if st, _ := session(h2); st != 200 {
		t.Fatalf("nc=2: %d", st)
	}
	h1b, _ := creds.Digest(ch, "POST", uri, 1, "c3")
	grew(t, "replays", &st.Replays, 1, func() {
		if st, _ := session(h1b); st != 401 {
			t.Fatalf("lower nc accepted: %d", st)
		}
	})
	// Without qop a nonce is good once.
	plain := creds
	plain.NoQop = true
	ch = challenge()
	h0, _ := plain.Digest(ch, "POST", uri, 0, "")
	if st, _ := session(h0); st != 200 {
		t.Fatalf("RFC 2069 digest %d", st)
	}
	grew(t, "replays", &st.Replays, 1, func() {
		if st, _ := session(h0); st != 401 {
			t.Fatalf("RFC 2069 replay accepted: %d", st)
		}
	})
	// An expired nonce with the right password: stale, not a failure.
	ch = challenge()
	offset.Store(int64(2 * time.Minute))
	he, _ := creds.Digest(ch, "POST", uri, 1, "")
	failed := st.Failed.Load()
	grew(t, "stale nonces", &st.StaleNonces, 1, func() {
		if st, h := session(he); st != 401 || !stale(h) {
			t.Fatalf("expired nonce: %d %v", st, h)
		}
	})
	// A nonce of another ACS process.
	b := startSecure(t, secureOpts{})
	resp := rawPost(t, freshClient(), b.urls["http"], body, "")
	hf, _ := creds.Digest(authtest.Challenges(resp.Header)[0], "POST", uri, 1, "")
	grew(t, "stale nonces", &st.StaleNonces, 1, func() {
		if st, h := session(hf); st != 401 || !stale(h) {
			t.Fatalf("foreign nonce: %d", st)
		}
	})
	if st.Failed.Load() != failed {
		t.Fatal("a stale nonce counted as a failure")
	}
	// The wrong password with an expired nonce is a failure, not stale.
	bad := creds
	bad.Password = "guess"
	hb, _ := bad.Digest(ch, "POST", uri, 1, "")
	grew(t, "wrong passwords", &st.WrongPassword, 1, func() {
		if st, h := session(hb); st != 401 || stale(h) {
			t.Fatalf("wrong password: %d %v", st, h)
		}
	})
}

// A session's later POSTs on its connection need no credentials; sent
// ones must be right; a POST that cannot be tied to the session by
// connection or cookie must authenticate.
func TestBoundSessionPOSTs(t *testing.T) {
	a := startSecure(t, secureOpts{})
	st := &a.auth.Stats
	t.Run("header repeated on every POST", func(t *testing.T) {
		cpe := newTestCPE(t, a.urls["http"], "SN-RESEND")
		cpe.resendAuth = true
		grew(t, "authentications", &st.OK, 1, func() {
			if calls := cpe.session(cwmp.EventBootstrap); len(calls) < 2 {
				t.Fatalf("discovery: %v", calls)
			}
		})
	})
	a.known(t, "SN-BOUND")
	body := informBytes("SN-BOUND")
	creds := authtest.Credentials{Username: sharedUser, Password: sharedPassword}
	open := func() *http.Client {
		client := freshClient()
		resp := rawPost(t, client, a.urls["http"], body, "")
		h, _, _ := creds.Answer(authtest.Challenges(resp.Header), "POST", "/cwmp", 1)
		if resp := rawPost(t, client, a.urls["http"], body, h); resp.StatusCode != 200 {
			t.Fatalf("Inform %d", resp.StatusCode)
		}
		return client
	}
	t.Run("wrong credentials mid-session", func(t *testing.T) {
		client := open()
		resp := rawPost(t, freshClient(), a.urls["http"], body, "")
		bad := creds
		bad.Password = "guess"
		h, _, _ := bad.Answer(authtest.Challenges(resp.Header), "POST", "/cwmp", 1)
		grew(t, "wrong passwords", &st.WrongPassword, 1, func() {
			if resp := rawPost(t, client, a.urls["http"], nil, h); resp.StatusCode != 401 {
				t.Fatalf("empty POST with a wrong password: %d", resp.StatusCode)
			}
		})
		if resp := rawPost(t, client, a.urls["http"], nil, ""); resp.StatusCode != 204 {
			t.Fatalf("session end %d", resp.StatusCode)
		}
	})
	t.Run("unbound POST", func(t *testing.T) {
		// The session stays bound to this client's connection.
		defer open().CloseIdleConnections()
		// Another connection and no cookie: the session is found by
		// source address only, which proves nothing.
		other := freshClient()
		resp := rawPost(t, other, a.urls["http"], nil, "")
		if resp.StatusCode != 401 {
			t.Fatalf("unbound empty POST: %d", resp.StatusCode)
		}
		h, _, _ := creds.Answer(authtest.Challenges(resp.Header), "POST", "/cwmp", 1)
		if resp := rawPost(t, other, a.urls["http"], nil, h); resp.StatusCode != 204 {
			t.Fatalf("authenticated empty POST: %d", resp.StatusCode)
		}
	})
}

// At 0 BOOTSTRAP a device that used the shared credential gets its own,
// with one SetParameterValues; from then on the shared one is refused for
// it.
func TestCredentialRotationAtBootstrap(t *testing.T) {
	a := startSecure(t, secureOpts{rotate: true})
	st := &a.auth.Stats
	ctx := context.Background()
	cpe := newTestCPE(t, a.urls["http"], "SN-ROTATE")
	id := deviceID("SN-ROTATE")
	calls := cpe.session(cwmp.EventBootstrap, cwmp.EventBoot)
	if len(calls) == 0 || calls[0] != "SetParameterValues" {
		t.Fatalf("calls %v", calls)
	}
	user, pw := cpe.params["Device.ManagementServer.Username"].Text, cpe.params["Device.ManagementServer.Password"].Text
	if user != id || len(pw) < 20 {
		t.Fatalf("device got %q / %d-byte password", user, len(pw))
	}
	creds, err := a.store.DeviceCredentials(ctx, id)
	if err != nil || len(creds) != 1 || creds[0].Pending || creds[0].Username != id || !creds[0].VerifyPassword(pw) {
		t.Fatalf("stored %v %v", creds, err)
	}
	// The password is nowhere in the parameter tree.
	_ = a.store.Flush(ctx)
	tree, _ := a.store.Params(ctx, id)
	for _, p := range tree {
		if strings.Contains(p.Value, pw) {
			t.Fatalf("password stored in %s", p.Name)
		}
	}
	// The device's next sessions use its own credential.
	if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 {
		t.Fatalf("periodic session called %v", calls)
	}
	// The shared credential is refused for it now (as after a factory
	// reset that the operator has not acknowledged).
	cpe.params["Device.ManagementServer.Username"] = cwmp.String("")
	grew(t, "re-bootstrap refused", &st.RebootstrapRefused, 1, func() {
		if status, _ := cpe.post(cpe.inform(cwmp.EventBootstrap)); status != 401 {
			t.Fatalf("shared credential after rotation: %d", status)
		}
	})
	grew(t, "shared refused", &st.SharedRefused, 1, func() {
		if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != 401 {
			t.Fatalf("shared credential after rotation: %d", status)
		}
	})

	t.Run("device applies the new credential after the session", func(t *testing.T) {
		cpe := newTestCPE(t, a.urls["http"], "SN-LATEAPPLY")
		cpe.sessionCreds, cpe.unbound = true, true
		if calls := cpe.session(cwmp.EventBootstrap, cwmp.EventBoot); len(calls) == 0 || calls[0] != "SetParameterValues" {
			t.Fatalf("calls %v", calls)
		}
		cpe.unbound = false
		if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 { // now with its own credential
			t.Fatalf("periodic session called %v", calls)
		}
	})
	t.Run("device refuses the new credential", func(t *testing.T) {
		cpe := newTestCPE(t, a.urls["http"], "SN-NOROTATE")
		cpe.writable["Device.ManagementServer.Username"] = false
		cpe.session(cwmp.EventBootstrap)
		if creds, _ := a.store.DeviceCredentials(ctx, deviceID("SN-NOROTATE")); len(creds) != 0 {
			t.Fatalf("credential kept after a refusal: %v", creds)
		}
		cpe.session(cwmp.EventPeriodic) // still the shared one
	})
	t.Run("pending credential confirmed by use", func(t *testing.T) {
		// The device stored its new credential but the acknowledgement
		// never arrived.
		dev := deviceID("SN-PENDING")
		c, _ := store.NewCPECredential(dev, dev, "pending-secret", "provisor")
		c.Pending = true
		if err := a.store.PutCPECredential(ctx, c); err != nil {
			t.Fatal(err)
		}
		cpe := newTestCPE(t, a.urls["http"], "SN-PENDING")
		cpe.session(cwmp.EventPeriodic) // the shared one still works while pending
		cpe.params["Device.ManagementServer.Username"] = cwmp.String(dev)
		cpe.params["Device.ManagementServer.Password"] = cwmp.String("pending-secret")
		grew(t, "activations", &st.Activated, 1, func() { cpe.session(cwmp.EventPeriodic) })
		cpe.params["Device.ManagementServer.Username"] = cwmp.String("")
		if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != 401 {
			t.Fatalf("shared credential after activation: %d", status)
		}
	})
}

// A device rotated to its own credential at 0 BOOTSTRAP authenticates
// with Basic over HTTPS: its generated password is stored as one salted
// HMAC-SHA-256, a credential someone chose (and a row stored before the
// schemes were told apart) as PBKDF2, and all of them verify; a wrong
// password and an unusable stored hash are refused.
func TestBasicAuthOfRotatedDevice(t *testing.T) {
	a := startSecure(t, secureOpts{rotate: true, tls: &server.TLSOptions{}})
	st := &a.auth.Stats
	ctx := context.Background()
	basicCPE := func(serial string) *testCPE {
		cpe := newTestCPE(t, a.urls["https"], serial)
		cpe.useTLS(a.pki.clientTLS())
		cpe.auth = &authtest.Credentials{Username: sharedUser, Password: sharedPassword, Scheme: "basic"}
		return cpe
	}

	cpe := basicCPE("SN-BASIC")
	id := deviceID("SN-BASIC")
	if calls := cpe.session(cwmp.EventBootstrap, cwmp.EventBoot); len(calls) == 0 || calls[0] != "SetParameterValues" {
		t.Fatalf("calls %v", calls)
	}
	pw := cpe.params["Device.ManagementServer.Password"].Text
	creds, err := a.store.DeviceCredentials(ctx, id)
	if err != nil || len(creds) != 1 || creds[0].Pending || !strings.HasPrefix(creds[0].PasswordHash, store.SchemeHMAC+"$") {
		t.Fatalf("stored %v %v", creds, err)
	}
	if strings.Contains(creds[0].PasswordHash, pw) {
		t.Fatal("password stored in the clear")
	}
	grew(t, "authentications", &st.OK, 1, func() {
		if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 {
			t.Fatalf("periodic session called %v", calls)
		}
	})
	if cpe.lastAuth == "" || !strings.HasPrefix(cpe.lastAuth, "Basic ") {
		t.Fatalf("the device did not use Basic: %q", cpe.lastAuth)
	}
	t.Run("wrong password", func(t *testing.T) {
		cpe.params["Device.ManagementServer.Password"] = cwmp.String(pw + "x")
		defer func() { cpe.params["Device.ManagementServer.Password"] = cwmp.String(pw) }()
		grew(t, "wrong passwords", &st.WrongPassword, 1, func() {
			if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != 401 {
				t.Fatalf("wrong password: %d", status)
			}
		})
	})

	// Credentials an operator or an earlier version stored.
	for _, c := range []struct {
		name, serial, hash, pw string
		want                   int
		counter                *atomic.Int64
	}{
		{"chosen password", "SN-BASIC-CHOSEN", "", "chosen-secret", 200, &st.OK},
		{"legacy row", "SN-BASIC-LEGACY", "pbkdf2-sha256$20000$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI", "legacy-secret", 200, &st.OK},
		{"malformed stored hash", "SN-BASIC-BROKEN", "hmac-sha256$AAECAwQFBgcICQoLDA0ODw$short", "chosen-secret", 401, &st.SchemeRefused},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := deviceID(c.serial)
			a.known(t, c.serial)
			cred, err := store.NewCPECredential(dev, dev, c.pw, "provisor")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(cred.PasswordHash, store.SchemePBKDF2+"$") {
				t.Fatalf("chosen password hashed with %q", strings.SplitN(cred.PasswordHash, "$", 2)[0])
			}
			if c.hash != "" {
				cred.PasswordHash = c.hash
			}
			if err := a.store.PutCPECredential(ctx, cred); err != nil {
				t.Fatal(err)
			}
			cpe := basicCPE(c.serial)
			cpe.params["Device.ManagementServer.Username"] = cwmp.String(dev)
			cpe.params["Device.ManagementServer.Password"] = cwmp.String(c.pw)
			grew(t, c.name, c.counter, 1, func() {
				if c.want == 200 {
					cpe.session(cwmp.EventPeriodic)
					return
				}
				if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != c.want {
					t.Fatalf("Inform answered %d, want %d", status, c.want)
				}
			})
		})
	}
}

func TestMutualTLS(t *testing.T) {
	a := startSecure(t, secureOpts{tls: &server.TLSOptions{ClientCAFile: "-"}})
	st := &a.auth.Stats
	untrusted := otherCA(t)
	cases := []struct {
		name    string
		cert    *tls.Certificate
		creds   bool // the device also has the shared credential
		want    int  // 0: the handshake fails
		counter *atomic.Int64
	}{
		{"certificate names the serial", ptr(a.pki.client("SN-MTLS-0", "")), false, 200, &st.OK},
		{"certificate names the device ID", ptr(a.pki.client(deviceID("SN-MTLS-1"), "")), false, 200, &st.OK},
		{"certificate of another device", ptr(a.pki.client("SN-SOMEONE-ELSE", "")), true, 403, &st.CertMismatch},
		{"certificate from an unknown CA", ptr(untrusted.client("SN-MTLS-3", "")), true, 0, nil},
		{"no certificate: HTTP authentication", nil, true, 200, &st.OK},
		{"no certificate and no credentials", nil, false, 401, &st.NoCredentials},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			serial := fmt.Sprintf("SN-MTLS-%d", i)
			a.known(t, serial)
			cpe := newTestCPE(t, a.urls["https"], serial)
			var certs []tls.Certificate
			if c.cert != nil {
				certs = append(certs, *c.cert)
			}
			cpe.useTLS(a.pki.clientTLS(certs...))
			if !c.creds {
				cpe.auth = nil
			}
			if c.want == 0 {
				_, err := cpe.client.Post(cpe.url, "text/xml", bytes.NewReader(informBytes(serial)))
				if err == nil {
					t.Fatal("handshake with an untrusted certificate succeeded")
				}
				return
			}
			grew(t, c.name, c.counter, 1, func() {
				if c.want == 200 {
					cpe.session(cwmp.EventPeriodic)
					return
				}
				if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != c.want {
					t.Fatalf("Inform %d, want %d", status, c.want)
				}
			})
		})
	}
	t.Run("identity from the subject serialNumber", func(t *testing.T) {
		b := startSecure(t, secureOpts{tls: &server.TLSOptions{ClientCAFile: "-", RequireClientCert: true}, auth: server.AuthConfig{ClientIdentity: server.IdentitySerialNumber}})
		b.known(t, "SN-SUBJ")
		cpe := newTestCPE(t, b.urls["https"], "SN-SUBJ")
		cpe.auth = nil
		cpe.useTLS(b.pki.clientTLS(b.pki.client("whatever", "SN-SUBJ")))
		cpe.session(cwmp.EventPeriodic)
		// Required: no certificate, no handshake.
		cpe.useTLS(b.pki.clientTLS())
		if _, err := cpe.client.Post(cpe.url, "text/xml", bytes.NewReader(informBytes("SN-SUBJ"))); err == nil {
			t.Fatal("handshake without the required certificate succeeded")
		}
	})
}

func ptr[T any](v T) *T { return &v }

// Allow-lists per listener, IPv4 and IPv6: connections from elsewhere are
// closed before anything is read.
func TestAllowLists(t *testing.T) {
	a := startSecure(t, secureOpts{endpoints: []endpointSpec{
		{"v4-allowed", "127.0.0.1:0", "127.0.0.0/8"},
		{"v4-denied", "127.0.0.1:0", "10.0.0.0/8, 192.0.2.1"},
		{"v6-allowed", "[::1]:0", "::1/128"},
		{"v6-denied", "[::1]:0", "2001:db8::/32"},
	}})
	for i, ep := range []string{"v4-allowed", "v4-denied", "v6-allowed", "v6-denied"} {
		t.Run(ep, func(t *testing.T) {
			serial := fmt.Sprintf("SN-ALLOW-%d", i)
			a.known(t, serial)
			cpe := newTestCPE(t, a.urls[ep], serial)
			if strings.HasSuffix(ep, "allowed") {
				cpe.session(cwmp.EventPeriodic)
				dev, _ := a.store.Device(context.Background(), deviceID(serial))
				if want := map[bool]string{true: "127.0.0.1", false: "::1"}[strings.HasPrefix(ep, "v4")]; dev.IP != want {
					t.Fatalf("device IP %q, want %q", dev.IP, want)
				}
				return
			}
			grew(t, "denied connections", &a.h.Stats.DeniedConns, 1, func() {
				if _, err := cpe.client.Post(cpe.url, "text/xml", bytes.NewReader(informBytes(serial))); err == nil {
					t.Fatal("request from outside the allow-list succeeded")
				}
			})
		})
	}
}

// Profiles for CPEs that never send credentials: no authentication at
// all, or admission by source address.
func TestProfileAuthModes(t *testing.T) {
	a := startSecure(t, secureOpts{cfg: session.Config{Profiles: []session.Profile{
		{Name: "easycwmp", ProductClass: "NoAuthGW", Auth: server.ModeNone},
		{Name: "lab", ProductClass: "LabGW", Auth: server.ModeAllowList, AllowFrom: []string{"127.0.0.0/8"}},
		{Name: "remote", ProductClass: "RemoteGW", Auth: server.ModeAllowList, AllowFrom: []string{"198.51.100.0/24"}},
		{Name: "digest-only", ProductClass: "DigestGW", Auth: server.ModeDigest},
	}}, tls: &server.TLSOptions{}})
	cases := []struct {
		class  string
		https  bool
		creds  *authtest.Credentials
		want   int
		method string
	}{
		{"NoAuthGW", false, nil, 200, ""},
		{"LabGW", false, nil, 200, ""},
		{"RemoteGW", false, nil, 403, ""},
		{"HomeGW", false, nil, 401, ""},
		{"DigestGW", true, &authtest.Credentials{Username: sharedUser, Password: sharedPassword, Scheme: "basic"}, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.class, func(t *testing.T) {
			scheme := map[bool]string{true: "https", false: "http"}[c.https]
			cpe := newTestCPE(t, a.urls[scheme], "SN-PROF")
			cpe.id.ProductClass = c.class
			cpe.auth, cpe.preemptive = c.creds, c.creds != nil
			if c.https {
				cpe.useTLS(a.pki.clientTLS())
			}
			if c.want == 200 {
				cpe.session(cwmp.EventBootstrap)
				return
			}
			if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != c.want {
				t.Fatalf("Inform %d, want %d", status, c.want)
			}
		})
	}
}

// Behind a trusted proxy the client is the right-most address the proxy
// chain does not vouch for; from anyone else the headers are ignored.
func TestTrustedProxy(t *testing.T) {
	a := startSecure(t, secureOpts{trusted: "127.0.0.1", auth: server.AuthConfig{Mode: server.ModeBasic}, endpoints: []endpointSpec{
		{"behind-proxy", "127.0.0.1:0", "192.0.2.0/24, 2001:db8::/32"},
	}})
	cases := []struct {
		name   string
		header http.Header
		want   int
		ip     string
	}{
		{"X-Forwarded-For", http.Header{"X-Forwarded-For": {"198.51.100.7, 192.0.2.10"}, "X-Forwarded-Proto": {"https"}}, 200, "192.0.2.10"},
		{"Forwarded, IPv6 with port", http.Header{"Forwarded": {`for="[2001:db8::1]:4711";proto=https`}}, 200, "2001:db8::1"},
		{"spoofed address left of an untrusted one", http.Header{"X-Forwarded-For": {"192.0.2.10, 198.51.100.7"}, "X-Forwarded-Proto": {"https"}}, 403, ""},
		{"plain HTTP at the proxy: no Basic", http.Header{"X-Forwarded-For": {"192.0.2.11"}, "X-Forwarded-Proto": {"http"}}, 403, ""},
		{"no forwarding header: the proxy itself", nil, 403, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			serial := fmt.Sprintf("SN-PROXY-%d", i)
			a.known(t, serial)
			cpe := newTestCPE(t, a.urls["behind-proxy"], serial)
			cpe.extra, cpe.preemptive = c.header, true
			cpe.auth.Scheme = "basic"
			if c.want == 200 {
				cpe.session(cwmp.EventPeriodic)
				_ = a.store.Flush(context.Background())
				if dev, _ := a.store.Device(context.Background(), deviceID(serial)); dev.IP != c.ip {
					t.Fatalf("device IP %q, want %q", dev.IP, c.ip)
				}
				return
			}
			if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != c.want {
				t.Fatalf("Inform %d, want %d", status, c.want)
			}
		})
	}
}

// Beyond the session limit an Inform gets 503 with Retry-After, before
// its credentials are looked at.
func TestSessionLimit(t *testing.T) {
	a := startSecure(t, secureOpts{cfg: session.Config{MaxSessions: 1, RetryAfter: 42 * time.Second}})
	a.known(t, "SN-LIM-A")
	a.known(t, "SN-LIM-B")
	first := newTestCPE(t, a.urls["http"], "SN-LIM-A")
	if status, _ := first.post(first.inform(cwmp.EventPeriodic)); status != 200 {
		t.Fatalf("first Inform %d", status)
	}
	second := newTestCPE(t, a.urls["http"], "SN-LIM-B")
	challenges := a.auth.Stats.Challenges.Load()
	grew(t, "shed", &a.mgr.Stats.Shed, 1, func() {
		if status, _ := second.post(second.inform(cwmp.EventPeriodic)); status != 503 || second.header.Get("Retry-After") != "42" {
			t.Fatalf("Inform beyond the limit: %d, Retry-After %q", status, second.header.Get("Retry-After"))
		}
	})
	if a.auth.Stats.Challenges.Load() != challenges {
		t.Fatal("a shed Inform was challenged")
	}
	if status, _ := first.post(nil); status != 204 {
		t.Fatalf("first session end %d", status)
	}
	waitIdle(t, a.mgr)
	second.session(cwmp.EventPeriodic)
}

func waitIdle(t *testing.T, m *session.Manager) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); m.Live() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("sessions still live")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Repeated failures put a device, and an address, in back-off: requests
// get 503 with Retry-After without their credentials being checked, even
// right ones; after the back-off the right ones work again.
func TestBruteForceBackoff(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	a := startSecure(t, secureOpts{auth: server.AuthConfig{FailureLimit: 3, FailureLimitIP: 8, Backoff: 2 * time.Second, BackoffMax: time.Minute, Now: clock}})
	st := &a.auth.Stats
	guess := func(serial string) int {
		cpe := newTestCPE(t, a.urls["http"], serial)
		cpe.auth.Password = "guess"
		status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic))
		return status
	}
	a.known(t, "SN-BRUTE")
	for i := range 3 {
		if status := guess("SN-BRUTE"); status != 401 {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	cpe := newTestCPE(t, a.urls["http"], "SN-BRUTE")
	wrong := st.WrongPassword.Load()
	grew(t, "backed off", &st.BackedOff, 2, func() {
		for range 2 { // the right password too
			status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic))
			if status != 503 || cpe.header.Get("Retry-After") == "" {
				t.Fatalf("during back-off: %d %q", status, cpe.header.Get("Retry-After"))
			}
		}
	})
	if st.WrongPassword.Load() != wrong || st.OK.Load() != 0 {
		t.Fatal("credentials were checked during back-off")
	}
	offset.Store(int64(3 * time.Second))
	cpe.session(cwmp.EventPeriodic) // back-off over; success forgives

	// Per address: guesses spread over many devices.
	offset.Store(int64(10 * time.Minute))
	for i := range 8 {
		if status := guess(fmt.Sprintf("SN-SPRAY-%d", i)); status != 401 {
			t.Fatalf("spray %d: %d", i, status)
		}
	}
	grew(t, "address back-off", &a.h.Stats.BackedOff, 1, func() {
		// The address is blocked before the body is even read.
		if status := guess("SN-SPRAY-9"); status != 503 {
			t.Fatalf("address in back-off: %d", status)
		}
	})
}

// The per-address rate limit refuses newcomers beyond the budget; a
// live session's own POSTs are not counted.
func TestRateLimit(t *testing.T) {
	a := startSecure(t, secureOpts{rate: 0.001, burst: 2}) // no refill within the test, however slow the machine
	a.known(t, "SN-RATE")
	cpe := newTestCPE(t, a.urls["http"], "SN-RATE")
	cpe.session(cwmp.EventBootstrap) // 401 + Inform take the two tokens; discovery is free
	grew(t, "rate limited", &a.h.Stats.RateLimited, 1, func() {
		status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic))
		if status != 503 || cpe.header.Get("Retry-After") == "" {
			t.Fatalf("beyond the rate: %d %q", status, cpe.header.Get("Retry-After"))
		}
	})
}

// serialProvider derives each device's password from its serial number,
// as vendor plugins do for factory credentials.
type serialProvider struct{ calls atomic.Int64 }

func (p *serialProvider) CPECredential(_ context.Context, q hook.CredentialQuery) (hook.CPECredential, bool, error) {
	p.calls.Add(1)
	if !strings.HasPrefix(q.Device.SerialNumber, "SN-VENDOR") {
		return hook.CPECredential{}, false, nil
	}
	if q.Device.SerialNumber == "SN-VENDOR-DOWN" {
		return hook.CPECredential{}, false, errors.New("directory unreachable")
	}
	return hook.CPECredential{Username: q.Device.SerialNumber, Password: "pw-" + q.Device.SerialNumber}, true, nil
}

func TestCredentialProvider(t *testing.T) {
	p := &serialProvider{}
	a := startSecure(t, secureOpts{auth: server.AuthConfig{Providers: []hook.CredentialProvider{p}}})
	cases := []struct {
		serial     string
		user, pass string
		want       int
	}{
		{"SN-VENDOR-1", "SN-VENDOR-1", "pw-SN-VENDOR-1", 200},
		{"SN-VENDOR-2", sharedUser, sharedPassword, 401}, // the provider's credential is the device's own
		{"SN-VENDOR-DOWN", "SN-VENDOR-DOWN", "x", 503},
		{"SN-OTHER", sharedUser, sharedPassword, 200}, // the provider has no opinion
	}
	for _, c := range cases {
		t.Run(c.serial, func(t *testing.T) {
			a.known(t, c.serial)
			cpe := newTestCPE(t, a.urls["http"], c.serial)
			cpe.auth = &authtest.Credentials{Username: c.user, Password: c.pass}
			if c.want == 200 {
				cpe.session(cwmp.EventPeriodic)
				return
			}
			if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != c.want {
				t.Fatalf("Inform %d, want %d", status, c.want)
			}
		})
	}
}

// Many devices authenticating at once, some answering on new
// connections: nonces need no per-connection state.
func TestConcurrentDigestSessions(t *testing.T) {
	a := startSecure(t, secureOpts{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
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
			cpe := newTestCPE(ft, a.urls["http"], fmt.Sprintf("SN-CD-%02d", i))
			cpe.newConnAfter401 = i%2 == 0
			cpe.auth.Algorithm = []string{"MD5", "SHA-256"}[i%2]
			cpe.session(cwmp.EventBootstrap)
			cpe.session(cwmp.EventPeriodic)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := a.auth.Stats.OK.Load(); got != 128 {
		t.Fatalf("%d authentications, want 128", got)
	}
}

// Certificates renewed on disk take effect at the next handshake after a
// reload (SIGHUP in `provisor serve`).
func TestTLSReload(t *testing.T) {
	a := startSecure(t, secureOpts{tls: &server.TLSOptions{}})
	a.known(t, "SN-RELOAD")
	before := a.tls.Leaf().SerialNumber
	serial := func() string {
		conf := a.pki.clientTLS()
		conf.ClientSessionCache = nil
		u, _ := url.Parse(a.urls["https"])
		c, err := tls.Dial("tcp", u.Host, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serial(); got != before.String() {
		t.Fatalf("serving %s, loaded %s", got, before)
	}
	// Renew: write a new certificate over the old files.
	_, key := a.pki.serverFiles("acs", false)
	if err := a.tls.Reload(); err != nil {
		t.Fatal(err)
	}
	if after := serial(); after == before.String() {
		t.Fatal("old certificate still served after reload")
	}
	// A broken file keeps the working certificate.
	if err := writeFile(key, "garbage"); err != nil {
		t.Fatal(err)
	}
	if err := a.tls.Reload(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	serial()
}

// The endpoint never mixes schemes: plain HTTP to the HTTPS port gets a
// clear refusal (MikroTik with an http:// URL, TeamsACS issue 21).
func TestPlainHTTPToTLSPort(t *testing.T) {
	a := startSecure(t, secureOpts{tls: &server.TLSOptions{}})
	u := strings.Replace(a.urls["https"], "https://", "http://", 1)
	resp, err := http.Post(u, "text/xml", bytes.NewReader(informBytes("SN-X")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTPS") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

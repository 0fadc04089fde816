package connreq

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cpe is a connection request endpoint on loopback, with the behaviours
// devices show.
type cpe struct {
	t         *testing.T
	srv       *httptest.Server
	user      string
	pass      string
	scheme    string       // "digest", "digest-noqop", "digest-sha256", "basic", "none"
	dropFirst atomic.Int32 // close this many connections without answering
	status    int          // answer once authenticated (default 204)
	delay     time.Duration
	hits      atomic.Int32
	authed    atomic.Int32
}

func newCPE(t *testing.T, scheme string) *cpe {
	c := &cpe{t: t, user: "cr-user", pass: "cr-pass", scheme: scheme, status: http.StatusNoContent}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cpe) url() string { return c.srv.URL + "/0123456789abcdef0123456789abcdef01234567" }

func (c *cpe) serve(w http.ResponseWriter, r *http.Request) {
	c.hits.Add(1)
	if c.dropFirst.Load() > 0 {
		c.dropFirst.Add(-1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if !c.check(r) {
		switch c.scheme {
		case "basic":
			w.Header().Set("WWW-Authenticate", `Basic realm="cpe"`)
		case "digest-noqop":
			w.Header().Set("WWW-Authenticate", `Digest realm=cpe, nonce=abc123`)
		case "digest-sha256":
			w.Header().Add("WWW-Authenticate", `Digest realm="cpe", nonce="n1", qop="auth", algorithm=MD5`)
			w.Header().Add("WWW-Authenticate", `Digest realm="cpe", nonce="n1", qop="auth,auth-int", algorithm=SHA-256, opaque="op"`)
		default:
			w.Header().Set("WWW-Authenticate", `Digest realm="cpe", nonce="n0", qop="auth", opaque="xyz"`)
		}
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c.authed.Add(1)
	w.WriteHeader(c.status)
}

// check verifies the Authorization header as a CPE would.
func (c *cpe) check(r *http.Request) bool {
	if c.scheme == "none" {
		return true
	}
	h := r.Header.Get("Authorization")
	if c.scheme == "basic" {
		u, p, ok := r.BasicAuth()
		return ok && u == c.user && p == c.pass
	}
	chs := parseChallenges([]string{strings.Replace(h, "Digest ", "Digest ", 1)})
	if len(chs) != 1 || chs[0].scheme != "digest" {
		return false
	}
	p := chs[0].params
	var hf func() hash.Hash = md5.New
	if p["algorithm"] == "SHA-256" {
		hf = sha256.New
	}
	if c.scheme == "digest-sha256" && p["algorithm"] != "SHA-256" {
		return false // the client must prefer the stronger algorithm
	}
	hx := func(s string) string { x := hf(); x.Write([]byte(s)); return hex.EncodeToString(x.Sum(nil)) }
	ha1 := hx(c.user + ":" + p["realm"] + ":" + c.pass)
	ha2 := hx("GET:" + p["uri"])
	if p["uri"] != r.URL.RequestURI() {
		return false
	}
	var want string
	if c.scheme == "digest-noqop" {
		if _, has := p["cnonce"]; has {
			return false // quirk C9: no qop, no cnonce
		}
		want = hx(ha1 + ":" + p["nonce"] + ":" + ha2)
	} else {
		want = hx(strings.Join([]string{ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2}, ":"))
		if c.scheme == "digest" && p["opaque"] != "xyz" {
			return false
		}
	}
	return p["username"] == c.user && p["response"] == want
}

func newClient(t *testing.T, cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.PerDevice == 0 {
		cfg.PerDevice = time.Nanosecond
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func TestOutcomes(t *testing.T) {
	cases := []struct {
		name     string
		scheme   string
		setup    func(*cpe)
		target   func(*cpe) Target
		outcome  string
		attempts int
	}{
		{name: "digest", scheme: "digest", outcome: OK, attempts: 2},
		{name: "digest without qop", scheme: "digest-noqop", outcome: OK, attempts: 2},
		{name: "digest prefers SHA-256", scheme: "digest-sha256", outcome: OK, attempts: 2},
		{name: "basic when asked", scheme: "basic", outcome: OK, attempts: 2},
		{name: "no auth, 200", scheme: "none", setup: func(c *cpe) { c.status = 200 }, outcome: OK, attempts: 1},
		{name: "wrong password", scheme: "digest", setup: func(c *cpe) { c.pass = "other" }, outcome: AuthFailed, attempts: 2},
		{name: "no credentials known", scheme: "digest", target: func(c *cpe) Target { return Target{DeviceID: "d", URL: c.url()} }, outcome: AuthFailed, attempts: 1},
		{name: "busy", scheme: "none", setup: func(c *cpe) { c.status = 503 }, outcome: Busy, attempts: 1},
		{name: "other status", scheme: "none", setup: func(c *cpe) { c.status = 404 }, outcome: HTTPError, attempts: 1},
		{name: "closed once then answered", scheme: "digest", setup: func(c *cpe) { c.dropFirst.Store(1) }, outcome: OK, attempts: 3},
		{name: "closed twice", scheme: "none", setup: func(c *cpe) { c.dropFirst.Store(2) }, outcome: Unreachable, attempts: 2},
		{name: "slow device", scheme: "none", setup: func(c *cpe) { c.delay = 600 * time.Millisecond }, outcome: Timeout, attempts: 1},
		{name: "no url", scheme: "none", target: func(*cpe) Target { return Target{DeviceID: "d"} }, outcome: NoURL},
		{name: "bad scheme", scheme: "none", target: func(*cpe) Target { return Target{DeviceID: "d", URL: "ftp://127.0.0.1/x"} }, outcome: NoURL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCPE(t, tc.scheme)
			if tc.setup != nil {
				tc.setup(c)
			}
			target := Target{DeviceID: "dev", URL: c.url(), Username: "cr-user", Password: "cr-pass"}
			if tc.target != nil {
				target = tc.target(c)
			}
			cl := newClient(t, Config{Timeout: 300 * time.Millisecond})
			r := cl.Send(context.Background(), target)
			if r.Outcome != tc.outcome || r.Attempts != tc.attempts {
				t.Fatalf("got %+v, want %s after %d attempts", r, tc.outcome, tc.attempts)
			}
			if r.At.IsZero() || (r.Outcome != OK && r.Err == "") {
				t.Fatalf("result lacks time or reason: %+v", r)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := newClient(t, Config{}).Send(context.Background(), Target{DeviceID: "d", URL: "http://" + addr + "/x"})
	if r.Outcome != Unreachable {
		t.Fatalf("%+v", r)
	}
}

func TestPerDeviceLimit(t *testing.T) {
	c := newCPE(t, "none")
	cl := newClient(t, Config{PerDevice: time.Hour})
	tgt := Target{DeviceID: "d1", URL: c.url()}
	if r := cl.Send(context.Background(), tgt); r.Outcome != OK {
		t.Fatal(r)
	}
	if r := cl.Send(context.Background(), tgt); r.Outcome != RateLimited || c.hits.Load() != 1 {
		t.Fatalf("second request: %+v, hits %d", r, c.hits.Load())
	}
	tgt.DeviceID = "d2"
	if r := cl.Send(context.Background(), tgt); r.Outcome != OK {
		t.Fatal("another device was limited")
	}
}

func TestGlobalRate(t *testing.T) {
	c := newCPE(t, "none")
	cl := newClient(t, Config{Rate: 20, Burst: 1})
	start := time.Now()
	for i := range 6 {
		if r := cl.Send(context.Background(), Target{DeviceID: fmt.Sprint(i), URL: c.url()}); r.Outcome != OK {
			t.Fatal(r)
		}
	}
	// 1 at once, then 5 at 20/s.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("6 requests at 20/s took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cl2 := newClient(t, Config{Rate: 0.001, Burst: 1})
	_ = cl2.Send(context.Background(), Target{DeviceID: "x", URL: c.url()})
	if r := cl2.Send(ctx, Target{DeviceID: "y", URL: c.url()}); r.Outcome != Cancelled {
		t.Fatalf("cancelled wait: %+v", r)
	}
}

func TestEnqueue(t *testing.T) {
	c := newCPE(t, "digest")
	cl := newClient(t, Config{Workers: 4})
	var mu sync.Mutex
	got := map[string]Result{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		id := fmt.Sprintf("dev-%d", i)
		cl.Enqueue(Target{DeviceID: id, URL: c.url(), Username: "cr-user", Password: "cr-pass"}, func(r Result) {
			mu.Lock()
			got[id] = r
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	for id, r := range got {
		if r.Outcome != OK {
			t.Errorf("%s: %+v", id, r)
		}
	}
	if len(got) != 50 || c.authed.Load() != 50 {
		t.Fatalf("%d results, %d authenticated", len(got), c.authed.Load())
	}
}

func TestEnqueueFullAndClosed(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	cl := New(Config{Workers: 1, QueueSize: 1, PerDevice: time.Nanosecond, Timeout: 5 * time.Second})
	var full atomic.Int32
	cb := func(r Result) {
		if r.Outcome == QueueFull {
			full.Add(1)
		}
	}
	for i := range 5 {
		cl.Enqueue(Target{DeviceID: fmt.Sprint(i), URL: srv.URL}, cb)
	}
	if full.Load() < 3 {
		t.Fatalf("only %d refused with a queue of 1", full.Load())
	}
	// A duplicate of a queued device is absorbed.
	cl.Close()
	var closed atomic.Bool
	if cl.Enqueue(Target{DeviceID: "late", URL: srv.URL}, func(r Result) { closed.Store(r.Outcome == Cancelled) }) || !closed.Load() {
		t.Fatal("enqueue after close")
	}
}

func TestParseChallenges(t *testing.T) {
	chs := parseChallenges([]string{
		`Digest realm="a, b", nonce="n\"1", qop="auth,auth-int", algorithm=MD5-sess, Basic realm=x`,
		`  digest   realm=plain ,nonce=nn  `,
	})
	if len(chs) != 3 {
		t.Fatalf("%+v", chs)
	}
	if chs[0].params["realm"] != "a, b" || chs[0].params["nonce"] != `n"1` || chs[0].params["algorithm"] != "MD5-sess" {
		t.Errorf("%+v", chs[0])
	}
	if chs[1].scheme != "basic" || chs[1].params["realm"] != "x" {
		t.Errorf("%+v", chs[1])
	}
	if chs[2].scheme != "digest" || chs[2].params["realm"] != "plain" || chs[2].params["nonce"] != "nn" {
		t.Errorf("%+v", chs[2])
	}
	if a := authorize([]string{`Digest realm="r", nonce="n", qop="auth-int"`}, "u", "p", "/"); a != "" {
		t.Errorf("answered an auth-int-only challenge: %s", a)
	}
	if a := authorize([]string{`Digest realm="r", nonce="n", algorithm=SHA-512-256`}, "u", "p", "/"); a != "" {
		t.Errorf("answered an unknown algorithm: %s", a)
	}
}

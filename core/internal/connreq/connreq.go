// Package connreq sends TR-069 connection requests: an HTTP GET to the
// device's ConnectionRequestURL, answering a Digest challenge (or Basic,
// when that is all the device offers) with the device's connection request
// credentials. The device answers at once and then opens a session with
// "6 CONNECTION REQUEST" (TR-069 §3.2.2).
//
// Requests are rate limited per device, so that a burst of API calls makes
// one request, and globally, so that a bulk operation on a fleet does not
// flood the network. A device that closes the connection without answering
// gets one more try (quirk C23: some devices do that, and some even open
// the session before they answer).
package connreq

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/provisor/provisor/core/internal/metrics"
)

// Outcomes of a connection request.
const (
	OK          = "ok"           // the device answered 200 or 204
	RateLimited = "rate-limited" // not sent: one went to the device moments ago
	AuthFailed  = "auth-failed"  // the device refused the credentials, or none were known
	Busy        = "busy"         // the device answered 503
	Unreachable = "unreachable"  // no connection, or closed without an answer twice
	Timeout     = "timeout"      // no answer in time
	NoURL       = "no-url"       // the device has no usable connection request URL
	HTTPError   = "http-error"   // any other status
	QueueFull   = "queue-full"   // the asynchronous queue was full
	Cancelled   = "cancelled"    // the caller's context ended first
)

// Config tunes a Client. Zero fields take the defaults noted.
type Config struct {
	// Timeout bounds each HTTP attempt (default 3s; TR-069 devices answer
	// at once or not at all).
	Timeout time.Duration
	// PerDevice is the least time between two requests to one device
	// (default 5s). A request sooner is not sent: the session the earlier
	// one started runs everything queued for the device anyway.
	PerDevice time.Duration
	// Rate and Burst bound requests per second across all devices
	// (defaults 50 and 100).
	Rate  float64
	Burst int
	// Workers is how many asynchronous requests run at once (default 32);
	// QueueSize how many may wait (default 100000).
	Workers   int
	QueueSize int
	// Transport overrides the HTTP transport, for tests.
	Transport http.RoundTripper
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.PerDevice <= 0 {
		c.PerDevice = 5 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Burst <= 0 {
		c.Burst = max(1, int(2*c.Rate))
	}
	if c.Workers <= 0 {
		c.Workers = 32
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 100_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Target is a device to wake up.
type Target struct {
	DeviceID string
	URL      string
	Username string
	Password string
	// Resolve, when set, supplies the credentials just before the request
	// goes out, so that queueing many devices costs no credential lookups
	// up front.
	Resolve func(ctx context.Context) (username, password string, err error)
}

// Result is what happened to one connection request.
type Result struct {
	Outcome    string
	HTTPStatus int
	// Attempts counts HTTP requests made, the challenge round trip and the
	// retry after a dropped connection included.
	Attempts int
	Err      string
	At       time.Time
	Duration time.Duration
}

// Client sends connection requests. It is safe for concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	bucket bucket

	mu      sync.Mutex
	last    map[string]time.Time // when each device was last sent a request
	pending map[string]bool      // devices in the asynchronous queue
	closed  bool

	queue  chan job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type job struct {
	t    Target
	done func(Result)
}

// New starts a client; Close stops it.
func New(cfg Config) *Client {
	cfg.defaults()
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{
			// One GET per device: nothing to keep alive, and a stale pooled
			// connection would only look like a device closing on us.
			DisableKeepAlives:      true,
			DialContext:            (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: cfg,
		http: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a device has no business redirecting a wake-up call
		}},
		bucket:  bucket{rate: cfg.Rate, burst: float64(cfg.Burst), tokens: float64(cfg.Burst), at: cfg.Now(), now: cfg.Now},
		last:    map[string]time.Time{},
		pending: map[string]bool{},
		queue:   make(chan job, cfg.QueueSize),
		ctx:     ctx, cancel: cancel,
	}
	for range cfg.Workers {
		c.wg.Go(c.work)
	}
	return c
}

// Close stops the workers; queued requests are dropped with Cancelled.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	close(c.queue)
	c.wg.Wait()
}

func (c *Client) work() {
	for j := range c.queue {
		c.mu.Lock()
		delete(c.pending, j.t.DeviceID)
		c.mu.Unlock()
		r := c.Send(c.ctx, j.t)
		if j.done != nil {
			j.done(r)
		}
	}
}

// Enqueue sends a request in the background and calls done (if not nil)
// with its result. A device already waiting in the queue is not queued
// twice and done is not called for the duplicate. It reports false, after
// calling done with QueueFull, when the queue is full or the client closed.
func (c *Client) Enqueue(t Target, done func(Result)) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if done != nil {
			done(Result{Outcome: Cancelled, At: c.cfg.Now(), Err: "connection request client closed"})
		}
		return false
	}
	if c.pending[t.DeviceID] {
		c.mu.Unlock()
		return true
	}
	select {
	case c.queue <- job{t, done}:
		c.pending[t.DeviceID] = true
		c.mu.Unlock()
		return true
	default:
		c.mu.Unlock()
		metrics.ConnectionRequest(QueueFull)
		if done != nil {
			done(Result{Outcome: QueueFull, At: c.cfg.Now(), Err: "connection request queue full"})
		}
		return false
	}
}

// QueueLen is the number of requests waiting.
func (c *Client) QueueLen() int { return len(c.queue) }

// Send makes one connection request and waits for its outcome. It waits
// for the global rate limit, but a device asked moments ago is not asked
// again (RateLimited).
func (c *Client) Send(ctx context.Context, t Target) Result {
	start := c.cfg.Now()
	r := c.send(ctx, t)
	r.At, r.Duration = start, c.cfg.Now().Sub(start)
	metrics.ConnectionRequest(r.Outcome)
	return r
}

func (c *Client) send(ctx context.Context, t Target) Result {
	u, err := url.Parse(t.URL)
	if t.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{Outcome: NoURL, Err: "no usable connection request URL: " + quoteURL(t.URL)}
	}
	if !c.claim(t.DeviceID) {
		return Result{Outcome: RateLimited, Err: "a connection request went to the device less than " + c.cfg.PerDevice.String() + " ago"}
	}
	if err := c.bucket.wait(ctx); err != nil {
		c.release(t.DeviceID)
		return Result{Outcome: Cancelled, Err: err.Error()}
	}
	if t.Resolve != nil {
		var err error
		if t.Username, t.Password, err = t.Resolve(ctx); err != nil {
			return Result{Outcome: AuthFailed, Err: "credentials: " + err.Error()}
		}
	}
	var r Result
	authz := ""
	retried := false
	for {
		status, hdr, err := c.get(ctx, t.URL, authz)
		r.Attempts++
		if err != nil {
			if closedEarly(err) && !retried {
				retried = true
				continue
			}
			r.Err = err.Error()
			switch {
			case ctx.Err() != nil:
				r.Outcome = Cancelled
			case isTimeout(err):
				r.Outcome = Timeout
			default:
				r.Outcome = Unreachable
			}
			return r
		}
		r.HTTPStatus = status
		switch {
		case status == http.StatusOK || status == http.StatusNoContent:
			r.Outcome = OK
			return r
		case status == http.StatusServiceUnavailable:
			r.Outcome, r.Err = Busy, "the device is busy (503)"
			return r
		case status == http.StatusUnauthorized && authz == "":
			if t.Username == "" && t.Password == "" {
				r.Outcome, r.Err = AuthFailed, "the device asks for credentials and none are known for it"
				return r
			}
			authz = authorize(hdr.Values("WWW-Authenticate"), t.Username, t.Password, requestURI(u))
			if authz == "" {
				r.Outcome, r.Err = AuthFailed, "no supported challenge in "+quoteURL(strings.Join(hdr.Values("WWW-Authenticate"), "; "))
				return r
			}
		case status == http.StatusUnauthorized:
			r.Outcome, r.Err = AuthFailed, "the device refused the credentials"
			return r
		default:
			r.Outcome, r.Err = HTTPError, "unexpected status "+http.StatusText(status)
			return r
		}
	}
}

// authorize picks a challenge: Digest first (the one TR-069 requires),
// strongest algorithm first, Basic only when nothing else is offered.
func authorize(headers []string, user, pass, uri string) string {
	chs := parseChallenges(headers)
	for _, alg := range []string{"SHA-256", "SHA-256-sess", "MD5", "MD5-sess", ""} {
		for _, ch := range chs {
			if ch.scheme == "digest" && strings.EqualFold(ch.params["algorithm"], alg) {
				if a, ok := digestAuthorization(ch, user, pass, uri); ok {
					return a
				}
			}
		}
	}
	for _, ch := range chs {
		if ch.scheme == "basic" {
			return basicAuthorization(user, pass)
		}
	}
	return ""
}

func requestURI(u *url.URL) string {
	if s := u.RequestURI(); s != "" {
		return s
	}
	return "/"
}

func (c *Client) get(ctx context.Context, target, authz string) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", "provisor-acs")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// closedEarly reports an error of a connection the device closed before
// answering.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// claim records a request to the device unless one went out within
// PerDevice.
func (c *Client) claim(deviceID string) bool {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.last[deviceID]; ok && now.Sub(last) < c.cfg.PerDevice {
		return false
	}
	if len(c.last) >= 4096 {
		// Forget devices whose window has passed, so the map stays the
		// size of the recent burst, not of the fleet.
		for id, t := range c.last {
			if now.Sub(t) >= c.cfg.PerDevice {
				delete(c.last, id)
			}
		}
	}
	c.last[deviceID] = now
	return true
}

// release forgets a claim whose request was never sent.
func (c *Client) release(deviceID string) {
	c.mu.Lock()
	delete(c.last, deviceID)
	c.mu.Unlock()
}

func quoteURL(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return `"` + s + `"`
}

// bucket is a token bucket: rate tokens per second, at most burst saved.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	at     time.Time
	now    func() time.Time
}

func (b *bucket) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		now := b.now()
		b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
		b.at = now
		if b.tokens >= 1 {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		need := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(max(need, time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// Package server is the CPE-facing HTTP endpoint: it accepts the POSTs of
// CWMP sessions, bounds and decompresses their bodies, tracks the TCP
// connection and cookies each came with, and hands them to the session
// engine. It also guards the engine: source-address allow-lists per
// listener, trusted-proxy handling, a per-address rate limit, and CPE
// authentication (Digest, Basic, client certificates), which the engine
// asks for through session.Request.Authorize once it knows which device a
// POST is for.
package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/soap"
)

// Handler serves CWMP over HTTP.
type Handler struct {
	Sessions *session.Manager
	Limits   soap.Limits
	// Path restricts the endpoint to one URL path; empty accepts any.
	Path string
	Log  *slog.Logger

	// Auth authenticates CPEs; nil admits every CPE, for labs and tests.
	Auth *Auth
	// TrustedProxies are the peers whose Forwarded and X-Forwarded-For
	// headers say who the client is.
	TrustedProxies []netip.Prefix
	// RateLimit caps the requests per second from one source address (one
	// /64 for IPv6) that do not belong to a live session, with bursts of
	// RateBurst; beyond it: 503 with Retry-After. 0 means no limit.
	RateLimit float64
	RateBurst int
	// TableSize bounds the per-address rate-limit table. Default 100000.
	TableSize int
	// Stats counts refusals.
	Stats Stats

	nextConn atomic.Uint64
	conns    sync.Map // net.Conn -> *connInfo
	initOnce sync.Once
	limiter  *rateLimiter
	denyLog  logGate
	rateLog  logGate
}

// Endpoint is one listener of the CPE endpoint: plain HTTP or HTTPS, with
// its own source-address allow-list. TR-069 CPEs are configured with one
// URL, so each scheme gets its own port.
type Endpoint struct {
	// Name ("http", "https") appears in logs.
	Name string
	// TLS makes the endpoint HTTPS.
	TLS *TLS
	// Allow lists the source addresses (CIDRs) admitted; empty admits all.
	Allow []netip.Prefix
}

type endpointKey struct{}

// NewEndpointServer makes the http.Server of an endpoint; serve it on
// Listen's listener.
func (h *Handler) NewEndpointServer(ep *Endpoint) *http.Server {
	srv := h.NewServer("")
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(h.ConnContext(ctx, c), endpointKey{}, ep)
	}
	if ep.TLS != nil {
		srv.TLSConfig = ep.TLS.Config
	}
	return srv
}

// ListenTCP opens a TCP listener for a CPE endpoint. Its connections get
// no TCP keep-alive probes: a CWMP session lasts seconds, a dead peer is
// found by the session's exchange timeout and the server's idle timeout,
// and configuring keep-alive costs four system calls per connection,
// which for a periodic session (one connection each) is ~1.5% of the
// ACS's CPU.
func ListenTCP(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}

// Listen wraps a TCP listener for the endpoint: connections from outside
// its allow-list are closed at once, and HTTPS endpoints speak TLS.
func (h *Handler) Listen(ln net.Listener, ep *Endpoint) net.Listener {
	if len(ep.Allow) > 0 {
		ln = &filterListener{Listener: ln, allow: ep.Allow, trusted: h.TrustedProxies, denied: &h.Stats.DeniedConns,
			onDeny: func(a netip.Addr) {
				if h.denyLog.allow(time.Now(), time.Second) {
					h.logger().Warn("connection from outside the allow-list closed", "endpoint", ep.Name, "ip", a, "denied_total", h.Stats.DeniedConns.Load())
				}
			}}
	}
	if ep.TLS != nil {
		ln = tls.NewListener(ln, ep.TLS.Config)
	}
	return ln
}

func (h *Handler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

func (h *Handler) init() {
	if h.RateLimit > 0 {
		h.limiter = newRateLimiter(h.RateLimit, h.RateBurst, h.TableSize)
	}
}

type connInfo struct {
	id     uint64
	closed chan struct{}
}

type connKey struct{}

// ConnContext tags each request with its TCP connection; install it as
// http.Server.ConnContext.
func (h *Handler) ConnContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{id: h.nextConn.Add(1), closed: make(chan struct{})}
	h.conns.Store(c, ci)
	return context.WithValue(ctx, connKey{}, ci)
}

// ConnState closes a connection's channel when it ends; install it as
// http.Server.ConnState.
func (h *Handler) ConnState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	if v, ok := h.conns.LoadAndDelete(c); ok {
		ci := v.(*connInfo)
		close(ci.closed)
		h.Sessions.ConnClosed(ci.id)
	}
}

// NewServer wires the handler into an http.Server.
func (h *Handler) NewServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ConnContext:       h.ConnContext,
		ConnState:         h.ConnState,
		ReadHeaderTimeout: 10 * time.Second, // a CPE that cannot send headers in that time is not a CPE
		MaxHeaderBytes:    64 << 10,
		// Longer than any wait for a CPE's next POST; an idle connection
		// beyond it holds memory for nothing.
		IdleTimeout: 2 * time.Minute,
		// Failed TLS handshakes and the like, one per scanner on the
		// internet: useful when debugging a CPE, noise otherwise.
		ErrorLog: slog.NewLogLogger(h.logger().Handler(), slog.LevelDebug),
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.logger()
	h.initOnce.Do(h.init)
	if h.Path != "" && r.URL.Path != h.Path {
		problem(w, http.StatusNotFound, "not found", "the CWMP endpoint is "+h.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		problem(w, http.StatusMethodNotAllowed, "method not allowed", "CWMP sessions use POST")
		return
	}
	cl := clientOf(r, h.TrustedProxies)
	ip := remoteIP(r)
	if cl.addr.IsValid() {
		ip = cl.addr.String()
	}
	ep, _ := r.Context().Value(endpointKey{}).(*Endpoint)
	if ep != nil && len(ep.Allow) > 0 && !contains(ep.Allow, cl.addr) {
		// Only a proxied client gets this far: direct peers outside the
		// list were closed at accept.
		h.Stats.DeniedRequests.Add(1)
		if h.denyLog.allow(time.Now(), time.Second) {
			log.Warn("request from outside the allow-list refused", "endpoint", ep.Name, "ip", ip, "via", cl.peer)
		}
		w.Header().Set("Connection", "close")
		problem(w, http.StatusForbidden, "forbidden", "source address not allowed")
		return
	}
	req := &session.Request{RemoteIP: ip, Cookies: sessionCookies(r.Header.Values("Cookie"))}
	if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
		req.ConnID, req.ConnClosed = ci.id, ci.closed
	}
	if (h.Auth != nil || h.limiter != nil) && !h.Sessions.Bound(req) {
		// Newcomers pay for the checks; a live session's own POSTs were
		// admitted with its Inform and must not be cut off mid-session.
		if refused := h.admit(w, cl.addr, ip); refused {
			return
		}
	}
	body, err := soap.ReadBody(r.Body, r.Header.Get("Content-Encoding"), r.Header.Get("Content-Type"), h.Limits)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case soap.IsLimit(err):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, soap.ErrEncoding):
			status = http.StatusUnsupportedMediaType
		}
		log.Warn("request body refused", "remote", ip, "err", err, "status", status)
		w.Header().Set("Connection", "close")
		problem(w, status, http.StatusText(status), err.Error())
		return
	}
	req.Body = body
	if h.Auth != nil {
		ar := &authRequest{r: r, ip: cl.addr, tls: r.TLS != nil || (cl.proxied && cl.proto == "https")}
		if ep != nil && ep.TLS != nil && ep.TLS.ClientCerts() && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			ar.cert = r.TLS.PeerCertificates[0] // verified in the handshake
		}
		req.Authorize = func(ctx context.Context, t session.Target) (session.AuthInfo, *session.Response) {
			return h.Auth.authorize(ctx, ar, t)
		}
	}
	resp := h.Sessions.Handle(r.Context(), req)
	hdr := w.Header()
	for k, v := range resp.Header {
		hdr[k] = append(hdr[k], v...)
	}
	if resp.SessionID != "" {
		hdr.Set("Set-Cookie", session.CookieName+"="+resp.SessionID+"; Path=/; HttpOnly")
	}
	if resp.Close {
		hdr.Set("Connection", "close")
	}
	if resp.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.Itoa(resp.RetryAfter))
	}
	switch {
	case len(resp.Body) > 0:
		hdr.Set("Content-Type", soap.ContentType)
		out := resp.Body
		if strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "gzip") {
			// Answer in the coding the CPE chose for its own message.
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(out)
			_ = zw.Close()
			out = b.Bytes()
			hdr.Set("Content-Encoding", "gzip")
		}
		hdr.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(resp.Status)
		_, _ = w.Write(out)
	case resp.Status >= 400:
		problem(w, resp.Status, http.StatusText(resp.Status), resp.Problem)
	default:
		hdr.Set("Content-Length", "0")
		w.WriteHeader(resp.Status)
	}
}

// admit applies the per-address checks to a request that does not belong
// to a live session; it reports true when it has refused it.
func (h *Handler) admit(w http.ResponseWriter, addr netip.Addr, ip string) bool {
	now := time.Now()
	key := addrKey(addr)
	if h.Auth != nil {
		if wait, blocked := h.Auth.fails.blocked("ip:"+key, h.Auth.cfg.Now()); blocked {
			h.Stats.BackedOff.Add(1)
			if h.Auth.backoffLog.allow(now, time.Second) {
				h.logger().Warn("address in authentication back-off; refused without checking credentials", "ip", ip, "retry_in", wait.Round(time.Second))
			}
			refuse(w, wait, "too many failed authentications from this address; retry later")
			return true
		}
	}
	if h.limiter != nil {
		if ok, wait := h.limiter.allow(key, now); !ok {
			h.Stats.RateLimited.Add(1)
			if h.rateLog.allow(now, time.Second) {
				h.logger().Warn("request rate limit reached; refused with 503", "ip", ip, "limited_total", h.Stats.RateLimited.Load())
			}
			refuse(w, wait, "too many requests from this address; retry later")
			return true
		}
	}
	return false
}

func refuse(w http.ResponseWriter, wait time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
	w.Header().Set("Connection", "close")
	problem(w, http.StatusServiceUnavailable, "service unavailable", detail)
}

// sessionCookies extracts provisor_session values from Cookie headers,
// accepting commas as separators too, as some CPEs join cookies that way.
func sessionCookies(headers []string) []string {
	var out []string
	for _, h := range headers {
		for part := range strings.FieldsFuncSeq(h, func(r rune) bool { return r == ';' || r == ',' }) {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.TrimSpace(name) == session.CookieName {
				out = append(out, strings.Trim(strings.TrimSpace(val), `"`))
			}
		}
	}
	return out
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// problemDoc is an RFC 9457 problem document; a struct rather than a map
// encodes in a fraction of the time, which matters for the 401 that
// starts every Digest-authenticated session.
type problemDoc struct {
	Detail string `json:"detail"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	Type   string `json:"type"`
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, title, detail string) {
	body, _ := json.Marshal(problemDoc{Detail: detail, Status: status, Title: title, Type: "about:blank"})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

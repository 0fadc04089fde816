// Package server is the CPE-facing HTTP endpoint: it accepts the POSTs of
// CWMP sessions, bounds and decompresses their bodies, tracks the TCP
// connection and cookies each came with, and hands them to the session
// engine.
package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
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

	nextConn atomic.Uint64
	conns    sync.Map // net.Conn -> *connInfo
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
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	if h.Path != "" && r.URL.Path != h.Path {
		problem(w, http.StatusNotFound, "not found", "the CWMP endpoint is "+h.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		problem(w, http.StatusMethodNotAllowed, "method not allowed", "CWMP sessions use POST")
		return
	}
	ip := remoteIP(r)
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
	req := &session.Request{RemoteIP: ip, Body: body, Cookies: sessionCookies(r.Header.Values("Cookie"))}
	if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
		req.ConnID, req.ConnClosed = ci.id, ci.closed
	}
	resp := h.Sessions.Handle(r.Context(), req)
	hdr := w.Header()
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

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

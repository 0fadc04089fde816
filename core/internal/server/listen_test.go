package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// TestProblemResponse serves problem documents over real HTTP on a
// ListenTCP listener: the body is what the former map encoding produced,
// and it comes with a Content-Length rather than chunked.
func TestProblemResponse(t *testing.T) {
	tests := []struct {
		status        int
		title, detail string
	}{
		{http.StatusUnauthorized, "unauthorized", "authentication required"},
		{http.StatusServiceUnavailable, "service unavailable", `quotes " and <tags> & more`},
		{http.StatusNotFound, "not found", ""},
	}
	ln, err := ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		tc := tests[i]
		problem(w, tc.status, tc.title, tc.detail)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for i, tc := range tests {
		resp, err := http.Get("http://" + ln.Addr().String() + "/?i=" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(map[string]any{"type": "about:blank", "title": tc.title, "status": tc.status, "detail": tc.detail})
		if resp.StatusCode != tc.status || !bytes.Equal(body, want.Bytes()) {
			t.Errorf("%d: got %d %q, want %d %q", i, resp.StatusCode, body, tc.status, want.Bytes())
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("%d: Content-Length %d, Transfer-Encoding %v for %d bytes", i, resp.ContentLength, resp.TransferEncoding, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%d: Content-Type %q", i, ct)
		}
	}
}

// TestListenTCPNoKeepAlive checks that accepted connections are left
// without TCP keep-alive probes.
func TestListenTCPNoKeepAlive(t *testing.T) {
	ln, err := ListenTCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	on, err := keepAliveOn(c.(*net.TCPConn))
	if err != nil {
		t.Skip(err)
	}
	if on {
		t.Error("accepted connection has TCP keep-alive on")
	}
}

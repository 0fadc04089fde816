package sim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/soap"
)

// sessConn is the device's end of one CWMP session. It keeps one TCP
// connection for all the session's POSTs and returns the session's
// cookies, which is what TR-069 asks of a CPE and what an ACS that ties
// sessions to connections relies on. A pooled http.Transport shared by all
// devices would hand one device's connection to another between two POSTs
// of a session, something no real CPE does, so sessions do not use one;
// file transfers, which have no such tie, share the simulator's Transport.
type sessConn struct {
	sim  *Simulator
	u    *url.URL
	addr string
	ctx  context.Context

	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	stopCtx func() bool
	reused  bool

	quirks    Quirks
	userAgent string
	user      string
	pass      string
	cookies   []*http.Cookie
	auth      *challenge
	nc        uint32
	cnonce    string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// maxReply bounds what the device reads from the ACS.
const maxReply = 16 << 20

func newSessConn(ctx context.Context, s *Simulator, acsURL string, q Quirks, ua, user, pass, cnonce string) (*sessConn, error) {
	u, err := url.Parse(acsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &sessionError{kind: ErrProtocol, err: fmt.Errorf("bad ACS URL %q", acsURL)}
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	return &sessConn{sim: s, u: u, addr: addr, ctx: ctx, quirks: q, userAgent: ua, user: user, pass: pass, cnonce: cnonce}, nil
}

func (c *sessConn) dial() error {
	conn, err := c.sim.dialer.DialContext(c.ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if c.u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: c.u.Hostname(), InsecureSkipVerify: c.sim.cfg.Insecure}) //nolint:gosec // opt-in for lab ACSs
		if err := tc.HandshakeContext(c.ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 4096)
	c.bw = bufio.NewWriterSize(conn, 4096)
	c.reused = false
	cc := conn
	c.stopCtx = context.AfterFunc(c.ctx, func() { cc.Close() })
	return nil
}

func (c *sessConn) close() {
	if c.conn == nil {
		return
	}
	c.stopCtx()
	c.conn.Close()
	c.conn = nil
}

// post sends one message (nil for the empty POST) and returns the ACS's
// reply. A 401 is answered once with the device's credentials; a
// connection the ACS closed between two POSTs is reopened once.
func (c *sessConn) post(body []byte) (*reply, error) {
	authTried := false
	for attempt := 0; attempt < 4; attempt++ {
		if c.conn == nil {
			if err := c.dial(); err != nil {
				return nil, err
			}
		}
		reused := c.reused
		rep, err := c.roundTrip(body)
		if err != nil {
			c.close()
			if reused && attempt == 0 && !errors.Is(err, context.Canceled) && !isTimeout(err) {
				continue
			}
			return nil, err
		}
		if rep.status == http.StatusUnauthorized && c.user != "" {
			ch, ok := pickChallenge(parseChallenges(rep.header.Values("WWW-Authenticate")))
			if ok && (!authTried || ch.params["stale"] == "true") {
				authTried = true
				c.auth, c.nc = &ch, 0
				continue
			}
		}
		return rep, nil
	}
	return nil, errors.New("too many attempts")
}

func (c *sessConn) roundTrip(body []byte) (*reply, error) {
	req := &http.Request{
		Method: http.MethodPost, URL: c.u, Host: c.u.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, ContentLength: int64(len(body)),
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
		req.Header.Set("SOAPAction", "")
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.quirks.ConnPerPost {
		req.Close = true
	}
	if len(c.cookies) > 0 {
		parts := make([]string, len(c.cookies))
		for i, ck := range c.cookies {
			parts[i] = ck.Name + "=" + ck.Value
		}
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	if c.auth != nil {
		c.nc++
		h, err := authorization(*c.auth, http.MethodPost, c.u.RequestURI(), c.user, c.pass, c.nc, c.cnonce)
		if err != nil {
			return nil, &sessionError{kind: ErrAuth, err: err}
		}
		req.Header.Set("Authorization", h)
	}
	deadline := time.Now().Add(c.sim.cfg.Timeout)
	_ = c.conn.SetDeadline(deadline)
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return nil, err
	}
	data, err := soap.ReadBody(resp.Body, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"), soap.Limits{MaxBytes: maxReply})
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if !c.quirks.NoCookies {
		c.keepCookies(resp.Cookies())
	}
	if resp.Close || c.quirks.ConnPerPost {
		c.close()
	} else {
		c.reused = true
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// keepCookies stores what the ACS set. The device talks to one ACS only,
// so domains are not checked; the cookies last for the session.
func (c *sessConn) keepCookies(set []*http.Cookie) {
	for _, ck := range set {
		i := 0
		for ; i < len(c.cookies); i++ {
			if c.cookies[i].Name == ck.Name {
				break
			}
		}
		expired := ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now()))
		switch {
		case expired && i < len(c.cookies):
			c.cookies = append(c.cookies[:i], c.cookies[i+1:]...)
		case expired:
		case i < len(c.cookies):
			c.cookies[i] = ck
		default:
			c.cookies = append(c.cookies, ck)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

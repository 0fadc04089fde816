// Package authtest is the CPE side of HTTP authentication, for tests and
// tools that play a device against the ACS: it answers Basic and Digest
// challenges (RFC 7617, RFC 7616 with MD5, SHA-256 and their -sess forms,
// with qop=auth or the RFC 2069 form without it).
package authtest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/provisor/provisor/core/internal/server"
)

// Credentials say how a device answers a challenge.
type Credentials struct {
	Username, Password string
	// Scheme is "basic" or "digest"; empty takes Digest when offered.
	Scheme string
	// Algorithm picks a Digest algorithm ("MD5", "SHA-256", "MD5-sess",
	// "SHA-256-sess"): the challenge for its base algorithm is answered
	// with this name. Empty answers the first Digest challenge.
	Algorithm string
	// NoQop answers without qop, cnonce and nc, as RFC 2069 clients do.
	NoQop bool
}

// Challenge is one WWW-Authenticate challenge.
type Challenge struct {
	Scheme string
	Params map[string]string
}

// Challenges parses the WWW-Authenticate headers of a response, one
// challenge per header line as Provisor writes them.
func Challenges(h http.Header) []Challenge {
	var out []Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		a, err := server.ParseAuthorization(v)
		if err == nil {
			out = append(out, Challenge{Scheme: a.Scheme, Params: a.Params})
		}
	}
	return out
}

// Answer computes the Authorization header for the challenges. nc is the
// nonce count to send (1 for the first use of a nonce).
func (c Credentials) Answer(chs []Challenge, method, uri string, nc uint32) (string, Challenge, error) {
	if strings.EqualFold(c.Scheme, "basic") {
		return c.Basic(), Challenge{Scheme: "basic"}, nil
	}
	base := strings.TrimSuffix(strings.ToUpper(c.Algorithm), "-SESS")
	for _, ch := range chs {
		if ch.Scheme != "digest" {
			continue
		}
		if base != "" && !strings.EqualFold(ch.Params["algorithm"], base) {
			continue
		}
		h, err := c.Digest(ch, method, uri, nc, "")
		return h, ch, err
	}
	if c.Scheme == "" {
		for _, ch := range chs {
			if ch.Scheme == "basic" {
				return c.Basic(), ch, nil
			}
		}
	}
	return "", Challenge{}, errors.New("authtest: no challenge this device can answer")
}

// Basic returns the Basic Authorization header.
func (c Credentials) Basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
}

// Digest answers one Digest challenge. An empty cnonce gets a random one.
func (c Credentials) Digest(ch Challenge, method, uri string, nc uint32, cnonce string) (string, error) {
	alg := ch.Params["algorithm"]
	if c.Algorithm != "" {
		alg = c.Algorithm
	}
	var h func() hash.Hash
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "", "MD5":
		h = md5.New
	case "SHA-256":
		h = sha256.New
	default:
		return "", fmt.Errorf("authtest: algorithm %q", alg)
	}
	if cnonce == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cnonce = hex.EncodeToString(b[:])
	}
	realm, nonce := ch.Params["realm"], ch.Params["nonce"]
	ha1 := hexHash(h, c.Username, realm, c.Password)
	if strings.HasSuffix(strings.ToUpper(alg), "-SESS") {
		ha1 = hexHash(h, ha1, nonce, cnonce)
	}
	ha2 := hexHash(h, method, uri)
	qop := ""
	if !c.NoQop && strings.Contains(ch.Params["qop"], "auth") {
		qop = "auth"
	}
	ncs := fmt.Sprintf("%08x", nc)
	var resp string
	if qop != "" {
		resp = hexHash(h, ha1, nonce, ncs, cnonce, qop, ha2)
	} else {
		resp = hexHash(h, ha1, nonce, ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`, c.Username, realm, nonce, uri, resp)
	if alg != "" {
		fmt.Fprintf(&b, ", algorithm=%s", alg)
	}
	if qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce="%s"`, qop, ncs, cnonce)
	}
	if op, ok := ch.Params["opaque"]; ok {
		fmt.Fprintf(&b, `, opaque="%s"`, op)
	}
	return b.String(), nil
}

func hexHash(h func() hash.Hash, parts ...string) string {
	x := h()
	x.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(x.Sum(nil))
}

// Transport answers 401 challenges once per request and retries, keeping
// the last Digest challenge to answer later requests without a round trip
// (incrementing the nonce count), as well-behaved CPEs do.
type Transport struct {
	Base  http.RoundTripper // nil: http.DefaultTransport
	Creds Credentials

	mu   sync.Mutex
	last *Challenge
	nc   uint32
}

// RoundTrip implements http.RoundTripper. Requests with a body need
// GetBody (http.NewRequest sets it for in-memory bodies).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	send := func(auth string) (*http.Response, error) {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return base.RoundTrip(r)
	}
	t.mu.Lock()
	auth := ""
	if t.last != nil {
		t.nc++
		auth, _ = t.Creds.Digest(*t.last, req.Method, req.URL.RequestURI(), t.nc, "")
	}
	t.mu.Unlock()
	resp, err := send(auth)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	chs := Challenges(resp.Header)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.mu.Lock()
	t.nc = 1
	auth, ch, err := t.Creds.Answer(chs, req.Method, req.URL.RequestURI(), t.nc)
	if err == nil && ch.Scheme == "digest" {
		t.last = &ch
	}
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return send(auth)
}

func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

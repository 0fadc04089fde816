package server

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Nonces are stateless until used: each carries its issue time, 8 random
// bytes and an HMAC of both under a key that lives as long as the process.
// So a CPE that answers the 401 on a new TCP connection (AVM FritzBox and
// others) is served as well as one that stays, with no per-connection or
// per-challenge memory, and a flood of unanswered challenges costs
// nothing. Memory is spent only on nonces that authenticated someone, to
// refuse their replay.
//
// A nonce from another process (a restart, another node) fails the HMAC
// and is answered like an expired one, with stale=true: a CPE with the
// right password retries with a fresh nonce without counting as a failed
// login.

const (
	nonceRawLen = 8 + 8 + 16 // time, random, MAC
	nonceLen    = 2 * nonceRawLen
)

type nonces struct {
	key      [32]byte
	macs     sync.Pool // HMAC hashers keyed with key
	lifetime time.Duration
	// used holds, for every nonce that authenticated a request, the
	// highest nonce count seen (qop=auth) or that it was used (no qop).
	used *table[nonceUse]
}

type nonceUse struct {
	nc      uint64
	expires time.Time
}

func newNonces(lifetime time.Duration, size int) *nonces {
	n := &nonces{lifetime: lifetime}
	_, _ = rand.Read(n.key[:])
	n.used = newTable(size, func(u *nonceUse, now time.Time) bool { return now.After(u.expires) })
	return n
}

// mac returns the first 16 bytes of HMAC-SHA256(key, b) in out.
func (n *nonces) mac(b []byte, out *[sha256.Size]byte) []byte {
	m, _ := n.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, n.key[:])
	}
	m.Reset()
	m.Write(b)
	sum := m.Sum(out[:0])[:16]
	n.macs.Put(m)
	return sum
}

func (n *nonces) issue(now time.Time) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(raw[8:16])
	var sum [sha256.Size]byte
	copy(raw[16:], n.mac(raw[:16], &sum))
	return hex.EncodeToString(raw[:])
}

// issued returns when the nonce was made, and false for a nonce this
// process did not make.
func (n *nonces) issued(nonce string) (time.Time, bool) {
	if len(nonce) != nonceLen {
		return time.Time{}, false
	}
	var raw [nonceRawLen]byte
	if _, err := hex.Decode(raw[:], []byte(nonce)); err != nil {
		return time.Time{}, false
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(raw[16:], n.mac(raw[:16], &sum)) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8]))), true
}

// use records one use of a nonce and reports false for a replay: with
// qop, a nonce count not above the highest seen; without qop, any second
// use (RFC 2069 digests have no counter, so each nonce is good once).
func (n *nonces) use(nonce string, nc uint64, withQop bool, issued, now time.Time) bool {
	fresh := false
	n.used.do(nonce, now, true, func(u *nonceUse) {
		if u.expires.IsZero() {
			u.expires = issued.Add(n.lifetime)
			u.nc = nc
			fresh = true
			return
		}
		if withQop && nc > u.nc {
			u.nc = nc
			fresh = true
		}
	})
	return fresh
}

// digestRequest is the part of a Digest Authorization that the response
// is computed from.
type digestRequest struct {
	username, realm, nonce, uri, response string
	algorithm, qop, nc, cnonce            string
}

func digestRequestOf(p map[string]string) digestRequest {
	return digestRequest{
		username: p["username"], realm: p["realm"], nonce: p["nonce"], uri: p["uri"],
		response: strings.ToLower(p["response"]), algorithm: p["algorithm"],
		qop: strings.ToLower(p["qop"]), nc: p["nc"], cnonce: p["cnonce"],
	}
}

// ncValue parses the nonce count: eight hex digits by the RFC, fewer from
// some clients.
func (d *digestRequest) ncValue() (uint64, bool) {
	if d.nc == "" || len(d.nc) > 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(d.nc, 16, 64)
	return v, err == nil
}

// expected computes the response a client with this HA1 must send
// (RFC 7616 §3.4.1; RFC 2069 when there is no qop). ok is false for an
// algorithm or qop Provisor does not offer.
func (d *digestRequest) expected(ha1, method string) (string, bool) {
	h := digestAlgOf(d.algorithm)
	if h == algUnsupported {
		return "", false
	}
	if strings.HasSuffix(strings.ToUpper(d.algorithm), "-SESS") {
		ha1 = h.hex(ha1, d.nonce, d.cnonce)
	}
	ha2 := h.hex(method, d.uri)
	switch d.qop {
	case "auth":
		return h.hex(ha1, d.nonce, d.nc, d.cnonce, "auth", ha2), true
	case "":
		return h.hex(ha1, d.nonce, ha2), true
	}
	return "", false
}

// verify compares the client's response with the expected one in constant
// time.
func (d *digestRequest) verify(ha1, method string) bool {
	want, ok := d.expected(ha1, method)
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(d.response)) == 1
}

// digestAlg is a Digest hash function.
type digestAlg uint8

const (
	algUnsupported digestAlg = iota
	algMD5
	algSHA256
)

// digestAlgOf maps an algorithm name, with or without "-sess", to its
// hash; no name means MD5 (RFC 7616 §3.3).
func digestAlgOf(name string) digestAlg {
	switch strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(name)), "-SESS") {
	case "", "MD5":
		return algMD5
	case "SHA-256":
		return algSHA256
	}
	return algUnsupported
}

// hex returns hex(H(p0:p1:…)). The parts are joined in a stack buffer and
// hashed with the one-shot functions, so that a verification allocates
// no hasher.
func (a digestAlg) hex(parts ...string) string {
	var buf [512]byte
	b := buf[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	var out [2 * sha256.Size]byte
	if a == algMD5 {
		sum := md5.Sum(b)
		return string(out[:hex.Encode(out[:], sum[:])])
	}
	sum := sha256.Sum256(b)
	return string(out[:hex.Encode(out[:], sum[:])])
}

// uriMatches reports whether the digest-uri names the request: the
// request-target as sent, or an absolute URI with the same path and query
// (some CPEs put their whole ACS URL there).
func uriMatches(digestURI string, r *http.Request) bool {
	if digestURI == r.RequestURI || digestURI == r.URL.RequestURI() {
		return true
	}
	u, err := url.Parse(digestURI)
	if err != nil {
		return false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return path == r.URL.RequestURI()
}

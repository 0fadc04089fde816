package sim

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// HTTP authentication for both sides of the device: the client side
// answers Basic and Digest challenges from the ACS and from file servers;
// the server side challenges connection requests with Digest (RFC 7616:
// MD5 or SHA-256, qop=auth, and the RFC 2069 form without qop for old
// clients).

// challenge is one scheme offered in a WWW-Authenticate header.
type challenge struct {
	scheme string // lower case: "digest", "basic"
	params map[string]string
}

// parseChallenges reads every WWW-Authenticate header. Several schemes may
// share one header ("Digest realm=…, Basic realm=…"), and values may be
// quoted or bare, as devices and servers write both.
func parseChallenges(headers []string) []challenge {
	var out []challenge
	for _, h := range headers {
		s := h
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			sp := strings.IndexAny(s, " \t")
			if sp < 0 {
				out = append(out, challenge{scheme: strings.ToLower(s), params: map[string]string{}})
				break
			}
			ch := challenge{scheme: strings.ToLower(s[:sp]), params: map[string]string{}}
			s = s[sp:]
			for {
				s = strings.TrimLeft(s, " \t,")
				key, rest, ok := cutParam(s)
				if !ok {
					break
				}
				k, v := key[0], key[1]
				ch.params[strings.ToLower(k)] = v
				s = rest
			}
			out = append(out, ch)
		}
	}
	return out
}

// cutParam reads one name=value pair at the start of s. It reports false
// when s starts with a new scheme token instead (no '=' before the next
// space or comma).
func cutParam(s string) (kv [2]string, rest string, ok bool) {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return kv, s, false
	}
	if strings.ContainsAny(s[:eq], " \t,") {
		return kv, s, false
	}
	kv[0] = strings.TrimSpace(s[:eq])
	s = strings.TrimLeft(s[eq+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		kv[1] = b.String()
		if i < len(s) {
			i++
		}
		return kv, s[i:], true
	}
	end := strings.IndexAny(s, ", \t")
	if end < 0 {
		end = len(s)
	}
	kv[1] = s[:end]
	return kv, s[end:], true
}

// pickChallenge prefers Digest, as TR-069 requires it without TLS.
func pickChallenge(chs []challenge) (challenge, bool) {
	for _, c := range chs {
		if c.scheme == "digest" {
			return c, true
		}
	}
	for _, c := range chs {
		if c.scheme == "basic" {
			return c, true
		}
	}
	return challenge{}, false
}

func digestHash(algorithm string) (func() hash.Hash, bool, bool) {
	alg := strings.ToUpper(strings.TrimSpace(algorithm))
	sess := strings.HasSuffix(alg, "-SESS")
	switch strings.TrimSuffix(alg, "-SESS") {
	case "", "MD5":
		return md5.New, sess, true
	case "SHA-256":
		return sha256.New, sess, true
	}
	return nil, false, false
}

func hexHash(h func() hash.Hash, parts ...string) string {
	x := h()
	for i, p := range parts {
		if i > 0 {
			x.Write([]byte{':'})
		}
		x.Write([]byte(p))
	}
	return hex.EncodeToString(x.Sum(nil))
}

// authorization builds the Authorization header answering ch. nc counts the
// requests made with this nonce; cnonce is the client's nonce.
func authorization(ch challenge, method, uri, user, pass string, nc uint32, cnonce string) (string, error) {
	if ch.scheme == "basic" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), nil
	}
	if ch.scheme != "digest" {
		return "", fmt.Errorf("unsupported authentication scheme %q", ch.scheme)
	}
	h, sess, ok := digestHash(ch.params["algorithm"])
	if !ok {
		return "", fmt.Errorf("unsupported digest algorithm %q", ch.params["algorithm"])
	}
	realm, nonce := ch.params["realm"], ch.params["nonce"]
	qop := ""
	for q := range strings.SplitSeq(ch.params["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			qop = "auth"
		}
	}
	if ch.params["qop"] != "" && qop == "" {
		return "", fmt.Errorf("unsupported digest qop %q", ch.params["qop"])
	}
	ha1 := hexHash(h, user, realm, pass)
	if sess {
		ha1 = hexHash(h, ha1, nonce, cnonce)
	}
	ha2 := hexHash(h, method, uri)
	ncs := fmt.Sprintf("%08x", nc)
	var resp string
	if qop != "" {
		resp = hexHash(h, ha1, nonce, ncs, cnonce, qop, ha2)
	} else {
		resp = hexHash(h, ha1, nonce, ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%q, realm=%q, nonce=%q, uri=%q, response=%q`, user, realm, nonce, uri, resp)
	if alg := ch.params["algorithm"]; alg != "" {
		fmt.Fprintf(&b, ", algorithm=%s", alg)
	}
	if qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce=%q`, qop, ncs, cnonce)
	}
	if op, ok := ch.params["opaque"]; ok {
		fmt.Fprintf(&b, `, opaque=%q`, op)
	}
	return b.String(), nil
}

// digestServer challenges and checks Digest credentials. Nonces carry
// their issue time and an HMAC, so they need no server-side state for
// 100,000 devices; the price is that a replayed nonce count is not
// detected within the nonce's lifetime, which a simulator can live with.
type digestServer struct {
	realm    string
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

func (s *digestServer) nonce() string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(s.now().UnixNano()))
	m := hmac.New(sha256.New, s.key)
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(m.Sum(nil)[:12])
}

// nonceState reports whether a nonce is ours and whether it is still fresh.
func (s *digestServer) nonceState(n string) (valid, fresh bool) {
	raw, err := hex.DecodeString(n)
	if err != nil || len(raw) != 20 {
		return false, false
	}
	m := hmac.New(sha256.New, s.key)
	m.Write(raw[:8])
	if !hmac.Equal(m.Sum(nil)[:12], raw[8:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	return true, s.now().Sub(issued) < s.lifetime
}

func (s *digestServer) challenge(stale bool) string {
	c := fmt.Sprintf(`Digest realm=%q, qop="auth", algorithm=MD5, nonce=%q, opaque=%q`, s.realm, s.nonce(), "0")
	if stale {
		c += ", stale=true"
	}
	return c
}

// check verifies a request's Authorization against user and pass. stale is
// set when the credentials were right but the nonce has expired, so the
// client can retry without asking its user again.
func (s *digestServer) check(r *http.Request, user, pass string) (ok, stale bool) {
	chs := parseChallenges([]string{r.Header.Get("Authorization")})
	if len(chs) == 0 || chs[0].scheme != "digest" {
		return false, false
	}
	p := chs[0].params
	if subtle.ConstantTimeCompare([]byte(p["username"]), []byte(user)) != 1 {
		return false, false
	}
	if p["realm"] != s.realm || (p["uri"] != r.URL.RequestURI() && p["uri"] != r.URL.Path) {
		return false, false
	}
	valid, fresh := s.nonceState(p["nonce"])
	if !valid {
		return false, false
	}
	h, sess, okAlg := digestHash(p["algorithm"])
	if !okAlg {
		return false, false
	}
	ha1 := hexHash(h, user, s.realm, pass)
	if sess {
		ha1 = hexHash(h, ha1, p["nonce"], p["cnonce"])
	}
	ha2 := hexHash(h, r.Method, p["uri"])
	var want string
	switch p["qop"] {
	case "auth":
		want = hexHash(h, ha1, p["nonce"], p["nc"], p["cnonce"], "auth", ha2)
	case "":
		want = hexHash(h, ha1, p["nonce"], ha2)
	default:
		return false, false
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return false, false
	}
	if !fresh {
		return false, true
	}
	return true, false
}

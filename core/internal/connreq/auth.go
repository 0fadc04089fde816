package connreq

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"
)

// challenge is one WWW-Authenticate challenge.
type challenge struct {
	scheme string // lower case
	params map[string]string
}

// parseChallenges reads WWW-Authenticate header values. Devices write
// these loosely (quirk C9: values unquoted, odd spacing, several schemes in
// one header), so the parser accepts anything that reads as
// `scheme k=v, k="v", ... [, scheme ...]`.
func parseChallenges(headers []string) []challenge {
	var out []challenge
	for _, h := range headers {
		s := h
		var cur *challenge
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			tok := s
			if i := strings.IndexAny(s, " \t=,"); i >= 0 {
				tok = s[:i]
			}
			rest := s[len(tok):]
			trimmed := strings.TrimLeft(rest, " \t")
			if strings.HasPrefix(trimmed, "=") && cur != nil {
				// An auth-param of the current challenge.
				val, after := readValue(strings.TrimLeft(trimmed[1:], " \t"))
				cur.params[strings.ToLower(tok)] = val
				s = after
				continue
			}
			if strings.HasPrefix(trimmed, "=") {
				// A parameter before any scheme: skip it.
				_, s = readValue(strings.TrimLeft(trimmed[1:], " \t"))
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(tok), params: map[string]string{}})
			cur = &out[len(out)-1]
			s = rest
		}
	}
	return out
}

// readValue reads a quoted string (with backslash escapes) or a token up
// to the next comma, and returns it with the remaining input.
func readValue(s string) (string, string) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String(), s[i+1:]
			default:
				b.WriteByte(c)
			}
		}
		return b.String(), ""
	}
	i := strings.IndexByte(s, ',')
	if i < 0 {
		return strings.TrimSpace(s), ""
	}
	return strings.TrimSpace(s[:i]), s[i:]
}

func digestHash(algorithm string) (func() hash.Hash, bool) {
	switch strings.ToUpper(strings.TrimSuffix(strings.ToUpper(algorithm), "-SESS")) {
	case "", "MD5":
		return md5.New, true
	case "SHA-256":
		return sha256.New, true
	}
	return nil, false
}

func hexHash(h func() hash.Hash, parts ...string) string {
	x := h()
	x.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(x.Sum(nil))
}

// digestAuthorization answers a Digest challenge for a GET of uri. It
// returns false for a challenge it cannot answer (unknown algorithm, only
// auth-int offered).
func digestAuthorization(c challenge, user, pass, uri string) (string, bool) {
	alg := c.params["algorithm"]
	h, ok := digestHash(alg)
	if !ok {
		return "", false
	}
	realm, nonce := c.params["realm"], c.params["nonce"]
	qop := ""
	if q, ok := c.params["qop"]; ok {
		for opt := range strings.SplitSeq(q, ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "auth") {
				qop = "auth"
			}
		}
		if qop == "" {
			return "", false // auth-int only: there is no body to protect, but we do not guess
		}
	}
	cnonce := newCnonce()
	const nc = "00000001"
	ha1 := hexHash(h, user, realm, pass)
	if strings.HasSuffix(strings.ToUpper(alg), "-SESS") {
		ha1 = hexHash(h, ha1, nonce, cnonce)
	}
	ha2 := hexHash(h, "GET", uri)
	var resp string
	if qop != "" {
		resp = hexHash(h, ha1, nonce, nc, cnonce, qop, ha2)
	} else {
		// RFC 2069 form: no qop means no cnonce and no nc either (quirk C9).
		resp = hexHash(h, ha1, nonce, ha2)
	}
	var b strings.Builder
	b.WriteString(`Digest username="` + quote(user) + `", realm="` + quote(realm) + `", nonce="` + quote(nonce) +
		`", uri="` + quote(uri) + `", response="` + resp + `"`)
	if alg != "" {
		b.WriteString(", algorithm=" + alg)
	}
	if qop != "" {
		b.WriteString(", qop=" + qop + ", nc=" + nc + `, cnonce="` + cnonce + `"`)
	}
	if op, ok := c.params["opaque"]; ok {
		b.WriteString(`, opaque="` + quote(op) + `"`)
	}
	return b.String(), true
}

func quote(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

func newCnonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func basicAuthorization(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

package server

import (
	"errors"
	"strings"
)

// Authorization is a parsed Authorization header.
type Authorization struct {
	// Scheme is lower case: "digest", "basic", or whatever was sent.
	Scheme string
	// Token is the token68 of schemes that carry one (Basic).
	Token string
	// Params holds auth-params by lower-case name; the first of a
	// repeated name wins.
	Params map[string]string
}

// Limits of a header the parser accepts; a real Digest header is a few
// hundred bytes with ten parameters.
const (
	maxAuthHeader = 4096
	maxAuthParams = 32
)

var errMalformedAuth = errors.New("malformed Authorization header")

// ParseAuthorization reads an Authorization header the way CPEs write
// them, which is not always the way RFC 7235 does: scheme and parameter
// names in any case, values quoted or bare, white space around "=" and
// ",", parameters separated by white space without a comma, a comma right
// after the scheme. What it cannot read unambiguously (an unterminated
// quote, a parameter without a name, too many parameters) is an error.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	if len(h) > maxAuthHeader {
		return a, errMalformedAuth
	}
	s := strings.TrimLeft(h, " \t")
	end := strings.IndexAny(s, " \t,")
	if end < 0 {
		end = len(s)
	}
	a.Scheme = strings.ToLower(s[:end])
	if a.Scheme == "" || !isToken(a.Scheme) {
		return a, errMalformedAuth
	}
	rest := strings.Trim(s[end:], " \t")
	if a.Scheme == "basic" || isToken68(rest) {
		a.Token = strings.TrimLeft(rest, ", \t")
		return a, nil
	}
	a.Params = make(map[string]string, 10)
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return a, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return a, errMalformedAuth
		}
		name := strings.ToLower(strings.TrimRight(rest[:eq], " \t"))
		if !isToken(name) {
			return a, errMalformedAuth
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			v, n, ok := unquote(rest)
			if !ok {
				return a, errMalformedAuth
			}
			val, rest = v, rest[n:]
		} else {
			n := strings.IndexAny(rest, ", \t")
			if n < 0 {
				n = len(rest)
			}
			val, rest = rest[:n], rest[n:]
		}
		if _, dup := a.Params[name]; !dup {
			if len(a.Params) == maxAuthParams {
				return a, errMalformedAuth
			}
			a.Params[name] = val
		}
	}
}

// unquote reads the quoted-string at the start of s and returns its value
// and the bytes it took.
func unquote(s string) (string, int, bool) {
	if end := strings.IndexAny(s[1:], `"\`); end >= 0 && s[1+end] == '"' {
		return s[1 : 1+end], end + 2, true // no escapes: no copy
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// isToken68 reports whether s is one token68 (RFC 7235), as Basic
// credentials are: no '=' except as trailing padding.
func isToken68(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

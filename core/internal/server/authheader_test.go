package server

import (
	"maps"
	"strconv"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	digest := map[string]string{"username": "cpe", "realm": "provisor", "nonce": "abc", "uri": "/cwmp", "response": "f00", "qop": "auth", "nc": "00000001", "cnonce": "xyz"}
	cases := []struct {
		name   string
		in     string
		scheme string
		token  string
		params map[string]string
		err    bool
	}{
		{"canonical", `Digest username="cpe", realm="provisor", nonce="abc", uri="/cwmp", response="f00", qop=auth, nc=00000001, cnonce="xyz"`, "digest", "", digest, false},
		{"unquoted values", `Digest username=cpe, realm=provisor, nonce=abc, uri=/cwmp, response=f00, qop=auth, nc=00000001, cnonce=xyz`, "digest", "", digest, false},
		{"odd spacing and case", "  dIgEsT   USERNAME = \"cpe\" ,REALM=\"provisor\",,nonce =abc ,\turi= \"/cwmp\", Response=\"f00\", QOP=\"auth\", NC=00000001 , CNonce=\"xyz\"  ", "digest", "", digest, false},
		{"no commas", `Digest username="cpe" realm="provisor" nonce="abc" uri="/cwmp" response="f00" qop=auth nc=00000001 cnonce="xyz"`, "digest", "", digest, false},
		{"comma after the scheme", `Digest, username="cpe"`, "digest", "", map[string]string{"username": "cpe"}, false},
		{"escapes in quotes", `Digest username="c\"p\\e", realm="a,b"`, "digest", "", map[string]string{"username": `c"p\e`, "realm": "a,b"}, false},
		{"MD5-sess and opaque", `Digest username="u", algorithm=MD5-sess, opaque=""`, "digest", "", map[string]string{"username": "u", "algorithm": "MD5-sess", "opaque": ""}, false},
		{"repeated name: first wins", `Digest username="a", username="b"`, "digest", "", map[string]string{"username": "a"}, false},
		{"basic", "Basic cHJvdmlzb3I6c2VjcmV0", "basic", "cHJvdmlzb3I6c2VjcmV0", nil, false},
		{"basic lower case, padding", "basic YTpi==", "basic", "YTpi==", nil, false},
		{"scheme only", "Digest", "digest", "", map[string]string{}, false},
		{"other scheme with token", "Bearer abc.def", "bearer", "abc.def", nil, false},
		{"empty", "", "", "", nil, true},
		{"unterminated quote", `Digest username="cpe`, "", "", nil, true},
		{"parameter without a name", `Digest ="x"`, "", "", nil, true},
		{"garbage after the scheme", `Digest a b c`, "", "", nil, true},
		{"scheme with a separator", `"Digest" x=y`, "", "", nil, true},
		{"too long", "Digest username=" + strings.Repeat("a", maxAuthHeader), "", "", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAuthorization(c.in)
			if c.err {
				if err == nil {
					t.Fatalf("no error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Scheme != c.scheme || got.Token != c.token || !maps.Equal(got.Params, c.params) {
				t.Fatalf("got %q %q %v\nwant %q %q %v", got.Scheme, got.Token, got.Params, c.scheme, c.token, c.params)
			}
		})
	}
	t.Run("too many parameters", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Digest ")
		for i := range maxAuthParams + 1 {
			b.WriteString("p" + strconv.Itoa(i) + "=1, ")
		}
		if _, err := ParseAuthorization(b.String()); err == nil {
			t.Fatal("no error")
		}
	})
}

// FuzzParseAuthorization: the parser never panics, and what it accepts
// means the same when written back canonically and parsed again.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		`Digest username="cpe", realm="provisor", nonce="abc", uri="/cwmp", response="f00", qop=auth, nc=00000001, cnonce="xyz"`,
		`Digest username=cpe realm=provisor qop="auth,auth-int" algorithm=MD5-sess`,
		`digest   USERNAME = "a\"b" ,,, opaque=""`,
		`Basic cHJvdmlzb3I6c2VjcmV0`,
		`Digest, username="x"`,
		`Digest username="unterminated`,
		"Digest a=\x00b",
		`Bearer abc.def==`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			return
		}
		if a.Scheme == "" || a.Scheme != strings.ToLower(a.Scheme) || !isToken(a.Scheme) {
			t.Fatalf("scheme %q", a.Scheme)
		}
		if len(a.Params) > maxAuthParams {
			t.Fatalf("%d params", len(a.Params))
		}
		if a.Token != "" || a.Params == nil {
			return
		}
		var b strings.Builder
		b.WriteString(a.Scheme)
		for k, v := range a.Params {
			if k != strings.ToLower(k) || !isToken(k) {
				t.Fatalf("param name %q", k)
			}
			b.WriteString(" " + k + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `",`)
		}
		again, err := ParseAuthorization(b.String())
		if err != nil && len(b.String()) <= maxAuthHeader {
			t.Fatalf("canonical form %q: %v", b.String(), err)
		}
		if err == nil && !maps.Equal(again.Params, a.Params) {
			t.Fatalf("round trip: %v != %v", again.Params, a.Params)
		}
	})
}

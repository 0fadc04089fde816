package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// memCreds is a CredentialStore holding one device's credential, so that
// the benchmarks measure the verification and not SQLite.
type memCreds struct {
	store.CredentialStore
	c store.CPECredential
}

func (m *memCreds) DeviceCredentials(_ context.Context, id string) ([]store.CPECredential, error) {
	if id == m.c.DeviceID {
		return []store.CPECredential{m.c}, nil
	}
	return nil, nil
}

const benchDevice = "00D0B7-HomeGW-BENCH"

func benchAuth(b *testing.B, stored bool) *Auth {
	cfg := AuthConfig{SharedUsername: "shared", SharedPassword: "shared-secret", NonceLifetime: time.Hour,
		TableSize: 1 << 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if stored {
		c, err := store.NewCPECredential(benchDevice, benchDevice, "device-secret", "provisor")
		if err != nil {
			b.Fatal(err)
		}
		cfg.Store = &memCreds{c: c}
	}
	a, err := NewAuth(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkDigestVerify is the CPU one Digest authentication of an Inform
// costs the ACS: header parsing, nonce MAC and replay check, HA1 (from
// the password for the shared credential, stored for a device's own),
// the response hash. The headers are made outside the timer.
func BenchmarkDigestVerify(b *testing.B) {
	target := session.Target{DeviceID: benchDevice, Device: cwmp.DeviceID{OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: "BENCH"}, Inform: true}
	for _, alg := range []string{"MD5", "SHA-256"} {
		for _, stored := range []bool{false, true} {
			name := alg + "/shared"
			user, pass := "shared", "shared-secret"
			if stored {
				name, user, pass = alg+"/stored", benchDevice, "device-secret"
			}
			b.Run(name, func(b *testing.B) {
				a := benchAuth(b, stored)
				nonce := a.nonces.issue(time.Now())
				u, _ := url.Parse("http://acs/cwmp")
				r := &http.Request{Method: http.MethodPost, URL: u, RequestURI: "/cwmp", Header: http.Header{}}
				in := &authRequest{r: r, ip: netip.MustParseAddr("192.0.2.1")}
				ha1 := store.DigestHA1(alg, user, "provisor", pass)
				const batch = 1024
				headers := make([]string, batch)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i%batch == 0 {
						b.StopTimer()
						for j := range headers {
							d := digestRequest{username: user, realm: "provisor", nonce: nonce, uri: "/cwmp", algorithm: alg,
								qop: "auth", nc: fmt.Sprintf("%08x", i+j+1), cnonce: "0a4f113b"}
							resp, _ := d.expected(ha1, http.MethodPost)
							headers[j] = fmt.Sprintf(`Digest username="%s", realm="provisor", nonce="%s", uri="/cwmp", algorithm=%s, response="%s", qop=auth, nc=%s, cnonce="0a4f113b"`,
								user, nonce, alg, resp, d.nc)
						}
						b.StartTimer()
					}
					r.Header.Set("Authorization", headers[i%batch])
					if _, deny := a.authorize(ctx, in, target); deny != nil {
						b.Fatalf("refused: %d %s", deny.Status, deny.Problem)
					}
				}
			})
		}
	}
}

// BenchmarkBasicVerify is the CPU of one Basic authentication: a constant
// time comparison for the shared credential, one HMAC-SHA-256 for a
// device's own generated credential, PBKDF2 for one someone chose.
func BenchmarkBasicVerify(b *testing.B) {
	target := session.Target{DeviceID: benchDevice, Inform: true}
	gen, genPW, err := store.GenerateCPECredential(benchDevice, benchDevice, "provisor")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cred *store.CPECredential
		user string
		pass string
	}{
		{"shared", nil, "shared", "shared-secret"},
		{"stored-generated", &gen, benchDevice, genPW},
		{"stored-pbkdf2", nil, benchDevice, "device-secret"},
	} {
		b.Run(c.name, func(b *testing.B) {
			a := benchAuth(b, c.name == "stored-pbkdf2")
			if c.cred != nil {
				a.cfg.Store = &memCreds{c: *c.cred}
			}
			hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
			r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/cwmp"}, Header: http.Header{"Authorization": {hdr}}}
			in := &authRequest{r: r, ip: netip.MustParseAddr("192.0.2.1"), tls: true}
			b.ReportAllocs()
			for b.Loop() {
				if _, deny := a.authorize(context.Background(), in, target); deny != nil {
					b.Fatalf("refused: %d %s", deny.Status, deny.Problem)
				}
			}
		})
	}
}

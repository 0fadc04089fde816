package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// Basic authentication of a device's own stored credential, by the scheme
// of its password hash: generated (salted HMAC-SHA-256), chosen (PBKDF2)
// and rows stored before the schemes were told apart verify; a wrong
// password is a guess; an unusable stored hash refuses every password,
// says so in the log without quoting the hash, and counts no guess.
func TestBasicStoredSchemes(t *testing.T) {
	const dev = benchDevice
	gen, genPW, err := store.GenerateCPECredential(dev, dev, "provisor")
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := store.NewCPECredential(dev, dev, "chosen-secret", "provisor")
	if err != nil {
		t.Fatal(err)
	}
	// As earlier versions stored it (salt 00 01 … 0f, computed outside
	// Provisor).
	legacy := chosen
	legacy.PasswordHash = "pbkdf2-sha256$20000$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI"
	withHash := func(h string) store.CPECredential { c := gen; c.PasswordHash = h; return c }
	const garbage = "hmac-sha256$not base64!$AAAA"

	cases := []struct {
		name    string
		c       store.CPECredential
		pw      string
		ok      bool
		counter func(*AuthStats) *atomic.Int64
		log     string // in the log when refused
		backoff bool   // counts toward the device's back-off
	}{
		{"generated", gen, genPW, true, nil, "", false},
		{"generated, wrong password", gen, "chosen-secret", false, func(s *AuthStats) *atomic.Int64 { return &s.WrongPassword }, "wrong password", true},
		{"chosen", chosen, "chosen-secret", true, nil, "", false},
		{"chosen, wrong password", chosen, genPW, false, func(s *AuthStats) *atomic.Int64 { return &s.WrongPassword }, "wrong password", true},
		{"legacy row", legacy, "legacy-secret", true, nil, "", false},
		{"legacy row, wrong password", legacy, "chosen-secret", false, func(s *AuthStats) *atomic.Int64 { return &s.WrongPassword }, "wrong password", true},
		{"malformed stored hash", withHash(garbage), genPW, false, func(s *AuthStats) *atomic.Int64 { return &s.SchemeRefused }, "cannot verify Basic passwords", false},
		{"unknown scheme", withHash("scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw$AAAA"), genPW, false, func(s *AuthStats) *atomic.Int64 { return &s.SchemeRefused }, "unknown Basic password hash scheme", false},
		{"no Basic hash (Digest only)", withHash(""), genPW, false, func(s *AuthStats) *atomic.Int64 { return &s.SchemeRefused }, "no Basic password hash", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			a, err := NewAuth(AuthConfig{SharedUsername: "shared", SharedPassword: "shared-secret", FailureLimit: 1,
				Store: &memCreds{c: c.c}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte(dev+":"+c.pw))
			r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/cwmp"}, Header: http.Header{"Authorization": {hdr}}}
			in := &authRequest{r: r, ip: netip.MustParseAddr("192.0.2.1"), tls: true}
			target := session.Target{DeviceID: dev, Inform: true}
			info, deny := a.authorize(context.Background(), in, target)
			if c.ok {
				if deny != nil || info.Method != ModeBasic || info.Username != dev || info.Shared {
					t.Fatalf("refused or wrong identity: %+v %+v\n%s", info, deny, logs.String())
				}
				return
			}
			if deny == nil || deny.Status != http.StatusUnauthorized {
				t.Fatalf("admitted, or not with 401: %+v", deny)
			}
			if got := c.counter(&a.Stats).Load(); got != 1 {
				t.Fatalf("counter %d, want 1", got)
			}
			if !strings.Contains(logs.String(), c.log) || !strings.Contains(logs.String(), "device="+dev) {
				t.Fatalf("log lacks %q and the device:\n%s", c.log, logs.String())
			}
			for _, secret := range []string{c.pw, hdr[len("Basic "):], garbage, legacy.PasswordHash, gen.PasswordHash} {
				if strings.Contains(logs.String(), secret) {
					t.Fatalf("log shows a secret or hash %q:\n%s", secret, logs.String())
				}
			}
			// FailureLimit 1: a guess puts the device in back-off at once.
			_, deny = a.authorize(context.Background(), in, target)
			if backedOff := deny != nil && deny.Status == http.StatusServiceUnavailable; backedOff != c.backoff {
				t.Fatalf("second try answered %+v; back-off expected: %v", deny, c.backoff)
			}
		})
	}
}

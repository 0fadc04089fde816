package store

import (
	"errors"
	"strings"
	"testing"
)

// Basic password hashes by scheme: generated credentials get one salted
// HMAC-SHA-256, chosen ones PBKDF2, and rows written before the scheme
// tags existed keep verifying. A stored hash that cannot be read refuses
// every password with an error that does not quote it.
func TestCheckPassword(t *testing.T) {
	const dev = "00D0B7-HomeGW-SN1"
	gen, genPW, err := GenerateCPECredential(dev, dev, "provisor")
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := NewCPECredential(dev, dev, "chosen-secret", "provisor")
	if err != nil {
		t.Fatal(err)
	}
	// Fixed rows, computed outside Provisor (Python hashlib/hmac, salt
	// 00 01 … 0f), as earlier versions stored them.
	const (
		legacy     = "pbkdf2-sha256$20000$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI"
		legacy1000 = "pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$VJ66H6/r4ZqnDnKhv14jLfktUZGIoCNcHinoROS0wGM"
		fixedHMAC  = "hmac-sha256$AAECAwQFBgcICQoLDA0ODw$fL9uyLYY7IMLwEF/AxWej6HfGdOEBG32Dak5B7eE9kM"
	)
	row := func(h string) CPECredential { return CPECredential{Username: dev, DeviceID: dev, PasswordHash: h} }
	cases := []struct {
		name    string
		c       CPECredential
		pw      string
		ok      bool
		corrupt bool
	}{
		{"generated", gen, genPW, true, false},
		{"generated, wrong password", gen, "chosen-secret", false, false},
		{"generated, password with a byte more", gen, genPW + "A", false, false},
		{"generated, empty password", gen, "", false, false},
		{"chosen", chosen, "chosen-secret", true, false},
		{"chosen, wrong password", chosen, "chosen-secreT", false, false},
		{"legacy row", row(legacy), "legacy-secret", true, false},
		{"legacy row, wrong password", row(legacy), "legacy-secreT", false, false},
		{"legacy row, other iteration count", row(legacy1000), "legacy-secret", true, false},
		{"fixed hmac row", row(fixedHMAC), "VKQ3MKTR6ZBTDJ5BCE7P2J4XUM", true, false},
		{"fixed hmac row, wrong password", row(fixedHMAC), "VKQ3MKTR6ZBTDJ5BCE7P2J4XUN", false, false},

		{"no hash", row(""), "legacy-secret", false, true},
		{"unknown scheme", row("argon2id$v=19$AAECAwQFBgcICQoLDA0ODw$HEhV"), "legacy-secret", false, true},
		{"no scheme at all", row("legacy-secret"), "legacy-secret", false, true},
		{"scheme tag only", row("hmac-sha256"), "", false, true},
		{"hmac, no key", row("hmac-sha256$AAECAwQFBgcICQoLDA0ODw"), "x", false, true},
		{"hmac, empty salt", row("hmac-sha256$$fL9uyLYY7IMLwEF/AxWej6HfGdOEBG32Dak5B7eE9kM"), "x", false, true},
		{"hmac, short key", row("hmac-sha256$AAECAwQFBgcICQoLDA0ODw$fL9uyLYY7IMLwEF"), "x", false, true},
		{"hmac, bad base64", row("hmac-sha256$AAEC*wQF$fL9uyLYY7IMLwEF/AxWej6HfGdOEBG32Dak5B7eE9kM"), "x", false, true},
		{"hmac, extra field", row(fixedHMAC + "$x"), "VKQ3MKTR6ZBTDJ5BCE7P2J4XUM", false, true},
		{"pbkdf2, no iterations", row("pbkdf2-sha256$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI"), "legacy-secret", false, true},
		{"pbkdf2, zero iterations", row("pbkdf2-sha256$0$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI"), "legacy-secret", false, true},
		{"pbkdf2, absurd iterations", row("pbkdf2-sha256$999999999$AAECAwQFBgcICQoLDA0ODw$HEhV"), "legacy-secret", false, true},
		{"pbkdf2, empty key", row("pbkdf2-sha256$20000$AAECAwQFBgcICQoLDA0ODw$"), "legacy-secret", false, true},
		{"pbkdf2, tag of the other scheme", row("hmac-sha256$20000$AAECAwQFBgcICQoLDA0ODw$HEhVdhKmYMjQkkyKahOpZe3RAM8vM8lUHKhjxKIXzTI"), "legacy-secret", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := c.c.CheckPassword(c.pw)
			if ok != c.ok || (err != nil) != c.corrupt {
				t.Fatalf("CheckPassword = %v, %v; want %v, error %v", ok, err, c.ok, c.corrupt)
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				// The error names the credential, never its hash.
				for _, f := range strings.Split(c.c.PasswordHash, "$") {
					if len(f) > 2 && strings.Contains(err.Error(), f) && f != SchemePBKDF2 && f != SchemeHMAC {
						t.Fatalf("error %q quotes the stored hash", err)
					}
				}
			}
			if c.c.VerifyPassword(c.pw) != c.ok {
				t.Fatalf("VerifyPassword disagrees with CheckPassword")
			}
		})
	}
}

// Which constructor made a credential decides its scheme; both make the
// same Digest hashes, and no two hashes of one password are alike.
func TestCredentialSchemes(t *testing.T) {
	const dev = "00D0B7-HomeGW-SN1"
	gen, pw, err := GenerateCPECredential(dev, dev, "provisor")
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) < 26 || !strings.HasPrefix(gen.PasswordHash, SchemeHMAC+"$") {
		t.Fatalf("generated: %d-character password, hash scheme %q", len(pw), strings.SplitN(gen.PasswordHash, "$", 2)[0])
	}
	chosen, err := NewCPECredential(dev, dev, pw, "provisor")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(chosen.PasswordHash, SchemePBKDF2+"$20000$") {
		t.Fatalf("chosen: hash scheme %q", strings.SplitN(chosen.PasswordHash, "$", 2)[0])
	}
	if gen.HA1MD5 != chosen.HA1MD5 || gen.HA1SHA256 != chosen.HA1SHA256 || gen.HA1MD5 != DigestHA1("MD5", dev, "provisor", pw) {
		t.Fatal("Digest hashes differ by scheme")
	}
	again, pw2, _ := GenerateCPECredential(dev, dev, "provisor")
	if pw2 == pw || again.PasswordHash == gen.PasswordHash {
		t.Fatal("two generated credentials alike")
	}
	if strings.Contains(gen.String(), gen.PasswordHash) || strings.Contains(gen.String(), pw) {
		t.Fatalf("String() shows secrets: %s", gen)
	}
	for _, bad := range []struct{ dev, user, realm string }{{"", dev, "provisor"}, {dev, "a:b", "provisor"}, {dev, dev, `pro"visor`}} {
		if _, _, err := GenerateCPECredential(bad.dev, bad.user, bad.realm); !errors.Is(err, ErrInvalid) {
			t.Errorf("GenerateCPECredential(%q, %q, %q): %v", bad.dev, bad.user, bad.realm, err)
		}
	}
}

// FuzzCheckPassword: no stored hash, however mangled, panics the verifier.
func FuzzCheckPassword(f *testing.F) {
	f.Add("pbkdf2-sha256$1$AAECAwQFBgcICQoLDA0ODw$VJ66H6/r4ZqnDnKhv14jLfktUZGIoCNcHinoROS0wGM", "x")
	f.Add("hmac-sha256$AAECAwQFBgcICQoLDA0ODw$fL9uyLYY7IMLwEF/AxWej6HfGdOEBG32Dak5B7eE9kM", "x")
	f.Add("$$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if strings.HasPrefix(hash, SchemePBKDF2+"$") && !strings.HasPrefix(hash, SchemePBKDF2+"$1$") {
			return // keep the iteration count (and so each run) small
		}
		_, _ = CPECredential{PasswordHash: hash}.CheckPassword(pw)
	})
}

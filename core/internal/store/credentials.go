package store

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// CredentialStore keeps the credentials devices authenticate to the ACS
// with (TR-069 §3.4.4), bound to one device each. Only hashes are stored.
type CredentialStore interface {
	// DeviceCredentials returns the credentials bound to a device, the
	// active one before a pending one; empty when it has none.
	DeviceCredentials(ctx context.Context, deviceID string) ([]CPECredential, error)
	// CPECredential returns the credential with the user name, or
	// ErrNotFound.
	CPECredential(ctx context.Context, username string) (CPECredential, error)
	// PutCPECredential stores c. An active credential replaces every other
	// credential of its device; a pending one replaces the device's other
	// pending one and leaves its active one alone. ErrConflict when the
	// user name belongs to another device. The device need not exist yet,
	// so that credentials can be provisioned before first contact. Durable
	// on return.
	PutCPECredential(ctx context.Context, c CPECredential) error
	// ActivateCPECredential makes the credential with the user name its
	// device's only one. ErrNotFound when no credential has the name.
	// Durable on return.
	ActivateCPECredential(ctx context.Context, username string) error
	// DeleteCPECredential removes one credential; ErrNotFound when absent.
	// Deleting a device removes its credentials too. Durable on return.
	DeleteCPECredential(ctx context.Context, username string) error
	// DeleteDeviceCredentials removes every credential bound to the
	// device, active and pending, so that it is admitted with the shared
	// credential again (a factory-reset device). It returns how many were
	// removed; none is no error. Durable on return.
	DeleteDeviceCredentials(ctx context.Context, deviceID string) (int, error)
}

// CPECredential is one device's own user name and password for talking to
// the ACS, as hashes: the Digest HA1 for MD5 and for SHA-256 (Digest cannot
// be verified from anything slower) and a PBKDF2 hash for Basic.
type CPECredential struct {
	Username string
	DeviceID string
	// Realm is the Digest realm the HA1 values were computed for; Digest
	// fails for this credential under any other realm.
	Realm     string
	HA1MD5    string // hex H(username:realm:password) with MD5
	HA1SHA256 string // the same with SHA-256
	// PasswordHash is "pbkdf2-sha256$<iterations>$<salt>$<key>", salt and
	// key in unpadded standard base64.
	PasswordHash string
	// Pending marks a credential sent to the device whose storage the
	// device has not confirmed yet: it is accepted, and the first
	// authentication with it activates it.
	Pending bool
	Created time.Time
	Updated time.Time
}

// pbkdf2Iterations trades verification CPU against offline guessing.
// Generated credentials are random and need no stretching at all; the
// work protects credentials an operator chose. At ~5 ms per Basic
// verification it stays far below the cost of the TLS handshake that
// Basic requires.
const pbkdf2Iterations = 20000

// NewCPECredential hashes a password into a credential for the device.
func NewCPECredential(deviceID, username, password, realm string) (CPECredential, error) {
	if err := CheckDeviceID(deviceID); err != nil {
		return CPECredential{}, err
	}
	if err := CheckUsername(username); err != nil {
		return CPECredential{}, err
	}
	if password == "" {
		return CPECredential{}, Invalid("empty password")
	}
	if strings.ContainsRune(realm, '"') {
		return CPECredential{}, Invalid("realm contains a quote")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		return CPECredential{}, err
	}
	return CPECredential{
		Username: username, DeviceID: deviceID, Realm: realm,
		HA1MD5:       DigestHA1("MD5", username, realm, password),
		HA1SHA256:    DigestHA1("SHA-256", username, realm, password),
		PasswordHash: "pbkdf2-sha256$" + strconv.Itoa(pbkdf2Iterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key),
	}, nil
}

var b64 = base64.RawStdEncoding

// VerifyPassword checks a password sent with Basic authentication.
func (c CPECredential) VerifyPassword(password string) bool {
	parts := strings.Split(c.PasswordHash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	salt, err1 := b64.DecodeString(parts[2])
	want, err2 := b64.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// HA1 returns the stored Digest HA1 for an algorithm ("MD5" or "SHA-256",
// with or without "-sess"), or "" when the credential has none for it.
func (c CPECredential) HA1(algorithm string) string {
	switch digestBase(algorithm) {
	case "MD5":
		return c.HA1MD5
	case "SHA-256":
		return c.HA1SHA256
	}
	return ""
}

func digestBase(algorithm string) string {
	a := strings.ToUpper(strings.TrimSpace(algorithm))
	a = strings.TrimSuffix(a, "-SESS")
	if a == "" {
		return "MD5" // RFC 7616: no algorithm means MD5
	}
	return a
}

// DigestHash returns the hash function of a Digest algorithm name, nil for
// one Provisor does not support.
func DigestHash(algorithm string) func() hash.Hash {
	switch digestBase(algorithm) {
	case "MD5":
		return md5.New
	case "SHA-256":
		return sha256.New
	}
	return nil
}

// DigestHA1 computes hex H(username:realm:password) for a Digest
// algorithm; "" for an unsupported one.
func DigestHA1(algorithm, username, realm, password string) string {
	h := DigestHash(algorithm)
	if h == nil {
		return ""
	}
	x := h()
	x.Write([]byte(username))
	x.Write([]byte{':'})
	x.Write([]byte(realm))
	x.Write([]byte{':'})
	x.Write([]byte(password))
	return hex.EncodeToString(x.Sum(nil))
}

// CheckUsername validates a CPE user name: 1 to 256 bytes of printable
// UTF-8 without ':' (which Basic cannot carry) or '"'.
func CheckUsername(u string) error {
	if u == "" || len(u) > 256 {
		return Invalid("user name must be 1 to 256 bytes")
	}
	for _, r := range u {
		if r == ':' || r == '"' || r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return Invalid("user name %q: character %q not allowed", u, r)
		}
	}
	return nil
}

// String never shows hashes, so a credential can be logged by mistake
// without leaking anything that authenticates.
func (c CPECredential) String() string {
	state := "active"
	if c.Pending {
		state = "pending"
	}
	return fmt.Sprintf("credential %q for %s (%s)", c.Username, c.DeviceID, state)
}

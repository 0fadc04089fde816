package store

import (
	"context"
	"crypto/hmac"
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
// be verified from anything slower) and a password hash for Basic.
type CPECredential struct {
	Username string
	DeviceID string
	// Realm is the Digest realm the HA1 values were computed for; Digest
	// fails for this credential under any other realm.
	Realm     string
	HA1MD5    string // hex H(username:realm:password) with MD5
	HA1SHA256 string // the same with SHA-256
	// PasswordHash is the Basic hash, tagged with its scheme, salt and
	// key in unpadded standard base64:
	//
	//	pbkdf2-sha256$<iterations>$<salt>$<key>  a password someone chose
	//	hmac-sha256$<salt>$<key>                 a password Provisor generated
	//
	// See GenerateCPECredential for why the second needs no stretching.
	PasswordHash string
	// Pending marks a credential sent to the device whose storage the
	// device has not confirmed yet: it is accepted, and the first
	// authentication with it activates it.
	Pending bool
	Created time.Time
	Updated time.Time
}

// Password hash schemes, the first field of CPECredential.PasswordHash.
const (
	SchemePBKDF2 = "pbkdf2-sha256"
	SchemeHMAC   = "hmac-sha256"
)

// pbkdf2Iterations trades verification CPU against offline guessing of a
// password someone chose. At ~5 ms per Basic verification it stays far
// below the cost of the TLS handshake that Basic requires.
const pbkdf2Iterations = 20000

// saltSize is the salt of either scheme, in bytes.
const saltSize = 16

// NewCPECredential hashes a password that an operator, an API user or a
// script chose into a credential for the device. Such a password may be
// guessable, so its Basic hash is PBKDF2.
func NewCPECredential(deviceID, username, password, realm string) (CPECredential, error) {
	c, err := newCredential(deviceID, username, password, realm)
	if err != nil {
		return c, err
	}
	salt := newSalt()
	key, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		return CPECredential{}, err
	}
	c.PasswordHash = SchemePBKDF2 + "$" + strconv.Itoa(pbkdf2Iterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	return c, nil
}

// GenerateCPECredential makes a credential for the device with a password
// of its own making, which it returns: 26 base32 characters from
// crypto/rand (rand.Text), 130 bits.
//
// Its Basic hash is one HMAC-SHA-256 keyed with the password over a random
// salt, not PBKDF2. Key stretching multiplies the cost of each guess of an
// offline attacker who holds the hash, which matters for the few tens of
// bits of a human-chosen password; against 130 random bits no number of
// guesses matters, stretched or not, while the ACS paid the stretching at
// every rotation and every Basic authentication (a third of its CPU in a
// boot storm of new devices). The salt still makes every stored hash
// unique. Only this function makes such hashes, so a password that was not
// generated here always gets PBKDF2 (NewCPECredential).
func GenerateCPECredential(deviceID, username, realm string) (CPECredential, string, error) {
	password := rand.Text()
	c, err := newCredential(deviceID, username, password, realm)
	if err != nil {
		return c, "", err
	}
	salt := newSalt()
	c.PasswordHash = SchemeHMAC + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(hmacKey(password, salt))
	return c, password, nil
}

// newCredential checks the names and computes the Digest hashes.
func newCredential(deviceID, username, password, realm string) (CPECredential, error) {
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
	return CPECredential{
		Username: username, DeviceID: deviceID, Realm: realm,
		HA1MD5:    DigestHA1("MD5", username, realm, password),
		HA1SHA256: DigestHA1("SHA-256", username, realm, password),
	}, nil
}

func newSalt() []byte {
	salt := make([]byte, saltSize)
	_, _ = rand.Read(salt)
	return salt
}

func hmacKey(password string, salt []byte) []byte {
	m := hmac.New(sha256.New, []byte(password))
	m.Write(salt)
	return m.Sum(nil)
}

var b64 = base64.RawStdEncoding

// VerifyPassword checks a password sent with Basic authentication; false
// for a wrong one and for an unusable stored hash (see CheckPassword).
func (c CPECredential) VerifyPassword(password string) bool {
	ok, err := c.CheckPassword(password)
	return ok && err == nil
}

// CheckPassword checks a password sent with Basic authentication against
// the stored hash, by the hash's scheme, in constant time. The error,
// wrapping ErrCorrupt, says the stored hash is missing or unusable, which
// no password can pass; it never quotes the hash.
func (c CPECredential) CheckPassword(password string) (bool, error) {
	if c.PasswordHash == "" {
		return false, fmt.Errorf("%w: credential %q has no Basic password hash", ErrCorrupt, c.Username)
	}
	scheme, rest, _ := strings.Cut(c.PasswordHash, "$")
	switch scheme {
	case SchemePBKDF2:
		f := strings.Split(rest, "$")
		if len(f) != 3 {
			break
		}
		iter, err := strconv.Atoi(f[0])
		if err != nil || iter < 1 || iter > 10_000_000 {
			break
		}
		salt, want, ok := saltAndKey(f[1], f[2])
		if !ok {
			break
		}
		got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
		if err != nil {
			break
		}
		return subtle.ConstantTimeCompare(got, want) == 1, nil
	case SchemeHMAC:
		s, k, ok := strings.Cut(rest, "$")
		if !ok {
			break
		}
		salt, want, ok := saltAndKey(s, k)
		if !ok || len(salt) == 0 || len(want) != sha256.Size {
			break
		}
		return hmac.Equal(hmacKey(password, salt), want), nil
	default:
		return false, fmt.Errorf("%w: credential %q: unknown Basic password hash scheme", ErrCorrupt, c.Username)
	}
	return false, fmt.Errorf("%w: credential %q: malformed %s password hash", ErrCorrupt, c.Username, scheme)
}

func saltAndKey(salt, key string) ([]byte, []byte, bool) {
	s, err1 := b64.DecodeString(salt)
	k, err2 := b64.DecodeString(key)
	return s, k, err1 == nil && err2 == nil && len(k) > 0
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

package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
)

// Authentication modes, for the server as a whole and per device profile.
const (
	// ModeDigest accepts Digest only (RFC 7616: MD5, SHA-256, -sess).
	ModeDigest = "digest"
	// ModeBasic accepts Basic only, and only over TLS unless
	// AllowBasicWithoutTLS.
	ModeBasic = "basic"
	// ModeAny accepts both; the challenge offers Digest, and Basic where
	// Basic is allowed.
	ModeAny = "any"
	// ModeNone admits devices without credentials: for CPEs that never
	// send an Authorization header.
	ModeNone = "none"
	// ModeAllowList (profiles only) admits the profile's devices by source
	// address alone.
	ModeAllowList = "allow-list"
	// MethodClientCert is the session.AuthInfo method of a device
	// authenticated by its TLS client certificate.
	MethodClientCert = "client-certificate"
)

// Re-bootstrap policies: what to do with a "0 BOOTSTRAP" Inform presented
// with the shared credential by a device that has a credential of its own,
// which is what a factory-reset device sends.
const (
	// RebootstrapRefuse refuses it, as any other use of the shared
	// credential by such a device; an operator re-admits the device by
	// deleting its credential. Anyone holding the shared credential could
	// send that Inform in the device's name, so this is the default.
	RebootstrapRefuse = "refuse"
	// RebootstrapAccept admits it, so that the session's bootstrap
	// rotation gives the device a new credential, which replaces the old
	// one once the device acknowledges it. For fleets where factory resets
	// are routine and the shared credential is well kept: whoever holds it
	// can take over any device's identity.
	RebootstrapAccept = "accept"
)

// AuthConfig configures CPE authentication.
type AuthConfig struct {
	// Mode is the default mode; profiles override it. Default ModeAny.
	Mode string
	// Realm is the Digest and Basic realm. Default "provisor".
	Realm string
	// SharedUsername and SharedPassword are the shared bootstrap
	// credential, accepted from devices that have no credential of their
	// own. An empty password disables it.
	SharedUsername, SharedPassword string
	// AllowBasicWithoutTLS accepts Basic over plain HTTP, where it shows
	// the password to anyone on the path. TR-069 forbids it.
	AllowBasicWithoutTLS bool
	// Rebootstrap is RebootstrapRefuse (default) or RebootstrapAccept.
	Rebootstrap string
	// NonceLifetime is how long a Digest nonce stays fresh. Default 5m.
	NonceLifetime time.Duration
	// DigestAlgorithms are offered in this order, one challenge each.
	// Default MD5 then SHA-256: many CPEs read only the first challenge
	// and know only MD5.
	DigestAlgorithms []string
	// Store holds the per-device credentials; nil means none.
	Store store.CredentialStore
	// Providers are asked, in order, for devices without a stored
	// credential.
	Providers []hook.CredentialProvider
	// ClientIdentity is the client-certificate field that names the
	// device: IdentityCN (default), IdentitySerialNumber, IdentityDNS or
	// IdentityURI.
	ClientIdentity string
	// FailureLimit failed authentications of one device, or
	// FailureLimitIP from one source address, start an exponential
	// back-off from Backoff up to BackoffMax during which requests are
	// refused with 503 without looking at their credentials. Defaults 5,
	// 50, 1s, 10m; a negative limit disables that back-off.
	FailureLimit, FailureLimitIP int
	Backoff, BackoffMax          time.Duration
	// TableSize bounds each table of per-device, per-address and per-nonce
	// state. Default 100000.
	TableSize int
	Log       *slog.Logger
	// Now is the clock; tests set it.
	Now func() time.Time
}

// Auth authenticates CPEs for a Handler.
type Auth struct {
	cfg      AuthConfig
	log      *slog.Logger
	nonces   *nonces
	fails    *failures
	opaque   string
	proofKey [32]byte
	proofs   sync.Pool // HMAC hashers keyed with proofKey
	// Stats counts outcomes.
	Stats AuthStats

	backoffLog logGate
}

// ValidMode reports whether m is an authentication mode; profile says
// whether it is for a device profile, where ModeAllowList is allowed too.
func ValidMode(m string, profile bool) bool {
	switch m {
	case ModeDigest, ModeBasic, ModeAny, ModeNone:
		return true
	case ModeAllowList:
		return profile
	}
	return false
}

// NewAuth checks the configuration and fills in defaults.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeAny
	}
	if !ValidMode(cfg.Mode, false) {
		return nil, fmt.Errorf("auth mode %q: want digest, basic, any or none", cfg.Mode)
	}
	if cfg.Realm == "" {
		cfg.Realm = "provisor"
	}
	if strings.ContainsAny(cfg.Realm, "\"\\\r\n") {
		return nil, fmt.Errorf("auth realm %q: no quotes, backslashes or line breaks", cfg.Realm)
	}
	if cfg.SharedPassword != "" {
		if err := store.CheckUsername(cfg.SharedUsername); err != nil {
			return nil, fmt.Errorf("shared credential: %w", err)
		}
	}
	switch cfg.Rebootstrap {
	case "":
		cfg.Rebootstrap = RebootstrapRefuse
	case RebootstrapRefuse, RebootstrapAccept:
	default:
		return nil, fmt.Errorf("re-bootstrap policy %q: want refuse or accept", cfg.Rebootstrap)
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = 5 * time.Minute
	}
	if len(cfg.DigestAlgorithms) == 0 {
		cfg.DigestAlgorithms = []string{"MD5", "SHA-256"}
	}
	for i, a := range cfg.DigestAlgorithms {
		a = strings.ToUpper(strings.TrimSpace(a))
		if a != "MD5" && a != "SHA-256" {
			return nil, fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", a)
		}
		cfg.DigestAlgorithms[i] = a
	}
	switch cfg.ClientIdentity {
	case "":
		cfg.ClientIdentity = IdentityCN
	case IdentityCN, IdentitySerialNumber, IdentityDNS, IdentityURI:
	default:
		return nil, fmt.Errorf("client certificate identity %q: want cn, serial_number, dns or uri", cfg.ClientIdentity)
	}
	if cfg.FailureLimit == 0 {
		cfg.FailureLimit = 5
	}
	if cfg.FailureLimitIP == 0 {
		cfg.FailureLimitIP = 50
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Auth{
		cfg:    cfg,
		log:    cfg.Log.With("component", "cpe-auth"),
		nonces: newNonces(cfg.NonceLifetime, cfg.TableSize),
		fails:  newFailures(cfg.Backoff, cfg.BackoffMax, cfg.TableSize),
	}
	_, _ = rand.Read(a.proofKey[:])
	var o [8]byte
	_, _ = rand.Read(o[:])
	a.opaque = hex.EncodeToString(o[:])
	return a, nil
}

// Realm returns the realm in use.
func (a *Auth) Realm() string { return a.cfg.Realm }

// authRequest is what authentication needs of one HTTP request.
type authRequest struct {
	r    *http.Request
	ip   netip.Addr
	tls  bool              // TLS to the client, directly or at a trusted proxy
	cert *x509.Certificate // verified client certificate, or nil
}

// secret is a credential that can check a password or a Digest response.
type secret struct {
	username string
	password string               // plain text: shared and provider credentials
	stored   *store.CPECredential // hashes: the device's own credential
	shared   bool
	// rebootstrap: the shared credential, in a "0 BOOTSTRAP" Inform of a
	// device that has its own. The re-bootstrap policy decides once the
	// password is known to be right (see ok).
	rebootstrap bool
}

func (s *secret) ha1(algorithm, realm string) (string, bool) {
	if s.stored != nil {
		if s.stored.Realm != realm {
			return "", false
		}
		h := s.stored.HA1(algorithm)
		return h, h != ""
	}
	h := store.DigestHA1(algorithm, s.username, realm, s.password)
	return h, h != ""
}

// checkPassword checks a Basic password. An error says the stored hash is
// missing or unusable (store.ErrCorrupt): no password can pass.
func (s *secret) checkPassword(pw string) (bool, error) {
	if s.stored != nil {
		return s.stored.CheckPassword(pw)
	}
	return subtle.ConstantTimeCompare([]byte(pw), []byte(s.password)) == 1, nil
}

// failure is why an authentication failed: for the log, for the counters
// and for back-off (brute counts toward it: a guess at a password).
type failure struct {
	reason  string
	counter func(*AuthStats) *atomic.Int64
	brute   bool
	// forbid answers 403: new credentials cannot help.
	forbid bool
}

var (
	failUnknownUser   = failure{"unknown user", func(s *AuthStats) *atomic.Int64 { return &s.UnknownUsers }, true, false}
	failWrongPassword = failure{"wrong password", func(s *AuthStats) *atomic.Int64 { return &s.WrongPassword }, true, false}
	failSharedRefused = failure{"shared credential refused: the device has its own (delete it to re-admit a factory-reset device)", func(s *AuthStats) *atomic.Int64 { return &s.SharedRefused }, true, false}
	failCertMismatch  = failure{"certificate mismatch", func(s *AuthStats) *atomic.Int64 { return &s.CertMismatch }, true, true}
	failMalformed     = failure{"malformed credentials", func(s *AuthStats) *atomic.Int64 { return &s.Malformed }, false, false}
	failReplay        = failure{"replayed nonce", func(s *AuthStats) *atomic.Int64 { return &s.Replays }, false, false}
	failURI           = failure{"Digest uri does not name this request", func(s *AuthStats) *atomic.Int64 { return &s.Malformed }, false, false}
	failRealmHashes   = failure{"stored credential made for another realm", func(s *AuthStats) *atomic.Int64 { return &s.SchemeRefused }, false, false}
	// Not a guess either: no password passes an unusable hash.
	failStoredHash = failure{"stored credential has no usable Basic password hash", func(s *AuthStats) *atomic.Int64 { return &s.SchemeRefused }, false, false}
	// Not a guess (the password is right), so no back-off: the device is
	// admitted at its next retry once an operator deletes its credential.
	failRebootstrap = failure{"0 BOOTSTRAP with the shared credential from a device that has its own (factory reset?): refused by auth.rebootstrap=refuse; " +
		"delete the device's credential (provisor device credential delete <device>) to re-admit it", func(s *AuthStats) *atomic.Int64 { return &s.RebootstrapRefused }, false, false}
)

// authorize is the session.Authorizer of one request.
func (a *Auth) authorize(ctx context.Context, in *authRequest, t session.Target) (session.AuthInfo, *session.Response) {
	now := a.cfg.Now()
	if t.Bound {
		return a.bound(ctx, in, t, now)
	}
	mode := a.modeFor(t.Profile)
	if wait, blocked := a.fails.blocked("dev:"+t.DeviceID, now); blocked {
		a.Stats.BackedOff.Add(1)
		if a.backoffLog.allow(now, time.Second) {
			a.log.Warn("device in authentication back-off; refused without checking credentials",
				"device", t.DeviceID, "ip", in.ip, "retry_in", wait.Round(time.Second))
		}
		return session.AuthInfo{}, retryLater(wait, "too many failed authentications; retry later")
	}
	// A verified client certificate authenticates the device (TR-069
	// §3.4.4), whatever the mode; one naming another device is refused
	// even where no authentication is needed.
	if in.cert != nil {
		if certMatches(in.cert, a.cfg.ClientIdentity, t.DeviceID, t.Device.SerialNumber) {
			return a.ok(ctx, in, t, session.AuthInfo{Method: MethodClientCert, Username: in.cert.Subject.CommonName, TLS: true}, nil, now)
		}
		return session.AuthInfo{}, a.fail(in, t, mode, failCertMismatch, strings.Join(certIdentities(in.cert, a.cfg.ClientIdentity), ","), now)
	}
	switch mode {
	case ModeNone:
		return session.AuthInfo{Method: ModeNone, TLS: in.tls}, nil
	case ModeAllowList:
		allow, err := ParsePrefixList(t.Profile.AllowFrom)
		if err == nil && contains(allow, in.ip) {
			return session.AuthInfo{Method: ModeAllowList, TLS: in.tls}, nil
		}
		a.Stats.NotAllowed.Add(1)
		a.Stats.Failed.Add(1)
		a.log.Warn("CPE authentication failed", "device", t.DeviceID, "ip", in.ip, "reason", "source address not in the profile's allow-list", "profile", t.Profile.Name)
		return session.AuthInfo{}, &session.Response{Status: http.StatusForbidden, Problem: "source address not allowed", Close: true}
	}
	hdr := in.r.Header.Get("Authorization")
	if hdr == "" {
		a.Stats.NoCredentials.Add(1)
		a.noCredentials(in, t, now)
		return session.AuthInfo{}, a.challenge(in, mode, false, "authentication required", now)
	}
	return a.check(ctx, in, t, mode, hdr, true, now)
}

// check verifies an Authorization header for the device. fresh asks for
// the nonce checks too (expiry, replay): every request that
// authenticates a session gets them; a bound session's later POSTs, which
// CPEs often send with the header of their first one repeated verbatim,
// only need the credentials to be right.
func (a *Auth) check(ctx context.Context, in *authRequest, t session.Target, mode, hdr string, fresh bool, now time.Time) (session.AuthInfo, *session.Response) {
	az, err := ParseAuthorization(hdr)
	if err != nil {
		return session.AuthInfo{}, a.fail(in, t, mode, failMalformed, "", now)
	}
	switch az.Scheme {
	case "digest":
		if mode == ModeBasic {
			return session.AuthInfo{}, a.refuseScheme(in, t, mode, "Digest is not accepted for this device", now)
		}
		return a.digest(ctx, in, t, mode, az.Params, hdr, fresh, now)
	case "basic":
		if mode == ModeDigest {
			return session.AuthInfo{}, a.refuseScheme(in, t, mode, "Basic is not accepted for this device", now)
		}
		if !in.tls && !a.cfg.AllowBasicWithoutTLS {
			return session.AuthInfo{}, a.refuseScheme(in, t, mode, "Basic over plain HTTP refused (use HTTPS, or Digest)", now)
		}
		return a.basic(ctx, in, t, mode, az.Token, hdr, now)
	}
	return session.AuthInfo{}, a.refuseScheme(in, t, mode, "unsupported scheme "+clip(az.Scheme), now)
}

func (a *Auth) digest(ctx context.Context, in *authRequest, t session.Target, mode string, p map[string]string, hdr string, fresh bool, now time.Time) (session.AuthInfo, *session.Response) {
	d := digestRequestOf(p)
	nc, ncOK := d.ncValue()
	switch {
	case d.username == "" || d.nonce == "" || d.uri == "" || d.response == "":
		return session.AuthInfo{}, a.fail(in, t, mode, failMalformed, d.username, now)
	case d.qop == "auth" && (!ncOK || d.cnonce == ""):
		return session.AuthInfo{}, a.fail(in, t, mode, failMalformed, d.username, now)
	case d.realm != a.cfg.Realm:
		return session.AuthInfo{}, a.refuseScheme(in, t, mode, "Digest for realm "+clip(d.realm)+", not "+a.cfg.Realm, now)
	case digestAlgOf(d.algorithm) == algUnsupported:
		return session.AuthInfo{}, a.refuseScheme(in, t, mode, "unsupported Digest algorithm "+clip(d.algorithm), now)
	case d.qop != "" && d.qop != "auth":
		return session.AuthInfo{}, a.refuseScheme(in, t, mode, "unsupported Digest qop "+clip(d.qop), now)
	case !uriMatches(d.uri, in.r):
		return session.AuthInfo{}, a.fail(in, t, mode, failURI, d.username, now)
	}
	sec, deny := a.lookup(ctx, in, t, mode, d.username, now)
	if deny != nil {
		return session.AuthInfo{}, deny
	}
	ha1, ok := sec.ha1(d.algorithm, d.realm)
	if !ok {
		// The stored hashes were made for another realm: only a new
		// credential (or Basic over TLS) can help.
		a.log.Warn("the device's stored credential has no Digest hash for this realm; re-provision it", "device", t.DeviceID, "realm", d.realm)
		return session.AuthInfo{}, a.fail(in, t, mode, failRealmHashes, d.username, now)
	}
	if !d.verify(ha1, in.r.Method) {
		return session.AuthInfo{}, a.fail(in, t, mode, failWrongPassword, d.username, now)
	}
	if fresh {
		// The nonce is judged only now, with the password known to be
		// right: stale=true then tells the CPE to retry with a new nonce
		// without its user's help, and does not count as a failure.
		issued, ours := a.nonces.issued(d.nonce)
		if !ours || now.Sub(issued) > a.cfg.NonceLifetime || issued.After(now.Add(time.Minute)) {
			a.Stats.StaleNonces.Add(1)
			a.log.Debug("stale Digest nonce; challenged again", "device", t.DeviceID, "ip", in.ip)
			return session.AuthInfo{}, a.challenge(in, mode, true, "stale nonce", now)
		}
		if !a.nonces.use(d.nonce, nc, d.qop == "auth", issued, now) {
			// stale=true: a CPE that merely repeated itself gets a new
			// nonce; an eavesdropper still lacks the password.
			a.record(in, t, failReplay, d.username, now)
			return session.AuthInfo{}, a.challenge(in, mode, true, "authentication failed", now)
		}
	}
	return a.ok(ctx, in, t, session.AuthInfo{Method: ModeDigest, Username: d.username, Shared: sec.shared, TLS: in.tls, Proof: a.proof(hdr)}, sec, now)
}

func (a *Auth) basic(ctx context.Context, in *authRequest, t session.Target, mode, token, hdr string, now time.Time) (session.AuthInfo, *session.Response) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(token, "="))
	}
	user, pw, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || user == "" {
		return session.AuthInfo{}, a.fail(in, t, mode, failMalformed, "", now)
	}
	sec, deny := a.lookup(ctx, in, t, mode, user, now)
	if deny != nil {
		return session.AuthInfo{}, deny
	}
	ok, err = sec.checkPassword(pw)
	if err != nil {
		// Only a new credential (or Digest, from its HA1) can help. The
		// error names the credential, never the hash.
		a.log.Warn("the device's stored credential cannot verify Basic passwords; re-provision it, or use Digest", "device", t.DeviceID, "err", err)
		return session.AuthInfo{}, a.fail(in, t, mode, failStoredHash, user, now)
	}
	if !ok {
		return session.AuthInfo{}, a.fail(in, t, mode, failWrongPassword, user, now)
	}
	return a.ok(ctx, in, t, session.AuthInfo{Method: ModeBasic, Username: user, Shared: sec.shared, TLS: in.tls, Proof: a.proof(hdr)}, sec, now)
}

// lookup finds the credential the device must use: its own from the
// store, else one a provider vouches for, else the shared one. A device
// with a credential of its own is refused with the shared one.
func (a *Auth) lookup(ctx context.Context, in *authRequest, t session.Target, mode, username string, now time.Time) (*secret, *session.Response) {
	if a.cfg.Store != nil {
		creds, err := a.cfg.Store.DeviceCredentials(ctx, t.DeviceID)
		if err != nil {
			return nil, a.unavailable(in, t, "reading the device's credentials", err)
		}
		active := false
		for i := range creds {
			if creds[i].Username == username {
				return &secret{username: username, stored: &creds[i]}, nil
			}
			active = active || !creds[i].Pending
		}
		// A pending credential alone does not shut the shared one out:
		// the device may never have stored it. Nor does a credential
		// activated during this very session: many CPEs apply new
		// credentials only once the session is over, and keep answering
		// with the ones the session began with.
		sameSession := !t.Inform && t.Session.Shared && t.Session.Username == username
		if active && !sameSession {
			if a.isShared(username) && t.Inform && t.Bootstrap {
				// A factory-reset device, or someone who holds the shared
				// credential and claims to be it: ok applies the policy
				// once the password is verified.
				return &secret{username: username, password: a.cfg.SharedPassword, shared: true, rebootstrap: true}, nil
			}
			if a.isShared(username) {
				return nil, a.fail(in, t, mode, failSharedRefused, username, now)
			}
			return nil, a.fail(in, t, mode, failUnknownUser, username, now)
		}
	}
	q := hook.CredentialQuery{Username: username, DeviceID: t.DeviceID, Device: t.Device, RemoteIP: in.ip.String()}
	for _, p := range a.cfg.Providers {
		c, found, err := p.CPECredential(ctx, q)
		if err != nil {
			return nil, a.unavailable(in, t, "asking a credential provider", err)
		}
		if !found {
			continue
		}
		if c.Username != username || c.Password == "" {
			if a.isShared(username) {
				return nil, a.fail(in, t, mode, failSharedRefused, username, now)
			}
			return nil, a.fail(in, t, mode, failUnknownUser, username, now)
		}
		return &secret{username: username, password: c.Password}, nil
	}
	if a.isShared(username) {
		return &secret{username: username, password: a.cfg.SharedPassword, shared: true}, nil
	}
	return nil, a.fail(in, t, mode, failUnknownUser, username, now)
}

func (a *Auth) isShared(username string) bool {
	return a.cfg.SharedPassword != "" && username == a.cfg.SharedUsername
}

// bound checks a POST of a live session on the session's own connection
// or cookie. The session was authenticated when it began, and many CPEs
// send no Authorization after that; a header that is sent must verify,
// for the session's device.
func (a *Auth) bound(ctx context.Context, in *authRequest, t session.Target, now time.Time) (session.AuthInfo, *session.Response) {
	mode := a.modeFor(t.Profile)
	if in.cert != nil && !certMatches(in.cert, a.cfg.ClientIdentity, t.DeviceID, t.Device.SerialNumber) {
		return session.AuthInfo{}, a.fail(in, t, mode, failCertMismatch, strings.Join(certIdentities(in.cert, a.cfg.ClientIdentity), ","), now)
	}
	if t.Session.Method != ModeDigest && t.Session.Method != ModeBasic {
		return t.Session, nil
	}
	hdr := in.r.Header.Get("Authorization")
	if hdr == "" || (t.Session.Proof != "" && hmac.Equal([]byte(a.proof(hdr)), []byte(t.Session.Proof))) {
		return t.Session, nil
	}
	info, deny := a.check(ctx, in, t, mode, hdr, false, now)
	if deny != nil {
		return info, deny
	}
	return t.Session, nil
}

func (a *Auth) modeFor(p session.Profile) string {
	if p.Auth != "" {
		return p.Auth
	}
	return a.cfg.Mode
}

// ok records a success: the device's and the address's failures are
// forgiven, and a pending credential is confirmed by its use. The shared
// credential of a device re-bootstrapping with it is refused here, or
// admitted, by the re-bootstrap policy.
func (a *Auth) ok(ctx context.Context, in *authRequest, t session.Target, info session.AuthInfo, sec *secret, now time.Time) (session.AuthInfo, *session.Response) {
	if sec != nil && sec.rebootstrap {
		if a.cfg.Rebootstrap != RebootstrapAccept {
			return session.AuthInfo{}, a.fail(in, t, a.modeFor(t.Profile), failRebootstrap, sec.username, now)
		}
		a.Stats.RebootstrapAccepted.Add(1)
		info.Rebootstrap = true
		a.log.Warn("device that has its own credential re-bootstrapped with the shared credential (factory reset?); "+
			"admitted by auth.rebootstrap=accept, and its credential is replaced once it acknowledges a new one",
			"device", t.DeviceID, "ip", in.ip)
	}
	a.fails.reset("dev:" + t.DeviceID)
	a.fails.reset("nc:" + t.DeviceID)
	a.fails.reset("ip:" + addrKey(in.ip))
	if sec != nil && sec.stored != nil && sec.stored.Pending {
		if err := a.cfg.Store.ActivateCPECredential(ctx, sec.stored.Username); err != nil {
			a.log.Warn("confirming the device's new credential failed; it stays pending", "device", t.DeviceID, "err", err)
		} else {
			a.Stats.Activated.Add(1)
			a.log.Info("device confirmed its new credential by using it; the shared one is refused for it now", "device", t.DeviceID, "username", sec.username)
		}
	}
	a.Stats.OK.Add(1)
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.Debug("CPE authenticated", "device", t.DeviceID, "ip", in.ip, "method", info.Method, "username", info.Username, "shared", info.Shared)
	}
	return info, nil
}

// fail records a failed authentication, logs which device failed and why
// (never what it sent), counts it toward back-off if it was a guess, and
// answers with a fresh challenge, or 403 for a certificate of another
// device.
func (a *Auth) fail(in *authRequest, t session.Target, mode string, f failure, username string, now time.Time) *session.Response {
	a.record(in, t, f, username, now)
	if f.forbid {
		return &session.Response{Status: http.StatusForbidden, Problem: "client certificate does not match the device", Close: true}
	}
	return a.challenge(in, mode, false, "authentication failed", now)
}

// record counts and logs a failure.
func (a *Auth) record(in *authRequest, t session.Target, f failure, username string, now time.Time) {
	a.Stats.Failed.Add(1)
	f.counter(&a.Stats).Add(1)
	attrs := []any{"device", t.DeviceID, "ip", in.ip, "reason", f.reason}
	if username != "" {
		attrs = append(attrs, "username", clip(username))
	}
	if f.brute {
		if d := a.fails.fail("dev:"+t.DeviceID, a.cfg.FailureLimit, now); d > 0 {
			attrs = append(attrs, "device_backoff", d)
		}
		if d := a.fails.fail("ip:"+addrKey(in.ip), a.cfg.FailureLimitIP, now); d > 0 {
			attrs = append(attrs, "address_backoff", d)
		}
	}
	a.log.Warn("CPE authentication failed", attrs...)
}

// refuseScheme answers credentials of a kind the device may not use; it
// is a configuration problem, not a guess.
func (a *Auth) refuseScheme(in *authRequest, t session.Target, mode, why string, now time.Time) *session.Response {
	a.Stats.Failed.Add(1)
	a.Stats.SchemeRefused.Add(1)
	a.log.Warn("CPE authentication failed", "device", t.DeviceID, "ip", in.ip, "reason", why)
	return a.challenge(in, mode, false, why, now)
}

func (a *Auth) unavailable(in *authRequest, t session.Target, what string, err error) *session.Response {
	a.Stats.Unavailable.Add(1)
	a.log.Error("CPE authentication impossible: "+what+" failed", "device", t.DeviceID, "ip", in.ip, "err", err)
	if errors.Is(err, context.Canceled) {
		return &session.Response{Status: http.StatusServiceUnavailable, Close: true}
	}
	return retryLater(30*time.Second, "credentials unavailable; retry later")
}

// noCredentials notes a request without Authorization. That is the normal
// first step of Digest, so it is logged only when a device keeps doing it:
// a CPE that never sends credentials is stuck in a 401 loop (TR-069 quirk:
// easycwmp, some D-Link) and its operator needs to know why.
func (a *Auth) noCredentials(in *authRequest, t session.Target, now time.Time) {
	n := a.fails.count("nc:"+t.DeviceID, now)
	if n == 3 || n%50 == 0 {
		a.log.Warn("CPE authentication failed", "device", t.DeviceID, "ip", in.ip, "reason", "no credentials sent",
			"times", n, "hint", "set the device's ACS user name and password, or give its profile auth: none or allow-list")
		return
	}
	a.log.Debug("authentication required; challenge sent", "device", t.DeviceID, "ip", in.ip)
}

// challenge builds the 401 with the schemes the mode allows here; none
// allowed (Basic only, on plain HTTP) is a 403.
func (a *Auth) challenge(in *authRequest, mode string, stale bool, problem string, now time.Time) *session.Response {
	h := http.Header{}
	if mode != ModeBasic {
		nonce := a.nonces.issue(now)
		for _, alg := range a.cfg.DigestAlgorithms {
			v := `Digest realm="` + a.cfg.Realm + `", qop="auth", algorithm=` + alg + `, nonce="` + nonce + `", opaque="` + a.opaque + `"`
			if stale {
				v += ", stale=true"
			}
			h.Add("WWW-Authenticate", v)
		}
	}
	if mode != ModeDigest && (in.tls || a.cfg.AllowBasicWithoutTLS) {
		h.Add("WWW-Authenticate", `Basic realm="`+a.cfg.Realm+`", charset="UTF-8"`)
	}
	if len(h) == 0 {
		return &session.Response{Status: http.StatusForbidden, Problem: "Basic authentication needs HTTPS", Close: true}
	}
	a.Stats.Challenges.Add(1)
	return &session.Response{Status: http.StatusUnauthorized, Header: h, Problem: problem}
}

// proof is a keyed hash of an Authorization header.
func (a *Auth) proof(hdr string) string {
	m, _ := a.proofs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, a.proofKey[:])
	}
	m.Reset()
	_, _ = io.WriteString(m, hdr)
	var sum [sha256.Size]byte
	out := hex.EncodeToString(m.Sum(sum[:0])[:16])
	a.proofs.Put(m)
	return out
}

// retryLater is a 503 with Retry-After rounded up to whole seconds.
func retryLater(wait time.Duration, problem string) *session.Response {
	return &session.Response{Status: http.StatusServiceUnavailable, RetryAfter: retrySeconds(wait), Problem: problem, Close: true}
}

func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// clip shortens what a client sent before it goes into a log line.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

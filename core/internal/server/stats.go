package server

import (
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/internal/metrics"
)

// Stats counts what the CPE endpoint refused before any session saw the
// request. All fields are read atomically; a metrics exporter reads them
// as they are.
type Stats struct {
	// DeniedConns counts connections closed at accept because their
	// source is outside the listener's allow-list; DeniedRequests requests
	// refused with 403 for the same reason after trusted-proxy handling.
	DeniedConns    atomic.Int64
	DeniedRequests atomic.Int64
	// RateLimited counts requests refused with 503 by the per-address
	// token bucket.
	RateLimited atomic.Int64
	// BackedOff counts requests refused with 503 because their source
	// address is in authentication back-off.
	BackedOff atomic.Int64
}

// AuthStats counts authentication outcomes. Failed counts credentials
// refused (wrong, unknown, replayed, malformed, of a refused scheme, a
// mismatched certificate, an address outside a profile's list); the
// counters below it say why. A challenge for missing credentials and a
// stale nonce are the normal course of Digest, not failures; back-off and
// unavailability refuse without judging the credentials.
type AuthStats struct {
	OK         atomic.Int64
	Challenges atomic.Int64 // 401 responses sent
	Failed     atomic.Int64

	NoCredentials atomic.Int64 // 401 because no Authorization was sent
	StaleNonces   atomic.Int64 // right password, expired or foreign nonce
	Replays       atomic.Int64 // a nonce count or nonce used before
	UnknownUsers  atomic.Int64
	WrongPassword atomic.Int64
	SharedRefused atomic.Int64 // shared credential from a device that has its own
	// RebootstrapRefused and RebootstrapAccepted count "0 BOOTSTRAP"
	// Informs with the right shared credential from devices that have
	// their own, by what the re-bootstrap policy decided.
	RebootstrapRefused  atomic.Int64
	RebootstrapAccepted atomic.Int64
	CertMismatch        atomic.Int64 // client certificate of another device
	SchemeRefused       atomic.Int64 // Basic without TLS, a scheme the mode excludes, a stored credential unusable for the scheme
	Malformed           atomic.Int64
	NotAllowed          atomic.Int64 // "allow-list" device from an address outside its list
	BackedOff           atomic.Int64 // device in back-off: refused without checking
	Unavailable         atomic.Int64 // store or provider failed: 503
	Activated           atomic.Int64 // pending credentials confirmed by use
}

// logGate lets one log line through per interval, so that a flood of
// refused requests cannot flood the log too; the counters keep the totals.
type logGate struct{ next atomic.Int64 }

func (g *logGate) allow(now time.Time, every time.Duration) bool {
	n := g.next.Load()
	if now.UnixNano() < n {
		return false
	}
	return g.next.CompareAndSwap(n, now.Add(every).UnixNano())
}

// RegisterMetrics exposes the authentication counters, read on each
// scrape: provisor_cpe_auth_total by result, and
// provisor_cpe_rebootstrap_total by the re-bootstrap policy's decision,
// which is worth an alert of its own under "refuse": each one is a device
// that stays locked out until an operator deletes its credential.
func (a *Auth) RegisterMetrics(r *metrics.Registry) {
	s := &a.Stats
	r.NewCollector("provisor_cpe_auth_total", "CPE authentication outcomes; the results other than ok, challenge and stale_nonce are failures.",
		metrics.KindCounter, []string{"result"}, func(emit func(float64, ...string)) {
			for _, c := range []struct {
				name string
				v    *atomic.Int64
			}{
				{"ok", &s.OK}, {"challenge", &s.Challenges}, {"stale_nonce", &s.StaleNonces},
				{"no_credentials", &s.NoCredentials}, {"replay", &s.Replays}, {"unknown_user", &s.UnknownUsers},
				{"wrong_password", &s.WrongPassword}, {"shared_refused", &s.SharedRefused},
				{"rebootstrap_refused", &s.RebootstrapRefused}, {"cert_mismatch", &s.CertMismatch},
				{"scheme_refused", &s.SchemeRefused}, {"malformed", &s.Malformed}, {"not_allowed", &s.NotAllowed},
				{"backed_off", &s.BackedOff}, {"unavailable", &s.Unavailable},
			} {
				emit(float64(c.v.Load()), c.name)
			}
		})
	r.NewCollector("provisor_cpe_rebootstrap_total", `"0 BOOTSTRAP" Informs with the shared credential from devices that have their own (factory resets), by the decision of auth.rebootstrap.`,
		metrics.KindCounter, []string{"decision"}, func(emit func(float64, ...string)) {
			emit(float64(s.RebootstrapRefused.Load()), "refused")
			emit(float64(s.RebootstrapAccepted.Load()), "accepted")
		})
	r.NewCounterFunc("provisor_cpe_credentials_activated_total", "Pending per-device credentials confirmed by their first use.",
		func() float64 { return float64(s.Activated.Load()) })
}

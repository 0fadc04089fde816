package server

import (
	"sync/atomic"
	"time"
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
	CertMismatch  atomic.Int64 // client certificate of another device
	SchemeRefused atomic.Int64 // Basic without TLS, or a scheme the mode excludes
	Malformed     atomic.Int64
	NotAllowed    atomic.Int64 // "allow-list" device from an address outside its list
	BackedOff     atomic.Int64 // device in back-off: refused without checking
	Unavailable   atomic.Int64 // store or provider failed: 503
	Activated     atomic.Int64 // pending credentials confirmed by use
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

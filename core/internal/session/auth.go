package session

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// The engine does not authenticate; the HTTP layer does, through
// Request.Authorize. The engine's part is to call it at the one point
// where the device a POST is for is known (the Inform is decoded, or the
// POST's session is found) and before the POST has any effect, because
// the rules depend on the device: its profile may turn authentication off
// or allow an address range instead, and a credential is bound to one
// device.

// Authorizer decides whether a POST may go on. It returns how the device
// was authenticated, or the response to send instead (401, 403, 503).
type Authorizer func(ctx context.Context, t Target) (AuthInfo, *Response)

// Target is what the engine knows about a POST when it asks to authorize
// it.
type Target struct {
	// DeviceID is the store ID of the device, Device its identity from the
	// Inform (the session's Inform for later POSTs).
	DeviceID string
	Device   cwmp.DeviceID
	// Profile is the device's profile.
	Profile Profile
	// Inform is set for the POST that opens a session, Bootstrap when that
	// Inform carries "0 BOOTSTRAP" (a device new to this ACS, or one that
	// was factory reset).
	Inform, Bootstrap bool
	// Bound is set when the POST came on the TCP connection or with the
	// cookie of the live session it belongs to; that session was
	// authorized when it began. A POST matched to its session only by
	// cwmp:ID or source address is not bound.
	Bound bool
	// Session is how the session was authorized; zero for an Inform.
	Session AuthInfo
}

// AuthInfo is how a session's device proved who it is.
type AuthInfo struct {
	// Method is "digest", "basic", "client-certificate", "allow-list" or
	// "none"; empty when the HTTP layer does not authenticate at all.
	Method string
	// Username is the user name of an HTTP authentication.
	Username string
	// Shared is set when the device used the shared bootstrap credential
	// rather than one of its own.
	Shared bool
	// Rebootstrap is set when a device that has a credential of its own
	// was admitted with the shared one for its "0 BOOTSTRAP" session, by
	// the server's re-bootstrap policy: it is to be given a new one.
	Rebootstrap bool
	// TLS is set when the Inform came over TLS.
	TLS bool
	// Proof identifies the Authorization header that authenticated the
	// session (a keyed hash, never the header), so that a CPE repeating
	// it on every POST is not verified again each time.
	Proof string
}

// Auth returns how the session's device was authenticated.
func (s *Session) Auth() AuthInfo { return s.auth }

// informHas reports whether an Inform carries an event code.
func informHas(in *cwmp.Inform, code cwmp.EventCode) bool {
	for _, e := range in.Events {
		if cwmp.ParseEvent(string(e.EventCode)).Code == code {
			return true
		}
	}
	return false
}

// full reports whether a new session would exceed the configured limit.
func (m *Manager) full() bool {
	return m.cfg.MaxSessions > 0 && m.Stats.Live.Load() >= int64(m.cfg.MaxSessions)
}

// shed answers an Inform the engine has no room for: 503 with Retry-After,
// which makes the CPE retry its session later (TR-069 §3.2.1.1).
func (m *Manager) shed(deviceID string) *Response {
	m.Stats.Shed.Add(1)
	if m.shedLog.allow(time.Now(), time.Second) {
		m.log.Warn("session limit reached; Inform refused with 503", "device", deviceID,
			"live", m.Stats.Live.Load(), "limit", m.cfg.MaxSessions, "refused_total", m.Stats.Shed.Load())
	}
	return &Response{Status: http.StatusServiceUnavailable, RetryAfter: int(m.cfg.RetryAfter / time.Second),
		Problem: "too many live sessions; retry later", Close: true}
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

package server

import (
	"net/netip"
	"sync"
	"time"
)

// table is a map with a size bound, for state that strangers can make the
// server create (one entry per source address, device or nonce). When it
// is full, entries that no longer matter go first; if all still matter,
// an arbitrary eighth goes, which for a rate limiter means a few sources
// get a fresh bucket and for a back-off a few get a reprieve: degraded
// protection, never unbounded memory.
type table[V any] struct {
	mu        sync.Mutex
	m         map[string]*V
	max       int
	idle      func(v *V, now time.Time) bool
	evictions int64
}

func newTable[V any](max int, idle func(v *V, now time.Time) bool) *table[V] {
	if max <= 0 {
		max = 100_000
	}
	return &table[V]{m: make(map[string]*V), max: max, idle: idle}
}

// do runs fn on the entry of key, creating it first when create is set,
// and reports whether the entry existed or was created.
func (t *table[V]) do(key string, now time.Time, create bool, fn func(v *V)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.m[key]
	if v == nil {
		if !create {
			return false
		}
		if len(t.m) >= t.max {
			t.evict(now)
		}
		v = new(V)
		t.m[key] = v
	}
	fn(v)
	return true
}

func (t *table[V]) delete(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

func (t *table[V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// evict makes room; t.mu is held. The sweep is O(n), but after it at
// least an eighth of the table is free, so it runs at most once per max/8
// insertions.
func (t *table[V]) evict(now time.Time) {
	for k, v := range t.m {
		if t.idle(v, now) {
			delete(t.m, k)
		}
	}
	if len(t.m) < t.max-t.max/8 {
		return
	}
	t.evictions++
	n := t.max/8 + 1
	for k := range t.m { // map order is random
		delete(t.m, k)
		if n--; n == 0 {
			break
		}
	}
}

// rateLimiter is a token bucket per key.
type rateLimiter struct {
	rate, burst float64
	t           *table[bucket]
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perSecond float64, burst, size int) *rateLimiter {
	if burst < 1 {
		burst = max(1, int(perSecond))
	}
	l := &rateLimiter{rate: perSecond, burst: float64(burst)}
	l.t = newTable(size, func(b *bucket, now time.Time) bool {
		// A bucket that has refilled is the same as no bucket.
		return b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst
	})
	return l
}

// allow takes a token for key; when none is left it says how long until
// the next one.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	ok, wait := false, time.Duration(0)
	l.t.do(key, now, true, func(b *bucket) {
		if b.last.IsZero() {
			b.tokens = l.burst
		} else {
			b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		}
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			ok = true
			return
		}
		wait = time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	})
	return ok, wait
}

// failures counts failed authentications per key (a device, a source
// address) and imposes an exponential back-off once a key reaches its
// limit: base, 2×base, 4×base … up to max. Failures are forgotten after a
// quiet window; a success forgets them at once.
type failures struct {
	t         *table[failState]
	base, max time.Duration
}

type failState struct {
	n     int
	last  time.Time
	until time.Time
}

func newFailures(base, maxBackoff time.Duration, size int) *failures {
	if base <= 0 {
		base = time.Second
	}
	if maxBackoff < base {
		maxBackoff = base
	}
	f := &failures{base: base, max: maxBackoff}
	f.t = newTable(size, func(s *failState, now time.Time) bool {
		return now.Sub(s.last) > f.window() && !now.Before(s.until)
	})
	return f
}

// window is how long failures are remembered without a new one.
func (f *failures) window() time.Duration { return 2 * f.max }

// blocked reports whether key is in back-off, and for how much longer.
func (f *failures) blocked(key string, now time.Time) (time.Duration, bool) {
	var wait time.Duration
	f.t.do(key, now, false, func(s *failState) {
		if now.Before(s.until) {
			wait = s.until.Sub(now)
		}
	})
	return wait, wait > 0
}

// fail records a failure; at limit or beyond it starts a back-off and
// returns its length. limit <= 0 counts without ever backing off.
func (f *failures) fail(key string, limit int, now time.Time) time.Duration {
	var d time.Duration
	f.t.do(key, now, true, func(s *failState) {
		if now.Sub(s.last) > f.window() {
			s.n = 0
		}
		s.n++
		s.last = now
		if limit <= 0 || s.n < limit {
			return
		}
		d = f.base << min(s.n-limit, 30)
		if d > f.max || d <= 0 {
			d = f.max
		}
		s.until = now.Add(d)
	})
	return d
}

// count bumps a plain counter kept in the same table and returns it.
func (f *failures) count(key string, now time.Time) int {
	n := 0
	f.t.do(key, now, true, func(s *failState) {
		if now.Sub(s.last) > f.window() {
			s.n = 0
		}
		s.n++
		s.last = now
		n = s.n
	})
	return n
}

func (f *failures) reset(key string) { f.t.delete(key) }

// addrKey is the key of a source address in per-address tables. IPv6
// addresses count per /64, the smallest block a site gets: per address,
// one host could take a fresh bucket for every request.
func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.Unmap().String()
}

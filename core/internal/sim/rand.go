package sim

// rng is SplitMix64. The state is one word, so each of 100,000 devices can
// own a stream, and the algorithm is fixed here rather than borrowed from
// math/rand, so a seed replays the same jitter, counters and addresses on
// every Go release.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return scramble(r.s)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func scramble(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// mix derives an independent value from several inputs without any state,
// so that a device's MAC address or a counter's rate is a pure function of
// the seed, the device and the parameter.
func mix(vals ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		h = scramble(h ^ v + 0x9e3779b97f4a7c15)
	}
	return h
}

// hashString is FNV-1a, used to give each parameter name a stable number.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

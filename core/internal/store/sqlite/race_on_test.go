//go:build race

package sqlite

// raceEnabled: the race detector slows SQLite-heavy loops ~6x, so
// measurement-only tests skip under it.
const raceEnabled = true

// Package store defines what Provisor keeps between CWMP sessions and the
// seam behind which it is kept: devices with their summary columns and tags,
// each device's parameter tree, bounded session and event history, the
// durable task queue, faults, and small per-device data for scripts.
//
// The package holds the interface, the record types and the pure rules every
// backend shares (device IDs, how parameter updates merge, which task state
// transitions are legal). Backends live in sub-packages: store/sqlite is the
// default; a PostgreSQL backend can implement the same interface later.
// Nothing outside store/ writes SQL.
//
// All times handed to a Store are kept with millisecond precision and come
// back in UTC; the zero time means "unknown" or "never" and round-trips as the
// zero time.
package store

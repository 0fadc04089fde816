package sqlite

import (
	"errors"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// TestDeviceExistsRemembered checks DeviceExists through the known-device
// cache against what the database holds, as devices are created, deleted,
// created again, and written by operations that roll back.
func TestDeviceExistsRemembered(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		do     func(t *testing.T, db *DB)
		exists map[string]bool // DeviceExists after the step
		cached []string        // IDs the cache must hold after the step
	}
	upsert := func(id string) func(t *testing.T, db *DB) {
		return func(t *testing.T, db *DB) {
			if err := db.WriteSession(ctx, store.SessionWrite{Device: store.Device{ID: id, LastInform: at}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	del := func(id string) func(t *testing.T, db *DB) {
		return func(t *testing.T, db *DB) {
			if err := db.DeleteDevice(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	boom := errors.New("boom")
	rolledBack := func(id string) func(t *testing.T, db *DB) {
		return func(t *testing.T, db *DB) {
			err := db.write(ctx, "test", func(w *wtx) error {
				if _, err := w.upsertDevice(store.Device{ID: id, LastInform: at}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
		}
	}
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{
			name: "created, deleted, created again",
			steps: []step{
				{exists: map[string]bool{"A-1": false}},
				{do: upsert("A-1"), exists: map[string]bool{"A-1": true, "B-1": false}, cached: []string{"A-1"}},
				{do: del("A-1"), exists: map[string]bool{"A-1": false}},
				{do: upsert("A-1"), exists: map[string]bool{"A-1": true}, cached: []string{"A-1"}},
			},
		},
		{
			name: "a rolled-back write creates nothing",
			steps: []step{
				{do: rolledBack("A-1"), exists: map[string]bool{"A-1": false}},
				{do: upsert("A-1"), exists: map[string]bool{"A-1": true}, cached: []string{"A-1"}},
			},
		},
		{
			name: "found by a query, then remembered",
			steps: []step{
				{do: func(t *testing.T, db *DB) {
					upsert("A-1")(t, db)
					db.known.mu.Lock()
					clear(db.known.m) // as after a restart
					db.known.mu.Unlock()
				}, exists: map[string]bool{"A-1": true}, cached: []string{"A-1"}},
			},
		},
		{
			name: "a read that raced a delete is not remembered",
			steps: []step{
				{do: func(t *testing.T, db *DB) {
					upsert("A-1")(t, db)
					upsert("B-1")(t, db)
					_, epoch := db.known.has("A-1") // a reader begins...
					del("B-1")(t, db)               // ...a delete commits...
					db.known.mu.Lock()
					clear(db.known.m)
					db.known.mu.Unlock()
					db.known.put("B-1", epoch) // ...and the reader stores what it saw before
				}, exists: map[string]bool{"A-1": true, "B-1": false}, cached: []string{"A-1"}},
			},
		},
		{
			name: "bounded",
			opts: Options{KnownDevices: 2},
			steps: []step{
				{do: func(t *testing.T, db *DB) {
					for _, id := range []string{"A-1", "B-1", "C-1"} {
						upsert(id)(t, db)
					}
				}, exists: map[string]bool{"A-1": true, "B-1": true, "C-1": true, "D-1": false}},
			},
		},
		{
			name: "disabled",
			opts: Options{KnownDevices: -1},
			steps: []step{
				{do: upsert("A-1"), exists: map[string]bool{"A-1": true, "B-1": false}},
				{do: del("A-1"), exists: map[string]bool{"A-1": false}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, tc.opts)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(t, db)
				}
				for id, want := range st.exists {
					got, err := db.DeviceExists(ctx, id)
					if err != nil || got != want {
						t.Errorf("step %d: DeviceExists(%s) = %v, %v; want %v", i, id, got, err, want)
					}
					if _, err := db.Device(ctx, id); (err == nil) != want {
						t.Errorf("step %d: Device(%s) err = %v, want exists %v", i, id, err, want)
					}
				}
				for _, id := range st.cached {
					if known, _ := db.known.has(id); !known {
						t.Errorf("step %d: %s not remembered", i, id)
					}
				}
				db.known.mu.Lock()
				n := len(db.known.m)
				db.known.mu.Unlock()
				if max := max(db.opts.KnownDevices, 0); n > max {
					t.Errorf("step %d: %d devices remembered, bound %d", i, n, max)
				}
			}
		})
	}
}

package sqlite

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// storedSeqs returns a device's seqs in table, oldest first, read from the
// database.
func storedSeqs(t *testing.T, db *DB, table histTable, deviceID string) []int64 {
	t.Helper()
	rid, err := db.readRID(ctx, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.QueryContext(ctx, "SELECT seq FROM "+table.String()+" WHERE rid = ? ORDER BY seq", rid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestHistorySeqs checks that the remembered seqs number history rows as
// max(seq)+1 did, whatever happens around them: several writes for one
// device in one batch, an operation rolled back to its savepoint after
// inserting, a reopened database, a device deleted and created again.
func TestHistorySeqs(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(id string, i, events int) store.SessionWrite {
		sw := store.SessionWrite{
			Device:  store.Device{ID: id, LastInform: at.Add(time.Duration(i) * time.Second)},
			Session: &store.SessionRecord{ID: fmt.Sprintf("%s-%d", id, i), Started: at, Outcome: "ok"},
		}
		for range events {
			sw.Events = append(sw.Events, store.EventRecord{Code: "2 PERIODIC", Time: at})
		}
		return sw
	}
	// inBatch applies the writes as one batch on the test goroutine; the
	// writer goroutine is idle meanwhile.
	inBatch := func(t *testing.T, db *DB, ops ...func(w *wtx) error) []error {
		t.Helper()
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		batch := make([]*op, len(ops))
		for i, f := range ops {
			batch[i] = &op{name: "test", apply: f, done: make(chan error, 1)}
		}
		db.runBatch(&wtx{db: db, conn: db.wconn}, batch, make([]error, len(ops)))
		results := make([]error, len(ops))
		for i, o := range batch {
			results[i] = <-o.done
		}
		return results
	}
	boom := errors.New("boom")
	tests := []struct {
		name string
		opts Options
		// run writes A-1's history and returns the database to check (a
		// reopened one, perhaps) with the seqs expected there.
		run func(t *testing.T, db *DB, path string) (check *DB, sessions, events []int64)
	}{
		{
			name: "one write at a time",
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				for i := range 5 {
					if err := db.WriteSession(ctx, write("A-1", i, 2)); err != nil {
						t.Fatal(err)
					}
				}
				return db, seqRange(1, 5), seqRange(1, 10)
			},
		},
		{
			name: "several writes of a device in one batch",
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				if err := db.WriteSession(ctx, write("A-1", 0, 1)); err != nil {
					t.Fatal(err)
				}
				for _, err := range inBatch(t, db, db.sessionWriter(write("A-1", 1, 1)),
					db.sessionWriter(write("A-1", 2, 3)), db.sessionWriter(write("A-1", 3, 0))) {
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := db.WriteSession(ctx, write("A-1", 4, 1)); err != nil {
					t.Fatal(err)
				}
				return db, seqRange(1, 5), seqRange(1, 6)
			},
		},
		{
			name: "an operation rolled back after inserting takes no seq",
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				if err := db.WriteSession(ctx, write("A-1", 0, 1)); err != nil {
					t.Fatal(err)
				}
				failing := db.sessionWriter(write("A-1", 1, 2))
				results := inBatch(t, db, db.sessionWriter(write("A-1", 2, 1)),
					func(w *wtx) error {
						if err := failing(w); err != nil {
							return err
						}
						return boom
					},
					db.sessionWriter(write("A-1", 3, 1)))
				if results[0] != nil || !errors.Is(results[1], boom) || results[2] != nil {
					t.Fatalf("results = %v", results)
				}
				if err := db.WriteSession(ctx, write("A-1", 4, 1)); err != nil {
					t.Fatal(err)
				}
				return db, seqRange(1, 4), seqRange(1, 4)
			},
		},
		{
			name: "reopened database",
			run: func(t *testing.T, db *DB, path string) (*DB, []int64, []int64) {
				for i := range 3 {
					if err := db.WriteSession(ctx, write("A-1", i, 1)); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.Close(ctx); err != nil {
					t.Fatal(err)
				}
				db2 := openAt(t, path, Options{})
				if err := db2.WriteSession(ctx, write("A-1", 3, 1)); err != nil {
					t.Fatal(err)
				}
				return db2, seqRange(1, 4), seqRange(1, 4)
			},
		},
		{
			name: "device deleted and created again",
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				for i := range 3 {
					if err := db.WriteSession(ctx, write("A-1", i, 2)); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.DeleteDevice(ctx, "A-1"); err != nil {
					t.Fatal(err)
				}
				if err := db.WriteSession(ctx, write("A-1", 3, 1)); err != nil {
					t.Fatal(err)
				}
				return db, seqRange(1, 1), seqRange(1, 1)
			},
		},
		{
			name: "trimming keeps the newest",
			opts: Options{MaxSessionsPerDevice: 3, MaxEventsPerDevice: 4},
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				for i := range 6 {
					if err := db.WriteSession(ctx, write("A-1", i, 2)); err != nil {
						t.Fatal(err)
					}
				}
				return db, seqRange(4, 6), seqRange(9, 12)
			},
		},
		{
			name: "memos disabled",
			opts: Options{ParamMemos: -1},
			run: func(t *testing.T, db *DB, _ string) (*DB, []int64, []int64) {
				for i := range 3 {
					if err := db.WriteSession(ctx, write("A-1", i, 1)); err != nil {
						t.Fatal(err)
					}
				}
				if len(db.seqs) != 0 {
					t.Errorf("%d seqs remembered with memos disabled", len(db.seqs))
				}
				return db, seqRange(1, 3), seqRange(1, 3)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/provisor.db"
			db := openAt(t, path, tc.opts)
			// Another device's history in between must not disturb A-1's.
			if err := db.WriteSession(ctx, write("B-1", 0, 1)); err != nil {
				t.Fatal(err)
			}
			db, wantS, wantE := tc.run(t, db, path)
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := storedSeqs(t, db, histSessions, "A-1"); !slices.Equal(got, wantS) {
				t.Errorf("session seqs = %v, want %v", got, wantS)
			}
			if got := storedSeqs(t, db, histEvents, "A-1"); !slices.Equal(got, wantE) {
				t.Errorf("event seqs = %v, want %v", got, wantE)
			}
			if got := storedSeqs(t, db, histSessions, "B-1"); !slices.Equal(got, []int64{1}) {
				t.Errorf("B-1 session seqs = %v", got)
			}
		})
	}
}

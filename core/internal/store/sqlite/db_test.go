package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func TestOpenAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "p.db")
	db, err := Open(ctx, path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pragma := func(db *DB, q string) string {
		var s string
		if err := db.r.QueryRowContext(ctx, q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for q, want := range map[string]string{
		"PRAGMA page_size":                        "16384",
		"PRAGMA journal_mode":                     "wal",
		"SELECT max(version) FROM schema_version": migrationCount(t),
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'tasks'": "1",
	} {
		if got := pragma(db, q); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
	var fk, sync int
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Errorf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
	// Readers must not write.
	if _, err := db.r.ExecContext(ctx, "DELETE FROM devices"); err == nil {
		t.Error("reader connection accepted a write")
	}

	// A second process (here: a second Open) is refused.
	if _, err := Open(ctx, path, Options{Logger: testLogger(t)}); err == nil {
		t.Fatal("second Open succeeded")
	} else {
		wantErr(t, err, store.ErrLocked)
	}

	addDevice(t, db, "A-1")
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.UpsertDevice(ctx, store.Device{ID: "A-2"}), store.ErrClosed)
	if err := db.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Re-open: migrations are not applied twice, data is there.
	db2 := openAt(t, path, Options{})
	if got := pragma(db2, "SELECT count(*) FROM schema_version"); got != migrationCount(t) {
		t.Errorf("schema_version rows = %s", got)
	}
	if _, err := db2.Device(ctx, "A-1"); err != nil {
		t.Fatal(err)
	}
	if err := db2.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.write(ctx, "test", func(w *wtx) error {
		_, err := w.exec("INSERT INTO schema_version VALUES (99, 0)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, path, Options{Logger: testLogger(t)}); err == nil {
		db.Close(ctx)
		t.Fatal("opened a database with a newer schema")
	}
	// The failed Open released the lock: a fix-up connection can open.
	if db, err := Open(ctx, path, Options{Logger: testLogger(t)}); err == nil {
		db.Close(ctx)
	} else if errors.Is(err, store.ErrLocked) {
		t.Fatalf("lock not released: %v", err)
	}
}

func TestWriterIsolatesFailingOps(t *testing.T) {
	db := openTest(t, Options{})
	addDevice(t, db, "A-1")
	// Queue a batch where the middle op fails; its neighbours must commit.
	ops := []func(w *wtx) error{
		func(w *wtx) error { _, err := w.exec("INSERT INTO device_data VALUES (1, 'a', x'01', 0)"); return err },
		func(w *wtx) error {
			if _, err := w.exec("INSERT INTO device_data VALUES (1, 'b', x'01', 0)"); err != nil {
				return err
			}
			_, err := w.exec("INSERT INTO device_data VALUES (999, 'c', x'01', 0)") // FK violation
			return err
		},
		func(w *wtx) error { panic("boom") },
		func(w *wtx) error { _, err := w.exec("INSERT INTO device_data VALUES (1, 'd', x'01', 0)"); return err },
	}
	// A first op blocks the writer while the others queue up, so that
	// they land in one batch.
	release := make(chan struct{})
	started := make(chan struct{})
	if err := db.enqueue(ctx, "block", func(*wtx) error { close(started); <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	<-started
	var dones []chan error
	for _, f := range ops {
		o := &op{name: "t", apply: f, done: make(chan error, 1)}
		dones = append(dones, o.done)
		if err := db.submit(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	batches := db.Stats().Batches
	close(release)
	var got []bool
	for _, d := range dones {
		got = append(got, <-d == nil)
	}
	if want := []bool{true, false, false, true}; !equalBools(got, want) {
		t.Fatalf("op results ok = %v, want %v", got, want)
	}
	if n := db.Stats().Batches - batches; n != 2 {
		t.Errorf("%d batches committed, want 2 (the blocker and the rest)", n)
	}
	for key, want := range map[string]bool{"a": true, "b": false, "d": true} {
		_, err := db.Data(ctx, "A-1", key)
		if (err == nil) != want {
			t.Errorf("key %s present = %v, want %v", key, err == nil, want)
		}
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFlushAndContext(t *testing.T) {
	db := openTest(t, Options{MaxSessionsPerDevice: 100})
	addDevice(t, db, "A-1")
	for i := range 50 {
		if err := db.RecordSession(ctx, store.SessionRecord{DeviceID: "A-1", RPCs: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := db.Sessions(ctx, "A-1", 0)
	if err != nil || len(s) != 50 || s[0].RPCs != 49 {
		t.Fatalf("sessions after flush: %d, %v", len(s), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantErr(t, db.UpsertDevice(cctx, store.Device{ID: "A-2"}), context.Canceled)
	tctx, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	if err := db.Flush(tctx); err != nil {
		t.Fatal(err)
	}
}

// migrationCount is the number of embedded migrations, as a string.
func migrationCount(t *testing.T) string {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(len(entries))
}

// A caller whose context ends while the writer is applying its op waits
// for the op's outcome instead of returning while apply still writes to
// the caller's variables; an op not yet reached is skipped.
func TestWriteContextEndsMidApply(t *testing.T) {
	db := openTest(t, Options{})
	cctx, cancel := context.WithCancel(ctx)
	started := make(chan struct{})
	result := 0
	errc := make(chan error, 1)
	go func() {
		errc <- db.write(cctx, "slow", func(w *wtx) error {
			close(started)
			<-cctx.Done() // the caller gives up while we run
			result = 42
			return nil
		})
	}()
	<-started
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("claimed op: %v", err)
	}
	if result != 42 {
		t.Fatalf("result = %d after write returned", result)
	}

	// The writer is held by a blocking op while a second caller gives up:
	// the second op must never run.
	release := make(chan struct{})
	holding := make(chan struct{})
	go func() {
		_ = db.write(ctx, "hold", func(w *wtx) error { close(holding); <-release; return nil })
	}()
	<-holding
	c2, cancel2 := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	go func() { time.Sleep(10 * time.Millisecond); cancel2() }()
	err := db.write(c2, "abandoned", func(w *wtx) error { ran <- struct{}{}; return nil })
	wantErr(t, err, context.Canceled)
	close(release)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Fatal("an abandoned op was applied")
	default:
	}
}

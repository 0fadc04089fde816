package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// createAtVersion makes a database file with the embedded migrations up to
// version n only, as an older Provisor left it.
func createAtVersion(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[:n] {
		b, err := fs.ReadFile(migrationFS, "migrations/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		old["migrations/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	raw := sql.OpenDB(&connector{dsn: dsn(path, "rwc"), pragmas: []string{"PRAGMA foreign_keys = ON"}})
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := migrate(ctx, conn, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	return raw
}

// A database at schema 3 with faults gets the nullable task column: the
// old rows keep everything but their task, which becomes unknown (NULL),
// fault IDs are not reused, and new faults store their task.
func TestFaultTaskMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.db")
	raw := createAtVersion(t, path, 3)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO devices (rid, id, created, updated) VALUES (1, 'A-1', 0, 0), (2, 'B-1', 0, 0)`)
	exec(`INSERT INTO tasks (id, rid, kind, state, created, updated) VALUES (7, 1, 'Reboot', 'fault', 0, 0)`)
	old := []struct {
		id, rid int64
		task    int64 // what schema 3 held: always 0 from the engine
		code    int
		detail  any
	}{
		{1, 1, 0, 9005, `{"method":"GetParameterValues"}`},
		{2, 2, 0, 9002, nil},
		{3, 1, 0, 9003, `{"method":"SetParameterValues"}`},
		{4, 1, 0, 9001, nil}, // deleted below: its ID must stay used
	}
	for _, f := range old {
		exec(`INSERT INTO faults (id, rid, session_id, task_id, time, code, message, detail) VALUES (?, ?, 's', ?, 1000, ?, 'm', ?)`,
			f.id, f.rid, f.task, f.code, f.detail)
	}
	exec(`DELETE FROM faults WHERE id = 4`)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path, Options{})
	var version, nulls, total int
	if err := db.r.QueryRowContext(ctx, "SELECT max(version) FROM schema_version").Scan(&version); err != nil || migrationCount(t) != strconv.Itoa(version) {
		t.Fatalf("schema version %d (%v), want %s", version, err, migrationCount(t))
	}
	if err := db.r.QueryRowContext(ctx, "SELECT count(*), count(*) FILTER (WHERE task_id IS NULL) FROM faults").Scan(&total, &nulls); err != nil {
		t.Fatal(err)
	}
	if total != 3 || nulls != 3 {
		t.Fatalf("%d faults, %d with a NULL task; want 3 and 3", total, nulls)
	}
	page, _, err := db.Faults(ctx, store.FaultFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		id   int64
		dev  string
		code int
	}{{3, "A-1", 9003}, {2, "B-1", 9002}, {1, "A-1", 9005}} {
		got := page[i]
		if got.ID != want.id || got.DeviceID != want.dev || got.Code != want.code || got.TaskID != 0 || got.SessionID != "s" || got.Message != "m" || got.Time.UnixMilli() != 1000 {
			t.Errorf("fault %d after migration: %+v", i, got)
		}
	}
	if string(page[0].Detail) != `{"method":"SetParameterValues"}` || page[1].Detail != nil {
		t.Errorf("details %s / %s", page[0].Detail, page[1].Detail)
	}

	// New faults: a task ID is stored, 0 is stored as NULL, IDs go on
	// after the highest ever used.
	withTask := must[int64](t)(db.AddFault(ctx, store.FaultRecord{DeviceID: "A-1", TaskID: 7, Code: 9002}))
	noTask := must[int64](t)(db.AddFault(ctx, store.FaultRecord{DeviceID: "A-1", Code: 9002}))
	if withTask <= 4 || noTask <= withTask {
		t.Fatalf("new fault IDs %d, %d reuse old ones", withTask, noTask)
	}
	byTask, _, err := db.Faults(ctx, store.FaultFilter{TaskID: 7})
	if err != nil || len(byTask) != 1 || byTask[0].ID != withTask || byTask[0].TaskID != 7 {
		t.Fatalf("faults of task 7: %+v %v", byTask, err)
	}
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM faults WHERE task_id IS NULL").Scan(&nulls); err != nil || nulls != 4 {
		t.Fatalf("NULL tasks %d %v", nulls, err)
	}
	// The table still cascades from devices and passes the checks.
	if err := db.DeleteDevice(ctx, "B-1"); err != nil {
		t.Fatal(err)
	}
	if page, _, _ := db.Faults(ctx, store.FaultFilter{}); len(page) != 4 {
		t.Fatalf("%d faults after deleting B-1", len(page))
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// TestTaskHints walks a device's tasks through their life on a real
// database and checks after every step that the in-memory hints agree with
// the queries they stand in for: false only when the query finds nothing,
// and true again as soon as there is something to find.
func TestTaskHints(t *testing.T) {
	top := t // reopened databases live as long as the whole test
	path := filepath.Join(t.TempDir(), "p.db")
	clk := newClock()
	db, err := Open(ctx, path, Options{Logger: testLogger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	first := db
	defer func() { _ = first.Close(ctx) }()
	addDevice(t, db, "A")
	addDevice(t, db, "B")
	var ids []int64
	add := func(t *testing.T, dev string, expires time.Time) {
		ids = append(ids, must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: dev, Kind: "Reboot", Expires: expires})))
	}
	update := func(t *testing.T, i int, st store.TaskState) {
		must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: ids[i], State: st}))
	}
	type want struct {
		dev     string
		pending bool // whether a task is queued (hint and query agree)
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
		want []want
	}{
		{"no tasks", func(*testing.T) {}, []want{{"A", false}, {"B", false}}},
		{"one queued", func(t *testing.T) { add(t, "A", time.Time{}) }, []want{{"A", true}, {"B", false}}},
		{"a second queued", func(t *testing.T) { add(t, "A", time.Time{}) }, []want{{"A", true}}},
		{"first running", func(t *testing.T) { update(t, 0, store.StateRunning) }, []want{{"A", true}}},
		{"first done", func(t *testing.T) { update(t, 0, store.StateDone) }, []want{{"A", true}}},
		{"second cancelled", func(t *testing.T) { update(t, 1, store.StateCancelled) }, []want{{"A", false}}},
		{"queued, running, queued again", func(t *testing.T) {
			add(t, "A", time.Time{})
			update(t, 2, store.StateRunning)
			update(t, 2, store.StateQueued)
		}, []want{{"A", true}}},
		{"running, fault, retried", func(t *testing.T) {
			update(t, 2, store.StateRunning)
			update(t, 2, store.StateFault)
			update(t, 2, store.StateQueued)
		}, []want{{"A", true}}},
		{"bulk added", func(t *testing.T) {
			got := must[[]int64](t)(db.AddTasks(ctx, []store.Task{{DeviceID: "B", Kind: "Reboot"}}))
			ids = append(ids, got...)
		}, []want{{"A", true}, {"B", true}}},
		{"B's runs and waits for its transfer", func(t *testing.T) {
			update(t, 3, store.StateRunning)
			update(t, 3, store.StateWaitingTransfer)
		}, []want{{"A", true}, {"B", false}}},
		{"A's expires when the next session looks", func(t *testing.T) {
			update(t, 2, store.StateCancelled)
			add(t, "A", clk.Now().Add(time.Minute))
			clk.Add(2 * time.Minute)
			if got := must[[]store.Task](t)(db.PendingTasks(ctx, "A", clk.Now())); len(got) != 0 {
				t.Fatalf("expired task pending: %v", got)
			}
		}, []want{{"A", false}}},
		{"a task queued survives a restart", func(t *testing.T) {
			add(t, "B", time.Time{})
			if err := db.Close(ctx); err != nil {
				t.Fatal(err)
			}
			db = openAt(top, path, Options{Now: clk.Now})
		}, []want{{"A", false}, {"B", true}}},
		{"so does one left running by a crash", func(t *testing.T) {
			update(t, 5, store.StateRunning)
			if err := db.Close(ctx); err != nil {
				t.Fatal(err)
			}
			db = openAt(top, path, Options{Now: clk.Now})
		}, []want{{"A", false}, {"B", true}}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := clk.Now()
			st.do(t)
			for _, w := range st.want {
				hint := db.MayHavePendingTasks(w.dev)
				queued := must[[]store.Task](t)(db.PendingTasks(ctx, w.dev, clk.Now()))
				if hint != w.pending || (len(queued) > 0) != w.pending {
					t.Errorf("%s: hint %v, %d queued; want %v", w.dev, hint, len(queued), w.pending)
				}
			}
			// Changes: the hint must be true whenever the query finds a
			// task written since the step began, and false after.
			for _, dev := range []string{"A", "B"} {
				changed := must[[]store.Task](t)(db.TasksUpdatedSince(ctx, dev, before))
				if len(changed) > 0 && !db.MayHaveTaskChanges(dev, before) {
					t.Errorf("%s: %d tasks changed since the step began, hint says none", dev, len(changed))
				}
			}
			clk.Add(time.Second)
			for _, dev := range []string{"A", "B"} {
				if db.MayHaveTaskChanges(dev, clk.Now()) {
					t.Errorf("%s: hint says tasks changed after the step", dev)
				}
			}
		})
	}
}

// TestTaskChangeHintsBeforeOpen: writes the process did not see (before
// it opened the database) are left to the database.
func TestTaskChangeHintsBeforeOpen(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	if !db.MayHaveTaskChanges("A", clk.Now().Add(-time.Second)) {
		t.Error("a time before Open must be answered by the database")
	}
	if !db.MayHaveTaskChanges("A", clk.Now()) {
		t.Error("the millisecond of Open (recovered tasks) must be answered by the database")
	}
	if db.MayHaveTaskChanges("A", clk.Now().Add(time.Millisecond)) {
		t.Error("no task written since Open")
	}
}

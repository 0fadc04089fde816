package sqlite

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func TestTaskLifecycle(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	addDevice(t, db, "A-1")
	args := json.RawMessage(`{"FileType":"1 Firmware Upgrade Image","URL":"http://f/x.npk"}`)
	id, err := db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "Download", Args: args, CommandKey: "dl-1"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := db.Task(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != store.StateQueued || task.MaxAttempts != 3 || string(task.Args) != string(args) ||
		!task.Created.Equal(clk.Now()) || task.DeviceID != "A-1" {
		t.Fatalf("added task = %+v", task)
	}

	steps := []struct {
		name    string
		u       store.TaskUpdate
		wantErr error
		want    store.TaskState
	}{
		{"queued to done is illegal", store.TaskUpdate{State: store.StateDone}, store.ErrIllegalTransition, store.StateQueued},
		{"compare-and-set mismatch", store.TaskUpdate{State: store.StateRunning, From: store.StateRunning}, store.ErrConflict, store.StateQueued},
		{"start", store.TaskUpdate{State: store.StateRunning, From: store.StateQueued}, nil, store.StateRunning},
		{"device acknowledged with status 1", store.TaskUpdate{State: store.StateWaitingTransfer}, nil, store.StateWaitingTransfer},
	}
	for _, st := range steps {
		st.u.ID = id
		got, err := db.UpdateTask(ctx, st.u)
		if st.wantErr != nil {
			wantErr(t, err, st.wantErr)
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.State != st.want {
			t.Fatalf("%s: state %s, want %s", st.name, got.State, st.want)
		}
	}
	if task, _ := db.Task(ctx, id); task.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1", task.Attempts)
	}

	// TransferComplete delivered twice, concurrently: exactly one applies.
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for range 8 {
		wg.Go(func() {
			task, ok, err := db.CompleteTransfer(ctx, "A-1", "dl-1", json.RawMessage(`{"StartTime":"x"}`), nil)
			if err != nil {
				t.Error(err)
				return
			}
			if task.State != store.StateDone {
				t.Errorf("state after TransferComplete = %s", task.State)
			}
			if ok {
				mu.Lock()
				applied++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if applied != 1 {
		t.Fatalf("TransferComplete applied %d times", applied)
	}
	_, _, err = db.CompleteTransfer(ctx, "A-1", "unknown-key", nil, nil)
	wantErr(t, err, store.ErrNotFound)

	// Done is final.
	for _, s := range []store.TaskState{store.StateQueued, store.StateRunning, store.StateCancelled, store.StateDone} {
		_, err := db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: s})
		wantErr(t, err, store.ErrIllegalTransition)
	}
	_, err = db.CancelTask(ctx, id)
	wantErr(t, err, store.ErrIllegalTransition)
	_, err = db.UpdateTask(ctx, store.TaskUpdate{ID: 999, State: store.StateRunning})
	wantErr(t, err, store.ErrNotFound)
	_, err = db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: "bogus"})
	wantErr(t, err, store.ErrInvalid)

	byKey, err := db.TaskByCommandKey(ctx, "A-1", "dl-1")
	if err != nil || byKey.ID != id || string(byKey.Result) != `{"StartTime":"x"}` {
		t.Fatalf("TaskByCommandKey = %+v, %v", byKey, err)
	}
}

func TestTaskFaultAndRetry(t *testing.T) {
	db := openTest(t, Options{})
	addDevice(t, db, "A-1")
	id := must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "Upload", CommandKey: "up-1", MaxAttempts: 5}))
	must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: store.StateRunning}))
	must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: store.StateWaitingTransfer}))
	f := &store.TaskFault{Code: 9010, Message: "Download failure", Detail: json.RawMessage(`{"url":"x"}`)}
	task, ok, err := db.CompleteTransfer(ctx, "A-1", "up-1", nil, f)
	if err != nil || !ok || task.State != store.StateFault || task.Fault == nil || task.Fault.Code != 9010 ||
		string(task.Fault.Detail) != `{"url":"x"}` {
		t.Fatalf("faulted task = %+v %v %v", task, ok, err)
	}
	// An operator's retry.
	task = must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: store.StateQueued, From: store.StateFault}))
	if task.State != store.StateQueued || task.Attempts != 1 {
		t.Fatalf("retried task = %+v", task)
	}
	// A TransferComplete for a task still queued (we crashed before
	// recording that it ran) completes it and counts the attempt.
	task, ok, err = db.CompleteTransfer(ctx, "A-1", "up-1", nil, nil)
	if err != nil || !ok || task.State != store.StateDone || task.Attempts != 2 {
		t.Fatalf("completed queued task = %+v %v %v", task, ok, err)
	}
}

func TestPendingTasksAndExpiry(t *testing.T) {
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	addDevice(t, db, "A-1")
	addDevice(t, db, "B-1")
	now := clk.Now()
	mk := func(dev string, expires time.Time) int64 {
		return must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: dev, Kind: "refresh", Expires: expires}))
	}
	a1 := mk("A-1", time.Time{})
	a2 := mk("A-1", now.Add(-time.Second)) // already expired
	a3 := mk("A-1", now.Add(time.Hour))
	b1 := mk("B-1", time.Time{})
	a4 := mk("A-1", time.Time{})
	must[store.Task](t)(db.CancelTask(ctx, a4))
	_, err := db.AddTask(ctx, store.Task{DeviceID: "nope", Kind: "x"})
	wantErr(t, err, store.ErrNotFound)
	_, err = db.AddTask(ctx, store.Task{DeviceID: "A-1"})
	wantErr(t, err, store.ErrInvalid)
	_, err = db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "x", Args: json.RawMessage("{bad")})
	wantErr(t, err, store.ErrInvalid)

	pending, err := db.PendingTasks(ctx, "A-1", now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range pending {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []int64{a1, a3}) {
		t.Fatalf("pending = %v, want %v", ids, []int64{a1, a3})
	}
	if task, _ := db.Task(ctx, a2); task.State != store.StateExpired {
		t.Fatalf("expired task state = %s", task.State)
	}
	// An hour later a3 expires too.
	pending, _ = db.PendingTasks(ctx, "A-1", now.Add(time.Hour))
	if len(pending) != 1 || pending[0].ID != a1 {
		t.Fatalf("pending later = %+v", pending)
	}
	if pending, err := db.PendingTasks(ctx, "B-1", now); err != nil || len(pending) != 1 || pending[0].ID != b1 {
		t.Fatalf("B-1 pending = %+v %v", pending, err)
	}
	_, err = db.PendingTasks(ctx, "nope", now)
	wantErr(t, err, store.ErrNotFound)

	// Listing with filters and pages.
	tests := []struct {
		f    store.TaskFilter
		want []int64
	}{
		{store.TaskFilter{}, []int64{a1, a2, a3, b1, a4}},
		{store.TaskFilter{DeviceID: "A-1"}, []int64{a1, a2, a3, a4}},
		{store.TaskFilter{State: store.StateExpired}, []int64{a2, a3}},
		{store.TaskFilter{DeviceID: "B-1", State: store.StateQueued}, []int64{b1}},
		{store.TaskFilter{State: store.StateCancelled}, []int64{a4}},
		{store.TaskFilter{DeviceID: "nope"}, nil},
	}
	for _, tt := range tests {
		f := tt.f
		f.Limit = 2
		var got []int64
		for {
			page, next, err := db.Tasks(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				got = append(got, p.ID)
			}
			if next == 0 {
				break
			}
			f.After = next
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tasks(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestRecoverRunningTasks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	addDevice(t, db, "A-1")
	retry := must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "Reboot", MaxAttempts: 3}))
	last := must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "Reboot", MaxAttempts: 1}))
	waiting := must[int64](t)(db.AddTask(ctx, store.Task{DeviceID: "A-1", Kind: "Download", CommandKey: "k"}))
	for _, id := range []int64{retry, last, waiting} {
		must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: store.StateRunning}))
	}
	must[store.Task](t)(db.UpdateTask(ctx, store.TaskUpdate{ID: waiting, State: store.StateWaitingTransfer}))
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path, Options{})
	for _, c := range []struct {
		id       int64
		state    store.TaskState
		attempts int
	}{
		{retry, store.StateQueued, 1},
		{last, store.StateFault, 1},
		{waiting, store.StateWaitingTransfer, 1},
	} {
		task, err := db.Task(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if task.State != c.state || task.Attempts != c.attempts {
			t.Errorf("task %d: %s attempts %d, want %s %d", c.id, task.State, task.Attempts, c.state, c.attempts)
		}
		if c.state == store.StateFault && (task.Fault == nil || task.Fault.Message == "") {
			t.Errorf("exhausted task has no fault: %+v", task)
		}
	}
}

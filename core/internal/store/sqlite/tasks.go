package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

const taskCols = `t.id, d.id, t.kind, t.args, t.state, t.attempts, t.max_attempts, t.command_key,
	t.expires, t.created, t.updated, t.result, t.fault_code, t.fault_message, t.fault_detail`

func scanTask(s scanner) (store.Task, error) {
	var t store.Task
	var args, result, faultMsg, faultDetail sql.NullString
	var expires, created, updated, faultCode sql.NullInt64
	var state string
	err := s.Scan(&t.ID, &t.DeviceID, &t.Kind, &args, &state, &t.Attempts, &t.MaxAttempts, &t.CommandKey,
		&expires, &created, &updated, &result, &faultCode, &faultMsg, &faultDetail)
	if err != nil {
		return t, err
	}
	t.State = store.TaskState(state)
	t.Expires, t.Created, t.Updated = fromMS(expires), fromMS(created), fromMS(updated)
	if args.Valid {
		t.Args = json.RawMessage(args.String)
	}
	if result.Valid {
		t.Result = json.RawMessage(result.String)
	}
	if faultCode.Valid {
		t.Fault = &store.TaskFault{Code: int(faultCode.Int64), Message: faultMsg.String}
		if faultDetail.Valid {
			t.Fault.Detail = json.RawMessage(faultDetail.String)
		}
	}
	return t, nil
}

// jsonArg binds JSON as TEXT, or NULL when empty.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

func checkJSON(what string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return store.Invalid("%s is not valid JSON", what)
	}
	return nil
}

// AddTask implements store.TaskStore.
func (db *DB) AddTask(ctx context.Context, t store.Task) (int64, error) {
	if err := store.CheckDeviceID(t.DeviceID); err != nil {
		return 0, err
	}
	if t.Kind == "" {
		return 0, store.Invalid("task without kind")
	}
	if err := checkJSON("task args", t.Args); err != nil {
		return 0, err
	}
	if t.MaxAttempts < 0 {
		return 0, store.Invalid("negative MaxAttempts")
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = db.opts.DefaultMaxAttempts
	}
	t.Args = slices.Clone(t.Args)
	var id int64
	err := db.write(ctx, "add task", func(w *wtx) error {
		rid, err := w.rid(t.DeviceID)
		if err != nil {
			return err
		}
		now := w.now.UnixMilli()
		w.taskWritten(t.DeviceID, true)
		res, err := w.exec(`INSERT INTO tasks (rid, kind, args, state, attempts, max_attempts, command_key,
			expires, created, updated) VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)`,
			rid, t.Kind, jsonArg(t.Args), t.MaxAttempts, t.CommandKey, ms(t.Expires), now, now)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// Task implements store.TaskStore.
func (db *DB) Task(ctx context.Context, id int64) (store.Task, error) {
	t, err := scanTask(db.r.QueryRowContext(ctx,
		"SELECT "+taskCols+" FROM tasks t JOIN devices d ON d.rid = t.rid WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: task %d", store.ErrNotFound, id)
	}
	return t, err
}

// task reads a task on the writer, inside the batch.
func (w *wtx) task(id int64) (store.Task, error) {
	t, err := scanTask(w.queryRow(
		"SELECT "+taskCols+" FROM tasks t JOIN devices d ON d.rid = t.rid WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: task %d", store.ErrNotFound, id)
	}
	return t, err
}

// PendingTasks implements store.TaskStore.
func (db *DB) PendingTasks(ctx context.Context, deviceID string, now time.Time) ([]store.Task, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+taskCols+` FROM tasks t JOIN devices d ON d.rid = t.rid
		WHERE d.id = ? AND t.state = 'queued' ORDER BY t.id`, deviceID)
	if err != nil {
		return nil, err
	}
	var tasks, expired []store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if !t.Expires.IsZero() && !t.Expires.After(now) {
			expired = append(expired, t)
			continue
		}
		tasks = append(tasks, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(tasks)+len(expired) == 0 {
		// Tell an unknown device from one with nothing to do.
		if _, err := db.readRID(ctx, deviceID); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if len(expired) > 0 {
		err := db.write(ctx, "expire tasks", func(w *wtx) error {
			w.taskWritten(deviceID, false)
			for _, t := range expired {
				// Guarded: the task may have been started or cancelled
				// since it was read.
				if _, err := w.exec(`UPDATE tasks SET state = 'expired', updated = ?
					WHERE id = ? AND state = 'queued'`, w.now.UnixMilli(), t.ID); err != nil {
					return err
				}
			}
			return w.taskLeftQueue(deviceID)
		})
		if err != nil {
			return nil, err
		}
	}
	return tasks, nil
}

// UpdateTask implements store.TaskStore.
func (db *DB) UpdateTask(ctx context.Context, u store.TaskUpdate) (store.Task, error) {
	if !u.State.Valid() {
		return store.Task{}, store.Invalid("unknown task state %q", u.State)
	}
	if u.From != "" && !u.From.Valid() {
		return store.Task{}, store.Invalid("unknown task state %q", u.From)
	}
	if err := checkJSON("task result", u.Result); err != nil {
		return store.Task{}, err
	}
	if u.Fault != nil {
		if err := checkJSON("fault detail", u.Fault.Detail); err != nil {
			return store.Task{}, err
		}
	}
	u.Result = slices.Clone(u.Result)
	if u.Fault != nil {
		f := *u.Fault
		f.Detail = slices.Clone(f.Detail)
		u.Fault = &f
	}
	var out store.Task
	err := db.write(ctx, "update task", func(w *wtx) error {
		var err error
		out, err = w.updateTask(u)
		return err
	})
	return out, err
}

func (w *wtx) updateTask(u store.TaskUpdate) (store.Task, error) {
	t, err := w.task(u.ID)
	if err != nil {
		return t, err
	}
	if u.From != "" && t.State != u.From {
		return t, fmt.Errorf("%w: task %d is %s, not %s", store.ErrConflict, t.ID, t.State, u.From)
	}
	if !store.CanTransition(t.State, u.State) {
		return t, &store.TransitionError{TaskID: t.ID, From: t.State, To: u.State}
	}
	set := []string{"state = ?", "updated = ?"}
	args := []any{string(u.State), w.now.UnixMilli()}
	if u.State == store.StateRunning {
		set = append(set, "attempts = attempts + 1")
	}
	if u.Result != nil {
		set = append(set, "result = ?")
		args = append(args, jsonArg(u.Result))
	}
	if u.Fault != nil {
		set = append(set, "fault_code = ?", "fault_message = ?", "fault_detail = ?")
		args = append(args, u.Fault.Code, u.Fault.Message, jsonArg(u.Fault.Detail))
	}
	args = append(args, t.ID)
	w.taskWritten(t.DeviceID, u.State == store.StateQueued)
	if _, err := w.exec("UPDATE tasks SET "+strings.Join(set, ", ")+" WHERE id = ?", args...); err != nil {
		return t, err
	}
	if t.State == store.StateQueued && u.State != store.StateQueued {
		if err := w.taskLeftQueue(t.DeviceID); err != nil {
			return t, err
		}
	}
	return w.task(t.ID)
}

// CancelTask implements store.TaskStore.
func (db *DB) CancelTask(ctx context.Context, id int64) (store.Task, error) {
	return db.UpdateTask(ctx, store.TaskUpdate{ID: id, State: store.StateCancelled})
}

// TaskByCommandKey implements store.TaskStore.
func (db *DB) TaskByCommandKey(ctx context.Context, deviceID, commandKey string) (store.Task, error) {
	if commandKey == "" {
		return store.Task{}, store.Invalid("empty command key")
	}
	t, err := scanTask(db.r.QueryRowContext(ctx, "SELECT "+taskCols+` FROM tasks t
		JOIN devices d ON d.rid = t.rid
		WHERE d.id = ? AND t.command_key = ? AND t.command_key <> '' ORDER BY t.id DESC LIMIT 1`, deviceID, commandKey))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: task with command key %q on %q", store.ErrNotFound, commandKey, deviceID)
	}
	return t, err
}

// CompleteTransfer implements store.TaskStore. Matching and the state
// change happen in one writer op, so two deliveries of the same
// TransferComplete, however close, are serialized and the second finds the
// task already ended.
func (db *DB) CompleteTransfer(ctx context.Context, deviceID, commandKey string, result json.RawMessage, fault *store.TaskFault) (store.Task, bool, error) {
	if commandKey == "" {
		return store.Task{}, false, store.Invalid("empty command key")
	}
	if err := checkJSON("transfer result", result); err != nil {
		return store.Task{}, false, err
	}
	if fault != nil {
		if err := checkJSON("fault detail", fault.Detail); err != nil {
			return store.Task{}, false, err
		}
	}
	result = slices.Clone(result)
	if fault != nil {
		f := *fault
		f.Detail = slices.Clone(f.Detail)
		fault = &f
	}
	var out store.Task
	var applied bool
	err := db.write(ctx, "complete transfer", func(w *wtx) error {
		rid, err := w.rid(deviceID)
		if err != nil {
			return err
		}
		var id int64
		// "command_key <> ''" lets SQLite use the partial index.
		err = w.queryRow(`SELECT id FROM tasks WHERE rid = ? AND command_key = ? AND command_key <> ''
			AND state IN ('waiting-transfer', 'running', 'queued') ORDER BY id LIMIT 1`,
			rid, commandKey).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			// Already completed (a repeated TransferComplete), or never
			// existed.
			err = w.queryRow(`SELECT id FROM tasks WHERE rid = ? AND command_key = ? AND command_key <> ''
				ORDER BY id DESC LIMIT 1`, rid, commandKey).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: task with command key %q on %q", store.ErrNotFound, commandKey, deviceID)
			}
			if err != nil {
				return err
			}
			out, err = w.task(id)
			return err
		}
		if err != nil {
			return err
		}
		u := store.TaskUpdate{ID: id, State: store.StateDone, Result: result}
		if fault != nil {
			u.State, u.Fault = store.StateFault, fault
		}
		cur, err := w.task(id)
		if err != nil {
			return err
		}
		if cur.State == store.StateQueued {
			// The device reports a transfer whose start we never recorded
			// (the ACS died between sending Download and storing the
			// answer): go through running so the attempt is counted.
			if _, err := w.updateTask(store.TaskUpdate{ID: id, State: store.StateRunning}); err != nil {
				return err
			}
		}
		out, err = w.updateTask(u)
		applied = err == nil
		return err
	})
	return out, applied, err
}

// Tasks implements store.TaskStore.
func (db *DB) Tasks(ctx context.Context, f store.TaskFilter) ([]store.Task, int64, error) {
	limit := pageLimit(f.Limit)
	where := []string{"t.id > ?"}
	args := []any{f.After}
	if f.DeviceID != "" {
		where = append(where, "t.rid = (SELECT rid FROM devices WHERE id = ?)")
		args = append(args, f.DeviceID)
	}
	if f.State != "" {
		where = append(where, "t.state = ?")
		args = append(args, string(f.State))
	}
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, "SELECT "+taskCols+` FROM tasks t JOIN devices d ON d.rid = t.rid
		WHERE `+strings.Join(where, " AND ")+" ORDER BY t.id LIMIT ?", args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

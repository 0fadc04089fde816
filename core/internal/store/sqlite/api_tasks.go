package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// maxBulkTasks bounds one AddTasks call: one writer operation holds the
// writer for its whole duration.
const maxBulkTasks = 100_000

// AddTasks implements store.APIStore. The tasks go in as one writer
// operation with statements prepared once, which is what makes ten
// thousand of them cost tens of milliseconds instead of seconds.
func (db *DB) AddTasks(ctx context.Context, tasks []store.Task) ([]int64, error) {
	if len(tasks) > maxBulkTasks {
		return nil, store.Invalid("%d tasks in one call; at most %d", len(tasks), maxBulkTasks)
	}
	tasks = slices.Clone(tasks)
	for i := range tasks {
		t := &tasks[i]
		if err := store.CheckDeviceID(t.DeviceID); err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		if t.Kind == "" {
			return nil, store.Invalid("task %d without kind", i)
		}
		if err := checkJSON("task args", t.Args); err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		if t.MaxAttempts < 0 {
			return nil, store.Invalid("task %d: negative MaxAttempts", i)
		}
		if t.MaxAttempts == 0 {
			t.MaxAttempts = db.opts.DefaultMaxAttempts
		}
		t.Args = slices.Clone(t.Args)
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(tasks))
	err := db.write(ctx, "add tasks", func(w *wtx) error {
		ridStmt, err := w.conn.PrepareContext(bg, "SELECT rid FROM devices WHERE id = ?")
		if err != nil {
			return err
		}
		defer ridStmt.Close()
		ins, err := w.conn.PrepareContext(bg, `INSERT INTO tasks (rid, kind, args, state, attempts,
			max_attempts, command_key, expires, created, updated) VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		now := w.now.UnixMilli()
		rids := map[string]int64{}
		for i, t := range tasks {
			rid, ok := rids[t.DeviceID]
			if !ok {
				err := ridStmt.QueryRowContext(bg, t.DeviceID).Scan(&rid)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%w: device %q", store.ErrNotFound, t.DeviceID)
				}
				if err != nil {
					return err
				}
				rids[t.DeviceID] = rid
			}
			w.taskWritten(t.DeviceID, true)
			res, err := ins.ExecContext(bg, rid, t.Kind, jsonArg(t.Args), t.MaxAttempts, t.CommandKey, ms(t.Expires), now, now)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// TasksUpdatedSince implements store.APIStore.
func (db *DB) TasksUpdatedSince(ctx context.Context, deviceID string, since time.Time) ([]store.Task, error) {
	rid, err := db.readRID(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+taskCols+` FROM tasks t JOIN devices d ON d.rid = t.rid
		WHERE t.rid = ? AND t.updated >= ? ORDER BY t.id`, rid, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// QueuedTaskCount implements store.APIStore.
func (db *DB) QueuedTaskCount(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM tasks WHERE state = 'queued'").Scan(&n)
	return n, err
}

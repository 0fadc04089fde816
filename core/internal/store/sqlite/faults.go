package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/provisor/provisor/core/internal/store"
)

// AddFault implements store.FaultStore.
func (db *DB) AddFault(ctx context.Context, f store.FaultRecord) (int64, error) {
	if err := store.CheckDeviceID(f.DeviceID); err != nil {
		return 0, err
	}
	if err := checkJSON("fault detail", f.Detail); err != nil {
		return 0, err
	}
	f.Detail = slices.Clone(f.Detail)
	var id int64
	err := db.write(ctx, "add fault", func(w *wtx) error {
		rid, err := w.rid(f.DeviceID)
		if err != nil {
			return err
		}
		if id, err = w.insertFault(rid, f); err != nil {
			return err
		}
		return w.trimFaults(rid)
	})
	return id, err
}

// trimFaults keeps a device's newest MaxFaultsPerDevice faults. The
// subquery walks that many entries of the (rid, id) index, so the cost is
// bounded by the bound, not by the table.
func (w *wtx) trimFaults(rid int64) error {
	keep := w.db.opts.MaxFaultsPerDevice
	if keep < 0 {
		return nil
	}
	_, err := w.exec(`DELETE FROM faults WHERE rid = ?1 AND id <= (
		SELECT id FROM faults WHERE rid = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`, rid, keep)
	return err
}

func (w *wtx) insertFault(rid int64, f store.FaultRecord) (int64, error) {
	t := f.Time
	if t.IsZero() {
		t = w.now
	}
	res, err := w.exec(`INSERT INTO faults (rid, session_id, task_id, time, code, message, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, rid, f.SessionID, taskIDArg(f.TaskID), ms(t), f.Code, f.Message, jsonArg(f.Detail))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// taskIDArg stores "no task" as NULL.
func taskIDArg(id int64) any {
	if id <= 0 {
		return nil
	}
	return id
}

// Faults implements store.FaultStore.
func (db *DB) Faults(ctx context.Context, f store.FaultFilter) ([]store.FaultRecord, int64, error) {
	limit := pageLimit(f.Limit)
	q := `SELECT f.id, d.id, f.session_id, f.task_id, f.time, f.code, f.message, f.detail
		FROM faults f JOIN devices d ON d.rid = f.rid WHERE f.id < ?`
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	args := []any{before}
	if f.DeviceID != "" {
		q += " AND f.rid = (SELECT rid FROM devices WHERE id = ?)"
		args = append(args, f.DeviceID)
	}
	if f.TaskID > 0 {
		q += " AND f.task_id = ?"
		args = append(args, f.TaskID)
	}
	q += " ORDER BY f.id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []store.FaultRecord
	for rows.Next() {
		var r store.FaultRecord
		var t, task sql.NullInt64
		var detail sql.NullString
		if err := rows.Scan(&r.ID, &r.DeviceID, &r.SessionID, &task, &t, &r.Code, &r.Message, &detail); err != nil {
			return nil, 0, err
		}
		r.TaskID, r.Time = task.Int64, fromMS(t)
		if detail.Valid {
			r.Detail = json.RawMessage(detail.String)
		}
		out = append(out, r)
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

// DeleteFault implements store.FaultStore.
func (db *DB) DeleteFault(ctx context.Context, id int64) error {
	return db.write(ctx, "delete fault", func(w *wtx) error {
		res, err := w.exec("DELETE FROM faults WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: fault %d", store.ErrNotFound, id)
		}
		return nil
	})
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/provisor/provisor/core/internal/store"
)

const fileCols = `seq, id, name, type, version, product_class, oui, size, sha256, content_type, source,
	device_id, command_key, upload_key, created, created_by`

func scanFile(s scanner) (store.FileMeta, int64, error) {
	var f store.FileMeta
	var seq, created int64
	err := s.Scan(&seq, &f.ID, &f.Name, &f.Type, &f.Version, &f.ProductClass, &f.OUI, &f.Size, &f.SHA256,
		&f.ContentType, &f.Source, &f.DeviceID, &f.CommandKey, &f.UploadKey, &created, &f.CreatedBy)
	f.Created = time.UnixMilli(created).UTC()
	return f, seq, err
}

func checkFile(f store.FileMeta) error {
	switch {
	case f.ID == "" || len(f.ID) > 64:
		return store.Invalid("file id must be 1 to 64 bytes")
	case f.Name == "" || len(f.Name) > 255:
		return store.Invalid("file name must be 1 to 255 bytes")
	case f.Type == "" || len(f.Type) > 128:
		return store.Invalid("file type must be 1 to 128 bytes")
	case f.Source != store.FileFromAPI && f.Source != store.FileFromDevice:
		return store.Invalid("file source %q", f.Source)
	case f.Size < 0:
		return store.Invalid("negative file size")
	}
	return nil
}

// AddFile implements store.APIStore.
func (db *DB) AddFile(ctx context.Context, f store.FileMeta) (*store.FileMeta, error) {
	if err := checkFile(f); err != nil {
		return nil, err
	}
	var replaced *store.FileMeta
	err := db.write(ctx, "add file", func(w *wtx) error {
		replaced = nil
		if f.UploadKey != "" {
			old, _, err := scanFile(w.queryRow("SELECT "+fileCols+" FROM files WHERE upload_key = ?", f.UploadKey))
			switch {
			case err == nil:
				if _, err := w.exec("DELETE FROM files WHERE id = ?", old.ID); err != nil {
					return err
				}
				replaced = &old
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		created := f.Created
		if created.IsZero() {
			created = w.now
		}
		_, err := w.exec(`INSERT INTO files (id, name, type, version, product_class, oui, size, sha256,
			content_type, source, device_id, command_key, upload_key, created, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.Name, f.Type, f.Version, f.ProductClass, f.OUI, f.Size, f.SHA256, f.ContentType, f.Source,
			f.DeviceID, f.CommandKey, f.UploadKey, created.UnixMilli(), f.CreatedBy)
		if isConstraint(err) {
			return fmt.Errorf("%w: file %q exists", store.ErrConflict, f.ID)
		}
		return err
	})
	return replaced, err
}

// File implements store.APIStore.
func (db *DB) File(ctx context.Context, id string) (store.FileMeta, error) {
	f, _, err := scanFile(db.r.QueryRowContext(ctx, "SELECT "+fileCols+" FROM files WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("%w: file %q", store.ErrNotFound, id)
	}
	return f, err
}

// Files implements store.APIStore.
func (db *DB) Files(ctx context.Context, f store.FileFilter) ([]store.FileMeta, int64, error) {
	limit := pageLimit(f.Limit)
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	q := "SELECT " + fileCols + " FROM files WHERE seq < ?"
	args := []any{before}
	for _, c := range []struct{ col, v string }{
		{"name", f.Name}, {"type", f.Type}, {"device_id", f.DeviceID}, {"product_class", f.ProductClass}, {"source", f.Source},
	} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []store.FileMeta
	var seqs []int64
	for rows.Next() {
		fm, seq, err := scanFile(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, fm)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = seqs[limit-1]
	}
	return out, next, nil
}

// DeleteFile implements store.APIStore.
func (db *DB) DeleteFile(ctx context.Context, id string) error {
	return db.write(ctx, "delete file", func(w *wtx) error {
		res, err := w.exec("DELETE FROM files WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: file %q", store.ErrNotFound, id)
		}
		return nil
	})
}

// FileIDs implements store.APIStore.
func (db *DB) FileIDs(ctx context.Context, fn func(id string) error) error {
	rows, err := db.r.QueryContext(ctx, "SELECT id FROM files")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// maxConnReqsPerDevice bounds the connection request history per device.
const maxConnReqsPerDevice = 10

// RecordConnReq implements store.APIStore.
func (db *DB) RecordConnReq(ctx context.Context, r store.ConnReqRecord) error {
	if err := store.CheckDeviceID(r.DeviceID); err != nil {
		return err
	}
	return db.enqueue(ctx, "record connection request", func(w *wtx) error {
		rid, err := w.rid(r.DeviceID)
		if err != nil {
			return err
		}
		t := r.Time
		if t.IsZero() {
			t = w.now
		}
		var seq int64
		if err := w.queryRow(`INSERT INTO connection_requests (rid, seq, time, result, http_status, attempts, error, duration_ms, confirmed)
			VALUES (?1, coalesce((SELECT max(seq) FROM connection_requests WHERE rid = ?1), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
			RETURNING seq`, rid, t.UnixMilli(), r.Result, r.HTTPStatus, r.Attempts, r.Error,
			r.Duration.Milliseconds(), ms(r.Confirmed)).Scan(&seq); err != nil {
			return err
		}
		return w.trim("connection_requests", rid, seq, maxConnReqsPerDevice)
	})
}

// ConnReqs implements store.APIStore.
func (db *DB) ConnReqs(ctx context.Context, deviceID string, limit int) ([]store.ConnReqRecord, error) {
	rid, err := db.readRID(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT time, result, http_status, attempts, error, duration_ms, confirmed
		FROM connection_requests WHERE rid = ? ORDER BY seq DESC LIMIT ?`, rid, historyLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ConnReqRecord
	for rows.Next() {
		r := store.ConnReqRecord{DeviceID: deviceID}
		var t, dur int64
		var confirmed sql.NullInt64
		if err := rows.Scan(&t, &r.Result, &r.HTTPStatus, &r.Attempts, &r.Error, &dur, &confirmed); err != nil {
			return nil, err
		}
		r.Time, r.Duration, r.Confirmed = time.UnixMilli(t).UTC(), time.Duration(dur)*time.Millisecond, fromMS(confirmed)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ConfirmConnReq implements store.APIStore.
func (db *DB) ConfirmConnReq(ctx context.Context, deviceID string, since, at time.Time) error {
	return db.enqueue(ctx, "confirm connection request", func(w *wtx) error {
		rid, err := w.rid(deviceID)
		if err != nil {
			return err
		}
		_, err = w.exec(`UPDATE connection_requests SET confirmed = ? WHERE rid = ? AND seq = (
			SELECT max(seq) FROM connection_requests WHERE rid = ? AND time >= ? AND confirmed IS NULL)`,
			at.UnixMilli(), rid, rid, since.UnixMilli())
		return err
	})
}

func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

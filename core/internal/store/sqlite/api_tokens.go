package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

func checkToken(t store.Token) error {
	if t.Name == "" || len(t.Name) > 128 {
		return store.Invalid("token name must be 1 to 128 bytes")
	}
	if t.Role == "" {
		return store.Invalid("token without role")
	}
	if len(t.Hash) != 32 {
		return store.Invalid("token hash must be 32 bytes")
	}
	return nil
}

const tokenInsert = `INSERT INTO api_tokens (name, role, hash, created, created_by, expires)
	VALUES (?, ?, ?, ?, ?, ?)`

// AddToken implements store.APIStore.
func (db *DB) AddToken(ctx context.Context, t store.Token) (int64, error) {
	if err := checkToken(t); err != nil {
		return 0, err
	}
	t.Hash = slices.Clone(t.Hash)
	var id int64
	err := db.write(ctx, "add token", func(w *wtx) error {
		res, err := w.exec(tokenInsert, t.Name, t.Role, t.Hash, w.now.UnixMilli(), t.CreatedBy, ms(t.Expires))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// AddTokenToFile stores a token in the database at path whether or not a
// server has it open: with the database free it opens it normally (and
// migrates a new one); while a server holds it, it inserts the one row
// through its own connection, which SQLite's locking makes safe. This is
// what lets `provisor token create` bootstrap the first token.
func AddTokenToFile(ctx context.Context, path string, t store.Token, opts Options) (int64, error) {
	if err := checkToken(t); err != nil {
		return 0, err
	}
	db, err := Open(ctx, path, opts)
	if err == nil {
		id, err := db.AddToken(ctx, t)
		return id, errors.Join(err, db.Close(ctx))
	}
	if !errors.Is(err, store.ErrLocked) {
		return 0, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(abs); err != nil {
		return 0, err
	}
	conn := sql.OpenDB(&connector{dsn: dsn(abs, "rw"), pragmas: []string{"PRAGMA busy_timeout = 10000"}})
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'api_tokens'").Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, errors.New("the running server's database predates API tokens; restart the server once to migrate it")
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	res, err := conn.ExecContext(ctx, tokenInsert, t.Name, t.Role, t.Hash, now.UnixMilli(), t.CreatedBy, ms(t.Expires))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

const tokenCols = "id, name, role, hash, created, created_by, expires, last_used, revoked"

func scanToken(s scanner) (store.Token, error) {
	var t store.Token
	var created, expires, lastUsed, revoked sql.NullInt64
	err := s.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &t.CreatedBy, &expires, &lastUsed, &revoked)
	t.Created, t.Expires, t.LastUsed, t.Revoked = fromMS(created), fromMS(expires), fromMS(lastUsed), fromMS(revoked)
	return t, err
}

// TokenByHash implements store.APIStore.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: token", store.ErrNotFound)
	}
	return t, err
}

// Tokens implements store.APIStore.
func (db *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM api_tokens ORDER BY id DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		t.Hash = nil
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements store.APIStore.
func (db *DB) RevokeToken(ctx context.Context, id int64) error {
	return db.write(ctx, "revoke token", func(w *wtx) error {
		res, err := w.exec("UPDATE api_tokens SET revoked = coalesce(revoked, ?) WHERE id = ?", w.now.UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: token %d", store.ErrNotFound, id)
		}
		return nil
	})
}

// TouchToken implements store.APIStore.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return db.enqueue(ctx, "touch token", func(w *wtx) error {
		_, err := w.exec("UPDATE api_tokens SET last_used = max(coalesce(last_used, 0), ?) WHERE id = ?", at.UnixMilli(), id)
		return err
	})
}

// RecordAudit implements store.APIStore.
func (db *DB) RecordAudit(ctx context.Context, r store.AuditRecord) error {
	if err := checkJSON("audit detail", r.Detail); err != nil {
		return err
	}
	r.Detail = slices.Clone(r.Detail)
	return db.enqueue(ctx, "record audit", func(w *wtx) error {
		t := r.Time
		if t.IsZero() {
			t = w.now
		}
		_, err := w.exec(`INSERT INTO audit_log (time, token_id, actor, role, method, path, action, target, status, remote_ip, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.UnixMilli(), r.TokenID, r.Actor, r.Role, r.Method, r.Path,
			r.Action, r.Target, r.Status, r.RemoteIP, jsonArg(r.Detail))
		return err
	})
}

// Audit implements store.APIStore.
func (db *DB) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, int64, error) {
	limit := pageLimit(f.Limit)
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	q := `SELECT id, time, token_id, actor, role, method, path, action, target, status, remote_ip, detail
		FROM audit_log WHERE id < ?`
	args := []any{before}
	if f.Actor != "" {
		q += " AND actor = ?"
		args = append(args, f.Actor)
	}
	if !f.Since.IsZero() {
		q += " AND time >= ?"
		args = append(args, f.Since.UnixMilli())
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		var t int64
		var detail sql.NullString
		if err := rows.Scan(&r.ID, &t, &r.TokenID, &r.Actor, &r.Role, &r.Method, &r.Path, &r.Action, &r.Target,
			&r.Status, &r.RemoteIP, &detail); err != nil {
			return nil, 0, err
		}
		r.Time = time.UnixMilli(t).UTC()
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

// TrimAudit implements store.APIStore.
func (db *DB) TrimAudit(ctx context.Context, keep int) error {
	if keep < 0 {
		return store.Invalid("negative keep")
	}
	return db.write(ctx, "trim audit", func(w *wtx) error {
		_, err := w.exec(`DELETE FROM audit_log WHERE id <= (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?)`, keep)
		return err
	})
}

// Ping implements store.APIStore: a read on the reader pool and a commit
// through the writer, so a stuck writer shows as not ready.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	return db.Flush(ctx)
}

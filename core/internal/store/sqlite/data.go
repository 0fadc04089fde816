package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/provisor/provisor/core/internal/store"
)

func checkKey(key string) error {
	if key == "" || len(key) > 256 {
		return store.Invalid("data key %q: want 1-256 bytes", key)
	}
	return nil
}

// Data implements store.DataStore.
func (db *DB) Data(ctx context.Context, deviceID, key string) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, `SELECT v.value FROM device_data v
		JOIN devices d ON d.rid = v.rid WHERE d.id = ? AND v.key = ?`, deviceID, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: data %q of device %q", store.ErrNotFound, key, deviceID)
	}
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// SetData implements store.DataStore.
func (db *DB) SetData(ctx context.Context, deviceID, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > db.opts.MaxDataValue {
		return store.Invalid("data value of %d bytes exceeds %d", len(value), db.opts.MaxDataValue)
	}
	value = append([]byte{}, value...) // the caller may reuse its slice before the writer runs
	return db.write(ctx, "set data", func(w *wtx) error {
		rid, err := w.rid(deviceID)
		if err != nil {
			return err
		}
		_, err = w.exec(`INSERT INTO device_data (rid, key, value, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (rid, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`,
			rid, key, value, w.now.UnixMilli())
		return err
	})
}

// DeleteData implements store.DataStore.
func (db *DB) DeleteData(ctx context.Context, deviceID, key string) error {
	return db.write(ctx, "delete data", func(w *wtx) error {
		rid, err := w.rid(deviceID)
		if err != nil {
			return err
		}
		_, err = w.exec("DELETE FROM device_data WHERE rid = ? AND key = ?", rid, key)
		return err
	})
}

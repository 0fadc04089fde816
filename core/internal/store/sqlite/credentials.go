package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/provisor/provisor/core/internal/store"
)

const credentialCols = `username, device_id, realm, ha1_md5, ha1_sha256, password_hash, pending, created, updated`

func scanCredential(s scanner) (store.CPECredential, error) {
	var c store.CPECredential
	var created, updated sql.NullInt64
	err := s.Scan(&c.Username, &c.DeviceID, &c.Realm, &c.HA1MD5, &c.HA1SHA256, &c.PasswordHash, &c.Pending, &created, &updated)
	c.Created, c.Updated = fromMS(created), fromMS(updated)
	return c, err
}

// DeviceCredentials implements store.CredentialStore.
func (db *DB) DeviceCredentials(ctx context.Context, deviceID string) ([]store.CPECredential, error) {
	cached, epoch, ok := db.creds.get(deviceID)
	if ok {
		return cloneCreds(cached), nil
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+credentialCols+
		" FROM cpe_credentials WHERE device_id = ? ORDER BY pending, username", deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.CPECredential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	db.creds.put(deviceID, cloneCreds(out), epoch)
	return out, nil
}

// CPECredential implements store.CredentialStore.
func (db *DB) CPECredential(ctx context.Context, username string) (store.CPECredential, error) {
	c, err := scanCredential(db.r.QueryRowContext(ctx, "SELECT "+credentialCols+" FROM cpe_credentials WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: credential %q", store.ErrNotFound, username)
	}
	return c, err
}

// PutCPECredential implements store.CredentialStore.
func (db *DB) PutCPECredential(ctx context.Context, c store.CPECredential) error {
	if err := store.CheckDeviceID(c.DeviceID); err != nil {
		return err
	}
	if err := store.CheckUsername(c.Username); err != nil {
		return err
	}
	if c.HA1MD5 == "" && c.HA1SHA256 == "" && c.PasswordHash == "" {
		return store.Invalid("credential %q has no hash", c.Username)
	}
	return db.write(ctx, "put credential", func(w *wtx) error {
		var owner string
		err := w.queryRow("SELECT device_id FROM cpe_credentials WHERE username = ?", c.Username).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case owner != c.DeviceID:
			return fmt.Errorf("%w: user name %q belongs to another device", store.ErrConflict, c.Username)
		}
		w.credentialsChanged(c.DeviceID)
		q := "DELETE FROM cpe_credentials WHERE device_id = ? AND username <> ?"
		if c.Pending {
			q += " AND pending = 1"
		}
		if _, err := w.exec(q, c.DeviceID, c.Username); err != nil {
			return err
		}
		now := w.now.UnixMilli()
		_, err = w.exec(`INSERT INTO cpe_credentials (`+credentialCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET realm = excluded.realm, ha1_md5 = excluded.ha1_md5,
				ha1_sha256 = excluded.ha1_sha256, password_hash = excluded.password_hash,
				pending = excluded.pending, updated = excluded.updated`,
			c.Username, c.DeviceID, c.Realm, c.HA1MD5, c.HA1SHA256, c.PasswordHash, c.Pending, now, now)
		return err
	})
}

// ActivateCPECredential implements store.CredentialStore.
func (db *DB) ActivateCPECredential(ctx context.Context, username string) error {
	return db.write(ctx, "activate credential", func(w *wtx) error {
		var dev string
		err := w.queryRow("SELECT device_id FROM cpe_credentials WHERE username = ?", username).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: credential %q", store.ErrNotFound, username)
		}
		if err != nil {
			return err
		}
		w.credentialsChanged(dev)
		if _, err := w.exec("DELETE FROM cpe_credentials WHERE device_id = ? AND username <> ?", dev, username); err != nil {
			return err
		}
		_, err = w.exec("UPDATE cpe_credentials SET pending = 0, updated = ? WHERE username = ? AND pending <> 0",
			w.now.UnixMilli(), username)
		return err
	})
}

// DeleteCPECredential implements store.CredentialStore.
func (db *DB) DeleteCPECredential(ctx context.Context, username string) error {
	return db.write(ctx, "delete credential", func(w *wtx) error {
		var dev string
		err := w.queryRow("DELETE FROM cpe_credentials WHERE username = ? RETURNING device_id", username).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: credential %q", store.ErrNotFound, username)
		}
		if err != nil {
			return err
		}
		w.credentialsChanged(dev)
		return nil
	})
}

// DeleteDeviceCredentials implements store.CredentialStore.
func (db *DB) DeleteDeviceCredentials(ctx context.Context, deviceID string) (int, error) {
	var n int64
	err := db.write(ctx, "delete device credentials", func(w *wtx) error {
		w.credentialsChanged(deviceID)
		res, err := w.exec("DELETE FROM cpe_credentials WHERE device_id = ?", deviceID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

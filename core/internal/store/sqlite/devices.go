package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// ms converts a time for storage: Unix milliseconds, NULL for zero.
func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMS converts a stored time back.
func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// deviceCols is the select list scanDevice reads. Tags come along as one
// string joined with the unit separator, which no valid tag contains.
const deviceCols = `d.id, d.oui, d.product_class, d.serial_number, d.manufacturer, d.model_name,
	d.software_version, d.hardware_version, d.ip, d.connection_request_url, d.cwmp_version,
	d.namespace, d.profile, d.first_inform, d.last_inform, d.last_boot, d.last_bootstrap,
	(SELECT group_concat(t.tag, char(31)) FROM device_tags t WHERE t.rid = d.rid)`

type scanner interface{ Scan(dest ...any) error }

func scanDevice(s scanner) (store.Device, error) {
	var d store.Device
	var first, last, boot, bootstrap sql.NullInt64
	var tags sql.NullString
	err := s.Scan(&d.ID, &d.OUI, &d.ProductClass, &d.SerialNumber, &d.Manufacturer, &d.ModelName,
		&d.SoftwareVersion, &d.HardwareVersion, &d.IP, &d.ConnectionRequestURL, &d.CWMPVersion,
		&d.Namespace, &d.Profile, &first, &last, &boot, &bootstrap, &tags)
	if err != nil {
		return d, err
	}
	d.FirstInform, d.LastInform = fromMS(first), fromMS(last)
	d.LastBoot, d.LastBootstrap = fromMS(boot), fromMS(bootstrap)
	if tags.Valid && tags.String != "" {
		d.Tags = strings.Split(tags.String, "\x1f")
		slices.Sort(d.Tags)
	}
	return d, nil
}

// Device implements store.DeviceStore.
func (db *DB) Device(ctx context.Context, id string) (store.Device, error) {
	row := db.r.QueryRowContext(ctx, "SELECT "+deviceCols+" FROM devices d WHERE d.id = ?", id)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%w: device %q", store.ErrNotFound, id)
	}
	return d, err
}

const maxPage = 10000

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > maxPage:
		return maxPage
	}
	return n
}

// Devices implements store.DeviceStore.
func (db *DB) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, string, error) {
	limit := pageLimit(f.Limit)
	var where []string
	var args []any
	from := "devices d"
	idCol := "d.id"
	if f.Tag != "" {
		// Walk the tag index, which is in device ID order, instead of
		// every device.
		from = "device_tags g JOIN devices d ON d.rid = g.rid"
		idCol = "g.device_id"
		where = append(where, "g.tag = ?")
		args = append(args, f.Tag)
	}
	if f.After != "" {
		where = append(where, idCol+" > ?")
		args = append(args, f.After)
	}
	if f.IDPrefix != "" {
		where = append(where, idCol+" >= ?")
		args = append(args, f.IDPrefix)
		if hi, ok := prefixEnd(f.IDPrefix); ok {
			where = append(where, idCol+" < ?")
			args = append(args, hi)
		}
	}
	for _, c := range []struct{ col, v string }{
		{"d.oui", f.OUI}, {"d.product_class", f.ProductClass}, {"d.software_version", f.SoftwareVersion},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.InformedBefore.IsZero() {
		where = append(where, "d.last_inform < ?")
		args = append(args, f.InformedBefore.UnixMilli())
	}
	if !f.InformedAfter.IsZero() {
		where = append(where, "d.last_inform > ?")
		args = append(args, f.InformedAfter.UnixMilli())
	}
	q := "SELECT " + deviceCols + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + idCol + " LIMIT ?"
	args = append(args, limit+1)

	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// prefixEnd returns the smallest string greater than every string with the
// prefix, so that a prefix match becomes an index range; ok is false when
// no such string exists (the prefix is all 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// UpsertDevice implements store.DeviceStore.
func (db *DB) UpsertDevice(ctx context.Context, d store.Device) error {
	if err := checkDevice(d); err != nil {
		return err
	}
	d.Tags = slices.Clone(d.Tags)
	return db.write(ctx, "upsert device", func(w *wtx) error {
		_, err := w.upsertDevice(d)
		return err
	})
}

func checkDevice(d store.Device) error {
	if err := store.CheckDeviceID(d.ID); err != nil {
		return err
	}
	for _, t := range d.Tags {
		if err := store.CheckTag(t); err != nil {
			return err
		}
	}
	return nil
}

// upsertDevice writes d and returns its row ID. Empty fields keep stored
// values: a session that learned no connection request URL must not erase
// the one it had.
func (w *wtx) upsertDevice(d store.Device) (int64, error) {
	first := d.FirstInform
	if first.IsZero() {
		first = d.LastInform
	}
	// The row ID comes from a second, indexed lookup: RETURNING would make
	// the upsert itself several times dearer than both statements.
	_, err := w.exec(upsertSQL,
		d.ID, d.OUI, d.ProductClass, d.SerialNumber, d.Manufacturer, d.ModelName, d.SoftwareVersion,
		d.HardwareVersion, d.IP, d.ConnectionRequestURL, d.CWMPVersion, d.Namespace, d.Profile,
		ms(first), ms(d.LastInform), ms(d.LastBoot), ms(d.LastBootstrap), w.now.UnixMilli(), w.now.UnixMilli())
	if err != nil {
		return 0, err
	}
	rid, err := w.rid(d.ID)
	if err != nil {
		return 0, err
	}
	w.knownOps = append(w.knownOps, knownOp{id: d.ID})
	for _, t := range d.Tags {
		if err := w.addTag(rid, d.ID, t); err != nil {
			return 0, err
		}
	}
	return rid, nil
}

// upsertSQL writes a device row; empty fields keep the stored values.
const upsertSQL = `INSERT INTO devices (id, oui, product_class, serial_number, manufacturer,
			model_name, software_version, hardware_version, ip, connection_request_url, cwmp_version,
			namespace, profile, first_inform, last_inform, last_boot, last_bootstrap, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			oui = coalesce(nullif(excluded.oui, ''), oui),
			product_class = coalesce(nullif(excluded.product_class, ''), product_class),
			serial_number = coalesce(nullif(excluded.serial_number, ''), serial_number),
			manufacturer = coalesce(nullif(excluded.manufacturer, ''), manufacturer),
			model_name = coalesce(nullif(excluded.model_name, ''), model_name),
			software_version = coalesce(nullif(excluded.software_version, ''), software_version),
			hardware_version = coalesce(nullif(excluded.hardware_version, ''), hardware_version),
			ip = coalesce(nullif(excluded.ip, ''), ip),
			connection_request_url = coalesce(nullif(excluded.connection_request_url, ''), connection_request_url),
			cwmp_version = coalesce(nullif(excluded.cwmp_version, ''), cwmp_version),
			namespace = coalesce(nullif(excluded.namespace, ''), namespace),
			profile = coalesce(nullif(excluded.profile, ''), profile),
			first_inform = coalesce(first_inform, excluded.first_inform),
			last_inform = coalesce(excluded.last_inform, last_inform),
			last_boot = coalesce(excluded.last_boot, last_boot),
			last_bootstrap = coalesce(excluded.last_bootstrap, last_bootstrap),
			updated = excluded.updated`

func (w *wtx) addTag(rid int64, id, tag string) error {
	_, err := w.exec("INSERT INTO device_tags (rid, tag, device_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		rid, tag, id)
	return err
}

// DeleteDevice implements store.DeviceStore.
func (db *DB) DeleteDevice(ctx context.Context, id string) error {
	return db.write(ctx, "delete device", func(w *wtx) error {
		var rid int64
		err := w.queryRow("DELETE FROM devices WHERE id = ? RETURNING rid", id).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: device %q", store.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		// A later device may get the same row ID.
		w.dropMemo(rid)
		w.dropSeqs(rid)
		w.knownOps = append(w.knownOps, knownOp{id: id, gone: true})
		w.credentialsChanged(id) // deleted with it by a trigger
		return nil
	})
}

// AddTags implements store.DeviceStore.
func (db *DB) AddTags(ctx context.Context, id string, tags ...string) error {
	for _, t := range tags {
		if err := store.CheckTag(t); err != nil {
			return err
		}
	}
	tags = slices.Clone(tags)
	return db.write(ctx, "add tags", func(w *wtx) error {
		rid, err := w.rid(id)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if err := w.addTag(rid, id, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveTags implements store.DeviceStore.
func (db *DB) RemoveTags(ctx context.Context, id string, tags ...string) error {
	tags = slices.Clone(tags)
	return db.write(ctx, "remove tags", func(w *wtx) error {
		rid, err := w.rid(id)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := w.exec("DELETE FROM device_tags WHERE rid = ? AND tag = ?", rid, t); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ store.DeviceExister = (*DB)(nil)

// DeviceExists implements store.DeviceExister: a device seen before is
// answered from memory (see knownDevices), others with one index lookup,
// where Device reads the whole row and the device's tags.
func (db *DB) DeviceExists(ctx context.Context, id string) (bool, error) {
	known, epoch := db.known.has(id)
	if known {
		return true, nil
	}
	_, err := db.readRID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	db.known.put(id, epoch)
	return true, nil
}

// readRID maps a device ID to its row ID on a reader.
func (db *DB) readRID(ctx context.Context, id string) (int64, error) {
	var rid int64
	err := db.r.QueryRowContext(ctx, "SELECT rid FROM devices WHERE id = ?", id).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: device %q", store.ErrNotFound, id)
	}
	return rid, err
}

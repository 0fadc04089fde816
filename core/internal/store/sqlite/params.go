package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/paramblob"
)

// Params implements store.ParamStore.
func (db *DB) Params(ctx context.Context, deviceID string) (store.ParamTree, error) {
	// One query answers both "which device" and "which blob": a device
	// without parameters yields one row with a NULL blob, an unknown device
	// no row.
	rows, err := db.r.QueryContext(ctx, `SELECT p.blob FROM devices d
		LEFT JOIN device_params p ON p.rid = d.rid WHERE d.id = ?`, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: device %q", store.ErrNotFound, deviceID)
	}
	// RawBytes avoids copying the blob; the codec copies what it keeps.
	var blob sql.RawBytes
	if err := rows.Scan(&blob); err != nil {
		return nil, err
	}
	if blob == nil {
		return store.ParamTree{}, nil
	}
	t, err := db.codec.Decode(blob)
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", deviceID, err)
	}
	return t, nil
}

// ParamSubtree implements store.ParamStore.
func (db *DB) ParamSubtree(ctx context.Context, deviceID, prefix string) (store.ParamTree, error) {
	t, err := db.Params(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	return t.Subtree(prefix), nil
}

// UpdateParams implements store.ParamStore.
func (db *DB) UpdateParams(ctx context.Context, deviceID string, upserts []store.Param, deletePrefixes []string) error {
	if len(upserts) == 0 && len(deletePrefixes) == 0 {
		return nil
	}
	upserts, deletePrefixes = slices.Clone(upserts), slices.Clone(deletePrefixes)
	return db.write(ctx, "update params", func(w *wtx) error {
		rid, err := w.rid(deviceID)
		if err != nil {
			return err
		}
		return w.mergeParams(rid, deviceID, upserts, deletePrefixes)
	})
}

// mergeParams is the read-merge-write of one device's tree. It runs on the
// writer, so no other write can slip in between the read and the write.
func (w *wtx) mergeParams(rid int64, deviceID string, upserts []store.Param, deletePrefixes []string) error {
	if len(upserts) == 0 && len(deletePrefixes) == 0 {
		return nil
	}
	db := w.db
	memo := db.opts.ParamMemos > 0 && memoizable(upserts, deletePrefixes)
	if memo {
		digest, newest := upsertDigest(deviceID, upserts)
		if m, ok := db.memos[rid]; ok && m.unchanged(digest, newest, db.opts.ReadAtResolution) {
			db.stats.paramSkips.Add(1)
			db.stats.paramMemoSkips.Add(1)
			return nil
		}
	}
	// The tree may change: until this batch commits, nothing is known.
	w.dropMemo(rid)
	var cur store.ParamTree
	var oui, class string
	var blob []byte
	err := w.queryRow(`SELECT d.oui, d.product_class, p.blob FROM devices d
		LEFT JOIN device_params p ON p.rid = d.rid WHERE d.rid = ?`, rid).Scan(&oui, &class, &blob)
	if err != nil {
		return err
	}
	if blob != nil {
		// A tree that does not decode is left alone rather than replaced:
		// it may be a newer format after a downgrade, and overwriting it
		// would lose it for good.
		if cur, err = db.codec.Decode(blob); err != nil {
			return fmt.Errorf("device %q: %w", deviceID, err)
		}
	}
	next, res, err := store.MergeParams(cur, upserts, deletePrefixes,
		store.MergeOptions{ReadAtResolution: db.opts.ReadAtResolution})
	if err != nil {
		return err
	}
	if memo {
		if m, ok := treeMemo(deviceID, next, upserts); ok {
			w.memoOps = append(w.memoOps, memoOp{rid: rid, memo: m})
		}
	}
	if !res.Dirty() {
		db.stats.paramSkips.Add(1)
		return nil
	}
	model := oui + "-" + class
	dict := db.dicts[model]
	if err := w.maybeNewDict(model, dict, next); err != nil {
		return err
	}
	w.buf, err = db.codec.Encode(w.buf[:0], next, dict.id)
	if err != nil {
		return err
	}
	if _, err := w.exec(`INSERT INTO device_params (rid, nodes, blob, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (rid) DO UPDATE SET nodes = excluded.nodes, blob = excluded.blob, updated = excluded.updated`,
		rid, len(next), w.buf, w.now.UnixMilli()); err != nil {
		return err
	}
	db.stats.paramWrites.Add(1)
	if err := w.indexTree(rid, deviceID, next, res); err != nil {
		return err
	}

	var d store.Device
	if store.Promote(&d, res.Changed) {
		if _, err := w.exec(`UPDATE devices SET
			software_version = coalesce(nullif(?, ''), software_version),
			hardware_version = coalesce(nullif(?, ''), hardware_version),
			model_name = coalesce(nullif(?, ''), model_name),
			manufacturer = coalesce(nullif(?, ''), manufacturer),
			connection_request_url = coalesce(nullif(?, ''), connection_request_url)
			WHERE rid = ?`,
			d.SoftwareVersion, d.HardwareVersion, d.ModelName, d.Manufacturer, d.ConnectionRequestURL, rid); err != nil {
			return err
		}
	}
	return nil
}

// modelDict is a device model's current parameter dictionary.
type modelDict struct {
	id    uint32
	nodes int // size of the tree it was made from
}

// pendingDict is a dictionary inserted by the running batch. It is put to
// use only once the batch has committed: a blob must never reference a
// dictionary that a rollback could take away.
type pendingDict struct {
	model   string
	dict    modelDict
	content []byte
}

// maybeNewDict stores tree as the model's next dictionary when the model
// has none yet, or only one made from a tree less than half this size.
func (w *wtx) maybeNewDict(model string, cur modelDict, tree store.ParamTree) error {
	min := w.db.opts.ParamDictMinNodes
	if min < 0 || len(tree) < min || (cur.id != 0 && len(tree) < 2*cur.nodes) {
		return nil
	}
	for _, p := range w.pending {
		if p.model == model {
			return nil
		}
	}
	content, err := paramblob.DictContent(tree)
	if err != nil {
		return err
	}
	res, err := w.exec("INSERT INTO param_dicts (model, nodes, content, created) VALUES (?, ?, ?, ?)",
		model, len(tree), content, w.now.UnixMilli())
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if id <= 0 || id > 1<<32-1 {
		return fmt.Errorf("sqlite: parameter dictionary id %d out of range", id)
	}
	w.pending = append(w.pending, pendingDict{model, modelDict{uint32(id), len(tree)}, content})
	return nil
}

// commitDicts puts the batch's new dictionaries to use; called after
// COMMIT.
func (db *DB) commitDicts(pending []pendingDict) {
	for _, p := range pending {
		if err := db.codec.AddDict(p.dict.id, p.content); err != nil {
			// The blobs stay readable once the dictionary loads at the
			// next open; until then the model just goes without.
			db.log.Error("parameter dictionary unusable", "model", p.model, "id", p.dict.id, "err", err)
			continue
		}
		db.dicts[p.model] = p.dict
		db.stats.paramDicts.Add(1)
	}
}

// loadDicts registers every stored dictionary, so that every blob can be
// read, and remembers the newest per model for writing.
func (db *DB) loadDicts(ctx context.Context) error {
	rows, err := db.wconn.QueryContext(ctx, "SELECT id, model, nodes, content FROM param_dicts ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p pendingDict
		if err := rows.Scan(&id, &p.model, &p.dict.nodes, &p.content); err != nil {
			return err
		}
		if id <= 0 || id > 1<<32-1 {
			return fmt.Errorf("sqlite: parameter dictionary id %d out of range", id)
		}
		p.dict.id = uint32(id)
		if err := db.codec.AddDict(p.dict.id, p.content); err != nil {
			return fmt.Errorf("sqlite: parameter dictionary %d: %w", id, err)
		}
		db.dicts[p.model] = p.dict
		db.stats.paramDicts.Add(1)
	}
	return rows.Err()
}

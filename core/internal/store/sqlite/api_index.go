package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/provisor/provisor/core/internal/store"
)

// indexTree keeps the query indexes of one device in step with its tree:
// devices.inform_interval and the param_index rows of promoted parameters.
// mergeParams calls it after writing a changed tree, inside the same
// savepoint, so the indexes never disagree with the stored tree.
func (w *wtx) indexTree(rid int64, deviceID string, tree store.ParamTree, res store.MergeResult) error {
	all := res.Deleted > 0
	if all || slices.ContainsFunc(res.Changed, func(p store.Param) bool { return isIntervalParam(p.Name) }) {
		if err := w.setInterval(rid, tree); err != nil {
			return err
		}
	}
	promos, err := w.promotions()
	if err != nil || len(promos) == 0 {
		return err
	}
	for _, pr := range promos {
		if !all && !changed(res.Changed, pr.name) {
			continue
		}
		if err := w.indexParam(rid, deviceID, pr.id, tree, pr.name); err != nil {
			return err
		}
	}
	return nil
}

type promotion struct {
	id    int64
	name  string
	state string
	rid   int64 // cursor of the build
}

func (w *wtx) promotions() ([]promotion, error) {
	rows, err := w.conn.QueryContext(bg, "SELECT id, name, state, cursor_rid FROM promoted_params")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []promotion
	for rows.Next() {
		var p promotion
		if err := rows.Scan(&p.id, &p.name, &p.state, &p.rid); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// changed reports whether name is among the changed nodes, which
// MergeParams returns sorted by name.
func changed(ps []store.Param, name string) bool {
	_, ok := slices.BinarySearchFunc(ps, name, func(p store.Param, n string) int { return strings.Compare(p.Name, n) })
	return ok
}

func isIntervalParam(name string) bool {
	_, rest, _ := strings.Cut(name, ".")
	return rest == "ManagementServer.PeriodicInformInterval" || rest == "ManagementServer.PeriodicInformEnable"
}

// informInterval reads the periodic inform interval in seconds from a
// tree; 0 when unknown or periodic inform is disabled.
func informInterval(tree store.ParamTree) int64 {
	for _, root := range []string{"Device.", "InternetGatewayDevice."} {
		p, ok := tree.Get(root + "ManagementServer.PeriodicInformInterval")
		if !ok {
			continue
		}
		if en, ok := tree.Get(root + "ManagementServer.PeriodicInformEnable"); ok {
			if v := strings.TrimSpace(en.Value); v == "0" || strings.EqualFold(v, "false") {
				return 0
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(p.Value), 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
}

func (w *wtx) setInterval(rid int64, tree store.ParamTree) error {
	_, err := w.exec("UPDATE devices SET inform_interval = ? WHERE rid = ?", informInterval(tree), rid)
	return err
}

func (w *wtx) indexParam(rid int64, deviceID string, pid int64, tree store.ParamTree, name string) error {
	p, ok := tree.Get(name)
	if !ok || p.Object {
		_, err := w.exec("DELETE FROM param_index WHERE rid = ? AND pid = ?", rid, pid)
		return err
	}
	var num any
	if n, ok := store.ParseNumber(p.Value); ok {
		num = n
	}
	_, err := w.exec(`INSERT INTO param_index (rid, pid, value, num, device_id) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rid, pid) DO UPDATE SET value = excluded.value, num = excluded.num`,
		rid, pid, p.Value, num, deviceID)
	return err
}

// PromoteParam implements store.APIStore.
func (db *DB) PromoteParam(ctx context.Context, name string) (store.PromotedParam, error) {
	if err := store.CheckParamPath(name); err != nil {
		return store.PromotedParam{}, err
	}
	if _, ok := store.SummaryField(name); ok {
		return store.PromotedParam{}, store.Invalid("%s is a summary field, indexed already", name)
	}
	err := db.write(ctx, "promote param", func(w *wtx) error {
		_, err := w.exec(`INSERT INTO promoted_params (name, state, cursor_rid, created) VALUES (?, 'building', 0, ?)
			ON CONFLICT (name) DO NOTHING`, name, w.now.UnixMilli())
		return err
	})
	if err != nil {
		return store.PromotedParam{}, err
	}
	all, err := db.PromotedParams(ctx)
	if err != nil {
		return store.PromotedParam{}, err
	}
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
	}
	return store.PromotedParam{}, fmt.Errorf("%w: promoted parameter %q", store.ErrNotFound, name)
}

// DemoteParam implements store.APIStore.
func (db *DB) DemoteParam(ctx context.Context, name string) error {
	return db.write(ctx, "demote param", func(w *wtx) error {
		// The cascade removes the index rows with it.
		res, err := w.exec("DELETE FROM promoted_params WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: promoted parameter %q", store.ErrNotFound, name)
		}
		return nil
	})
}

// PromotedParams implements store.APIStore.
func (db *DB) PromotedParams(ctx context.Context) ([]store.PromotedParam, error) {
	var maxRID int64
	if err := db.r.QueryRowContext(ctx, "SELECT coalesce(max(rid), 0) FROM devices").Scan(&maxRID); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, "SELECT name, state, cursor_rid, created FROM promoted_params ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PromotedParam
	for rows.Next() {
		var p store.PromotedParam
		var state string
		var cur int64
		var created sql.NullInt64
		if err := rows.Scan(&p.Name, &state, &cur, &created); err != nil {
			return nil, err
		}
		p.Created = fromMS(created)
		p.Ready = state == "ready"
		switch {
		case p.Ready || maxRID == 0:
			p.Progress = 1
		default:
			p.Progress = min(1, float64(cur)/float64(maxRID))
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// BuildIndex implements store.APIStore. Each call is one writer
// operation, so a build of a large fleet interleaves with sessions.
func (db *DB) BuildIndex(ctx context.Context, n int) (bool, error) {
	if n <= 0 {
		n = 500
	}
	done := false
	err := db.write(ctx, "build index", func(w *wtx) error {
		var err error
		done, err = w.buildIndex(n)
		return err
	})
	return done, err
}

func (w *wtx) buildIndex(n int) (bool, error) {
	pending := false
	// The inform interval backfill for trees stored before the column.
	var curText string
	err := w.queryRow("SELECT value FROM api_meta WHERE key = 'interval_cursor'").Scan(&curText)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	default:
		cur, _ := strconv.ParseInt(curText, 10, 64)
		last, more, err := w.eachTree(cur, n, func(rid int64, _ string, tree store.ParamTree) error {
			if tree == nil {
				return nil
			}
			return w.setInterval(rid, tree)
		})
		if err != nil {
			return false, err
		}
		if more {
			pending = true
			_, err = w.exec("UPDATE api_meta SET value = ? WHERE key = 'interval_cursor'", strconv.FormatInt(last, 10))
		} else {
			_, err = w.exec("DELETE FROM api_meta WHERE key = 'interval_cursor'")
		}
		if err != nil {
			return false, err
		}
	}
	promos, err := w.promotions()
	if err != nil {
		return false, err
	}
	for _, pr := range promos {
		if pr.state != "building" {
			continue
		}
		last, more, err := w.eachTree(pr.rid, n, func(rid int64, id string, tree store.ParamTree) error {
			return w.indexParam(rid, id, pr.id, tree, pr.name)
		})
		if err != nil {
			return false, err
		}
		if more {
			pending = true
			_, err = w.exec("UPDATE promoted_params SET cursor_rid = ? WHERE id = ?", last, pr.id)
		} else {
			_, err = w.exec("UPDATE promoted_params SET state = 'ready', cursor_rid = ? WHERE id = ?", last, pr.id)
		}
		if err != nil {
			return false, err
		}
	}
	return !pending, nil
}

// eachTree calls fn for up to n devices after rid, in rid order, with
// their decoded trees (nil for a device without one). It returns the last
// rid visited and whether devices may remain.
func (w *wtx) eachTree(after int64, n int, fn func(rid int64, id string, tree store.ParamTree) error) (int64, bool, error) {
	type item struct {
		rid  int64
		id   string
		blob []byte
	}
	rows, err := w.conn.QueryContext(bg, `SELECT d.rid, d.id, p.blob FROM devices d
		LEFT JOIN device_params p ON p.rid = d.rid WHERE d.rid > ? ORDER BY d.rid LIMIT ?`, after, n)
	if err != nil {
		return after, false, err
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.rid, &it.id, &it.blob); err != nil {
			rows.Close()
			return after, false, err
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return after, false, err
	}
	last := after
	for _, it := range items {
		var tree store.ParamTree
		if it.blob != nil {
			if tree, err = w.db.codec.Decode(it.blob); err != nil {
				// One unreadable tree must not stall the build for all.
				w.db.log.Warn("index build skips an unreadable tree", "device", it.id, "err", err)
				tree = nil
			}
		}
		if tree == nil {
			tree = store.ParamTree{}
		}
		if err := fn(it.rid, it.id, tree); err != nil {
			return after, false, err
		}
		last = it.rid
	}
	return last, len(items) == n, nil
}

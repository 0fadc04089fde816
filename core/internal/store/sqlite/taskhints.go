package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

var _ store.TaskHints = (*DB)(nil)

// taskHints knows, in memory, which devices may have queued tasks and when
// each device's tasks were last written, so that the common session (no
// task queued, none touched) asks the database nothing about tasks.
//
// Only the writer changes it, and it marks a device inside the operation
// that writes the task, before the batch commits: a reader that finds no
// mark therefore cannot have missed a committed task. Marks that a
// rollback leaves behind only cost a query. A device leaves the queued set
// only after a commit has shown it has no queued task left.
type taskHints struct {
	mu sync.RWMutex
	// queued maps the devices that may have queued tasks to the
	// generation of their latest mark.
	queued map[string]uint64
	gen    uint64
	// changed maps a device to its newest task write (writer clock, Unix
	// ms). Writes before floor are not tracked.
	changed map[string]int64
	floor   int64
}

// maxTaskChanges bounds taskHints.changed; older entries are pruned.
const maxTaskChanges = 100_000

// taskChangeWindow is how long an entry of taskHints.changed is kept
// when the map is pruned: sessions look back only to their own start.
const taskChangeWindow = time.Hour

// unqueue is a staged removal from taskHints.queued.
type unqueue struct {
	id  string
	gen uint64
}

// MayHavePendingTasks implements store.TaskHints.
func (db *DB) MayHavePendingTasks(deviceID string) bool {
	h := &db.tasks
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.queued[deviceID]
	return ok
}

// MayHaveTaskChanges implements store.TaskHints.
func (db *DB) MayHaveTaskChanges(deviceID string, since time.Time) bool {
	h := &db.tasks
	t := since.UnixMilli()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t < h.floor {
		return true
	}
	last, ok := h.changed[deviceID]
	return ok && last >= t
}

// loadTaskHints fills the queued set from the database and starts change
// tracking at now; run by Open before the writer starts.
func (db *DB) loadTaskHints(ctx context.Context) error {
	h := &db.tasks
	h.queued, h.changed = map[string]uint64{}, map[string]int64{}
	// recoverTasks stamped its changes with this clock; anything up to
	// this millisecond is answered by the database.
	h.floor = db.opts.Now().UnixMilli() + 1
	rows, err := db.wconn.QueryContext(ctx, `SELECT DISTINCT d.id FROM tasks t
		JOIN devices d ON d.rid = t.rid WHERE t.state = 'queued'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		h.gen++
		h.queued[id] = h.gen
	}
	return rows.Err()
}

// taskWritten marks a write of one of the device's tasks; queued says the
// task is queued after it.
func (w *wtx) taskWritten(deviceID string, queued bool) {
	h := &w.db.tasks
	now := w.now.UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	if queued {
		h.gen++
		h.queued[deviceID] = h.gen
	}
	if now > h.changed[deviceID] {
		if _, ok := h.changed[deviceID]; !ok && len(h.changed) >= maxTaskChanges {
			h.prune(now)
		}
		h.changed[deviceID] = now
	}
}

// prune drops change entries older than the window; writes before it
// are then left to the database.
func (h *taskHints) prune(now int64) {
	cut := now - taskChangeWindow.Milliseconds()
	for id, t := range h.changed {
		if t < cut {
			delete(h.changed, id)
		}
	}
	if len(h.changed) >= maxTaskChanges {
		// A burst of task writes within the window: forget them all.
		clear(h.changed)
		cut = now + 1
	}
	h.floor = max(h.floor, cut)
}

// taskLeftQueue notes that one of the device's tasks left the queued
// state: if none is queued any more, the device leaves the queued set
// once the batch commits.
func (w *wtx) taskLeftQueue(deviceID string) error {
	var any bool
	if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'queued'
		AND rid = (SELECT rid FROM devices WHERE id = ?))`, deviceID).Scan(&any); err != nil {
		return err
	}
	if any {
		return nil
	}
	h := &w.db.tasks
	h.mu.RLock()
	gen, ok := h.queued[deviceID]
	h.mu.RUnlock()
	if ok {
		w.unqueues = append(w.unqueues, unqueue{deviceID, gen})
	}
	return nil
}

// commitUnqueues applies the batch's removals from the queued set, except
// for devices marked again since; called after COMMIT.
func (db *DB) commitUnqueues(us []unqueue) {
	if len(us) == 0 {
		return
	}
	h := &db.tasks
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range us {
		if h.queued[u.id] == u.gen {
			delete(h.queued, u.id)
		}
	}
}

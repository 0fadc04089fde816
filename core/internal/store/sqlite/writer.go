package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/provisor/provisor/core/internal/store"
)

// op is one queued write.
type op struct {
	name string
	// ctx is the waiting caller's context: an op whose caller has given up
	// before the writer reaches it is skipped. Nil for fire-and-forget ops,
	// whose callers' contexts may end right after queueing.
	ctx   context.Context
	apply func(w *wtx) error
	// done receives the op's result after its batch commits; nil for
	// fire-and-forget ops.
	done chan error
	// state settles who owns a waited-for op when its caller's context
	// ends: the writer claims it before applying it, or the caller
	// abandons it first. A caller that loses the race waits for the
	// result, because apply may write to the caller's variables.
	state atomic.Int32
}

const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

// wtx is what an op's apply function writes through: the writer's
// connection inside the batch's transaction.
type wtx struct {
	db   *DB
	conn *sql.Conn
	now  time.Time
	buf  []byte // reused by blob encoding
	// pending holds dictionaries inserted by the current batch.
	pending []pendingDict
	// memoOps are the batch's parameter memo changes (see paramMemo).
	memoOps []memoOp
	// seqOps are the batch's history seq changes (see lastSeq).
	seqOps []seqOp
	// knownOps are the device rows the batch writes or deletes (see
	// knownDevices).
	knownOps []knownOp
	// unqueues are the batch's removals from the queued-task set.
	unqueues []unqueue
	// credDevices are the devices whose credentials the batch changes.
	credDevices []string
}

// The writer never passes a caller's context to SQLite: cancelling a
// statement interrupts it, and an interrupt may roll back the whole
// batch's transaction.
var bg = context.Background()

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	return w.conn.ExecContext(bg, query, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	return w.conn.QueryRowContext(bg, query, args...)
}

// rid maps a device ID to its row ID, or ErrNotFound.
func (w *wtx) rid(deviceID string) (int64, error) {
	var rid int64
	err := w.queryRow("SELECT rid FROM devices WHERE id = ?", deviceID).Scan(&rid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: device %q", store.ErrNotFound, deviceID)
	}
	return rid, err
}

// submit queues o, blocking while the queue is full.
func (db *DB) submit(ctx context.Context, o *op) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return store.ErrClosed
	}
	select {
	case db.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write queues apply and waits until its batch has committed.
func (db *DB) write(ctx context.Context, name string, apply func(w *wtx) error) error {
	o := &op{name: name, ctx: ctx, apply: apply, done: make(chan error, 1)}
	if err := db.submit(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		// Already being applied: the batch ends soon, and its outcome is
		// the truth about this write.
		return <-o.done
	}
}

// enqueue queues apply and returns; its error, if any, is logged.
func (db *DB) enqueue(ctx context.Context, name string, apply func(w *wtx) error) error {
	return db.submit(ctx, &op{name: name, apply: apply})
}

// Flush returns once every write queued before it has been committed. The
// writer commits batches in queue order, so an empty op's commit implies
// theirs.
func (db *DB) Flush(ctx context.Context) error {
	return db.write(ctx, "flush", nil)
}

func (db *DB) writeLoop() {
	defer close(db.writerDone)
	batch := make([]*op, 0, db.opts.MaxBatch)
	results := make([]error, db.opts.MaxBatch)
	w := &wtx{db: db, conn: db.wconn}
	for {
		first, ok := <-db.ops
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < db.opts.MaxBatch {
			select {
			case o, ok := <-db.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		db.runBatch(w, batch, results[:len(batch)])
		clear(batch) // drop references to finished ops
	}
}

// runBatch applies the batch in one transaction and acknowledges each op.
func (db *DB) runBatch(w *wtx, batch []*op, results []error) {
	start := time.Now()
	w.now = db.opts.Now()
	w.pending = w.pending[:0]
	w.memoOps = w.memoOps[:0]
	w.seqOps = w.seqOps[:0]
	w.knownOps = w.knownOps[:0]
	w.unqueues = w.unqueues[:0]
	w.credDevices = w.credDevices[:0]
	batchErr := db.applyBatch(w, batch, results)
	if batchErr == nil {
		db.commitDicts(w.pending)
		db.commitMemos(w.memoOps)
		db.commitSeqs(w.seqOps)
		db.commitUnqueues(w.unqueues)
		db.known.apply(w.knownOps)
	} else {
		db.known.forget(w.knownOps)
	}
	// Committed or not, and before any write is acknowledged: a reader
	// may have cached what the batch was changing.
	db.creds.invalidate(w.credDevices)
	clear(w.credDevices)
	if batchErr != nil {
		db.stats.failedBatches.Add(1)
		db.log.Error("write batch failed", "ops", len(batch), "err", batchErr)
		for i := range results {
			if results[i] == nil {
				results[i] = batchErr
			}
		}
	} else {
		db.stats.batches.Add(1)
		db.stats.ops.Add(uint64(len(batch)))
		for n := int64(len(batch)); ; {
			m := db.stats.maxBatch.Load()
			if n <= m || db.stats.maxBatch.CompareAndSwap(m, n) {
				break
			}
		}
	}
	db.stats.commitNanos.Add(int64(time.Since(start)))
	for i, o := range batch {
		err := results[i]
		results[i] = nil
		if err != nil {
			db.stats.failedOps.Add(1)
		}
		if o.done != nil {
			o.done <- err
		} else if err != nil {
			db.log.Warn("queued write failed", "op", o.name, "err", err)
		}
	}
}

// applyBatch runs the ops inside one transaction. An op's own error lands
// in results and rolls back only its savepoint; the returned error means
// the transaction as a whole failed and nothing was committed.
func (db *DB) applyBatch(w *wtx, batch []*op, results []error) error {
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		if db.inTransaction() {
			// Left open by an earlier failure: clear it for the next batch.
			_, _ = w.exec("ROLLBACK")
		}
		return fmt.Errorf("begin: %w", err)
	}
	for i, o := range batch {
		if o.apply == nil {
			continue
		}
		if o.ctx != nil && (o.ctx.Err() != nil || !o.state.CompareAndSwap(opQueued, opClaimed)) {
			results[i] = context.Cause(o.ctx)
			if results[i] == nil {
				results[i] = context.Canceled
			}
			continue
		}
		results[i] = db.applyOne(w, o)
		if results[i] != nil && !db.inTransaction() {
			// Errors such as SQLITE_FULL or SQLITE_IOERR end the whole
			// transaction; the ops before this one are gone too.
			return fmt.Errorf("transaction aborted by %s: %w", o.name, results[i])
		}
	}
	if _, err := w.exec("COMMIT"); err != nil {
		if db.inTransaction() {
			_, _ = w.exec("ROLLBACK")
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// applyOne runs one op in a savepoint, turning a panic into an error so
// that one bad op cannot take the writer, and with it every session, down.
func (db *DB) applyOne(w *wtx, o *op) (err error) {
	if _, err := w.exec("SAVEPOINT op"); err != nil {
		return err
	}
	pending, memoOps, seqOps, knownOps, unqueues := len(w.pending), len(w.memoOps), len(w.seqOps), len(w.knownOps), len(w.unqueues)
	defer func() {
		if p := recover(); p != nil {
			db.log.Error("write op panicked", "op", o.name, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("sqlite: %s: internal error: %v", o.name, p)
		}
		if err == nil {
			if _, err = w.exec("RELEASE op"); err == nil {
				return
			}
		}
		w.pending = w.pending[:pending] // rolled back with the op
		w.memoOps = w.memoOps[:memoOps]
		w.seqOps = w.seqOps[:seqOps]
		w.knownOps = w.knownOps[:knownOps]
		w.unqueues = w.unqueues[:unqueues]
		if db.inTransaction() {
			_, _ = w.exec("ROLLBACK TO op")
			_, _ = w.exec("RELEASE op")
		}
	}()
	return o.apply(w)
}

// inTransaction reports whether the writer connection is inside a
// transaction (SQLite's autocommit flag is off).
func (db *DB) inTransaction() bool {
	in := false
	_ = db.wconn.Raw(func(dc any) error {
		if c, ok := dc.(*sqlite3.SQLiteConn); ok {
			in = !c.AutoCommit()
		}
		return nil
	})
	return in
}

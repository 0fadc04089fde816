// Package sqlite is the default store.Store: one SQLite database file in WAL
// mode (mattn/go-sqlite3, cgo).
//
// All writes go through one connection owned by a batching goroutine:
// callers queue operations, the goroutine runs as many as are waiting (up
// to Options.MaxBatch) in one transaction, commits, then acknowledges each.
// One writer means SQLite's write lock is never contended, so there is no
// "database is locked" however many sessions write at once, and batching
// turns many small commits into few larger ones. Each operation runs in its
// own savepoint, so a failing operation is rolled back alone and reported to
// its caller while the rest of its batch commits.
//
// Reads use a separate pool of query-only connections; in WAL mode they see
// the last committed state and never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/paramblob"
)

// Options tune a DB. Zero values take the defaults documented per field.
type Options struct {
	// Logger receives warnings (failed fire-and-forget writes, recovered
	// tasks). Default: slog.Default().
	Logger *slog.Logger
	// Readers is the size of the read connection pool. Default:
	// max(4, GOMAXPROCS).
	Readers int
	// QueueSize is how many write operations may wait for the writer
	// before callers block. Default 4096.
	QueueSize int
	// MaxBatch caps the operations committed in one transaction. Default
	// 512.
	MaxBatch int
	// BusyTimeout is SQLite's busy_timeout. Default 5s.
	BusyTimeout time.Duration
	// SyncFull sets synchronous=FULL: a commit survives power loss, at the
	// cost of an fsync per batch. The default, NORMAL, survives a crash of
	// the process (even SIGKILL) but may lose the last commits on power
	// loss.
	SyncFull bool
	// MaxSessionsPerDevice, MaxEventsPerDevice and MaxFaultsPerDevice
	// bound the history kept per device. Defaults 20, 50, 100 (a million
	// devices then keep about 4 GB of history); negative
	// means unbounded.
	MaxSessionsPerDevice int
	MaxEventsPerDevice   int
	MaxFaultsPerDevice   int
	// DefaultMaxAttempts is given to tasks added with MaxAttempts 0.
	// Default 3.
	DefaultMaxAttempts int
	// MaxDataValue caps a per-device data value. Default 64 KiB.
	MaxDataValue int
	// ReadAtResolution is passed to store.MergeParams. Default 0 (exact).
	ReadAtResolution time.Duration
	// ParamDictMinNodes: the first tree of a device model with at least
	// this many nodes becomes the model's compression dictionary (and a
	// tree twice the size of the current dictionary's source replaces
	// it). Default 100; negative disables dictionaries.
	ParamDictMinNodes int
	// ParamMemos bounds how many devices the writer remembers a digest of
	// their last Inform values for (~50 bytes each), so that a periodic
	// session that reports unchanged values skips reading the stored tree.
	// Default 1<<20; negative disables. It also bounds how many devices
	// the writer remembers their last history seqs for (~60 bytes each),
	// which spares each session and event insert a max(seq) lookup.
	ParamMemos int
	// CredentialCache is how many devices' credentials are kept in memory
	// (~0.5 KB each) for authentication. Default 65536; negative disables.
	CredentialCache int
	// KnownDevices is how many device IDs are kept in memory (~100 bytes
	// each) to tell a known device from a new one at the start of a
	// session without a query. Default 65536; negative disables.
	KnownDevices int
	// ParamDictEncoders is how many dictionary encoders (~0.75 MB each)
	// are kept; models beyond it pay ~2 ms to rebuild one. Default 32.
	ParamDictEncoders int
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

func (o *Options) withDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Readers <= 0 {
		o.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxSessionsPerDevice == 0 {
		o.MaxSessionsPerDevice = 20
	}
	if o.MaxEventsPerDevice == 0 {
		o.MaxEventsPerDevice = 50
	}
	if o.MaxFaultsPerDevice == 0 {
		o.MaxFaultsPerDevice = 100
	}
	if o.DefaultMaxAttempts <= 0 {
		o.DefaultMaxAttempts = 3
	}
	if o.MaxDataValue <= 0 {
		o.MaxDataValue = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ParamDictMinNodes == 0 {
		o.ParamDictMinNodes = 100
	}
	if o.ParamMemos == 0 {
		o.ParamMemos = 1 << 20
	}
	if o.CredentialCache == 0 {
		o.CredentialCache = 1 << 16
	}
	if o.KnownDevices == 0 {
		o.KnownDevices = 1 << 16
	}
}

// DB is a store.Store on one SQLite file.
type DB struct {
	opts  Options
	log   *slog.Logger
	path  string
	codec *paramblob.Codec
	lock  *os.File

	w     *sql.DB   // the writer pool: exactly one connection
	wconn *sql.Conn // that connection, held for the DB's lifetime
	r     *sql.DB   // query-only readers

	// mu guards closed and the sending side of ops: senders hold it shared
	// so that Close cannot close ops under them.
	mu         sync.RWMutex
	closed     bool
	ops        chan *op
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// dicts maps a device model to its current parameter dictionary. Only
	// Open and then the writer goroutine touch it.
	dicts map[string]modelDict
	// memos maps a device's row ID to what its stored tree holds for the
	// values its Inform reports. Only the writer goroutine touches it.
	memos map[int64]paramMemo
	// seqs holds devices' last history seqs. Only the writer goroutine
	// touches it.
	seqs map[seqKey]int64
	// tasks tells sessions without task work apart without a query.
	tasks taskHints
	// creds caches DeviceCredentials.
	creds credCache
	// known remembers devices that exist, for DeviceExists.
	known knownDevices

	stats writerStats
}

var _ store.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open opens or creates the database at path, creating parent directories,
// migrates the schema, requeues tasks a crash left running, and starts the
// writer. Only one process may have a database open at a time (ErrLocked).
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	opts.withDefaults()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	db := &DB{
		opts:       opts,
		log:        opts.Logger.With("component", "store", "db", abs),
		path:       abs,
		ops:        make(chan *op, opts.QueueSize),
		writerDone: make(chan struct{}),
		dicts:      map[string]modelDict{},
		memos:      map[int64]paramMemo{},
		seqs:       map[seqKey]int64{},
		creds:      credCache{max: opts.CredentialCache, m: map[string][]store.CPECredential{}},
		known:      knownDevices{max: opts.KnownDevices, m: map[string]struct{}{}},
	}
	ok := false
	defer func() {
		if !ok {
			db.release()
		}
	}()
	if db.lock, err = lockFile(abs + ".lock"); err != nil {
		return nil, err
	}
	if db.codec, err = paramblob.New(opts.ParamDictEncoders); err != nil {
		return nil, err
	}

	syncMode := "NORMAL"
	if opts.SyncFull {
		syncMode = "FULL"
	}
	busy := opts.BusyTimeout.Milliseconds()
	db.w = sql.OpenDB(&connector{
		dsn: dsn(abs, "rwc"),
		pragmas: []string{
			"PRAGMA busy_timeout = " + strconv.FormatInt(busy, 10),
			"PRAGMA foreign_keys = ON",
			"PRAGMA synchronous = " + syncMode,
			"PRAGMA temp_store = MEMORY",
			// A WAL that grew while readers held old snapshots shrinks
			// back after the next checkpoint.
			"PRAGMA journal_size_limit = 67108864",
			// The writer re-reads the blobs it merges; 32 MiB of cache
			// keeps hot pages of a busy fleet.
			"PRAGMA cache_size = -32768",
		},
	})
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	if db.wconn, err = db.w.Conn(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if err := db.initFile(ctx); err != nil {
		return nil, err
	}
	if err := migrate(ctx, db.wconn, migrationFS, db.opts.Now()); err != nil {
		return nil, err
	}
	if err := db.recoverTasks(ctx); err != nil {
		return nil, err
	}
	if err := db.loadTaskHints(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: queued tasks: %w", err)
	}
	if err := db.loadDicts(ctx); err != nil {
		return nil, err
	}

	db.r = sql.OpenDB(&connector{
		dsn: dsn(abs, "rw"),
		pragmas: []string{
			"PRAGMA busy_timeout = " + strconv.FormatInt(busy, 10),
			"PRAGMA query_only = ON",
			"PRAGMA temp_store = MEMORY",
		},
	})
	db.r.SetMaxOpenConns(opts.Readers)
	// Keep idle readers open: closing and reopening connections costs more
	// than the memory they hold, and the writer stays the only connection
	// that ever checkpoints.
	db.r.SetMaxIdleConns(opts.Readers)
	db.r.SetConnMaxLifetime(0)
	if err := db.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}

	go db.writeLoop()
	ok = true
	return db, nil
}

// dsn builds a URI filename; SQLite ignores the go-sqlite3 "_" parameters
// it does not know.
func dsn(path, mode string) string {
	u := url.URL{Scheme: "file", Path: path}
	return u.String() + "?mode=" + mode + "&_stmt_cache_size=64"
}

// initFile fixes the page size before the first table exists (it cannot
// change afterwards in WAL mode) and switches to WAL.
func (db *DB) initFile(ctx context.Context) error {
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA page_size = 16384"); err != nil {
		return fmt.Errorf("sqlite: page_size: %w", err)
	}
	var mode string
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: journal_mode is %q, want wal", mode)
	}
	return nil
}

// connector opens go-sqlite3 connections and runs per-connection pragmas
// on each, without registering a named driver (no global state).
type connector struct {
	dsn     string
	pragmas []string
}

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	d := &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		for _, p := range c.pragmas {
			if _, err := conn.Exec(p, nil); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	}}
	return d.Open(c.dsn)
}

func (c *connector) Driver() driver.Driver { return &sqlite3.SQLiteDriver{} }

// migrate applies the numbered migrations the database does not have yet,
// each in its own transaction together with its schema_version row, so a
// crash mid-migration leaves the previous version intact.
func migrate(ctx context.Context, conn *sql.Conn, fsys fs.FS, now time.Time) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: schema_version: %w", err)
	}
	var have int
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have); err != nil {
		return err
	}
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return err
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("sqlite: migration %q: want NNNN_name.sql", e.Name())
		}
		ms = append(ms, migration{v, e.Name()})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return fmt.Errorf("sqlite: migrations not numbered 1..n: %s", m.name)
		}
	}
	if have > len(ms) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program (%d)", have, len(ms))
	}
	for _, m := range ms[have:] {
		body, err := fs.ReadFile(fsys, "migrations/"+m.name)
		if err != nil {
			return err
		}
		if err := inTx(ctx, conn, func() error {
			if _, err := conn.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := conn.ExecContext(ctx, "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
				m.version, now.UnixMilli())
			return err
		}); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// inTx runs fn in an immediate transaction on conn.
func inTx(ctx context.Context, conn *sql.Conn, fn func() error) error {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}

// recoverTasks runs before the writer starts: a task still running belongs
// to a session that died with the previous process. Its attempt was counted
// when it started, so it is queued again, or failed if that was its last.
func (db *DB) recoverTasks(ctx context.Context) error {
	now := db.opts.Now().UnixMilli()
	var requeued, failed int64
	err := inTx(ctx, db.wconn, func() error {
		res, err := db.wconn.ExecContext(ctx, `UPDATE tasks SET state = 'fault', updated = ?,
			fault_code = 0, fault_message = 'interrupted by a restart after the last attempt'
			WHERE state = 'running' AND max_attempts > 0 AND attempts >= max_attempts`, now)
		if err != nil {
			return err
		}
		failed, _ = res.RowsAffected()
		res, err = db.wconn.ExecContext(ctx,
			`UPDATE tasks SET state = 'queued', updated = ? WHERE state = 'running'`, now)
		if err != nil {
			return err
		}
		requeued, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: recover running tasks: %w", err)
	}
	if requeued+failed > 0 {
		db.log.Warn("recovered tasks left running by a crash", "requeued", requeued, "failed", failed)
	}
	return nil
}

// Close stops accepting writes, commits everything queued, checkpoints the
// WAL into the database file and closes it. If ctx ends first, Close
// returns ctx's error and finishes in the background. Later calls return
// the first call's result.
func (db *DB) Close(ctx context.Context) error {
	db.mu.Lock()
	first := !db.closed
	if first {
		db.closed = true
		close(db.ops)
	}
	db.mu.Unlock()
	select {
	case <-db.writerDone:
	case <-ctx.Done():
		go func() { <-db.writerDone; db.finish() }()
		return ctx.Err()
	}
	db.finish()
	return db.closeErr
}

func (db *DB) finish() {
	db.closeOnce.Do(func() {
		var errs []error
		bg := context.Background()
		if _, err := db.wconn.ExecContext(bg, "PRAGMA optimize"); err != nil {
			errs = append(errs, err)
		}
		if db.r != nil {
			// Readers still running get "database is closed".
			errs = append(errs, db.r.Close())
		}
		// With every reader gone the checkpoint can copy the whole WAL
		// back and truncate it.
		if _, err := db.wconn.ExecContext(bg, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, err)
		}
		db.release()
		db.closeErr = errors.Join(errs...)
	})
}

// release closes whatever Open managed to open.
func (db *DB) release() {
	if db.r != nil {
		_ = db.r.Close()
	}
	if db.wconn != nil {
		_ = db.wconn.Close()
	}
	if db.w != nil {
		_ = db.w.Close()
	}
	if db.codec != nil {
		db.codec.Close()
	}
	if db.lock != nil {
		unlockFile(db.lock)
	}
}

// Path returns the database file's absolute path.
func (db *DB) Path() string { return db.path }

// IntegrityCheck runs PRAGMA integrity_check and returns nil when it says
// "ok".
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: integrity_check: %s", store.ErrCorrupt, strings.Join(msgs, "; "))
}

// writerStats are updated by the writer and read by Stats.
type writerStats struct {
	batches        atomic.Uint64
	ops            atomic.Uint64
	failedOps      atomic.Uint64
	failedBatches  atomic.Uint64
	maxBatch       atomic.Int64
	commitNanos    atomic.Int64
	paramWrites    atomic.Uint64
	paramSkips     atomic.Uint64
	paramMemoSkips atomic.Uint64
	paramDicts     atomic.Int64
}

// Stats describes the writer's work since Open.
type Stats struct {
	// Batches is the number of transactions committed; Ops the operations
	// they held (flushes included).
	Batches uint64
	Ops     uint64
	// FailedOps counts operations that returned an error, expected ones
	// (a lost compare-and-set, an unknown device) included; FailedBatches
	// transactions that failed as a whole.
	FailedOps     uint64
	FailedBatches uint64
	MaxBatch      int
	AvgBatch      float64
	// QueueDepth is the number of operations waiting now, of QueueCap.
	QueueDepth int
	QueueCap   int
	// CommitTime is the total time spent in transactions.
	CommitTime time.Duration
	// ParamWrites counts parameter trees written; ParamSkips merges that
	// changed nothing and wrote nothing.
	ParamWrites uint64
	ParamSkips  uint64
	// ParamMemoSkips counts the skips decided without reading the tree
	// (see Options.ParamMemos); they are among ParamSkips.
	ParamMemoSkips uint64
	// ParamDicts is the number of parameter dictionaries.
	ParamDicts int
}

// Stats returns the writer's counters.
func (db *DB) Stats() Stats {
	s := Stats{
		Batches:        db.stats.batches.Load(),
		Ops:            db.stats.ops.Load(),
		FailedOps:      db.stats.failedOps.Load(),
		FailedBatches:  db.stats.failedBatches.Load(),
		MaxBatch:       int(db.stats.maxBatch.Load()),
		QueueDepth:     len(db.ops),
		QueueCap:       cap(db.ops),
		CommitTime:     time.Duration(db.stats.commitNanos.Load()),
		ParamWrites:    db.stats.paramWrites.Load(),
		ParamSkips:     db.stats.paramSkips.Load(),
		ParamMemoSkips: db.stats.paramMemoSkips.Load(),
		ParamDicts:     int(db.stats.paramDicts.Load()),
	}
	if s.Batches > 0 {
		s.AvgBatch = float64(s.Ops) / float64(s.Batches)
	}
	return s
}

func (s Stats) String() string {
	return fmt.Sprintf("batches=%d ops=%d avg_batch=%.1f max_batch=%d failed_ops=%d failed_batches=%d queue=%d/%d commit_time=%v param_writes=%d param_skips=%d (memo %d) param_dicts=%d",
		s.Batches, s.Ops, s.AvgBatch, s.MaxBatch, s.FailedOps, s.FailedBatches, s.QueueDepth, s.QueueCap,
		s.CommitTime.Round(time.Millisecond), s.ParamWrites, s.ParamSkips, s.ParamMemoSkips, s.ParamDicts)
}

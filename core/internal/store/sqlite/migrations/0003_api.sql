-- Northbound API: indexes for device queries, promoted parameters, API
-- tokens, audit log, file metadata and connection request outcomes.

-- Summary columns people filter and sort on. Each index ends in the device
-- ID, so an equality filter returns its devices already in page order and
-- a sort on the column pages by (value, id) without sorting.
CREATE INDEX devices_by_software_version ON devices (software_version, id);
CREATE INDEX devices_by_product_class ON devices (product_class, id);
CREATE INDEX devices_by_model_name ON devices (model_name, id);
CREATE INDEX devices_by_serial_number ON devices (serial_number, id);
CREATE INDEX devices_by_last_inform_id ON devices (last_inform, id);

-- The device's PeriodicInformInterval in seconds, kept in step with its
-- parameter tree so that "online" can be decided without reading the tree.
-- NULL or 0: unknown or periodic inform disabled.
ALTER TABLE devices ADD COLUMN inform_interval INTEGER;

-- Parameters promoted to an indexed column. A new promotion starts in
-- state 'building' and is filled from the stored trees in chunks (cursor
-- is the last device rid done); queries use it once it is 'ready'.
CREATE TABLE promoted_params (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL CHECK (state IN ('building', 'ready')),
    cursor_rid INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL
);

-- One row per device and promoted parameter that the device has. num is
-- the value as a number when it is one, for < and > filters. device_id
-- repeats devices.id so that an equality match comes out in page order.
CREATE TABLE param_index (
    rid       INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    pid       INTEGER NOT NULL REFERENCES promoted_params (id) ON DELETE CASCADE,
    value     TEXT    NOT NULL,
    num       REAL,
    device_id TEXT    NOT NULL,
    PRIMARY KEY (rid, pid)
) WITHOUT ROWID;
CREATE INDEX param_index_by_value ON param_index (pid, value, device_id);
CREATE INDEX param_index_by_num ON param_index (pid, num, device_id) WHERE num IS NOT NULL;

-- Small bookkeeping values; 'interval_cursor' marks the backfill of
-- devices.inform_interval for trees stored before this migration.
CREATE TABLE api_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO api_meta (key, value) VALUES ('interval_cursor', '0');

-- API bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE,
    created    INTEGER NOT NULL,
    created_by TEXT    NOT NULL DEFAULT '',
    expires    INTEGER,
    last_used  INTEGER,
    revoked    INTEGER
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    token_id  INTEGER NOT NULL DEFAULT 0,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL DEFAULT '',
    method    TEXT    NOT NULL,
    path      TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    status    INTEGER NOT NULL,
    remote_ip TEXT    NOT NULL DEFAULT '',
    detail    TEXT
);
CREATE INDEX audit_by_actor ON audit_log (actor, id);

-- File metadata; the bytes are files on disk named by id. seq orders the
-- listing; device_id is no foreign key, so that a device's uploaded backups
-- outlive the device.
CREATE TABLE files (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    version       TEXT    NOT NULL DEFAULT '',
    product_class TEXT    NOT NULL DEFAULT '',
    oui           TEXT    NOT NULL DEFAULT '',
    size          INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    content_type  TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL CHECK (source IN ('api', 'device')),
    device_id     TEXT    NOT NULL DEFAULT '',
    command_key   TEXT    NOT NULL DEFAULT '',
    upload_key    TEXT    NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    created_by    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX files_by_device ON files (device_id, seq) WHERE device_id <> '';
CREATE UNIQUE INDEX files_by_upload_key ON files (upload_key) WHERE upload_key <> '';

-- Connection requests sent to each device, newest kept (bounded).
-- confirmed is set when the device then opened a session with
-- "6 CONNECTION REQUEST", which makes the request a success whatever the
-- GET returned.
CREATE TABLE connection_requests (
    rid         INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    time        INTEGER NOT NULL,
    result      TEXT    NOT NULL,
    http_status INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    confirmed   INTEGER,
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;

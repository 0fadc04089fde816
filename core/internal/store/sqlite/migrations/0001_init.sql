-- Initial schema.
--
-- Times are INTEGER Unix milliseconds, NULL for "unknown/never". Child
-- tables key on devices.rid, an integer, rather than the text device ID:
-- it keeps every history row and index entry ~30 bytes smaller, which
-- matters at a million devices with hundreds of history rows each.

CREATE TABLE devices (
    rid                    INTEGER PRIMARY KEY,
    id                     TEXT    NOT NULL UNIQUE,
    oui                    TEXT    NOT NULL DEFAULT '',
    product_class          TEXT    NOT NULL DEFAULT '',
    serial_number          TEXT    NOT NULL DEFAULT '',
    manufacturer           TEXT    NOT NULL DEFAULT '',
    model_name             TEXT    NOT NULL DEFAULT '',
    software_version       TEXT    NOT NULL DEFAULT '',
    hardware_version       TEXT    NOT NULL DEFAULT '',
    ip                     TEXT    NOT NULL DEFAULT '',
    connection_request_url TEXT    NOT NULL DEFAULT '',
    cwmp_version           TEXT    NOT NULL DEFAULT '',
    namespace              TEXT    NOT NULL DEFAULT '',
    profile                TEXT    NOT NULL DEFAULT '',
    first_inform           INTEGER,
    last_inform            INTEGER,
    last_boot              INTEGER,
    last_bootstrap         INTEGER,
    created                INTEGER NOT NULL,
    updated                INTEGER NOT NULL
);
CREATE INDEX devices_by_last_inform ON devices (last_inform);

-- device_id repeats devices.id so that a tag's devices come out of the
-- index in ID order, which is the order device pages are cut in.
CREATE TABLE device_tags (
    rid       INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    tag       TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    PRIMARY KEY (rid, tag)
) WITHOUT ROWID;
CREATE INDEX device_tags_by_tag ON device_tags (tag, device_id);

-- One compact blob per device (see package paramblob).
CREATE TABLE device_params (
    rid     INTEGER PRIMARY KEY REFERENCES devices (rid) ON DELETE CASCADE,
    nodes   INTEGER NOT NULL,
    blob    BLOB    NOT NULL,
    updated INTEGER NOT NULL
);

-- zstd dictionaries for parameter blobs, one current per device model
-- (OUI-ProductClass): the highest id. Rows are never deleted, since blobs
-- written with an older dictionary still need it.
CREATE TABLE param_dicts (
    id      INTEGER PRIMARY KEY,
    model   TEXT    NOT NULL,
    nodes   INTEGER NOT NULL,
    content BLOB    NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX param_dicts_by_model ON param_dicts (model, id);

-- History tables are clustered by device (WITHOUT ROWID, key rid, seq):
-- a device's history sits on a few adjacent pages, so listing it newest
-- first and trimming its oldest rows are short range operations, and no
-- separate index is needed. seq counts up per device.
CREATE TABLE sessions (
    rid       INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    id        TEXT    NOT NULL,
    started   INTEGER,
    ended     INTEGER,
    events    TEXT    NOT NULL DEFAULT '[]',
    rpcs      INTEGER NOT NULL DEFAULT 0,
    outcome   TEXT    NOT NULL DEFAULT '',
    error     TEXT    NOT NULL DEFAULT '',
    remote_ip TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;

CREATE TABLE events (
    rid         INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    time        INTEGER,
    code        TEXT    NOT NULL,
    command_key TEXT    NOT NULL DEFAULT '',
    session_id  TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;

-- AUTOINCREMENT: task IDs are handed to API clients and may end up in
-- command keys, so an ID is never reused after a device is deleted.
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rid           INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    args          TEXT,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'fault',
                                                    'expired', 'cancelled', 'waiting-transfer')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL DEFAULT 0,
    command_key   TEXT    NOT NULL DEFAULT '',
    expires       INTEGER,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    result        TEXT,
    fault_code    INTEGER,
    fault_message TEXT,
    fault_detail  TEXT
);
CREATE INDEX tasks_by_device ON tasks (rid, state, id);
CREATE INDEX tasks_by_state ON tasks (state, id);
CREATE INDEX tasks_by_command_key ON tasks (rid, command_key) WHERE command_key <> '';

CREATE TABLE faults (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rid        INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    session_id TEXT    NOT NULL DEFAULT '',
    task_id    INTEGER NOT NULL DEFAULT 0,
    time       INTEGER,
    code       INTEGER NOT NULL,
    message    TEXT    NOT NULL DEFAULT '',
    detail     TEXT
);
CREATE INDEX faults_by_device ON faults (rid, id);

CREATE TABLE device_data (
    rid     INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    key     TEXT    NOT NULL,
    value   BLOB    NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (rid, key)
) WITHOUT ROWID;

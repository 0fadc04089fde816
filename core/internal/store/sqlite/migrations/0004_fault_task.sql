-- Faults carry the task whose RPC the device faulted, or NULL when no task
-- was involved. task_id was NOT NULL DEFAULT 0 and never written by the
-- session engine, so existing rows cannot say which task they belong to:
-- they get NULL, and readers fall back to matching them by time.
--
-- SQLite cannot relax NOT NULL in place, so the table is rebuilt. The old
-- table's AUTOINCREMENT high-water mark is kept, so that a fault ID once
-- handed to an API client is never reused.

ALTER TABLE faults RENAME TO faults_old;

CREATE TABLE faults (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rid        INTEGER NOT NULL REFERENCES devices (rid) ON DELETE CASCADE,
    session_id TEXT    NOT NULL DEFAULT '',
    task_id    INTEGER,
    time       INTEGER,
    code       INTEGER NOT NULL,
    message    TEXT    NOT NULL DEFAULT '',
    detail     TEXT
);

INSERT INTO faults (id, rid, session_id, task_id, time, code, message, detail)
    SELECT id, rid, session_id, NULL, time, code, message, detail FROM faults_old;

DELETE FROM sqlite_sequence WHERE name = 'faults';
UPDATE sqlite_sequence SET name = 'faults' WHERE name = 'faults_old';

DROP TABLE faults_old;

CREATE INDEX faults_by_device ON faults (rid, id);
CREATE INDEX faults_by_task ON faults (task_id, id) WHERE task_id IS NOT NULL;

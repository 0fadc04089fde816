-- Per-device CPE credentials (hashes only).
--
-- device_id is the text device ID rather than a devices.rid reference:
-- a credential is written during a device's first session, before the
-- session's end creates the device row, and operators may provision one
-- before the device ever calls. The trigger keeps deletion complete.

CREATE TABLE cpe_credentials (
    username      TEXT    PRIMARY KEY,
    device_id     TEXT    NOT NULL,
    realm         TEXT    NOT NULL DEFAULT '',
    ha1_md5       TEXT    NOT NULL DEFAULT '',
    ha1_sha256    TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    pending       INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX cpe_credentials_by_device ON cpe_credentials (device_id, pending);

CREATE TRIGGER devices_delete_cpe_credentials AFTER DELETE ON devices BEGIN
    DELETE FROM cpe_credentials WHERE device_id = old.id;
END;

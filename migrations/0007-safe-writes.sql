-- Migration 7: versions, the change feed and idempotency keys.

-- Every write to a task or project adds one; the API shows it, and it is
-- part of what the ETag digests, so every write changes the ETag.
ALTER TABLE task ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE project ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The change feed (`GET /changes`): one row per create, update or delete
-- of a task or project, written in the transaction that made the change.
-- A row's position is (tx, id): tx is 0 here, since SQLite's one writer
-- commits in id order; PostgreSQL puts its transaction id there.
-- user_id and project_id say whose view the change is in: the object's
-- owner and the project whose members see it (for a project, itself). No
-- foreign keys: the log outlives what it describes.
-- AUTOINCREMENT: a purge may empty the table, and ids must never restart.
CREATE TABLE change_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tx         INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('task', 'project')),
    entity_id  INTEGER NOT NULL,
    op         TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    user_id    INTEGER,
    project_id INTEGER,
    logged_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX change_log_position ON change_log (tx, id);
CREATE INDEX change_log_at ON change_log (logged_at);

-- Idempotency-Key: the response to the first request with a key, kept for
-- 24 hours and written in the same transaction as what it created.
-- fingerprint is a SHA-256 of the request's method, path and body.
CREATE TABLE idempotency_key (
    user_id     INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
    client_key  TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status      INTEGER NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_key)
) STRICT;
CREATE INDEX idempotency_key_expiry ON idempotency_key (expires_at);

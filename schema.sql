-- taskapi schema, version 1.
--
-- This file is migration 1: it is embedded in the binary and applied to a new,
-- empty database. Later changes are numbered files in migrations/ and are
-- applied in order on top of it (see src/store/migrate.rs); the version a
-- database is at lives in `PRAGMA user_version`.
--
-- Timestamps are RFC 3339 UTC text ("2026-11-22T09:30:00Z") and dates are
-- ISO 8601 text ("2026-11-22"): both sort correctly as strings and read well
-- in the sqlite3 shell.

-- Server-wide settings that must survive restarts, such as the generated
-- token signing key.
CREATE TABLE setting (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- An account. At least one of username and email is set; both are unique
-- without regard to (ASCII) case, and the store also keeps a username from
-- equalling another account's email, so a login name finds at most one user.
CREATE TABLE user (
    id            INTEGER PRIMARY KEY,
    username      TEXT COLLATE NOCASE UNIQUE,
    email         TEXT COLLATE NOCASE UNIQUE,
    -- An argon2id PHC string ("$argon2id$v=19$m=19456,t=2,p=1$..."): the
    -- parameters travel with the hash, so they can be raised later.
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
) STRICT;

-- A task belongs to exactly one user; deleting the user deletes the tasks.
CREATE TABLE task (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT,
    due_date    TEXT,
    completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    priority    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- Every task query filters by owner; this index serves "the caller's tasks in
-- id order" and the point lookups `WHERE id = ? AND owner_id = ?`.
CREATE INDEX task_owner_id ON task (owner_id, id);

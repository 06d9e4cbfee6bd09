-- Migration 4: a deleted account's id is never given to another account.
--
-- Until now user.id was a plain INTEGER PRIMARY KEY, for which SQLite picks
-- the largest id in use plus one: when the newest account deleted itself,
-- the next account to register got its id. A token names its user by id and
-- token generation only, and every account starts at generation 0, so the
-- deleted account's unexpired tokens authenticated as the new one.
-- AUTOINCREMENT makes SQLite remember the largest id ever used (in the
-- sqlite_sequence table) and never hand it out again
-- (https://sqlite.org/autoinc.html).
--
-- Ids freed before this migration ran are not known to it: the sequence
-- starts at the largest id still in use. An account deleted while it was
-- the newest, less than a token lifetime before the upgrade, can therefore
-- still lend its id to the first account registered after it.
--
-- SQLite cannot change a column's definition with ALTER TABLE, so the table
-- is rebuilt by the documented procedure
-- (https://sqlite.org/lang_altertable.html#otheralter). project, task and
-- api_key reference user with ON DELETE CASCADE: with foreign keys on, the
-- DROP TABLE below would delete every one of their rows. So this migration
-- is marked in MIGRATIONS (src/store/migrate.rs) to run with foreign keys
-- off; migrate.rs also does the procedure's other steps around this file:
-- it turns them off before the transaction, runs PRAGMA foreign_key_check
-- before the commit, and turns them back on after it.
--
-- The order matters: create the new table, copy, drop the old one, rename
-- the new one. Renaming the old table out of the way first would make
-- SQLite rewrite the foreign keys of project, task and api_key to follow it
-- to its new name, and dropping it would leave them pointing at nothing.
--
-- user has no indexes, triggers or views of its own to recreate: the
-- indexes behind UNIQUE (username) and UNIQUE (email) belong to the table's
-- definition and come back with it.

-- Every column and constraint as before, in the same order, with
-- AUTOINCREMENT on id. token_generation, which migration 3 appended with
-- ALTER TABLE, now sits with the other columns and has its comment here.
CREATE TABLE user_v4 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT COLLATE NOCASE UNIQUE,
    email            TEXT COLLATE NOCASE UNIQUE,
    -- An argon2id PHC string ("$argon2id$v=19$m=19456,t=2,p=1$..."): the
    -- parameters travel with the hash, so they can be raised later.
    password_hash    TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    -- Access tokens carry the generation they were issued in; raising it (on
    -- a password change or logout) makes every earlier token invalid at once.
    token_generation INTEGER NOT NULL DEFAULT 0,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
) STRICT;

-- Explicit ids keep every account's id; inserting them also sets the
-- table's sqlite_sequence entry to the largest, which the rename carries
-- over to the new name.
INSERT INTO user_v4 (id, username, email, password_hash, created_at, token_generation)
SELECT id, username, email, password_hash, created_at, token_generation
FROM user;

DROP TABLE user;
ALTER TABLE user_v4 RENAME TO user;

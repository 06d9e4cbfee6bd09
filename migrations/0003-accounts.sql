-- Migration 3: API keys for scripts, and ending a user's sessions.

-- Access tokens carry the generation they were issued in; raising it (on a
-- password change or logout) makes every earlier token invalid at once.
-- Tokens issued before this migration carry none, which reads as 0.
ALTER TABLE user ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

-- Long-lived keys for scripts. Only a SHA-256 hash of each key is kept:
-- the key itself is shown once, when it is created.
CREATE TABLE api_key (
    id           INTEGER PRIMARY KEY,
    owner_id     INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- The first characters of the key ("tk_1a2b3c4d"), so a user can tell
    -- their keys apart without the secret.
    prefix       TEXT NOT NULL,
    -- Looked up on every request made with a key, hence UNIQUE (an index).
    key_hash     BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    -- Seconds since the epoch, or NULL for a key that does not expire.
    expires_at   INTEGER,
    last_used_at INTEGER
) STRICT;

-- One user's keys in id order (listing them; cascading a user's deletion).
CREATE INDEX api_key_owner_id ON api_key (owner_id, id);

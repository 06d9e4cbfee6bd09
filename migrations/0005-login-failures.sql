-- Migration 5: failed logins are counted in the database.
--
-- The login throttle used to count in the server's memory. Counting here
-- makes every process on one database count together, and keeps the counts
-- across a restart (see src/throttle.rs).

CREATE TABLE login_failure (
    -- "account:" and the SHA-256 of the account's throttle name (hex), or
    -- "address:" and the client's IP address.
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    -- When the current window began, in milliseconds since the epoch.
    window_start INTEGER NOT NULL
) STRICT;

-- Purging the windows that are over.
CREATE INDEX login_failure_window_start ON login_failure (window_start);

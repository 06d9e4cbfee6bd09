-- taskapi schema for PostgreSQL, version 1: the same tables, constraints
-- and meaning as SQLite's schema.sql plus migrations 2 to 5, in
-- PostgreSQL's terms. Later changes are new numbered files here, applied
-- in order by src/store/postgres/migrate.rs; a released file is never
-- edited.
--
-- What differs from SQLite, and why:
-- - Ids are identity columns, backed by sequences, which never hand out a
--   number twice (SQLite needs AUTOINCREMENT for that; migration 4).
--   A rolled-back insert leaves a gap.
-- - `user` is a reserved word: the table is "user", quoted everywhere.
-- - Usernames and emails are unique ignoring ASCII case through unique
--   indexes on lower(... COLLATE "C"), which the login lookup uses; SQLite
--   has COLLATE NOCASE.
-- - completed is a boolean, and API keys' hashes and the settings are bytea.
-- - Timestamps and dates stay RFC 3339 and ISO 8601 text, exactly what the
--   API shows, compared under the "C" collation (bytes), so they sort in
--   time order and the same on both backends, whatever the database's
--   locale. Project names' lowercase keys sort the same way.

CREATE TABLE setting (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE "user" (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username         text,
    email            text,
    -- An argon2id PHC string ("$argon2id$v=19$m=19456,t=2,p=1$...").
    password_hash    text NOT NULL,
    created_at       text COLLATE "C" NOT NULL,
    -- Access tokens carry the generation they were issued in; raising it (on
    -- a password change or logout) makes every earlier token invalid at once.
    token_generation bigint NOT NULL DEFAULT 0,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
);

-- A login name finds at most one user. The rule across the two columns (no
-- username equals another account's email) is kept by the store, under an
-- advisory lock every registration takes (src/store/users.rs).
-- lower() under the "C" collation folds ASCII only, as SQLite's NOCASE
-- does, whatever the database's locale; the login lookup uses the same
-- expressions.
CREATE UNIQUE INDEX user_username ON "user" (lower(username COLLATE "C"));
CREATE UNIQUE INDEX user_email ON "user" (lower(email COLLATE "C"));

CREATE TABLE project (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    name        text NOT NULL,
    -- The name lowercased by the server: what uniqueness and sorting use.
    name_key    text COLLATE "C" NOT NULL,
    description text,
    created_at  text COLLATE "C" NOT NULL,
    updated_at  text COLLATE "C" NOT NULL,
    -- The target of task's composite foreign key.
    UNIQUE (id, owner_id)
);

-- Project names are unique per user, ignoring case; the index also serves
-- sorting one user's projects by name.
CREATE UNIQUE INDEX project_owner_name ON project (owner_id, name_key);
CREATE INDEX project_owner_id ON project (owner_id, id);

CREATE TABLE task (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    project_id  bigint,
    title       text NOT NULL,
    description text,
    due_date    text COLLATE "C",
    completed   boolean NOT NULL DEFAULT false,
    priority    bigint NOT NULL DEFAULT 0,
    created_at  text COLLATE "C" NOT NULL,
    updated_at  text COLLATE "C" NOT NULL,
    -- A task's project must be its owner's; deleting a project deletes its
    -- tasks. A NULL project_id is not checked (MATCH SIMPLE).
    FOREIGN KEY (project_id, owner_id) REFERENCES project (id, owner_id) ON DELETE CASCADE
);

-- The same indexes as on SQLite (migration 2), for the same queries.
CREATE INDEX task_owner_id ON task (owner_id, id);
CREATE INDEX task_project_priority ON task (project_id, owner_id, priority DESC, id);
CREATE INDEX task_owner_completed_priority ON task (owner_id, completed, priority DESC, id);
CREATE INDEX task_owner_completed_due ON task (owner_id, completed, due_date);
CREATE INDEX task_owner_due ON task (owner_id, due_date);

CREATE TABLE api_key (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id     bigint NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    -- SHA-256 of the key; looked up on every request made with a key.
    key_hash     bytea NOT NULL UNIQUE,
    created_at   text COLLATE "C" NOT NULL,
    -- Seconds since the epoch, or NULL for a key that does not expire.
    expires_at   bigint,
    last_used_at bigint
);

CREATE INDEX api_key_owner_id ON api_key (owner_id, id);

-- Failed logins, counted here so that every process counts together.
CREATE TABLE login_failure (
    -- "account:" and the SHA-256 of the account's throttle name (hex), or
    -- "address:" and the client's IP address.
    subject      text PRIMARY KEY,
    failures     bigint NOT NULL,
    -- When the current window began, in milliseconds since the epoch.
    window_start bigint NOT NULL
);

CREATE INDEX login_failure_window_start ON login_failure (window_start);

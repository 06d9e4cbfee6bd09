-- Versions, the change feed and idempotency keys: SQLite's migration 7.
--
-- A change_log row's position is (tx, id), and tx is the writing
-- transaction's id (pg_current_xact_id()). Ids from the identity are handed
-- out when rows are inserted, not when their transactions commit, so a
-- reader ordering by id alone could pass over a row whose transaction
-- commits later with a smaller id. The feed orders by transaction id and
-- reads only transactions older than every one still running
-- (pg_snapshot_xmin), which can add no more rows: see store/changes.rs.

ALTER TABLE task ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE project ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE TABLE change_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx         bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('task', 'project')),
    entity_id  bigint NOT NULL,
    op         text NOT NULL CHECK (op IN ('upsert', 'delete')),
    user_id    bigint,
    project_id bigint,
    logged_at  bigint NOT NULL
);
CREATE INDEX change_log_position ON change_log (tx, id);
CREATE INDEX change_log_at ON change_log (logged_at);

CREATE TABLE idempotency_key (
    user_id     bigint NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    client_key  text NOT NULL,
    fingerprint bytea NOT NULL,
    status      bigint NOT NULL,
    headers     text NOT NULL,
    body        bytea NOT NULL,
    expires_at  bigint NOT NULL,
    PRIMARY KEY (user_id, client_key)
);
CREATE INDEX idempotency_key_expiry ON idempotency_key (expires_at);

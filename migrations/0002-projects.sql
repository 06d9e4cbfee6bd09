-- Migration 2: projects, and tasks that may belong to one.
--
-- A task's project must belong to the task's owner. The foreign key below
-- says so itself, (project_id, owner_id) -> project (id, owner_id), so no
-- code path can file a task under someone else's project. SQLite cannot add
-- a table constraint with ALTER TABLE, so the task table is rebuilt: create
-- the new shape, copy, drop, rename (https://sqlite.org/lang_altertable.html).
-- Nothing references task, so dropping it is safe with foreign keys on.

CREATE TABLE project (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    -- The name lowercased by the server (Unicode-aware, unlike SQLite's
    -- NOCASE, which folds only ASCII): what uniqueness and sorting use.
    name_key    TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- The target of task's composite foreign key.
    UNIQUE (id, owner_id)
) STRICT;

-- Project names are unique per user, ignoring case; the index also serves
-- sorting one user's projects by name.
CREATE UNIQUE INDEX project_owner_name ON project (owner_id, name_key);
-- One user's projects in id order.
CREATE INDEX project_owner_id ON project (owner_id, id);

CREATE TABLE task_v2 (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
    project_id  INTEGER,
    title       TEXT NOT NULL,
    description TEXT,
    due_date    TEXT,
    completed   INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    priority    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- Deleting a project deletes its tasks; a NULL project_id is unchecked.
    FOREIGN KEY (project_id, owner_id) REFERENCES project (id, owner_id) ON DELETE CASCADE
) STRICT;

INSERT INTO task_v2 (id, owner_id, title, description, due_date, completed, priority,
                     created_at, updated_at)
SELECT id, owner_id, title, description, due_date, completed, priority, created_at, updated_at
FROM task;

DROP TABLE task;
ALTER TABLE task_v2 RENAME TO task;

-- One user's tasks in id order, and point lookups by (id, owner_id).
CREATE INDEX task_owner_id ON task (owner_id, id);
-- One project's tasks, highest priority first, ties by id: the default
-- order of GET /projects/{id}/tasks, read straight from the index. Its
-- (project_id, owner_id) prefix also serves the foreign key's cascade.
CREATE INDEX task_project_priority ON task (project_id, owner_id, priority DESC, id);
-- One user's open (or done) tasks, most important first: the to-do view,
-- `GET /tasks?completed=false&sort=-priority`, page and count from the index.
CREATE INDEX task_owner_completed_priority ON task (owner_id, completed, priority DESC, id);
-- Overdue tasks (open, due before today) and other completion-and-date
-- filters; it covers their counts, so X-Total-Count reads no table rows.
CREATE INDEX task_owner_completed_due ON task (owner_id, completed, due_date);
-- Due-date filters alone.
CREATE INDEX task_owner_due ON task (owner_id, due_date);

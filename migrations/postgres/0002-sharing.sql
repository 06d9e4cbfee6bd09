-- Sharing, assignees and tags: the same as SQLite's migration 6.
--
-- A project has one owner (project.owner_id) and members, each a viewer or
-- an editor. A task keeps its home in owner_id: for a task in a project,
-- the project's owner (the composite foreign key still says so); for a
-- task in no project, whoever it belongs to. created_by is who made it; it
-- becomes NULL when that account is deleted, and the task stays with its
-- project.

CREATE TABLE project_member (
    project_id bigint NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('viewer', 'editor')),
    joined_at  text COLLATE "C" NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE INDEX project_member_user ON project_member (user_id, project_id, role);

ALTER TABLE task ADD COLUMN created_by bigint REFERENCES "user" (id) ON DELETE SET NULL;
ALTER TABLE task ADD COLUMN assignee_id bigint REFERENCES "user" (id) ON DELETE SET NULL;
UPDATE task SET created_by = owner_id;

-- A member's view goes by project_id: the owner's indexes, per project.
CREATE INDEX task_project_completed_priority ON task (project_id, completed, priority DESC, id);
CREATE INDEX task_project_completed_due ON task (project_id, completed, due_date);
CREATE INDEX task_project_due ON task (project_id, due_date);

CREATE INDEX task_assignee ON task (assignee_id, id);
CREATE INDEX task_created_by ON task (created_by);

CREATE TABLE task_tag (
    task_id  bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    position bigint NOT NULL,
    tag      text NOT NULL,
    tag_key  text COLLATE "C" NOT NULL,
    PRIMARY KEY (task_id, position),
    UNIQUE (task_id, tag_key)
);

CREATE INDEX task_tag_key ON task_tag (tag_key, task_id);

//! Tasks, and who may see and change them. Every statement that reads or
//! writes a task for a user names that user's access in its `WHERE` clause,
//! so a task someone may not see is indistinguishable from one that does
//! not exist: the handler gets `None` (or `Change::NotFound`) either way and
//! answers 404.
//!
//! Who sees what:
//! - a task in no project: its owner (`owner_id`);
//! - a task in a project: the project's owner, who is also the task's
//!   `owner_id` (the schema's composite foreign key `(project_id, owner_id)
//!   -> project (id, owner_id)` says so), and every member of the project.
//!
//! Editors and the owner change and delete a project's tasks; viewers only
//! read them (`Change::Forbidden`, a 403). Moving a task into a project
//! needs the editor role there; moving it out of one needs to be its
//! creator or the project's owner. A task moved out of a project becomes
//! the mover's own.

use super::changes;
use super::list::{self, Conditions};
use super::projects::{member_of, visible_project};
use super::sql::{Conn, Dialect, ErrorKind, Param, Row, SqlError};
use super::{Db, StoreError};
use crate::conditional::Precondition;
use crate::model::{
    Assignee, Change, ChangeKind, ChangeOp, Entity, ListQuery, NewTask, Page, Role, Task,
    TaskFilter, TaskPatch,
};
use crate::time;

/// The fields a task list can be sorted by.
pub const SORT_FIELDS: &[&str] = &[
    "id",
    "priority",
    "due_date",
    "created_at",
    "updated_at",
    "title",
];

/// "The caller (`?1`) may see this task": they own it, or they are a member
/// of its project. Both halves are index lookups (`task_owner_id`, and
/// `project_member_user` then the per-project task indexes).
pub(super) fn visible(dialect: Dialect) -> String {
    format!(
        "(task.owner_id = ?1 OR {})",
        member_of(dialect, "task.project_id", false)
    )
}

/// "The caller (`?1`) may change this task": they own it, or they are an
/// editor of its project.
fn editable(dialect: Dialect) -> String {
    format!(
        "(task.owner_id = ?1 OR {})",
        member_of(dialect, "task.project_id", true)
    )
}

/// The columns of a task, its tags gathered by a correlated subquery on
/// `task_tag`'s primary key as a JSON array (each backend has its own
/// aggregate for that).
///
/// On SQLite the aggregate reads an ordered subquery rather than taking an
/// `ORDER BY` of its own: the primary key `(task_id, position)` already
/// yields the tags in order, while `json_group_array(tag ORDER BY
/// position)` built a sorter for every row, which halved the rate of
/// `GET /tasks` in the benchmark (9,852 to 5,173 requests a second).
pub(super) fn task_columns(dialect: Dialect) -> String {
    let tags = match dialect {
        Dialect::Sqlite => {
            "(SELECT json_group_array(tag) FROM \
             (SELECT tag FROM task_tag WHERE task_id = task.id ORDER BY position))"
        }
        Dialect::Postgres => {
            "(SELECT coalesce(json_agg(tag ORDER BY position), '[]')::text FROM task_tag \
             WHERE task_id = task.id)"
        }
    };
    format!(
        "task.id, task.project_id, task.title, task.description, task.due_date, task.completed, \
         task.priority, task.created_at, task.updated_at, task.assignee_id, task.created_by, {tags}, \
         task.version"
    )
}

pub(super) fn task_from_row(row: &Row<'_>) -> Result<Task, SqlError> {
    let tags: String = row.get(11)?;
    Ok(Task {
        id: row.get(0)?,
        project_id: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        due_date: row.get(4)?,
        completed: row.get(5)?,
        priority: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        assignee_id: row.get(9)?,
        created_by: row.get(10)?,
        tags: serde_json::from_str(&tags)
            .map_err(|error| SqlError::new(ErrorKind::Other, format!("task tags: {error}")))?,
        version: row.get(12)?,
    })
}

/// The task `id`, read inside a write or a read, if `caller` may see it.
pub(super) fn read(conn: &mut Conn<'_>, caller: i64, id: i64) -> Result<Option<Task>, StoreError> {
    let sql = format!(
        "SELECT {} FROM task WHERE task.id = ?2 AND {}",
        task_columns(conn.dialect()),
        visible(conn.dialect())
    );
    Ok(conn.query_opt(&sql, &[&caller, &id], task_from_row)?)
}

/// The task `id` if `caller` may see it.
pub fn get(db: &Db, caller: i64, id: i64) -> Result<Option<Task>, StoreError> {
    db.read(|conn| read(conn, caller, id))
}

/// What the caller is in a project, and who owns it; `None` if the
/// project does not exist or the caller may not see it.
fn role_in_project(
    conn: &mut Conn<'_>,
    caller: i64,
    project_id: i64,
) -> Result<Option<(Role, i64)>, StoreError> {
    let found = conn.query_opt(
        "SELECT project.owner_id,
                (SELECT role FROM project_member WHERE project_id = project.id AND user_id = ?1)
         FROM project WHERE project.id = ?2",
        &[&caller, &project_id],
        |row| Ok((row.get::<i64>(0)?, row.get::<Option<String>>(1)?)),
    )?;
    Ok(found.and_then(|(owner, member_role)| {
        if owner == caller {
            Some((Role::Owner, owner))
        } else {
            member_role
                .as_deref()
                .and_then(Role::of_member)
                .map(|role| (role, owner))
        }
    }))
}

/// Where a task goes to live: the owner it will have for a project (or for
/// none), provided the caller may put it there.
fn home_for(
    conn: &mut Conn<'_>,
    caller: i64,
    project_id: Option<i64>,
) -> Result<Change<i64>, StoreError> {
    let Some(project_id) = project_id else {
        return Ok(Change::Done(caller));
    };
    Ok(match role_in_project(conn, caller, project_id)? {
        None => return Err(StoreError::NotFound(Entity::Project)),
        Some((Role::Viewer, _)) => editor_needed(Some(project_id)),
        Some((_, owner)) => Change::Done(owner),
    })
}

/// The refusal of a change to a task the caller may only read. Only a
/// project's task can be seen without being changeable: a task in no
/// project is seen by its owner alone.
fn editor_needed<T>(project_id: Option<i64>) -> Change<T> {
    Change::Forbidden(match project_id {
        Some(project_id) => format!("the editor role in project {project_id}"),
        None => "the editor role".to_owned(),
    })
}

/// Checks that `assignee` may see a task living with `owner` in `project`:
/// that owner, or a member of that project.
fn check_assignee(
    conn: &mut Conn<'_>,
    owner: i64,
    project_id: Option<i64>,
    assignee: Option<i64>,
) -> Result<(), StoreError> {
    let Some(assignee) = assignee else {
        return Ok(());
    };
    if assignee == owner {
        return Ok(());
    }
    let member = match project_id {
        Some(project_id) => conn
            .query_opt(
                "SELECT 1 FROM project_member WHERE project_id = ?1 AND user_id = ?2",
                &[&project_id, &assignee],
                |_| Ok(()),
            )?
            .is_some(),
        None => false,
    };
    if member {
        Ok(())
    } else {
        Err(StoreError::Invalid("assignee_id"))
    }
}

/// Replaces a task's tags with `tags` (already distinct ignoring case).
fn replace_tags(conn: &mut Conn<'_>, task_id: i64, tags: &[String]) -> Result<(), StoreError> {
    conn.execute("DELETE FROM task_tag WHERE task_id = ?1", &[&task_id])?;
    add_tags(conn, task_id, tags)
}

/// Stores `tags` for a task that has none.
fn add_tags(conn: &mut Conn<'_>, task_id: i64, tags: &[String]) -> Result<(), StoreError> {
    for (position, tag) in (0i64..).zip(tags) {
        conn.execute(
            "INSERT INTO task_tag (task_id, position, tag, tag_key) VALUES (?1, ?2, ?3, ?4)",
            &[&task_id, &position, tag, &tag_key(tag)],
        )?;
    }
    Ok(())
}

/// What makes two tags the same: Unicode lowercase, as for project names.
pub fn tag_key(tag: &str) -> String {
    tag.to_lowercase()
}

/// A write refused by the project foreign key means the project is gone.
fn project_error(error: SqlError) -> StoreError {
    if error.kind == ErrorKind::ForeignKey {
        StoreError::NotFound(Entity::Project)
    } else {
        error.into()
    }
}

/// Creates a task for `caller`: their own, or in a project where they are
/// the owner or an editor (it then lives with the project's owner).
pub fn create(db: &Db, caller: i64, task: &NewTask) -> Result<Change<Task>, StoreError> {
    db.write(|tx| create_in(tx, caller, task))
}

/// [`create`], inside a write that is already open (one that also keeps
/// an idempotency key: `store::idempotency`).
pub fn create_in(
    tx: &mut Conn<'_>,
    caller: i64,
    task: &NewTask,
) -> Result<Change<Task>, StoreError> {
    let now = time::now_rfc3339();
    let owner = match home_for(tx, caller, task.project_id)?.done() {
        Ok(owner) => owner,
        Err(refusal) => return Ok(refusal),
    };
    check_assignee(tx, owner, task.project_id, task.assignee_id)?;
    let id: Option<i64> = tx
        .query_opt(
            "INSERT INTO task (owner_id, project_id, title, description, due_date, completed,
                               priority, created_at, updated_at, assignee_id, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
             RETURNING id",
            &[
                &owner,
                &task.project_id,
                &task.title,
                &task.description,
                &task.due_date,
                &task.completed,
                &task.priority,
                &now,
                &task.assignee_id,
                &caller,
            ],
            |row| row.get(0),
        )
        .map_err(project_error)?;
    let id = id.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))?;
    add_tags(tx, id, &task.tags)?;
    log_task(tx, id, ChangeOp::Upsert, (owner, task.project_id), true)?;
    let created = read(tx, caller, id)?;
    created
        .map(Change::Done)
        .ok_or_else(|| StoreError::Database("a created task is not visible".to_owned()))
}

/// Logs a change to task `id` living with `owner` in `project_id`. With
/// `counted` (the task arrives in or leaves the project), the project
/// changes too: its `task_count` does.
fn log_task(
    tx: &mut Conn<'_>,
    id: i64,
    op: ChangeOp,
    (owner, project_id): (i64, Option<i64>),
    counted: bool,
) -> Result<(), StoreError> {
    changes::record(tx, ChangeKind::Task, id, op, Some(owner), project_id)?;
    if let Some(project_id) = project_id
        && counted
    {
        changes::record(
            tx,
            ChangeKind::Project,
            project_id,
            ChangeOp::Upsert,
            Some(owner),
            Some(project_id),
        )?;
    }
    Ok(())
}

/// One page of the tasks `caller` may see.
///
/// Without a project filter the condition is "owned, or in a project the
/// caller belongs to"; the planner serves each half from an index. With
/// `project_id`, the project's owner is looked up (if the caller may see
/// the project) and both `task_project_priority` columns are equalities,
/// so one project's tasks by priority come straight from that index.
pub fn list(db: &Db, caller: i64, query: &ListQuery<TaskFilter>) -> Result<Page<Task>, StoreError> {
    let dialect = db.dialect();
    let conditions = task_conditions(dialect, caller, &query.filter);
    let order = list::order_by(&query.sort, sort_expression(dialect), &["due_date"])?;
    list::page(
        db,
        "task",
        &task_columns(dialect),
        &conditions,
        &order,
        (query.limit, query.offset),
        task_from_row,
    )
}

fn task_conditions(dialect: Dialect, caller: i64, filter: &TaskFilter) -> Conditions {
    let mut conditions = Conditions::for_caller(caller);
    // The access condition comes first: the project filter names its value
    // `?2` (it is used twice), which holds only as the first value after the
    // caller's `?1`.
    match filter.project_id {
        Some(Some(project_id)) => conditions.push(
            format!(
                "task.project_id = ?2 AND task.owner_id =
                     (SELECT owner_id FROM project WHERE project.id = ?2 AND {})",
                visible_project(dialect)
            ),
            [param(project_id)],
        ),
        Some(None) => conditions.push("task.project_id IS NULL AND task.owner_id = ?1", []),
        None => conditions.push(visible(dialect), []),
    }
    if let Some(completed) = filter.completed {
        conditions.push("task.completed = ?", [param(completed)]);
    }
    // Comparisons with a NULL due date are never true, so undated tasks
    // drop out of every due filter, as documented.
    if let Some(date) = &filter.due_before {
        conditions.push("task.due_date <= ?", [param(date.clone())]);
    }
    if let Some(date) = &filter.due_after {
        conditions.push("task.due_date >= ?", [param(date.clone())]);
    }
    // Today in UTC, from the server's clock on both backends (dates are
    // ISO 8601 text, which compares in date order).
    match filter.overdue {
        Some(true) => conditions.push(
            "(task.completed = FALSE AND task.due_date < ?)",
            [param(time::today())],
        ),
        Some(false) => conditions.push(
            "NOT (task.completed = FALSE AND task.due_date IS NOT NULL AND task.due_date < ?)",
            [param(time::today())],
        ),
        None => {}
    }
    match filter.assignee {
        Some(Assignee::User(user_id)) => {
            conditions.push("task.assignee_id = ?", [param(user_id)]);
        }
        Some(Assignee::Nobody) => conditions.push("task.assignee_id IS NULL", []),
        None => {}
    }
    if let Some(tag) = &filter.tag {
        conditions.push(
            "task.id IN (SELECT task_id FROM task_tag WHERE tag_key = ?)",
            [param(tag_key(tag))],
        );
    }
    if let Some(text) = &filter.text {
        conditions.push_contains(dialect, &["task.title", "task.description"], text);
    }
    conditions
}

fn param(value: impl Param + 'static) -> Box<dyn Param> {
    Box::new(value)
}

/// The expression a field sorts by. Titles sort ignoring ASCII case on both
/// backends: SQLite's `NOCASE`, and PostgreSQL's `lower()` under the "C"
/// collation, which folds ASCII only and compares bytes.
fn sort_expression(dialect: Dialect) -> impl Fn(&str) -> Option<&'static str> {
    move |field| {
        Some(match field {
            "id" => "task.id",
            "priority" => "task.priority",
            "due_date" => "task.due_date",
            "created_at" => "task.created_at",
            "updated_at" => "task.updated_at",
            "title" => match dialect {
                Dialect::Sqlite => "task.title COLLATE NOCASE",
                Dialect::Postgres => "lower(task.title COLLATE \"C\")",
            },
            _ => return None,
        })
    }
}

/// Replaces every writable field of task `id` (`PUT`), if `precondition`
/// holds.
pub fn replace(
    db: &Db,
    caller: i64,
    id: i64,
    task: &NewTask,
    precondition: &Precondition,
) -> Result<Change<Task>, StoreError> {
    let patch = TaskPatch {
        project_id: Some(task.project_id),
        title: Some(task.title.clone()),
        description: Some(task.description.clone()),
        due_date: Some(task.due_date.clone()),
        completed: Some(task.completed),
        priority: Some(task.priority),
        assignee_id: Some(task.assignee_id),
        tags: Some(task.tags.clone()),
    };
    patch_task(db, caller, id, &patch, precondition)
}

/// What a write needs to know about the task it changes, read (and on
/// PostgreSQL locked) in its transaction.
struct Current {
    owner: i64,
    project_id: Option<i64>,
    created_by: Option<i64>,
    assignee_id: Option<i64>,
    editable: bool,
}

fn current(conn: &mut Conn<'_>, caller: i64, id: i64) -> Result<Option<Current>, StoreError> {
    // Locked for the rest of the transaction on PostgreSQL, so that no
    // other write changes the task between this read and the update.
    // (SQLite's writer runs one write at a time already.)
    let dialect = conn.dialect();
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE OF task",
    };
    let sql = format!(
        "SELECT task.owner_id, task.project_id, task.created_by, task.assignee_id,
                CAST(CASE WHEN {} THEN 1 ELSE 0 END AS BIGINT)
         FROM task WHERE task.id = ?2 AND {}{lock}",
        editable(dialect),
        visible(dialect)
    );
    Ok(conn.query_opt(&sql, &[&caller, &id], |row| {
        Ok(Current {
            owner: row.get(0)?,
            project_id: row.get(1)?,
            created_by: row.get(2)?,
            assignee_id: row.get(3)?,
            editable: row.get::<i64>(4)? == 1,
        })
    })?)
}

/// Changes the fields present in `patch` on task `id` (`PATCH`, and `PUT`
/// with every field present), if `precondition` holds for the task as the
/// caller sees it, read in the same transaction (and on PostgreSQL locked
/// by `current`, so a concurrent write with the same `If-Match` waits and
/// then fails it).
///
/// The update sets only the columns the patch names (and, when the task
/// moves, its owner), inside the transaction that checked the caller's
/// rights, and its `WHERE` names those rights again. (`sql` varies with
/// the fields present; the combinations are few, so statement caches stay
/// small.)
pub fn patch_task(
    db: &Db,
    caller: i64,
    id: i64,
    patch: &TaskPatch,
    precondition: &Precondition,
) -> Result<Change<Task>, StoreError> {
    let now = time::now_rfc3339();
    db.write(|tx| {
        let Some(current) = current(tx, caller, id)? else {
            return Ok(Change::NotFound);
        };
        if !current.editable {
            return Ok(editor_needed(current.project_id));
        }
        if let Some(unmet) = unmet(tx, caller, id, precondition)? {
            return Ok(unmet);
        }
        if patch.is_empty() {
            return Ok(read(tx, caller, id)?.map_or(Change::NotFound, Change::Done));
        }
        let moves = patch
            .project_id
            .is_some_and(|project_id| project_id != current.project_id);
        let mut owner = current.owner;
        if moves {
            if let Some(from) = current.project_id
                && current.created_by != Some(caller)
                && current.owner != caller
            {
                return Ok(Change::Forbidden(format!(
                    "to be the task's creator or the owner of project {from}"
                )));
            }
            owner = match home_for(tx, caller, patch.project_id.flatten())?.done() {
                Ok(owner) => owner,
                Err(refusal) => return Ok(refusal),
            };
        }
        let project_id = patch.project_id.unwrap_or(current.project_id);
        let assignee = patch.assignee_id.unwrap_or(current.assignee_id);
        if moves || patch.assignee_id.is_some() {
            check_assignee(tx, owner, project_id, assignee)?;
        }

        // Column names come from this fixed list, never from the client.
        let mut assignments: Vec<&str> = Vec::new();
        let mut values: Vec<Box<dyn Param>> = vec![param(caller), param(id)];
        let mut set = |column: &'static str, value: Box<dyn Param>| {
            assignments.push(column);
            values.push(value);
        };
        if moves {
            set("owner_id", param(owner));
            set("project_id", param(project_id));
        }
        if let Some(title) = &patch.title {
            set("title", param(title.clone()));
        }
        if let Some(description) = &patch.description {
            set("description", param(description.clone()));
        }
        if let Some(due_date) = &patch.due_date {
            set("due_date", param(due_date.clone()));
        }
        if let Some(completed) = patch.completed {
            set("completed", param(completed));
        }
        if let Some(priority) = patch.priority {
            set("priority", param(priority));
        }
        if let Some(assignee_id) = patch.assignee_id {
            set("assignee_id", param(assignee_id));
        }
        set("updated_at", param(now.clone()));
        let mut set_clause: Vec<String> = assignments
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} = ?{}", index + 3))
            .collect();
        set_clause.push("version = version + 1".to_owned());
        let sql = format!(
            "UPDATE task SET {} WHERE task.id = ?2 AND {}",
            set_clause.join(", "),
            editable(tx.dialect())
        );
        let values: Vec<&dyn Param> = values.iter().map(|value| &**value).collect();
        let changed = tx.execute(&sql, &values).map_err(project_error)?;
        if changed != 1 {
            return Err(StoreError::Database(
                "a task checked as editable was not updated".to_owned(),
            ));
        }
        if let Some(tags) = &patch.tags {
            replace_tags(tx, id, tags)?;
        }
        // A move takes the task out of the old project's view (and its
        // owner's, if that changes) and into the new one's.
        if moves {
            let from = (current.owner, current.project_id);
            log_task(tx, id, ChangeOp::Delete, from, true)?;
        }
        log_task(tx, id, ChangeOp::Upsert, (owner, project_id), moves)?;
        // Moved out of a project by the project's owner into their own
        // tasks, or into a project: visible to the caller either way.
        Ok(read(tx, caller, id)?.map_or(Change::NotFound, Change::Done))
    })
}

/// Deletes task `id` if `precondition` holds; `NotFound` if the caller
/// cannot see it, `Forbidden` if they may only read it.
pub fn delete(
    db: &Db,
    caller: i64,
    id: i64,
    precondition: &Precondition,
) -> Result<Change<()>, StoreError> {
    db.write(|tx| {
        if precondition.is_some() {
            match current(tx, caller, id)? {
                None => return Ok(Change::NotFound),
                Some(current) if !current.editable => {
                    return Ok(editor_needed(current.project_id));
                }
                Some(_) => {}
            }
            if let Some(unmet) = unmet(tx, caller, id, precondition)? {
                return Ok(unmet);
            }
        }
        let deleted = tx.query_opt(
            &format!(
                "DELETE FROM task WHERE task.id = ?2 AND {} RETURNING owner_id, project_id",
                editable(tx.dialect())
            ),
            &[&caller, &id],
            |row| Ok((row.get::<i64>(0)?, row.get::<Option<i64>>(1)?)),
        )?;
        if let Some(home) = deleted {
            log_task(tx, id, ChangeOp::Delete, home, true)?;
            return Ok(Change::Done(()));
        }
        Ok(match current(tx, caller, id)? {
            Some(current) => editor_needed(current.project_id),
            None => Change::NotFound,
        })
    })
}

/// The refusal if `precondition` does not hold for task `id` as `caller`
/// sees it now (see `store::refused_by`).
fn unmet<T>(
    tx: &mut Conn<'_>,
    caller: i64,
    id: i64,
    precondition: &Precondition,
) -> Result<Option<Change<T>>, StoreError> {
    if !precondition.is_some() {
        return Ok(None);
    }
    Ok(super::refused_by(precondition, read(tx, caller, id)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SortKey;
    use crate::store::Database;

    /// SQLite's plan for the query that finds a page's ids (`list::page`).
    fn plan(db: &Db, filter: TaskFilter, sort: Vec<SortKey>) -> String {
        let conditions = task_conditions(Dialect::Sqlite, 1, &filter);
        let order = list::order_by(&sort, sort_expression(Dialect::Sqlite), &["due_date"]).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT task.id FROM task {} {order} LIMIT 50",
            conditions.sql()
        );
        let plan: Vec<String> = db
            .read(|conn| Ok(conn.query(&sql, &conditions.values(), |row| row.get(3))?))
            .unwrap();
        plan.join("\n")
    }

    fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        db.migrate().unwrap();
        (dir, db)
    }

    #[test]
    fn a_projects_tasks_by_priority_come_straight_from_the_index() {
        let (_dir, db) = database();
        let plan = plan(
            &db,
            TaskFilter {
                project_id: Some(Some(7)),
                ..TaskFilter::default()
            },
            vec![SortKey {
                field: "priority",
                descending: true,
            }],
        );
        assert!(
            plan.contains("task_project_priority (project_id=? AND owner_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn every_task_a_user_can_see_is_found_through_indexes() {
        let (_dir, db) = database();
        let plan = plan(
            &db,
            TaskFilter::default(),
            vec![SortKey {
                field: "id",
                descending: false,
            }],
        );
        // Each access check is an index lookup: no step scans a table.
        for line in plan.lines() {
            assert!(
                !(line.contains("SCAN task") || line.contains("SCAN project_member"))
                    || line.contains("USING"),
                "a full scan: {line}\n{plan}"
            );
        }
        assert!(plan.contains("project_member_user"), "{plan}");
    }
}

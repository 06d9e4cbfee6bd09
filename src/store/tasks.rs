//! Tasks. Every statement names the owner in its `WHERE` clause, so a task
//! that belongs to someone else is indistinguishable from one that does not
//! exist: the handler gets `None` either way and answers 404.
//!
//! A task's project must be its owner's: the schema's composite foreign key
//! `(project_id, owner_id) -> project (id, owner_id)` refuses anything else,
//! and that refusal comes back as `StoreError::NotFound(Entity::Project)`.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::list::{self, Conditions};
use super::{Db, StoreError, is_foreign_key_violation, write_execute, write_returning};
use crate::model::{Entity, ListQuery, NewTask, Page, Task, TaskFilter, TaskPatch};
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

const TASK_COLUMNS: &str =
    "id, project_id, title, description, due_date, completed, priority, created_at, updated_at";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
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
    })
}

/// A write refused by the project foreign key means the project is not the
/// owner's (or does not exist).
fn project_error(error: rusqlite::Error) -> StoreError {
    if is_foreign_key_violation(&error) {
        StoreError::NotFound(Entity::Project)
    } else {
        error.into()
    }
}

/// Creates a task owned by `owner_id`.
pub fn create(db: &Db, owner_id: i64, task: &NewTask) -> Result<Task, StoreError> {
    let now = time::now_rfc3339();
    let created = write_returning(
        db,
        &format!(
            "INSERT INTO task (owner_id, project_id, title, description, due_date, completed,
                               priority, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             RETURNING {TASK_COLUMNS}"
        ),
        params![
            owner_id,
            task.project_id,
            task.title,
            task.description,
            task.due_date,
            task.completed,
            task.priority,
            now
        ],
        task_from_row,
        project_error,
    )?;
    // An INSERT always returns its row.
    created.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))
}

/// One page of the owner's tasks.
///
/// Which index serves which query (SQLite's planner chooses): the default
/// order (id) walks `task_owner_id`; one project's tasks by priority walk
/// `task_project_priority`, and open tasks by priority
/// `task_owner_completed_priority`, both with no sorting step; overdue and
/// due-date filters use `task_owner_completed_due` and `task_owner_due`.
/// Other orders sort the filtered rows.
pub fn list(
    db: &Db,
    owner_id: i64,
    query: &ListQuery<TaskFilter>,
) -> Result<Page<Task>, StoreError> {
    let conditions = task_conditions(owner_id, &query.filter);
    let order = list::order_by(&query.sort, sort_expression, &["due_date"])?;
    list::page(
        db,
        "task",
        TASK_COLUMNS,
        &conditions,
        &order,
        (query.limit, query.offset),
        task_from_row,
    )
}

fn task_conditions(owner_id: i64, filter: &TaskFilter) -> Conditions {
    let mut conditions = Conditions::default();
    conditions.push("owner_id = ?", [owner_id.into()]);
    if let Some(completed) = filter.completed {
        conditions.push("completed = ?", [completed.into()]);
    }
    match filter.project_id {
        Some(Some(project_id)) => conditions.push("project_id = ?", [project_id.into()]),
        Some(None) => conditions.push("project_id IS NULL", []),
        None => {}
    }
    // Comparisons with a NULL due date are never true, so undated tasks
    // drop out of every due filter, as documented.
    if let Some(date) = &filter.due_before {
        conditions.push("due_date <= ?", [date.clone().into()]);
    }
    if let Some(date) = &filter.due_after {
        conditions.push("due_date >= ?", [date.clone().into()]);
    }
    match filter.overdue {
        // date('now') is today in UTC.
        Some(true) => conditions.push("(completed = 0 AND due_date < date('now'))", []),
        Some(false) => conditions.push(
            "NOT (completed = 0 AND due_date IS NOT NULL AND due_date < date('now'))",
            [],
        ),
        None => {}
    }
    if let Some(text) = &filter.text {
        let pattern: SqlValue = list::contains_pattern(text).into();
        conditions.push(
            "(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')",
            [pattern.clone(), pattern],
        );
    }
    conditions
}

fn sort_expression(field: &str) -> Option<&'static str> {
    Some(match field {
        "id" => "id",
        "priority" => "priority",
        "due_date" => "due_date",
        "created_at" => "created_at",
        "updated_at" => "updated_at",
        "title" => "title COLLATE NOCASE",
        _ => return None,
    })
}

/// The task `id` if the owner has it.
pub fn get(db: &Db, owner_id: i64, id: i64) -> Result<Option<Task>, StoreError> {
    let mut statement = db.conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM task WHERE id = ?1 AND owner_id = ?2"
    ))?;
    Ok(statement
        .query_row([id, owner_id], task_from_row)
        .optional()?)
}

/// Replaces every writable field of the owner's task `id` (`PUT`).
pub fn replace(
    db: &Db,
    owner_id: i64,
    id: i64,
    task: &NewTask,
) -> Result<Option<Task>, StoreError> {
    write_returning(
        db,
        &format!(
            "UPDATE task
             SET project_id = ?3, title = ?4, description = ?5, due_date = ?6, completed = ?7,
                 priority = ?8, updated_at = ?9
             WHERE id = ?1 AND owner_id = ?2
             RETURNING {TASK_COLUMNS}"
        ),
        params![
            id,
            owner_id,
            task.project_id,
            task.title,
            task.description,
            task.due_date,
            task.completed,
            task.priority,
            time::now_rfc3339()
        ],
        task_from_row,
        project_error,
    )
}

/// Changes the fields present in `patch` on the owner's task `id` (`PATCH`).
///
/// The whole merge is one `UPDATE ... RETURNING`, built from the fields the
/// patch names: no read-modify-write in Rust, so nothing another writer does
/// in between can be overwritten with stale values. (`sql` varies with the
/// fields present; there are 64 combinations at most, so the statement
/// cache stays small.)
pub fn patch(
    db: &Db,
    owner_id: i64,
    id: i64,
    patch: &TaskPatch,
) -> Result<Option<Task>, StoreError> {
    if patch.is_empty() {
        return get(db, owner_id, id);
    }
    // Column names come from this fixed list, never from the client.
    let mut assignments: Vec<&str> = Vec::new();
    let mut values: Vec<SqlValue> = vec![id.into(), owner_id.into()];
    let mut set = |column: &'static str, value: SqlValue| {
        assignments.push(column);
        values.push(value);
    };
    if let Some(project_id) = patch.project_id {
        set("project_id", project_id.into());
    }
    if let Some(title) = &patch.title {
        set("title", title.clone().into());
    }
    if let Some(description) = &patch.description {
        set("description", description.clone().into());
    }
    if let Some(due_date) = &patch.due_date {
        set("due_date", due_date.clone().into());
    }
    if let Some(completed) = patch.completed {
        set("completed", completed.into());
    }
    if let Some(priority) = patch.priority {
        set("priority", priority.into());
    }
    set("updated_at", time::now_rfc3339().into());

    let set_clause: Vec<String> = assignments
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ?{}", index + 3))
        .collect();
    let sql = format!(
        "UPDATE task SET {} WHERE id = ?1 AND owner_id = ?2 RETURNING {TASK_COLUMNS}",
        set_clause.join(", ")
    );
    write_returning(
        db,
        &sql,
        params_from_iter(values),
        task_from_row,
        project_error,
    )
}

/// Deletes the owner's task `id`; `false` if they have no such task.
pub fn delete(db: &Db, owner_id: i64, id: i64) -> Result<bool, StoreError> {
    let deleted = write_execute(
        db,
        "DELETE FROM task WHERE id = ?1 AND owner_id = ?2",
        [id, owner_id],
    )?;
    Ok(deleted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SortKey;

    #[test]
    fn a_projects_tasks_by_priority_come_straight_from_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("t.db")).unwrap();
        db.migrate().unwrap();
        let query = ListQuery {
            filter: TaskFilter {
                project_id: Some(Some(7)),
                ..TaskFilter::default()
            },
            sort: vec![SortKey {
                field: "priority",
                descending: true,
            }],
            limit: 50,
            offset: 0,
        };
        let conditions = task_conditions(1, &query.filter);
        let order = list::order_by(&query.sort, sort_expression, &["due_date"]).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {TASK_COLUMNS} FROM task {} {order} LIMIT 50",
            conditions.sql()
        );
        let mut statement = db.conn.prepare(&sql).unwrap();
        let plan: Vec<String> = statement
            .query_map(params_from_iter(conditions.values()), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX task_project_priority"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}

//! Tasks. Every statement names the owner in its `WHERE` clause, so a task
//! that belongs to someone else is indistinguishable from one that does not
//! exist: the handler gets `None` either way and answers 404.
//!
//! A task's project must be its owner's: the schema's composite foreign key
//! `(project_id, owner_id) -> project (id, owner_id)` refuses anything else,
//! and that refusal comes back as `StoreError::NotFound(Entity::Project)`.

use super::list::{self, Conditions};
use super::sql::{Dialect, ErrorKind, Param, Row, SqlError};
use super::{Db, StoreError};
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

fn task_from_row(row: &Row<'_>) -> Result<Task, SqlError> {
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
fn project_error(error: SqlError) -> StoreError {
    if error.kind == ErrorKind::ForeignKey {
        StoreError::NotFound(Entity::Project)
    } else {
        error.into()
    }
}

/// Creates a task owned by `owner_id`.
pub fn create(db: &Db, owner_id: i64, task: &NewTask) -> Result<Task, StoreError> {
    let now = time::now_rfc3339();
    let created = db.write(|tx| {
        tx.query_opt(
            &format!(
                "INSERT INTO task (owner_id, project_id, title, description, due_date, completed,
                                   priority, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 RETURNING {TASK_COLUMNS}"
            ),
            &[
                &owner_id,
                &task.project_id,
                &task.title,
                &task.description,
                &task.due_date,
                &task.completed,
                &task.priority,
                &now,
            ],
            task_from_row,
        )
        .map_err(project_error)
    })?;
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
    let conditions = task_conditions(db.dialect(), owner_id, &query.filter);
    let order = list::order_by(&query.sort, sort_expression(db.dialect()), &["due_date"])?;
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

fn task_conditions(dialect: Dialect, owner_id: i64, filter: &TaskFilter) -> Conditions {
    let mut conditions = Conditions::default();
    conditions.push("owner_id = ?", [param(owner_id)]);
    if let Some(completed) = filter.completed {
        conditions.push("completed = ?", [param(completed)]);
    }
    match filter.project_id {
        Some(Some(project_id)) => conditions.push("project_id = ?", [param(project_id)]),
        Some(None) => conditions.push("project_id IS NULL", []),
        None => {}
    }
    // Comparisons with a NULL due date are never true, so undated tasks
    // drop out of every due filter, as documented.
    if let Some(date) = &filter.due_before {
        conditions.push("due_date <= ?", [param(date.clone())]);
    }
    if let Some(date) = &filter.due_after {
        conditions.push("due_date >= ?", [param(date.clone())]);
    }
    // Today in UTC, from the server's clock on both backends (dates are
    // ISO 8601 text, which compares in date order).
    match filter.overdue {
        Some(true) => conditions.push(
            "(completed = FALSE AND due_date < ?)",
            [param(time::today())],
        ),
        Some(false) => conditions.push(
            "NOT (completed = FALSE AND due_date IS NOT NULL AND due_date < ?)",
            [param(time::today())],
        ),
        None => {}
    }
    if let Some(text) = &filter.text {
        conditions.push_contains(dialect, &["title", "description"], text);
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
            "id" => "id",
            "priority" => "priority",
            "due_date" => "due_date",
            "created_at" => "created_at",
            "updated_at" => "updated_at",
            "title" => match dialect {
                Dialect::Sqlite => "title COLLATE NOCASE",
                Dialect::Postgres => "lower(title COLLATE \"C\")",
            },
            _ => return None,
        })
    }
}

/// The task `id` if the owner has it.
pub fn get(db: &Db, owner_id: i64, id: i64) -> Result<Option<Task>, StoreError> {
    db.read(|conn| {
        Ok(conn.query_opt(
            &format!("SELECT {TASK_COLUMNS} FROM task WHERE id = ?1 AND owner_id = ?2"),
            &[&id, &owner_id],
            task_from_row,
        )?)
    })
}

/// Replaces every writable field of the owner's task `id` (`PUT`).
pub fn replace(
    db: &Db,
    owner_id: i64,
    id: i64,
    task: &NewTask,
) -> Result<Option<Task>, StoreError> {
    let now = time::now_rfc3339();
    db.write(|tx| {
        tx.query_opt(
            &format!(
                "UPDATE task
                 SET project_id = ?3, title = ?4, description = ?5, due_date = ?6,
                     completed = ?7, priority = ?8, updated_at = ?9
                 WHERE id = ?1 AND owner_id = ?2
                 RETURNING {TASK_COLUMNS}"
            ),
            &[
                &id,
                &owner_id,
                &task.project_id,
                &task.title,
                &task.description,
                &task.due_date,
                &task.completed,
                &task.priority,
                &now,
            ],
            task_from_row,
        )
        .map_err(project_error)
    })
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
    let mut values: Vec<Box<dyn Param>> = vec![param(id), param(owner_id)];
    let mut set = |column: &'static str, value: Box<dyn Param>| {
        assignments.push(column);
        values.push(value);
    };
    if let Some(project_id) = patch.project_id {
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
    set("updated_at", param(time::now_rfc3339()));

    let set_clause: Vec<String> = assignments
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ?{}", index + 3))
        .collect();
    let sql = format!(
        "UPDATE task SET {} WHERE id = ?1 AND owner_id = ?2 RETURNING {TASK_COLUMNS}",
        set_clause.join(", ")
    );
    let values: Vec<&dyn Param> = values.iter().map(|value| &**value).collect();
    db.write(|tx| {
        tx.query_opt(&sql, &values, task_from_row)
            .map_err(project_error)
    })
}

/// Deletes the owner's task `id`; `false` if they have no such task.
pub fn delete(db: &Db, owner_id: i64, id: i64) -> Result<bool, StoreError> {
    let deleted = db.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM task WHERE id = ?1 AND owner_id = ?2",
            &[&id, &owner_id],
        )?)
    })?;
    Ok(deleted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SortKey;
    use crate::store::Database;

    #[test]
    fn a_projects_tasks_by_priority_come_straight_from_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
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
        let conditions = task_conditions(Dialect::Sqlite, 1, &query.filter);
        let order =
            list::order_by(&query.sort, sort_expression(Dialect::Sqlite), &["due_date"]).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {TASK_COLUMNS} FROM task {} {order} LIMIT 50",
            conditions.sql()
        );
        let plan: Vec<String> = db
            .read(|conn| Ok(conn.query(&sql, &conditions.values(), |row| row.get(3))?))
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX task_project_priority"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}

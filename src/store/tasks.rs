//! Tasks. Every statement names the owner in its `WHERE` clause, so a task
//! that belongs to someone else is indistinguishable from one that does not
//! exist: the handler gets `None` either way and answers 404.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{Db, StoreError};
use crate::model::{NewTask, Task, TaskPatch};
use crate::time;

const TASK_COLUMNS: &str =
    "id, title, description, due_date, completed, priority, created_at, updated_at";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: row.get(0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        due_date: row.get(3)?,
        completed: row.get(4)?,
        priority: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// Creates a task owned by `owner_id`.
pub fn create(db: &Db, owner_id: i64, task: &NewTask) -> Result<Task, StoreError> {
    // A single INSERT is its own transaction and takes the write lock at
    // once, so it needs no BEGIN IMMEDIATE.
    let now = time::now_rfc3339();
    let mut statement = db.conn.prepare_cached(&format!(
        "INSERT INTO task (owner_id, title, description, due_date, completed, priority,
                           created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         RETURNING {TASK_COLUMNS}"
    ))?;
    let created = statement.query_row(
        params![
            owner_id,
            task.title,
            task.description,
            task.due_date,
            task.completed,
            task.priority,
            now
        ],
        task_from_row,
    )?;
    Ok(created)
}

/// The owner's tasks in id order (served by the `task_owner_id` index).
pub fn list(db: &Db, owner_id: i64) -> Result<Vec<Task>, StoreError> {
    let mut statement = db.conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM task WHERE owner_id = ?1 ORDER BY id"
    ))?;
    let tasks = statement
        .query_map([owner_id], task_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tasks)
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
    let mut statement = db.conn.prepare_cached(&format!(
        "UPDATE task
         SET title = ?3, description = ?4, due_date = ?5, completed = ?6, priority = ?7,
             updated_at = ?8
         WHERE id = ?1 AND owner_id = ?2
         RETURNING {TASK_COLUMNS}"
    ))?;
    let replaced = statement
        .query_row(
            params![
                id,
                owner_id,
                task.title,
                task.description,
                task.due_date,
                task.completed,
                task.priority,
                time::now_rfc3339()
            ],
            task_from_row,
        )
        .optional()?;
    Ok(replaced)
}

/// Changes the fields present in `patch` on the owner's task `id` (`PATCH`).
///
/// The whole merge is one `UPDATE ... RETURNING`, built from the fields the
/// patch names: no read-modify-write in Rust, so nothing another writer does
/// in between can be overwritten with stale values.
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
    let mut statement = db.conn.prepare_cached(&sql)?;
    Ok(statement
        .query_row(params_from_iter(values), task_from_row)
        .optional()?)
}

/// Deletes the owner's task `id`; `false` if they have no such task.
pub fn delete(db: &Db, owner_id: i64, id: i64) -> Result<bool, StoreError> {
    let mut statement = db
        .conn
        .prepare_cached("DELETE FROM task WHERE id = ?1 AND owner_id = ?2")?;
    Ok(statement.execute([id, owner_id])? == 1)
}

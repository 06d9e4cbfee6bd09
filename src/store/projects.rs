//! Projects. As with tasks, the owner is in every `WHERE` clause. Names are
//! unique per owner regardless of case (the `project_owner_name` index over
//! `name_key`, the name lowercased here, since SQLite's NOCASE folds only
//! ASCII; the same rule on both backends), and deleting a project deletes its tasks through the foreign
//! key's `ON DELETE CASCADE`, in the same statement.

use super::list::{self, Conditions};
use super::sql::{Conn, ErrorKind, Row, SqlError};
use super::{Db, StoreError};
use crate::model::{Entity, ListQuery, NewProject, Page, Project, ProjectFilter, ProjectPatch};
use crate::time;

/// The fields a project list can be sorted by.
pub const SORT_FIELDS: &[&str] = &["id", "name", "created_at", "updated_at"];

/// `task_count` is counted on read through the `task_project_priority`
/// index rather than stored, so it can never drift from the tasks.
const PROJECT_COLUMNS: &str = "id, name, description, \
     (SELECT count(*) FROM task WHERE task.project_id = project.id), created_at, updated_at";

fn project_from_row(row: &Row<'_>) -> Result<Project, SqlError> {
    Ok(Project {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        task_count: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// What makes two project names "the same": Unicode lowercase.
fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn name_error(error: SqlError) -> StoreError {
    if error.kind == ErrorKind::Unique {
        StoreError::Conflict("project name")
    } else {
        error.into()
    }
}

/// Creates a project; a name the owner already uses is `Conflict`.
pub fn create(db: &Db, owner_id: i64, project: &NewProject) -> Result<Project, StoreError> {
    db.write(|tx| {
        let now = time::now_rfc3339();
        let id: Option<i64> = tx
            .query_opt(
                "INSERT INTO project (owner_id, name, name_key, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                &[
                    &owner_id,
                    &project.name,
                    &name_key(&project.name),
                    &project.description,
                    &now,
                ],
                |row| row.get(0),
            )
            .map_err(name_error)?;
        let id = id.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))?;
        let created = read(tx, owner_id, id)?.ok_or(StoreError::NotFound(Entity::Project))?;
        Ok(created)
    })
}

/// One page of the owner's projects.
pub fn list(
    db: &Db,
    owner_id: i64,
    query: &ListQuery<ProjectFilter>,
) -> Result<Page<Project>, StoreError> {
    let mut conditions = Conditions::default();
    conditions.push("owner_id = ?", [Box::new(owner_id)]);
    if let Some(text) = &query.filter.text {
        conditions.push_contains(db.dialect(), &["name", "description"], text);
    }
    let order = list::order_by(&query.sort, sort_expression, &[])?;
    list::page(
        db,
        "project",
        PROJECT_COLUMNS,
        &conditions,
        &order,
        (query.limit, query.offset),
        project_from_row,
    )
}

fn sort_expression(field: &str) -> Option<&'static str> {
    Some(match field {
        "id" => "id",
        "name" => "name_key",
        "created_at" => "created_at",
        "updated_at" => "updated_at",
        _ => return None,
    })
}

/// The project `id` if the owner has it.
pub fn get(db: &Db, owner_id: i64, id: i64) -> Result<Option<Project>, StoreError> {
    db.read(|conn| read(conn, owner_id, id))
}

fn read(conn: &mut Conn<'_>, owner_id: i64, id: i64) -> Result<Option<Project>, StoreError> {
    Ok(conn.query_opt(
        &format!("SELECT {PROJECT_COLUMNS} FROM project WHERE id = ?1 AND owner_id = ?2"),
        &[&id, &owner_id],
        project_from_row,
    )?)
}

/// Replaces the name and description of the owner's project `id` (`PUT`).
pub fn replace(
    db: &Db,
    owner_id: i64,
    id: i64,
    project: &NewProject,
) -> Result<Option<Project>, StoreError> {
    let patch = ProjectPatch {
        name: Some(project.name.clone()),
        description: Some(project.description.clone()),
    };
    patch_project(db, owner_id, id, &patch)
}

/// Changes the fields present in `patch` (`PATCH`).
pub fn patch_project(
    db: &Db,
    owner_id: i64,
    id: i64,
    patch: &ProjectPatch,
) -> Result<Option<Project>, StoreError> {
    let now = time::now_rfc3339();
    let new_key = patch.name.as_deref().map(name_key);
    let replaces_description = patch.description.is_some();
    let description = patch.description.clone().flatten();
    db.write(|tx| {
        // `COALESCE(?, name)` keeps the name when the patch has none; the
        // description needs an explicit flag, since null is a value it can take.
        let changed = tx
            .execute(
                "UPDATE project
                 SET name = COALESCE(?3, name),
                     name_key = COALESCE(?4, name_key),
                     description = CASE WHEN ?5 THEN ?6 ELSE description END,
                     updated_at = ?7
                 WHERE id = ?1 AND owner_id = ?2",
                &[
                    &id,
                    &owner_id,
                    &patch.name,
                    &new_key,
                    &replaces_description,
                    &description,
                    &now,
                ],
            )
            .map_err(name_error)?;
        if changed == 0 {
            return Ok(None);
        }
        let project = read(tx, owner_id, id)?;
        Ok(project)
    })
}

/// Deletes the owner's project `id` and, by cascade, its tasks; `false` if
/// they have no such project.
pub fn delete(db: &Db, owner_id: i64, id: i64) -> Result<bool, StoreError> {
    let deleted = db.write(|tx| {
        Ok(tx.execute(
            "DELETE FROM project WHERE id = ?1 AND owner_id = ?2",
            &[&id, &owner_id],
        )?)
    })?;
    Ok(deleted == 1)
}

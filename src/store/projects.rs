//! Projects, and who may see and change them: the owner (who created the
//! project) and its members see it; only the owner changes or deletes it.
//! As with tasks, the caller's access is in every `WHERE` clause, so a
//! project someone may not see is a 404, never a 403.
//!
//! Names are unique per owner regardless of case (the `project_owner_name`
//! index over `name_key`, the name lowercased here, since SQLite's NOCASE
//! folds only ASCII; the same rule on both backends), and deleting a
//! project deletes its tasks and memberships through the foreign keys'
//! `ON DELETE CASCADE`, in the same statement.

use super::changes;
use super::list::{self, Conditions};
use super::sql::{Conn, Dialect, ErrorKind, Row, SqlError};
use super::{Db, StoreError};
use crate::conditional::Precondition;
use crate::model::{
    Change, ChangeKind, ChangeOp, ListQuery, NewProject, Page, Project, ProjectFilter,
    ProjectPatch, Role,
};
use crate::time;

/// The fields a project list can be sorted by.
pub const SORT_FIELDS: &[&str] = &["id", "name", "created_at", "updated_at"];

/// "`column` is a project the caller (`?1`) is a member of", or with
/// `editors_only` an editor of: an index lookup on `project_member_user`.
///
/// On PostgreSQL the projects are gathered into an array first
/// (`= ANY (ARRAY(...))`, evaluated once per statement), because the
/// planner cannot use an index for `OR ... IN (subquery)`: it scanned the
/// whole task table to check each row against the subquery (14 ms for
/// 100,000 tasks, against 0.1 ms; `GET /tasks` ran at 62 requests a
/// second, 1,044 with the array). SQLite plans the `IN` form as an index
/// lookup.
pub(super) fn member_of(dialect: Dialect, column: &str, editors_only: bool) -> String {
    let role = if editors_only {
        " AND role = 'editor'"
    } else {
        ""
    };
    let projects = format!("SELECT project_id FROM project_member WHERE user_id = ?1{role}");
    match dialect {
        Dialect::Sqlite => format!("{column} IN ({projects})"),
        Dialect::Postgres => format!("{column} = ANY (ARRAY({projects}))"),
    }
}

/// "The caller (`?1`) may see this project": they own it or belong to it.
pub(super) fn visible_project(dialect: Dialect) -> String {
    format!(
        "(project.owner_id = ?1 OR {})",
        member_of(dialect, "project.id", false)
    )
}

/// `task_count` is counted on read through the `task_project_priority`
/// index rather than stored, so it can never drift from the tasks. The last
/// two columns give the caller's (`?1`) role.
pub(super) const PROJECT_COLUMNS: &str = "project.id, project.name, project.description, \
     (SELECT count(*) FROM task WHERE task.project_id = project.id), \
     project.created_at, project.updated_at, project.owner_id, \
     (SELECT role FROM project_member WHERE project_id = project.id AND user_id = ?1), \
     project.version";

/// A project as `caller` sees it.
pub(super) fn project_from_row(caller: i64) -> impl Fn(&Row<'_>) -> Result<Project, SqlError> {
    move |row| {
        let owner: i64 = row.get(6)?;
        let member_role: Option<String> = row.get(7)?;
        let role = if owner == caller {
            Role::Owner
        } else {
            member_role
                .as_deref()
                .and_then(Role::of_member)
                .ok_or_else(|| SqlError::new(ErrorKind::Other, "a project the caller cannot see"))?
        };
        Ok(Project {
            id: row.get(0)?,
            name: row.get(1)?,
            description: row.get(2)?,
            task_count: row.get(3)?,
            created_at: row.get(4)?,
            updated_at: row.get(5)?,
            role,
            version: row.get(8)?,
        })
    }
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

/// Creates a project owned by `caller`; a name they already use is
/// `Conflict`.
pub fn create(db: &Db, caller: i64, project: &NewProject) -> Result<Project, StoreError> {
    db.write(|tx| create_in(tx, caller, project))
}

/// [`create`], inside a write that is already open (one that also keeps
/// an idempotency key: `store::idempotency`).
pub fn create_in(
    tx: &mut Conn<'_>,
    caller: i64,
    project: &NewProject,
) -> Result<Project, StoreError> {
    let now = time::now_rfc3339();
    let id: Option<i64> = tx
        .query_opt(
            "INSERT INTO project (owner_id, name, name_key, description, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
            &[
                &caller,
                &project.name,
                &name_key(&project.name),
                &project.description,
                &now,
            ],
            |row| row.get(0),
        )
        .map_err(name_error)?;
    let id = id.ok_or_else(|| StoreError::Database("INSERT returned no row".to_owned()))?;
    log_project(tx, id, ChangeOp::Upsert, caller)?;
    read(tx, caller, id)?
        .ok_or_else(|| StoreError::Database("a created project is not visible".to_owned()))
}

/// Logs a change to project `id`, owned by `owner`, in the view of its
/// owner and members.
pub(super) fn log_project(
    tx: &mut Conn<'_>,
    id: i64,
    op: ChangeOp,
    owner: i64,
) -> Result<(), StoreError> {
    changes::record(tx, ChangeKind::Project, id, op, Some(owner), Some(id))
}

/// One page of the projects `caller` owns or belongs to.
pub fn list(
    db: &Db,
    caller: i64,
    query: &ListQuery<ProjectFilter>,
) -> Result<Page<Project>, StoreError> {
    let mut conditions = Conditions::for_caller(caller);
    conditions.push(visible_project(db.dialect()), []);
    if let Some(text) = &query.filter.text {
        conditions.push_contains(db.dialect(), &["project.name", "project.description"], text);
    }
    let order = list::order_by(&query.sort, sort_expression, &[])?;
    list::page(
        db,
        "project",
        PROJECT_COLUMNS,
        &conditions,
        &order,
        (query.limit, query.offset),
        project_from_row(caller),
    )
}

fn sort_expression(field: &str) -> Option<&'static str> {
    Some(match field {
        "id" => "project.id",
        "name" => "project.name_key",
        "created_at" => "project.created_at",
        "updated_at" => "project.updated_at",
        _ => return None,
    })
}

/// The project `id` if `caller` may see it.
pub fn get(db: &Db, caller: i64, id: i64) -> Result<Option<Project>, StoreError> {
    db.read(|conn| read(conn, caller, id))
}

pub(super) fn read(
    conn: &mut Conn<'_>,
    caller: i64,
    id: i64,
) -> Result<Option<Project>, StoreError> {
    Ok(conn.query_opt(
        &format!(
            "SELECT {PROJECT_COLUMNS} FROM project WHERE project.id = ?2 AND {}",
            visible_project(conn.dialect())
        ),
        &[&caller, &id],
        project_from_row(caller),
    )?)
}

/// Why a change to project `id` the caller could not make did not happen:
/// they may see it but not change it (403), or not even see it (404).
pub(super) fn refusal<T>(
    conn: &mut Conn<'_>,
    caller: i64,
    id: i64,
) -> Result<Change<T>, StoreError> {
    Ok(match read(conn, caller, id)? {
        Some(_) => Change::Forbidden(format!("to be the owner of project {id}")),
        None => Change::NotFound,
    })
}

/// Replaces the name and description of project `id` (`PUT`).
pub fn replace(
    db: &Db,
    caller: i64,
    id: i64,
    project: &NewProject,
    precondition: &Precondition,
) -> Result<Change<Project>, StoreError> {
    let patch = ProjectPatch {
        name: Some(project.name.clone()),
        description: Some(project.description.clone()),
    };
    patch_project(db, caller, id, &patch, precondition)
}

/// Changes the fields present in `patch` (`PATCH`); the owner only, and
/// only if `precondition` holds for the project as they see it, read in
/// the same transaction (see [`unmet`]).
pub fn patch_project(
    db: &Db,
    caller: i64,
    id: i64,
    patch: &ProjectPatch,
    precondition: &Precondition,
) -> Result<Change<Project>, StoreError> {
    let now = time::now_rfc3339();
    let new_key = patch.name.as_deref().map(name_key);
    let replaces_description = patch.description.is_some();
    let description = patch.description.clone().flatten();
    db.write(|tx| {
        if let Some(unmet) = unmet(tx, caller, id, precondition)? {
            return Ok(unmet);
        }
        // `{}` changes nothing, so it writes nothing (as for a task); it
        // is still refused to anyone but the owner.
        if patch.name.is_none() && patch.description.is_none() {
            if !owns(tx, caller, id)? {
                return refusal(tx, caller, id);
            }
            return Ok(read(tx, caller, id)?.map_or(Change::NotFound, Change::Done));
        }
        // `COALESCE(?, name)` keeps the name when the patch has none; the
        // description needs an explicit flag, since null is a value it can take.
        let changed = tx
            .execute(
                "UPDATE project
                 SET name = COALESCE(?3, name),
                     name_key = COALESCE(?4, name_key),
                     description = CASE WHEN ?5 THEN ?6 ELSE description END,
                     updated_at = ?7,
                     version = version + 1
                 WHERE id = ?2 AND owner_id = ?1",
                &[
                    &caller,
                    &id,
                    &patch.name,
                    &new_key,
                    &replaces_description,
                    &description,
                    &now,
                ],
            )
            .map_err(name_error)?;
        if changed == 0 {
            return refusal(tx, caller, id);
        }
        log_project(tx, id, ChangeOp::Upsert, caller)?;
        Ok(read(tx, caller, id)?.map_or(Change::NotFound, Change::Done))
    })
}

/// `Some` refusal if `precondition` cannot go ahead on project `id`: the
/// caller is not its owner (403, or 404 if they cannot see it), or its
/// precondition does not hold for its current ETag (412). On PostgreSQL `owns`
/// locks the row first, so that a concurrent write with the same
/// `If-Match` waits for this one and then fails it.
fn unmet<T>(
    tx: &mut Conn<'_>,
    caller: i64,
    id: i64,
    precondition: &Precondition,
) -> Result<Option<Change<T>>, StoreError> {
    if !precondition.is_some() {
        return Ok(None);
    }
    if !owns(tx, caller, id)? {
        return refusal(tx, caller, id).map(Some);
    }
    Ok(super::refused_by(precondition, read(tx, caller, id)?))
}

/// Deletes project `id` and, by cascade, its tasks and memberships; the
/// owner only, if `precondition` holds.
pub fn delete(
    db: &Db,
    caller: i64,
    id: i64,
    precondition: &Precondition,
) -> Result<Change<()>, StoreError> {
    db.write(|tx| {
        if let Some(unmet) = unmet(tx, caller, id, precondition)? {
            return Ok(unmet);
        }
        // Logged before the cascade takes the tasks and memberships.
        if owns(tx, caller, id)? {
            log_gone(tx, id, caller)?;
        }
        let deleted = tx.execute(
            "DELETE FROM project WHERE id = ?2 AND owner_id = ?1",
            &[&caller, &id],
        )?;
        if deleted == 1 {
            Ok(Change::Done(()))
        } else {
            refusal(tx, caller, id)
        }
    })
}

/// Whether `caller` owns project `id`, asked inside a write. On PostgreSQL
/// the row is then locked until the write ends, so that what the write
/// does next (log the project's deletion, change its members) cannot
/// interleave with another write to the same project.
pub(super) fn owns(tx: &mut Conn<'_>, caller: i64, id: i64) -> Result<bool, StoreError> {
    let lock = match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    Ok(tx
        .query_opt(
            &format!("SELECT 1 FROM project WHERE id = ?2 AND owner_id = ?1{lock}"),
            &[&caller, &id],
            |_| Ok(()),
        )?
        .is_some())
}

/// Logs project `id` (owned by `owner`) and its tasks going, in every view
/// that had them: the owner's, and each member's. Runs before the delete.
pub(super) fn log_gone(tx: &mut Conn<'_>, id: i64, owner: i64) -> Result<(), StoreError> {
    changes::record_tasks(tx, ChangeOp::Delete, "task.project_id = ?3", &[&id])?;
    changes::record_leaving(tx, id, None)?;
    log_project(tx, id, ChangeOp::Delete, owner)
}

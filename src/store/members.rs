//! The people in a project: its owner, and members who are viewers or
//! editors. Anyone in the project may list them; only the owner adds
//! members, changes their roles and removes them, and a member may remove
//! themself (leave). The owner is not a row here: `project.owner_id` says
//! who it is, and it can be neither removed nor given another role.
//!
//! Every change takes effect on the next request, since access to tasks
//! and projects is decided by the `WHERE` clauses that read this table.

use super::changes;
use super::projects::{owns, refusal, visible_project};
use super::sql::{Conn, ErrorKind, Row, SqlError};
use super::{Db, StoreError};
use crate::model::{Change, ChangeKind, ChangeOp, Entity, Member, Role};
use crate::time;

fn member_from_row(row: &Row<'_>) -> Result<Member, SqlError> {
    let role: String = row.get(2)?;
    Ok(Member {
        user_id: row.get(0)?,
        username: row.get(1)?,
        role: Role::named(&role)
            .ok_or_else(|| SqlError::new(ErrorKind::Other, format!("unknown role {role:?}")))?,
        joined_at: row.get(3)?,
    })
}

/// Everyone in project `?1`: the owner (role `owner`, joined when the
/// project was created, ranked first), then the members.
const PEOPLE: &str = "SELECT u.id, u.username, 'owner', project.created_at, 0 AS rank
     FROM project JOIN \"user\" u ON u.id = project.owner_id
     WHERE project.id = ?1
     UNION ALL
     SELECT u.id, u.username, m.role, m.joined_at, 1 AS rank
     FROM project_member m JOIN \"user\" u ON u.id = m.user_id
     WHERE m.project_id = ?1";

/// Everyone in project `id`, if `caller` is in it.
pub fn list(db: &Db, caller: i64, id: i64) -> Result<Option<Vec<Member>>, StoreError> {
    db.read(|conn| {
        if !is_visible(conn, caller, id)? {
            return Ok(None);
        }
        Ok(Some(everyone(conn, id)?))
    })
}

/// Everyone in project `id`, whoever asks: for [`list`], and for the
/// account export (`store::export`), which must show them the same way.
pub(super) fn everyone(conn: &mut Conn<'_>, id: i64) -> Result<Vec<Member>, StoreError> {
    // By rank, then joining time, then user id (columns 5, 4, 1).
    let sql = format!("{PEOPLE} ORDER BY 5, 4, 1");
    Ok(conn.query(&sql, &[&id], member_from_row)?)
}

/// Person `user_id` of project `id`, if `caller` is in it. `Ok(None)`: the
/// caller cannot see the project; `Err(NotFound(Member))`: no such person.
pub fn get(db: &Db, caller: i64, id: i64, user_id: i64) -> Result<Option<Member>, StoreError> {
    db.read(|conn| {
        if !is_visible(conn, caller, id)? {
            return Ok(None);
        }
        person(conn, id, user_id)?
            .map(Some)
            .ok_or(StoreError::NotFound(Entity::Member))
    })
}

fn is_visible(conn: &mut Conn<'_>, caller: i64, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT 1 FROM project WHERE project.id = ?2 AND {}",
                visible_project(conn.dialect())
            ),
            &[&caller, &id],
            |_| Ok(()),
        )?
        .is_some())
}

/// One person of project `id` (owner or member), by user id.
fn person(conn: &mut Conn<'_>, id: i64, user_id: i64) -> Result<Option<Member>, StoreError> {
    // The union's columns are named after its first SELECT's.
    let sql = format!("SELECT * FROM ({PEOPLE}) people WHERE people.id = ?2");
    Ok(conn.query_opt(&sql, &[&id, &user_id], member_from_row)?)
}

/// Adds the user whose username or email is `login` to project `id` with
/// `role`; the owner only. An unknown login is `NotFound(User)`; someone
/// already in the project (its owner included) is `Conflict`.
pub fn add(
    db: &Db,
    caller: i64,
    id: i64,
    login: &str,
    role: Role,
) -> Result<Change<Member>, StoreError> {
    db.write(|tx| add_in(tx, caller, id, login, role))
}

/// [`add`], inside a write that is already open (one that also keeps an
/// idempotency key: `store::idempotency`).
pub fn add_in(
    tx: &mut Conn<'_>,
    caller: i64,
    id: i64,
    login: &str,
    role: Role,
) -> Result<Change<Member>, StoreError> {
    let now = time::now_rfc3339();
    if !owns(tx, caller, id)? {
        return refusal(tx, caller, id);
    }
    let Some(user_id) = super::users::find_id(tx, login)? else {
        return Err(StoreError::NotFound(Entity::User));
    };
    if person(tx, id, user_id)?.is_some() {
        return Err(StoreError::Conflict("member"));
    }
    tx.execute(
        "INSERT INTO project_member (project_id, user_id, role, joined_at)
         VALUES (?1, ?2, ?3, ?4)",
        &[&id, &user_id, &role.as_str(), &now],
    )
    .map_err(|error| {
        if error.kind == ErrorKind::Unique {
            StoreError::Conflict("member")
        } else {
            error.into()
        }
    })?;
    changes::record_joining(tx, id, user_id)?;
    Ok(person(tx, id, user_id)?.map_or(Change::NotFound, Change::Done))
}

/// Gives member `user_id` of project `id` the role `role`; the owner only.
pub fn set_role(
    db: &Db,
    caller: i64,
    id: i64,
    user_id: i64,
    role: Role,
) -> Result<Change<Member>, StoreError> {
    db.write(|tx| {
        if !owns(tx, caller, id)? {
            return refusal(tx, caller, id);
        }
        if user_id == caller {
            return Err(StoreError::Conflict("owner"));
        }
        let changed = tx.execute(
            "UPDATE project_member SET role = ?3 WHERE project_id = ?1 AND user_id = ?2",
            &[&id, &user_id, &role.as_str()],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(Entity::Member));
        }
        // Their view of the project changed: it shows their role.
        changes::record(
            tx,
            ChangeKind::Project,
            id,
            ChangeOp::Upsert,
            Some(user_id),
            None,
        )?;
        Ok(person(tx, id, user_id)?.map_or(Change::NotFound, Change::Done))
    })
}

/// Removes `user_id` from project `id`: the owner removes anyone, a member
/// only themself. Their assignments to the project's tasks go with them:
/// an assignee must be able to see the task.
pub fn remove(db: &Db, caller: i64, id: i64, user_id: i64) -> Result<Change<()>, StoreError> {
    db.write(|tx| {
        let owner = owns(tx, caller, id)?;
        if !owner && user_id != caller {
            return refusal(tx, caller, id);
        }
        if owner && user_id == caller {
            return Err(StoreError::Conflict("owner"));
        }
        // Logged while the membership is still there to say what they saw.
        changes::record_leaving(tx, id, Some(user_id))?;
        let removed = tx.execute(
            "DELETE FROM project_member WHERE project_id = ?1 AND user_id = ?2",
            &[&id, &user_id],
        )?;
        if removed == 0 {
            // A stranger leaving a project they cannot see gets its 404.
            return if owner {
                Err(StoreError::NotFound(Entity::Member))
            } else {
                Ok(Change::NotFound)
            };
        }
        let assigned = "task.project_id = ?3 AND task.assignee_id = ?4";
        changes::record_tasks(tx, ChangeOp::Upsert, assigned, &[&id, &user_id])?;
        tx.execute(
            "UPDATE task SET assignee_id = NULL, version = version + 1
             WHERE project_id = ?1 AND assignee_id = ?2",
            &[&id, &user_id],
        )?;
        Ok(Change::Done(()))
    })
}

//! An account's own data as one JSON document, the body of
//! `GET /auth/me/export` (format `taskapi-export/1`, documented in the
//! README under "Your data" and in `docs/openapi.json` as `Export`).
//!
//! What is in it is what the caller owns, each object as the API shows it
//! elsewhere, in order of id:
//! - `account`: the caller as `GET /auth/me` shows them;
//! - `projects`: the projects they own, each as `GET /projects/{id}` shows
//!   it, with `members` as `GET /projects/{id}/members` lists them;
//! - `memberships`: the other people's projects they belong to, by
//!   reference only (id, name, role, when they joined);
//! - `tasks`: every task whose `owner_id` is theirs (their tasks in no
//!   project and every task of the projects they own, whoever created
//!   it), as `GET /tasks/{id}` shows it;
//! - `api_keys`: their keys as `GET /auth/api-keys` lists them.
//!
//! Tasks they created in someone else's project are not theirs: such a
//! task lives with that project's owner (`task.owner_id`, held by the
//! composite foreign key), who exports it. Nothing secret is selected: no
//! password hash, no token generation, no key hash.
//!
//! Everything is read in one snapshot ([`Db::snapshot`]), so each
//! project's `task_count` agrees with the tasks listed, and a task moved
//! or deleted meanwhile is listed as it was or not at all, never twice.
//!
//! Memory: an account may hold 100,000 tasks, which collected as `Task`
//! values before serialising would take about as much memory again as the
//! document itself. So the tasks are read a batch at a
//! time, in order of id from where the last batch ended (keyset paging on
//! the `task_owner_id (owner_id, id)` index, inside the one snapshot), and
//! each batch is serialised into the document before the next is read:
//! beside the document itself only [`TASK_BATCH`] tasks are ever held.
//! Batches rather than one streamed statement because the seam
//! (`sql::Conn`) collects a statement's rows on PostgreSQL, and a batch
//! costs the same on both backends: one index range scan. On SQLite the
//! snapshot also runs with a small page cache ([`SQLITE_CACHE_KIB`]).
//!
//! What remains is the document itself: the HTTP layer sends its own
//! buffer rather than a copy (`http::response::encode_owned`), so the peak
//! is about the document's size (32 MiB above idle for 100,000 tasks,
//! against 64 MiB when the body was copied). `bench/export.sh` measures it.

use serde::Serialize;

use super::projects::{PROJECT_COLUMNS, project_from_row};
use super::sql::{Conn, Dialect, ErrorKind, SqlError};
use super::tasks::{task_columns, task_from_row};
use super::users::{USER_COLUMNS, user_from_row};
use super::{Db, StoreError, api_keys, members};
use crate::model::{Member, Project, Role};

/// The `format` member: which layout the document has. A change that
/// removes or renames a member, or changes what one means, is a new number.
pub const FORMAT: &str = "taskapi-export/1";

/// How many tasks one statement reads. Measured with `bench/export.sh`
/// (100,000 tasks, SQLite): 250 holds 0.4 MiB less at the peak than 1,000,
/// in the same time (under 0.2 s in all); the 400 statements cost nothing
/// beside serialising. On PostgreSQL each is one more round trip.
const TASK_BATCH: i64 = 250;

/// The page cache, in KiB, of a SQLite connection while it exports: the
/// export passes every page of the caller's tasks through the cache once,
/// in order, which would otherwise fill it to its limit (SQLite's default
/// is 2,000 KiB) and keep it full. Measured with `bench/export.sh`
/// (100,000 tasks): the peak above idle went from 66.2 to 64.3 MiB, in the
/// same time; 256 KiB held 0.3 MiB more. The previous size is put back
/// afterwards, so other reads on the worker's connection keep their cache.
const SQLITE_CACHE_KIB: i64 = 64;

/// A project the caller owns, as `GET /projects/{id}` shows it, with the
/// people in it as `GET /projects/{id}/members` lists them.
#[derive(Serialize)]
struct OwnedProject<'a> {
    #[serde(flatten)]
    project: &'a Project,
    members: &'a [Member],
}

/// Someone else's project the caller belongs to.
#[derive(Serialize)]
struct Membership {
    project_id: i64,
    project_name: String,
    role: Role,
    joined_at: String,
}

/// The export of `caller`'s account, stamped `exported_at`, as the bytes of
/// a JSON document ending in a newline; `None` if the account does not
/// exist (it was deleted after the request was authenticated).
pub fn document(db: &Db, caller: i64, exported_at: &str) -> Result<Option<Vec<u8>>, StoreError> {
    // The job builds the document from scratch each time it runs: a
    // snapshot may be run twice (PostgreSQL retries on a new connection).
    db.snapshot(|conn| with_small_cache(conn, |conn| write_document(conn, caller, exported_at)))
}

/// The document of [`document`], read on `conn`.
fn write_document(
    conn: &mut Conn<'_>,
    caller: i64,
    exported_at: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(account) = conn.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM \"user\" WHERE id = ?1"),
        &[&caller],
        user_from_row,
    )?
    else {
        return Ok(None);
    };
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"format\":");
    json(&mut out, FORMAT)?;
    out.extend_from_slice(b",\"exported_at\":");
    json(&mut out, exported_at)?;
    out.extend_from_slice(b",\"account\":");
    json(&mut out, &account)?;

    out.extend_from_slice(b",\"projects\":[");
    let projects = conn.query(
        &format!(
            "SELECT {PROJECT_COLUMNS} FROM project WHERE project.owner_id = ?1 \
             ORDER BY project.id"
        ),
        &[&caller],
        project_from_row(caller),
    )?;
    for (index, project) in projects.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let members = members::everyone(conn, project.id)?;
        json(
            &mut out,
            &OwnedProject {
                project,
                members: &members,
            },
        )?;
    }

    out.extend_from_slice(b"],\"memberships\":");
    json(&mut out, &memberships(conn, caller)?)?;

    out.extend_from_slice(b",\"tasks\":[");
    write_tasks(conn, caller, &mut out)?;

    out.extend_from_slice(b"],\"api_keys\":");
    json(&mut out, &api_keys::of_owner(conn, caller)?)?;
    out.extend_from_slice(b"}\n");
    Ok(Some(out))
}

/// Runs `job` with SQLite's page cache at [`SQLITE_CACHE_KIB`], then puts
/// the connection's own size back, whether `job` succeeded or not (a
/// pragma, not part of the transaction: a rollback would not undo it).
/// On PostgreSQL the cache is the server's: `job` runs as it is. A panic
/// inside `job` would leave the small size on that worker's connection:
/// slower reads there, nothing wrong.
fn with_small_cache<T>(
    conn: &mut Conn<'_>,
    job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if conn.dialect() != Dialect::Sqlite {
        return job(conn);
    }
    let previous: Option<i64> = conn.query_opt("PRAGMA cache_size", &[], |row| row.get(0))?;
    conn.execute(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}"), &[])?;
    let result = job(conn);
    if let Some(previous) = previous {
        conn.execute(&format!("PRAGMA cache_size = {previous}"), &[])?;
    }
    result
}

/// The projects of others that `caller` is a member of, by project id.
fn memberships(conn: &mut Conn<'_>, caller: i64) -> Result<Vec<Membership>, StoreError> {
    Ok(conn.query(
        "SELECT project.id, project.name, project_member.role, project_member.joined_at
         FROM project_member JOIN project ON project.id = project_member.project_id
         WHERE project_member.user_id = ?1
         ORDER BY project.id",
        &[&caller],
        |row| {
            let role: String = row.get(2)?;
            Ok(Membership {
                project_id: row.get(0)?,
                project_name: row.get(1)?,
                role: Role::of_member(&role).ok_or_else(|| {
                    SqlError::new(ErrorKind::Other, format!("unknown role {role:?}"))
                })?,
                joined_at: row.get(3)?,
            })
        },
    )?)
}

/// Appends every task `caller` owns to `out`, comma-separated, by id,
/// [`TASK_BATCH`] at a time (see the module's note on memory).
fn write_tasks(conn: &mut Conn<'_>, caller: i64, out: &mut Vec<u8>) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT {} FROM task WHERE task.owner_id = ?1 AND task.id > ?2 ORDER BY task.id LIMIT ?3",
        task_columns(conn.dialect())
    );
    let mut after = 0i64;
    loop {
        let batch = conn.query(&sql, &[&caller, &after, &TASK_BATCH], task_from_row)?;
        for task in &batch {
            // Ids start at 1: `after` is 0 until a task was written.
            if after > 0 {
                out.push(b',');
            }
            json(out, task)?;
            after = task.id;
        }
        if batch.len() < usize::try_from(TASK_BATCH).unwrap_or(usize::MAX) {
            return Ok(());
        }
    }
}

/// Appends `value` as JSON to `out`. Our types serialise to memory without
/// fail; an error here would be a bug, reported as a 500, not a panic.
fn json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) -> Result<(), StoreError> {
    serde_json::to_writer(out, value)
        .map_err(|error| StoreError::Database(format!("serialising the export: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Database, users};

    #[test]
    fn an_export_puts_the_connections_own_page_cache_size_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        db.migrate().unwrap();
        let ann = users::create(&db, Some("ann"), None, "not-a-real-hash").unwrap();
        let cache_size = |db: &Db| {
            db.read(|conn| Ok(conn.query_opt("PRAGMA cache_size", &[], |row| row.get::<i64>(0))?))
                .unwrap()
        };
        db.read(|conn| Ok(conn.execute("PRAGMA cache_size = -1234", &[])?))
            .unwrap();

        let exported = document(&db, ann.id, "2026-11-22T09:30:00Z").unwrap();
        let text = String::from_utf8(exported.expect("ann's export")).unwrap();
        assert!(
            text.starts_with("{\"format\":\"taskapi-export/1\""),
            "{text}"
        );
        assert!(!text.contains("not-a-real-hash"), "{text}");
        assert_eq!(cache_size(&db), Some(-1234));
        // And when there is no such account.
        assert_eq!(
            document(&db, ann.id + 1, "2026-11-22T09:30:00Z").unwrap(),
            None
        );
        assert_eq!(cache_size(&db), Some(-1234));
    }
}

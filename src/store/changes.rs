//! The change feed: a log of every create, update and delete of a task or
//! project, written by the store's own writes in their own transactions
//! (so the feed shows a change exactly when it is committed), and read by
//! `GET /changes`.
//!
//! # Who sees an entry
//!
//! Each entry names whose view it is in: a user (`user_id`, the object's
//! owner) and a project whose members see it (`project_id`: a task's
//! project, or a project itself). A caller sees an entry when it is in
//! their view now, and when it agrees with what they can see now:
//! - an `upsert` while they can see the object (its `data` is the object as
//!   `GET` shows it now);
//! - a `delete` while they cannot (deleted, moved out of their sight, or in
//!   a project they have left).
//!
//! So a client that applies every entry in order ends up with exactly what
//! listing would show, whatever order concurrent writes committed in.
//! Changes of view get entries of their own: a member who joins gets an
//! upsert for every task of the project, one who leaves (or whose project
//! is deleted) a delete for the project and each of its tasks.
//!
//! # Positions and cursors
//!
//! An entry's position is `(tx, id)`. On SQLite `tx` is 0: one writer
//! commits in `id` order. On PostgreSQL ids are handed out as rows are
//! inserted, not as transactions commit, so a reader going by id could
//! pass over an id whose transaction commits later. There `tx` is the
//! writing transaction's id, and the feed reads only entries of
//! transactions older than every transaction still running
//! (`pg_snapshot_xmin`): no later commit can add an entry before them. A
//! cursor is a position, opaque to clients.

use super::projects::{self, member_of, visible_project};
use super::sql::{Conn, Dialect};
use super::tasks::{self, visible};
use super::{Db, StoreError};
use crate::model::{ChangeData, ChangeEntry, ChangeKind, ChangeOp};

/// Entries are kept at least this long; a cursor older than the oldest
/// kept is answered 410 (list again).
pub const RETENTION_DAYS: i64 = 30;

/// Purged a day after `RETENTION_DAYS`: on PostgreSQL position order and
/// time order can differ by as long as a transaction runs, and the day of
/// slack keeps "at least 30 days" true for every entry.
const PURGE_AFTER_SECONDS: i64 = (RETENTION_DAYS + 1) * 86_400;

/// Where the last purge ended, in the `setting` table.
const PURGED_THROUGH: &str = "change_log_purged_through";

/// A position in the log: what `next` and `since` carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    tx: i64,
    id: i64,
}

impl Cursor {
    /// A cursor as `Display` writes it (`"0.42"`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Cursor> {
        let (tx, id) = text.split_once('.')?;
        let number = |part: &str| {
            (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| part.parse::<i64>().ok())
                .flatten()
        };
        Some(Cursor {
            tx: number(tx)?,
            id: number(id)?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.tx, self.id)
    }
}

/// One page of the feed, or why there is none.
pub enum Feed {
    Page {
        changes: Vec<ChangeEntry>,
        next: Cursor,
    },
    /// The cursor is older than the oldest entry kept.
    Expired,
}

/// The start of every statement that logs: the columns each entry fills.
const INSERT: &str =
    "INSERT INTO change_log (tx, kind, entity_id, op, user_id, project_id, logged_at)";

/// The SQL for "the id of the transaction writing this": 0 on SQLite.
fn transaction_id(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "0",
        Dialect::Postgres => "CAST(CAST(pg_current_xact_id() AS text) AS bigint)",
    }
}

/// Logs one change, in the transaction `tx` that makes it.
pub(super) fn record(
    tx: &mut Conn<'_>,
    kind: ChangeKind,
    entity_id: i64,
    op: ChangeOp,
    user_id: Option<i64>,
    project_id: Option<i64>,
) -> Result<(), StoreError> {
    let sql = format!(
        "{INSERT} VALUES ({}, ?1, ?2, ?3, ?4, ?5, ?6)",
        transaction_id(tx.dialect())
    );
    tx.execute(
        &sql,
        &[
            &kind.as_str(),
            &entity_id,
            &op.as_str(),
            &user_id,
            &project_id,
            &crate::time::unix_now(),
        ],
    )?;
    Ok(())
}

/// Logs `op` for every task matching `condition` (SQL over `task`, whose
/// placeholders start at `?3`), each in its owner's and project's view.
pub(super) fn record_tasks(
    tx: &mut Conn<'_>,
    op: ChangeOp,
    condition: &str,
    values: &[&dyn super::sql::Param],
) -> Result<(), StoreError> {
    let sql = format!(
        "{INSERT}
         SELECT {}, 'task', task.id, ?1, task.owner_id, task.project_id, ?2
         FROM task WHERE {condition} ORDER BY task.id",
        transaction_id(tx.dialect())
    );
    let (op, now) = (op.as_str(), crate::time::unix_now());
    let mut all: Vec<&dyn super::sql::Param> = vec![&op, &now];
    all.extend_from_slice(values);
    tx.execute(&sql, &all)?;
    Ok(())
}

/// Logs project `project_id` leaving the view of its members (all of
/// them, or only `only`): a delete of the project and of each of its tasks,
/// in each member's own view. Runs before the membership rows go.
pub(super) fn record_leaving(
    tx: &mut Conn<'_>,
    project_id: i64,
    only: Option<i64>,
) -> Result<(), StoreError> {
    let dialect = tx.dialect();
    let now = crate::time::unix_now();
    // The CAST tells PostgreSQL the type of a parameter that may be NULL.
    let member = "(CAST(?3 AS bigint) IS NULL OR m.user_id = CAST(?3 AS bigint))";
    tx.execute(
        &format!(
            "{INSERT}
             SELECT {}, 'task', task.id, 'delete', m.user_id, NULL, ?2
             FROM project_member m JOIN task ON task.project_id = m.project_id
             WHERE m.project_id = ?1 AND {member} ORDER BY m.user_id, task.id",
            transaction_id(dialect)
        ),
        &[&project_id, &now, &only],
    )?;
    tx.execute(
        &format!(
            "{INSERT}
             SELECT {}, 'project', m.project_id, 'delete', m.user_id, NULL, ?2
             FROM project_member m WHERE m.project_id = ?1 AND {member} ORDER BY m.user_id",
            transaction_id(dialect)
        ),
        &[&project_id, &now, &only],
    )?;
    Ok(())
}

/// Logs project `project_id` and its tasks coming into `user_id`'s view
/// (they have just joined it).
pub(super) fn record_joining(
    tx: &mut Conn<'_>,
    project_id: i64,
    user_id: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "{INSERT}
         SELECT {}, 'task', task.id, 'upsert', ?2, NULL, ?3
         FROM task WHERE task.project_id = ?1 ORDER BY task.id",
        transaction_id(tx.dialect())
    );
    tx.execute(&sql, &[&project_id, &user_id, &crate::time::unix_now()])?;
    record(
        tx,
        ChangeKind::Project,
        project_id,
        ChangeOp::Upsert,
        Some(user_id),
        None,
    )
}

/// "The caller (`?1`) can see the object of this entry now."
fn visible_now(dialect: Dialect) -> String {
    format!(
        "CASE WHEN change_log.kind = 'task'
              THEN EXISTS (SELECT 1 FROM task WHERE task.id = change_log.entity_id AND {})
              ELSE EXISTS (SELECT 1 FROM project WHERE project.id = change_log.entity_id AND {})
         END",
        visible(dialect),
        visible_project(dialect)
    )
}

/// The transaction id entries must be below for a reader to see them all:
/// no limit on SQLite; on PostgreSQL the oldest transaction still running
/// (`pg_snapshot_xmin`), since no later commit can add an entry below it.
fn horizon(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    Ok(match conn.dialect() {
        Dialect::Sqlite => i64::MAX,
        Dialect::Postgres => conn
            .query_opt(
                "SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)",
                &[],
                |row| row.get(0),
            )?
            .unwrap_or(0),
    })
}

/// The position of the newest entry below `horizon`, or where the last
/// purge ended if the log is empty.
fn newest(conn: &mut Conn<'_>, horizon: i64) -> Result<Cursor, StoreError> {
    let newest = conn.query_opt(
        "SELECT tx, id FROM change_log WHERE tx < ?1 ORDER BY tx DESC, id DESC LIMIT 1",
        &[&horizon],
        |row| {
            Ok(Cursor {
                tx: row.get(0)?,
                id: row.get(1)?,
            })
        },
    )?;
    Ok(newest.unwrap_or_default().max(purged_through(conn)?))
}

fn purged_through(conn: &mut Conn<'_>) -> Result<Cursor, StoreError> {
    let stored: Option<Vec<u8>> = conn.query_opt(
        "SELECT value FROM setting WHERE name = ?1",
        &[&PURGED_THROUGH],
        |row| row.get(0),
    )?;
    Ok(stored
        .and_then(|bytes| Cursor::parse(std::str::from_utf8(&bytes).ok()?))
        .unwrap_or_default())
}

/// The changes `caller` may see after `since` (from now, with `None`), at
/// most `limit`, read from one snapshot.
pub fn since(db: &Db, caller: i64, since: Option<Cursor>, limit: i64) -> Result<Feed, StoreError> {
    let dialect = db.dialect();
    db.snapshot(|conn| {
        let horizon = horizon(conn)?;
        let Some(since) = since else {
            return Ok(Feed::Page {
                changes: Vec::new(),
                next: newest(conn, horizon)?,
            });
        };
        if since < purged_through(conn)? {
            return Ok(Feed::Expired);
        }
        let sql = format!(
            "SELECT change_log.tx, change_log.id, change_log.kind, change_log.entity_id,
                    change_log.op
             FROM change_log
             WHERE (change_log.tx, change_log.id) > (?2, ?3) AND change_log.tx < ?4
               AND (change_log.user_id = ?1 OR {})
               AND (CASE WHEN change_log.op = 'upsert' THEN 1 ELSE 0 END)
                 = (CASE WHEN {} THEN 1 ELSE 0 END)
             ORDER BY change_log.tx, change_log.id
             LIMIT ?5",
            member_of(dialect, "change_log.project_id", false),
            visible_now(dialect)
        );
        let rows = conn.query(
            &sql,
            &[&caller, &since.tx, &since.id, &horizon, &limit],
            |row| {
                Ok((
                    Cursor {
                        tx: row.get(0)?,
                        id: row.get(1)?,
                    },
                    row.get::<String>(2)?,
                    row.get::<i64>(3)?,
                    row.get::<String>(4)?,
                ))
            },
        )?;
        let full = usize::try_from(limit).is_ok_and(|limit| rows.len() >= limit);
        let mut next = since;
        let mut changes = Vec::with_capacity(rows.len());
        for (position, kind, id, op) in rows {
            next = position;
            let kind = ChangeKind::named(&kind)
                .ok_or_else(|| StoreError::Database(format!("change_log kind {kind:?}")))?;
            let op = ChangeOp::named(&op)
                .ok_or_else(|| StoreError::Database(format!("change_log op {op:?}")))?;
            let data = match (op, kind) {
                (ChangeOp::Delete, _) => None,
                (ChangeOp::Upsert, ChangeKind::Task) => {
                    tasks::read(conn, caller, id)?.map(ChangeData::Task)
                }
                (ChangeOp::Upsert, ChangeKind::Project) => {
                    projects::read(conn, caller, id)?.map(ChangeData::Project)
                }
            };
            changes.push(ChangeEntry { kind, id, op, data });
        }
        // A page that is not full read everything up to the horizon, the
        // entries this caller does not see included: the next read can
        // start after all of them.
        if !full {
            next = next.max(newest(conn, horizon)?);
        }
        Ok(Feed::Page { changes, next })
    })
}

/// Deletes the entries older than the retention period and records where
/// the purge ended; returns how many went.
pub fn purge(db: &Db, now: i64) -> Result<u64, StoreError> {
    db.write(|tx| {
        let last = tx.query_opt(
            "SELECT tx, id FROM change_log WHERE logged_at < ?1 ORDER BY tx DESC, id DESC LIMIT 1",
            &[&(now - PURGE_AFTER_SECONDS)],
            |row| {
                Ok(Cursor {
                    tx: row.get(0)?,
                    id: row.get(1)?,
                })
            },
        )?;
        let Some(last) = last else {
            return Ok(0);
        };
        let deleted = tx.execute(
            "DELETE FROM change_log WHERE (tx, id) <= (?1, ?2)",
            &[&last.tx, &last.id],
        )?;
        tx.execute(
            "INSERT INTO setting (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&PURGED_THROUGH, &last.to_string().into_bytes()],
        )?;
        Ok(deleted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_nothing_else() {
        let cursor = Cursor { tx: 812, id: 42 };
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "-1.2",
            "1.-2",
            "1.2.3",
            "a.b",
            " 1.2",
            "1.99999999999999999999",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }
}

//! All SQL lives here. The rest of the program sees plain functions over a
//! [`Db`] handle, the domain types of [`crate::model`] and [`StoreError`];
//! no driver type leaks out.
//!
//! Two backends sit behind the same functions: SQLite (`sqlite/`, the
//! default, one process on one file) and, in a build with the `postgres`
//! feature, PostgreSQL (`postgres/`, any number of processes on one
//! database). The functions in `users.rs`, `tasks.rs` and the rest are
//! written once, against the connection handle of `sql.rs`; each backend
//! decides how a read, a consistent read and a write are run (see
//! [`Db::read`], [`Db::snapshot`], [`Db::write`]).

pub mod api_keys;
pub mod changes;
pub mod export;
pub mod idempotency;
mod list;
pub mod login_failures;
pub mod members;
#[cfg(feature = "postgres")]
mod postgres;
pub mod projects;
pub mod settings;
mod sql;
mod sqlite;
pub mod tasks;
pub mod users;

use std::fmt;
use std::path::PathBuf;

use crate::model::{Change, Entity};
/// A write's open transaction, as `idempotency::run` hands it to the
/// `*_in` functions (`tasks::create_in`): callers outside the store only
/// pass it along.
pub use sql::Conn;
pub use sql::Dialect;
/// `taskapi backup`: a checked copy of a live SQLite database.
pub use sqlite::backup;

/// Where the data lives: what `--db` names. Both `Display` and `Debug`
/// leave a URL's password out.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite database file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host/dbname`).
    Postgres(String),
}

impl Database {
    /// Reads a `--db` value: a `postgres://` or `postgresql://` URL, or else
    /// a SQLite file path. A URL in a build without PostgreSQL is an error
    /// that says how to get one.
    pub fn parse(value: &str) -> Result<Database, String> {
        let is_url = ["postgres://", "postgresql://"].iter().any(|scheme| {
            value
                .get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
        });
        if !is_url {
            return Ok(Database::Sqlite(PathBuf::from(value)));
        }
        if cfg!(feature = "postgres") {
            // The driver reads the scheme in lowercase only.
            let (scheme, rest) = value.split_once("://").unwrap_or((value, ""));
            Ok(Database::Postgres(format!(
                "{}://{rest}",
                scheme.to_ascii_lowercase()
            )))
        } else {
            Err(
                "--db is a PostgreSQL URL, but this build has no PostgreSQL support: \
                 build with `cargo build --release --features postgres`"
                    .to_owned(),
            )
        }
    }
}

/// Shows a path as it is, and a URL without its password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&without_password(url))
                .finish(),
        }
    }
}

/// `url` with its password, if any, replaced by `***`: what may appear in
/// a log. The password is where the driver reads it (everything between
/// the first `:` and the first `@` after the scheme), or a `password=`
/// parameter.
fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = match rest.split_once('@') {
        Some((credentials, after)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{after}"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    };
    let parts: Vec<String> = rest
        .split('&')
        .map(|part| match part.split_once("password=") {
            Some((before, _)) if before.is_empty() || before.ends_with('?') => {
                format!("{before}password=***")
            }
            _ => part.to_owned(),
        })
        .collect();
    format!("{scheme}://{}", parts.join("&"))
}

/// What a write does when its precondition is checked against `current`,
/// the object as the caller sees it, read in the write's transaction:
/// `None` to go ahead, or the refusal (`NotFound` if there is no such
/// object, `PreconditionFailed` with its ETag if the condition fails).
fn refused_by<T: serde::Serialize, U>(
    precondition: &crate::conditional::Precondition,
    current: Option<T>,
) -> Option<Change<U>> {
    match current {
        None => Some(Change::NotFound),
        Some(object) => precondition
            .unmet_by(&object)
            .map(Change::PreconditionFailed),
    }
}

/// A worker's access to the database. Each worker owns one, and with it its
/// own connection: one to the SQLite file (plus a share of the process's
/// writer), or one to PostgreSQL.
pub struct Db {
    backend: Backend,
}

enum Backend {
    Sqlite(sqlite::Db),
    // Boxed: a PostgreSQL client is several times the size of the SQLite
    // handles.
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Db>),
}

/// A failed database operation.
#[derive(Debug)]
pub enum StoreError {
    /// A uniqueness rule was broken; names what was duplicated (`"username"`).
    Conflict(&'static str),
    /// A row the write refers to does not exist for this owner; names what
    /// (`Entity::Project`).
    NotFound(Entity),
    /// A value the write was given breaks a rule only the database can
    /// check (an assignee who cannot see the task); names the field.
    Invalid(&'static str),
    /// The database cannot serve right now, and may later: the disk is
    /// full, the file or its file system is read-only, the storage failed
    /// the write, or the PostgreSQL server cannot be reached. A write that
    /// got this was not acknowledged; it was rolled back, except that a
    /// `COMMIT` cut off on its way leaves the outcome unknown. It clears
    /// when the condition does.
    Unavailable(String),
    /// Anything else: I/O, corruption, a lock held too long, a bug in SQL.
    Database(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict(what) => write!(f, "duplicate {what}"),
            StoreError::NotFound(what) => write!(f, "no such {what}"),
            StoreError::Invalid(field) => write!(f, "invalid {field}"),
            StoreError::Unavailable(message) | StoreError::Database(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl Db {
    /// Connects to `database` with the settings every connection must have
    /// (creating a SQLite file if needed). Does not migrate: see
    /// [`Db::migrate`].
    pub fn open(database: &Database) -> Result<Db, StoreError> {
        let backend = match database {
            Database::Sqlite(path) => Backend::Sqlite(sqlite::Db::open(path)?),
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => Backend::Postgres(Box::new(postgres::Db::open(url)?)),
            #[cfg(not(feature = "postgres"))]
            Database::Postgres(_) => {
                return Err(StoreError::Database(
                    "this build has no PostgreSQL support".to_owned(),
                ));
            }
        };
        Ok(Db { backend })
    }

    /// Another connection to the same database, for another worker.
    pub fn connect_again(&self) -> Result<Db, StoreError> {
        let backend = match &self.backend {
            Backend::Sqlite(db) => Backend::Sqlite(db.connect_again()?),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => Backend::Postgres(Box::new(db.connect_again()?)),
        };
        Ok(Db { backend })
    }

    /// Brings the schema up to date (see `sqlite/migrate.rs` and
    /// `postgres/migrate.rs`). Run once at start-up, before the workers
    /// open their connections.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.migrate(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.migrate(),
        }
    }

    /// Which backend this is.
    pub fn dialect(&self) -> Dialect {
        match &self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Checks that the database answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            conn.query_opt("SELECT 1", &[], |_| Ok(()))?;
            Ok(())
        })
    }

    /// Makes sure a worker whose handler panicked does not carry that
    /// request's half-done transaction into the next one.
    pub fn reset_after_panic(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.reset_after_panic(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.reset_after_panic(),
        }
    }

    /// Runs `job` on this worker's connection, outside any transaction. A
    /// read may be run twice (`Fn`): PostgreSQL runs it again on a new
    /// connection when the one it had died while idle.
    fn read<T>(
        &self,
        job: impl Fn(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(job),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.read(job),
        }
    }

    /// Runs `job` in a read-only transaction, so that all it reads comes
    /// from one snapshot (a list page and its total).
    fn snapshot<T>(
        &self,
        job: impl Fn(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.snapshot(job),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.snapshot(job),
        }
    }

    /// Runs `job` as one write and returns its result once it is committed;
    /// an `Err` from `job` undoes all it did. On SQLite, writes arriving
    /// together share a commit (`sqlite/writer.rs`); on PostgreSQL each is
    /// its own transaction on this worker's connection.
    fn write<T>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(job),
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => db.write(job),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("postgres://ann:s3cret@db.example/tasks?sslmode=disable"),
            "postgres://ann:***@db.example/tasks?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://db1,db2/tasks?user=ann&password=s3cret"),
            "postgres://db1,db2/tasks?user=ann&password=***"
        );
        assert_eq!(
            without_password("postgresql://ann@localhost/tasks"),
            "postgresql://ann@localhost/tasks"
        );
        // An unescaped `/` in the password: the driver still reads it up to
        // the `@`, and so does the mask.
        assert_eq!(
            without_password("postgres://ann:se/cret@db/tasks"),
            "postgres://ann:***@db/tasks"
        );
        let url = Database::Postgres("postgres://ann:s3cret@db/tasks".to_owned());
        assert!(!format!("{url:?} {url}").contains("s3cret"));
    }

    #[test]
    fn anything_but_a_postgres_url_is_a_sqlite_path() {
        assert_eq!(
            Database::parse("data/tasks.db"),
            Ok(Database::Sqlite(PathBuf::from("data/tasks.db")))
        );
        let url = Database::parse("POSTGRES://ann@localhost/tasks");
        if cfg!(feature = "postgres") {
            assert_eq!(
                url,
                Ok(Database::Postgres(
                    "postgres://ann@localhost/tasks".to_owned()
                ))
            );
        } else {
            let error = url.unwrap_err();
            assert!(error.contains("--features postgres"), "{error}");
        }
    }
}

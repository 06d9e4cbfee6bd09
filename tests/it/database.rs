//! The database under a test server: a SQLite file in the test's temporary
//! directory, or, when `TASKAPI_TEST_POSTGRES_URL` names a PostgreSQL
//! database (in a build with the `postgres` feature), a schema of its own
//! in that database, so tests running at once never see each other's rows.
//!
//! Tests that look underneath the API do so through [`TestDb::query`] and
//! [`TestDb::execute`], which take SQL both backends understand and read
//! every value back as text (a blob as lowercase hex, NULL as `None`). On
//! PostgreSQL they run `psql`, which the script that starts the cluster
//! (`tests/postgres/cluster.sh`) puts on the `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use taskapi::store::Database;

/// The variable that selects PostgreSQL for the test suite.
pub const POSTGRES_URL_VARIABLE: &str = "TASKAPI_TEST_POSTGRES_URL";

pub enum TestDb {
    Sqlite(PathBuf),
    Postgres {
        /// The server's URL: the base URL with this test's schema first on
        /// the search path.
        url: String,
        schema: String,
    },
}

/// The PostgreSQL database the suite runs on, if one is configured.
pub fn postgres_base_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
}

impl TestDb {
    /// A fresh, empty database for one test server.
    pub fn fresh(dir: &Path) -> TestDb {
        let Some(base) = postgres_base_url() else {
            return TestDb::Sqlite(dir.join("taskapi.db"));
        };
        if !cfg!(feature = "postgres") {
            panic!("{POSTGRES_URL_VARIABLE} is set: run the tests with --features postgres");
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let schema = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(&base, &format!("CREATE SCHEMA {schema}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        TestDb::Postgres {
            url: format!("{base}{separator}options=-csearch_path%3D{schema}"),
            schema,
        }
    }

    /// What `--db` is given.
    pub fn database(&self) -> Database {
        match self {
            TestDb::Sqlite(path) => Database::Sqlite(path.clone()),
            TestDb::Postgres { url, .. } => Database::Postgres(url.clone()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    /// The SQLite file, for the tests that are about SQLite itself; `None`
    /// on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            TestDb::Sqlite(path) => Some(path),
            TestDb::Postgres { .. } => None,
        }
    }

    /// Every row `sql` returns, each value as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            TestDb::Sqlite(path) => {
                let db = rusqlite::Connection::open(path).expect("open the database");
                db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                let mut statement = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|index| {
                                Ok(match row.get::<_, rusqlite::types::Value>(index)? {
                                    rusqlite::types::Value::Null => None,
                                    rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                                    rusqlite::types::Value::Real(x) => Some(x.to_string()),
                                    rusqlite::types::Value::Text(text) => Some(text),
                                    rusqlite::types::Value::Blob(bytes) => Some(hex(&bytes)),
                                })
                            })
                            .collect()
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            TestDb::Postgres { url, .. } => {
                // Unit separator and record separator: no value holds them.
                let output = psql_output(url, sql, &["-A", "-t", "-F", "\x1f", "-R", "\x1e"]);
                output
                    .trim_end_matches('\n')
                    .split('\x1e')
                    .filter(|record| !record.is_empty())
                    .map(|record| {
                        record
                            .split('\x1f')
                            .map(|value| match value {
                                // psql's null display, set below.
                                "\u{2400}" => None,
                                value => {
                                    Some(
                                        // psql shows bytea as \x and hex digits.
                                        value
                                            .strip_prefix("\\x")
                                            .filter(|hex| {
                                                hex.bytes().all(|b| b.is_ascii_hexdigit())
                                            })
                                            .unwrap_or(value)
                                            .to_owned(),
                                    )
                                }
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The single value `sql` returns.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        let rows = self.query(sql);
        assert_eq!(rows.len(), 1, "{sql} returned {} rows", rows.len());
        rows[0][0].clone()
    }

    /// Runs statements that return nothing.
    pub fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite(path) => {
                let db = rusqlite::Connection::open(path).expect("open the database");
                db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                db.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            TestDb::Postgres { url, .. } => {
                psql(url, sql);
            }
        }
    }

    /// The file's path or the server's URL, as the server was given it.
    pub fn location(&self) -> String {
        match self {
            TestDb::Sqlite(path) => path.display().to_string(),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// The names of `table`'s columns, in order.
    pub fn columns(&self, table: &str) -> Vec<String> {
        let sql = match self {
            TestDb::Sqlite(_) => {
                format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
            }
            TestDb::Postgres { schema, .. } => format!(
                "SELECT column_name FROM information_schema.columns
                 WHERE table_schema = '{schema}' AND table_name = '{table}'
                 ORDER BY ordinal_position"
            ),
        };
        self.query(&sql)
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect()
    }

    /// The names of the tables the server created, in name order.
    pub fn tables(&self) -> Vec<String> {
        let sql = match self {
            TestDb::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name".to_owned()
            }
            TestDb::Postgres { schema, .. } => format!(
                "SELECT table_name FROM information_schema.tables
                 WHERE table_schema = '{schema}' ORDER BY table_name"
            ),
        };
        self.query(&sql)
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect()
    }
}

impl TestDb {
    /// Holds, from a connection of its own, what the server's task writes
    /// need for `held`: SQLite's write lock, or an exclusive lock on the
    /// `task` table. Returns once the lock is taken; the returned thread
    /// releases it. Writes that arrive meanwhile wait (they give up only
    /// after 5 s on either backend).
    pub fn block_task_writes(&self, held: std::time::Duration) -> std::thread::JoinHandle<()> {
        match self {
            TestDb::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open the database");
                conn.execute_batch("BEGIN IMMEDIATE")
                    .expect("take the write lock");
                std::thread::spawn(move || {
                    std::thread::sleep(held);
                    conn.execute_batch("COMMIT")
                        .expect("release the write lock");
                })
            }
            TestDb::Postgres { url, schema } => {
                let sql = format!(
                    "BEGIN; LOCK TABLE task IN EXCLUSIVE MODE; SELECT pg_sleep({}); COMMIT;",
                    held.as_secs_f64()
                );
                let mut psql = Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", &sql])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("run psql");
                let granted = format!(
                    "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'ExclusiveLock' \
                     AND relation = '{schema}.task'::regclass"
                );
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                while self.scalar(&granted).as_deref() != Some("1") {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "psql never took the lock"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                std::thread::spawn(move || {
                    assert!(psql.wait().expect("psql ends").success());
                })
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn psql(url: &str, sql: &str) {
    psql_output(url, sql, &[]);
}

fn psql_output(url: &str, sql: &str, flags: &[&str]) -> String {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-P", "null=\u{2400}"])
        .args(flags)
        .args(["-d", url, "-c", sql])
        .output()
        .expect("run psql (tests/postgres/cluster.sh puts it on the PATH)");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("psql prints UTF-8")
}

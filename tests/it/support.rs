//! The test harness: a real server on a free port with a fresh database per
//! test (a temporary SQLite file, or a PostgreSQL schema: see
//! `database.rs`), and helpers that make tests read as HTTP
//! conversations.
//!
//! ```ignore
//! let app = TestApp::spawn();
//! let ann = app.register("ann");
//! let reply = app.post("/tasks").bearer(&ann.token).json(json!({"title": "Buy milk"}));
//! assert_eq!(reply.status, 201);
//! ```
//!
//! Connections: every request opens its own TCP connection and closes it
//! after the response (the ureq agent keeps no idle connections), so no test
//! depends on how the server treats a client that keeps connections alive.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

pub use crate::database::TestDb;
use taskapi::config::Config;
use taskapi::server::{self, Dispatcher, Server, ShutdownHandle};
use tempfile::TempDir;
use ureq::Agent;
use ureq::http::Request;

/// The password `register` gives every user: `"password-" + name`.
pub fn password_of(name: &str) -> String {
    format!("password-{name}")
}

/// A server running in this process on a temporary database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The database, for tests that look underneath the API.
    pub db: TestDb,
    server: Option<Server>,
    shutdown: ShutdownHandle,
    _dir: TempDir,
}

/// A registered user.
pub struct Session {
    pub token: String,
    pub user_id: i64,
}

impl TestApp {
    /// The production router on 4 workers.
    pub fn spawn() -> TestApp {
        TestApp::spawn_with(4, taskapi::router::dispatch)
    }

    /// A server with `workers` workers answering with `handler`.
    pub fn spawn_with(workers: u64, handler: Dispatcher) -> TestApp {
        TestApp::start(|config| config.workers = workers, handler)
    }

    /// The production router with the configuration changed by `adjust`.
    pub fn spawn_configured(adjust: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start(adjust, taskapi::router::dispatch)
    }

    /// The production router on a SQLite file even when the suite runs on
    /// PostgreSQL: for the tests about SQLite itself (its file, its writer).
    pub fn spawn_on_sqlite() -> TestApp {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = TestDb::Sqlite(dir.path().join("taskapi.db"));
        TestApp::start_on(dir, db, |_| {}, taskapi::router::dispatch)
    }

    fn start(adjust: impl FnOnce(&mut Config), handler: Dispatcher) -> TestApp {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = TestDb::fresh(dir.path());
        TestApp::start_on(dir, db, adjust, handler)
    }

    fn start_on(
        dir: TempDir,
        db: TestDb,
        adjust: impl FnOnce(&mut Config),
        handler: Dispatcher,
    ) -> TestApp {
        let mut config = Config {
            addr: "127.0.0.1:0".to_owned(),
            db: db.database(),
            workers: 4,
            secret_key: Some(TEST_SECRET.to_vec()),
            ..Config::defaults()
        };
        adjust(&mut config);
        let server = server::start_with(&config, handler).expect("start the server");
        TestApp {
            base: format!("http://{}", server.addr()),
            db,
            shutdown: server.shutdown_handle(),
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.call("GET", path)
    }
    pub fn post(&self, path: &str) -> Call {
        self.call("POST", path)
    }
    pub fn put(&self, path: &str) -> Call {
        self.call("PUT", path)
    }
    pub fn patch(&self, path: &str) -> Call {
        self.call("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> Call {
        self.call("DELETE", path)
    }

    /// A request with any method.
    pub fn call(&self, method: &str, path: &str) -> Call {
        Call {
            method: method.to_owned(),
            url: format!("{}{path}", self.base),
            headers: Vec::new(),
        }
    }

    /// Starts a graceful shutdown without waiting for it (dropping the app
    /// waits).
    pub fn stop(&self) {
        self.shutdown.shutdown();
    }

    /// Registers `name` (password `password_of(name)`) and returns the session.
    pub fn register(&self, name: &str) -> Session {
        let reply = self
            .post("/auth/register")
            .json(json!({"username": name, "password": password_of(name)}));
        assert_eq!(reply.status, 201, "registering {name}: {}", reply.text);
        Session {
            token: reply.body["access_token"]
                .as_str()
                .expect("a token")
                .to_owned(),
            user_id: reply.body["user"]["id"].as_i64().expect("a user id"),
        }
    }

    /// Creates a task for `session` and returns its JSON.
    pub fn create_task(&self, session: &Session, body: Value) -> Value {
        let reply = self.post("/tasks").bearer(&session.token).json(body);
        assert_eq!(reply.status, 201, "creating a task: {}", reply.text);
        reply.body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(server) = self.server.take() {
            let _ = server.wait();
        }
    }
}

/// The signing key of in-process test servers, so tests can forge tokens
/// with the right key and wrong claims.
pub const TEST_SECRET: &[u8] = b"an-in-process-test-secret-of-32+bytes";

/// A request to any server by its base URL (for threads that cannot share
/// a `Binary`).
pub fn call(base: &str, method: &str, path: &str) -> Call {
    Call {
        method: method.to_owned(),
        url: format!("{base}{path}"),
        headers: Vec::new(),
    }
}

/// A request being built.
pub struct Call {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
}

impl Call {
    pub fn bearer(self, token: &str) -> Call {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends without a body.
    pub fn send(self) -> Reply {
        self.body_bytes(None, Vec::new())
    }

    /// Sends `value` as `application/json`.
    pub fn json(self, value: Value) -> Reply {
        self.body_bytes(Some("application/json"), value.to_string().into_bytes())
    }

    /// Sends a form body, as `curl -d` does.
    pub fn form(self, body: &str) -> Reply {
        self.body_bytes(
            Some("application/x-www-form-urlencoded"),
            body.as_bytes().to_vec(),
        )
    }

    /// Sends `value` as JSON; `None` if the server did not answer (it was
    /// killed, say), for tests that expect that.
    pub fn try_json(self, value: Value) -> Option<Reply> {
        self.try_body_bytes(Some("application/json"), value.to_string().into_bytes())
    }

    /// Sends raw bytes with an optional content type.
    pub fn body_bytes(self, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        self.try_body_bytes(content_type, body)
            .expect("the server answers")
    }

    fn try_body_bytes(self, content_type: Option<&str>, body: Vec<u8>) -> Option<Reply> {
        let mut request = Request::builder()
            .method(self.method.as_str())
            .uri(&self.url);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request.body(body).expect("a valid request");
        let response = agent().run(request).ok()?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = response.into_body().read_to_string().ok()?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Some(Reply {
            status,
            headers,
            body,
            text,
        })
    }
}

/// A client that never keeps a connection for reuse and gives up after 10 s,
/// so a hang fails a test instead of stalling the suite.
fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The parsed body; `Value::Null` when empty or not JSON.
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Asserts an RFC 9457 problem body with this status and returns it.
    #[track_caller]
    pub fn assert_problem(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.header("Content-Type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["type"], "about:blank");
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        &self.body
    }

    /// The `field` names of a 422's `errors`, sorted.
    #[track_caller]
    pub fn invalid_fields(&self) -> Vec<String> {
        self.assert_problem(422);
        let mut fields: Vec<String> = self.body["errors"]
            .as_array()
            .expect("an errors array")
            .iter()
            .map(|error| error["field"].as_str().expect("a field name").to_owned())
            .collect();
        fields.sort();
        fields
    }
}

/// The real `taskapi` binary, running as a child process.
pub struct Binary {
    pub child: Child,
    pub base: String,
    /// Stderr lines after the first (the access log, warnings).
    pub stderr: Receiver<String>,
}

impl Binary {
    /// Starts the binary on a free port with the SQLite file `db`, the
    /// given extra arguments and environment, and waits for its listening
    /// line.
    pub fn start(db: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Binary {
        Binary::start_on(db.as_os_str(), args, env)
    }

    /// Like [`Binary::start`], on any `--db` value (a PostgreSQL URL).
    pub fn start_on(
        db: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Binary {
        let mut command = binary_command(args, env);
        command.arg("--db").arg(db).args(["--addr", "127.0.0.1:0"]);
        Binary::spawn(command)
    }

    /// Starts a prepared `binary_command` and waits for its listening line.
    pub fn spawn(mut command: Command) -> Binary {
        let mut child = command.spawn().expect("start taskapi");
        let stderr = child.stderr.take().expect("piped stderr");
        let (first_line, lines) = read_lines(stderr);
        let first_line = first_line.expect("taskapi printed a line");
        let base = first_line
            .strip_prefix("taskapi listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first_line}"))
            .to_owned();
        Binary {
            child,
            base,
            stderr: lines,
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits up to `limit` for the process to exit and returns its code.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("taskapi did not exit within {limit:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A request builder against this process.
    pub fn call(&self, method: &str, path: &str) -> Call {
        Call {
            method: method.to_owned(),
            url: format!("{}{path}", self.base),
            headers: Vec::new(),
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `taskapi` command with a clean environment: no setting leaks in from
/// the shell that runs the tests.
pub fn binary_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskapi"));
    for name in [
        "SECRET_KEY",
        "TASKAPI_ADDR",
        "TASKAPI_DB",
        "TASKAPI_WORKERS",
        "TASKAPI_TOKEN_TTL_MINUTES",
    ] {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reads the first stderr line (waiting up to 10 s) and forwards the rest
/// to a channel from a background thread.
fn read_lines(stderr: ChildStderr) -> (Option<String>, Receiver<String>) {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let first = receiver.recv_timeout(Duration::from_secs(10)).ok();
    (first, receiver)
}

/// Asserts that a resource was not updated before it was created. Both
/// stamps share one fixed-width format, so text order is time order.
#[track_caller]
pub fn assert_stamps_in_order(resource: &Value) {
    let created = resource["created_at"].as_str().expect("created_at");
    let updated = resource["updated_at"].as_str().expect("updated_at");
    assert!(updated >= created, "{resource}");
}

/// Whether `text` reads `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_rfc3339_utc_seconds(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            19 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

/// Asserts that the SQLite file at `path` passes `integrity_check` and has
/// no foreign key violations. Run it with no server on the file.
#[track_caller]
pub fn assert_database_intact(path: &std::path::Path) {
    let db = rusqlite::Connection::open(path).expect("open the database");
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let violations = db
        .prepare("PRAGMA foreign_key_check")
        .expect("foreign_key_check")
        .query_map([], |_| Ok(()))
        .expect("foreign_key_check rows")
        .count();
    assert_eq!(violations, 0, "foreign key violations");
}

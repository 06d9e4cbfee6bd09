//! The operations commands of the real binary: `taskapi backup` copying a
//! database that a server is writing, its refusals, and `taskapi
//! healthcheck` against a server, a closed port, a silent one and a 503.
//!
//! SQLite files throughout, in both suites: `backup` is for SQLite (on
//! PostgreSQL it points to pg_dump), and `healthcheck` does not care what
//! the server stores its data in.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Binary, assert_database_intact, binary_command, call};

/// A created task as its writer saw it: the id, when the request was sent,
/// and when its 201 arrived.
struct Created {
    id: i64,
    sent: Instant,
    acknowledged: Instant,
}

/// Creates tasks with long descriptions (so the database soon spans many
/// backup steps) until `stop`, and returns every one that got a 201.
fn writer(base: &str, token: &str, name: &str, stop: &AtomicBool) -> Vec<Created> {
    let description = format!("{name} ").repeat(1000);
    let mut created = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let reply = call(base, "POST", "/tasks")
            .bearer(token)
            .json(json!({"title": name, "description": description}));
        assert_eq!(reply.status, 201, "a write failed: {}", reply.text);
        created.push(Created {
            id: reply.body["id"].as_i64().expect("a task id"),
            sent,
            acknowledged: Instant::now(),
        });
    }
    created
}

/// Runs `taskapi ARGS...` to completion with a clean environment plus `env`.
fn taskapi(args: &[&str], env: &[(&str, &str)]) -> Output {
    binary_command(args, env).output().expect("run taskapi")
}

/// `taskapi backup --db DB OUT`.
fn backup(db: &std::path::Path, out: &std::path::Path) -> Output {
    let (db, out) = (db.to_str().unwrap(), out.to_str().unwrap());
    taskapi(&["backup", "--db", db, out], &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Like [`taskapi`], but kills the process and fails the test if it has
/// not finished within `limit`: a backup that never ends is a failure, not
/// a hung suite. (Its few lines of output fit in the pipes meanwhile.)
fn taskapi_within(limit: Duration, args: &[&str]) -> Output {
    let mut child = binary_command(args, &[]).spawn().expect("run taskapi");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("query the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect the output");
            panic!(
                "taskapi {args:?} did not finish within {limit:?}; stderr: {}",
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect the output")
}

/// Asserts a refusal: exit code 1 and exactly one line on stderr, which
/// contains `expected`.
#[track_caller]
fn assert_refused(output: &Output, expected: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(expected), "stderr: {stderr}");
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A small SQLite database that is not taskapi's: `backup` copies any.
fn plain_database(path: &Path, rows: usize) {
    let conn = rusqlite::Connection::open(path).expect("create a database");
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         CREATE INDEX t_body ON t (body);
         BEGIN;",
    )
    .expect("create a table");
    for n in 0..rows {
        conn.execute("INSERT INTO t (body) VALUES (?1)", [format!("{n:0>200}")])
            .expect("insert a row");
    }
    conn.execute_batch("COMMIT").expect("commit");
}

#[test]
fn a_backup_under_a_write_load_holds_every_task_acknowledged_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("live.db"), dir.path().join("copy.db"));
    let server = Binary::start(&db, &["--workers", "4"], &[]);
    let reply = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.body["access_token"].as_str().unwrap().to_owned();
    // Some 8,000 pages (32 MiB) of ballast beside the server's tables, so
    // that the copy takes dozens of steps while the server commits every
    // few milliseconds: a backup that restarted whenever the source changed
    // between two steps would not finish.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE ballast (b BLOB NOT NULL);
             INSERT INTO ballast (b)
                 WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000)
                 SELECT zeroblob(4000) FROM n;",
        )
        .unwrap();

    let stop = AtomicBool::new(false);
    let (mut created, started, finished, backup) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|n| {
                let (base, token, stop) = (&server.base, &token, &stop);
                scope.spawn(move || writer(base, token, &format!("w{n}"), stop))
            })
            .collect();
        // Acknowledged writes before the backup, for the copy to hold.
        std::thread::sleep(Duration::from_millis(1000));
        let started = Instant::now();
        let (db, out) = (db.to_str().unwrap(), out.to_str().unwrap());
        let backup = taskapi_within(Duration::from_secs(60), &["backup", "--db", db, out]);
        let finished = Instant::now();
        // Writes sent after the backup ended, which the copy must not hold.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::SeqCst);
        let created: Vec<Created> = writers
            .into_iter()
            .flat_map(|writer| writer.join().unwrap())
            .collect();
        (created, started, finished, backup)
    });
    drop(server);
    let stdout = text(&backup.stdout);
    let stderr = text(&backup.stderr);
    assert_eq!(backup.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("backup: wrote ") && line.ends_with(", integrity ok")),
        "stdout: {stdout}"
    );
    let during = created
        .iter()
        .filter(|task| task.acknowledged > started && task.acknowledged < finished)
        .count();
    eprintln!(
        "backup took {:?}, {during} writes acknowledged meanwhile: {}{}",
        finished - started,
        stderr,
        stdout.trim()
    );
    created.sort_by_key(|task| task.id);
    let before: Vec<&Created> = created
        .iter()
        .filter(|task| task.acknowledged < started)
        .collect();
    assert!(before.len() > 20, "too little load: {}", before.len());
    // The server kept writing while the backup ran: it held nothing up.
    assert!(
        during > 0,
        "no write was acknowledged during the backup ({:?})",
        finished - started
    );

    assert_database_intact(&out);
    let in_copy: HashSet<i64> = {
        let conn = rusqlite::Connection::open(&out).unwrap();
        let mut statement = conn.prepare("SELECT id FROM task").unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // One snapshot: a prefix of the commits, so of the ids (one writer hands
    // them out in commit order), nothing a writer was not told about, and
    // nothing sent after the backup had ended.
    let highest = in_copy.iter().copied().max().expect("tasks in the copy");
    for task in &created {
        assert_eq!(
            in_copy.contains(&task.id),
            task.id <= highest,
            "task {} against the copy's highest {highest}",
            task.id
        );
        assert!(
            task.sent < finished || !in_copy.contains(&task.id),
            "task {} is from after the backup",
            task.id
        );
    }
    let acknowledged: HashSet<i64> = created.iter().map(|task| task.id).collect();
    assert!(in_copy.is_subset(&acknowledged));

    // The copy serves, and the token works on it: the signing key is in the
    // database, so it was copied too.
    let copy = Binary::start(&out, &[], &[]);
    for task in before {
        let reply = copy
            .call("GET", &format!("/tasks/{}", task.id))
            .bearer(&token)
            .send();
        assert_eq!(reply.status, 200, "task {}: {}", task.id, reply.text);
    }
}

#[test]
fn a_backup_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("live.db"), dir.path().join("copy.db"));
    plain_database(&db, 10);
    std::fs::write(&out, "yesterday's backup").unwrap();
    let output = backup(&db, &out);
    assert_refused(&output, "already exists");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "yesterday's backup");
    assert_eq!(names_in(dir.path()), ["copy.db", "live.db"]);
}

#[test]
fn a_backup_of_a_missing_database_creates_no_file_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("nothing.db"), dir.path().join("copy.db"));
    let by_flag = backup(&db, &out);
    assert_refused(&by_flag, "no database at");
    let by_env = taskapi(
        &["backup", out.to_str().unwrap()],
        &[("TASKAPI_DB", db.to_str().unwrap())],
    );
    assert_refused(&by_env, "nothing.db");
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn a_backup_of_a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("notes.txt"), dir.path().join("copy.db"));
    std::fs::write(&db, "not a database, but long enough for a header").unwrap();
    let output = backup(&db, &out);
    assert_refused(&output, "not a SQLite database");
    assert_eq!(names_in(dir.path()), ["notes.txt"]);
}

#[test]
fn a_backup_of_a_postgresql_database_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.db");
    let url = "postgres://taskapi:secret@db.example/taskapi";
    let by_flag = taskapi(&["backup", "--db", url, out.to_str().unwrap()], &[]);
    assert_refused(&by_flag, "pg_dump");
    let by_env = taskapi(&["backup", out.to_str().unwrap()], &[("TASKAPI_DB", url)]);
    assert_refused(&by_env, "pg_dump");
    assert!(!text(&by_env.stderr).contains("secret"));
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn a_copy_that_fails_its_integrity_check_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (db, out) = (dir.path().join("live.db"), dir.path().join("copy.db"));
    plain_database(&db, 2000);
    // Scribble over a page in the middle: the backup copies pages as they
    // are, so the copy is as broken as the source, and the check finds it.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096 * 20;
    bytes[page + 8..page + 1000].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();
    let output = backup(&db, &out);
    assert_refused(&output, "integrity check");
    assert_eq!(names_in(dir.path()), ["live.db"]);
}

#[test]
fn healthcheck_exits_0_against_a_running_server_at_the_address_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(&dir.path().join("t.db"), &[], &[]);
    let addr = server.base.strip_prefix("http://").unwrap();
    let by_flag = taskapi(&["healthcheck", "--addr", addr], &[]);
    assert_eq!(by_flag.status.code(), Some(0), "{}", text(&by_flag.stderr));
    assert!(text(&by_flag.stdout).contains("answered 200"));
    // As in the container: the server's own setting, on all interfaces.
    let port = addr.rsplit(':').next().unwrap();
    let everywhere = format!("0.0.0.0:{port}");
    let by_env = taskapi(&["healthcheck"], &[("TASKAPI_ADDR", &everywhere)]);
    assert_eq!(by_env.status.code(), Some(0), "{}", text(&by_env.stderr));
}

#[test]
fn healthcheck_exits_1_when_nothing_listens() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = taskapi(
        &["healthcheck", "--addr", &format!("127.0.0.1:{port}")],
        &[],
    );
    assert_refused(&output, "connection refused");
}

#[test]
fn healthcheck_exits_1_on_a_503_and_names_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request[..read]).into_owned()
    });
    let output = taskapi(&["healthcheck", "--addr", &addr], &[]);
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );
    assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    assert_refused(&output, "503 Service Unavailable");
}

#[test]
fn healthcheck_gives_up_on_a_server_that_never_answers() {
    // Bound and listening, so the kernel completes the connection, but
    // nobody ever accepts or answers it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let output = taskapi(&["healthcheck", "--addr", &addr], &[]);
    assert_refused(&output, "no answer");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

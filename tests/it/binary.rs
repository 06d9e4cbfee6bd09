//! The real `taskapi` binary as a child process: start-up, configuration
//! errors, signals, the access log, and the generated secret.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Binary, binary_command};

#[test]
fn the_binary_prints_its_real_port_first_and_serves_there() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(&dir.path().join("t.db"), &[], &[]);
    assert!(server.base.starts_with("http://127.0.0.1:"));
    assert!(!server.base.ends_with(":0"), "{}", server.base);
    let reply = server.call("GET", "/healthz").send();
    assert_eq!(reply.status, 200);
}

#[test]
fn a_new_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let server = Binary::start(&db, &[], &[]);
    assert_eq!(server.call("GET", "/healthz").send().status, 200);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }
}

#[test]
fn sigterm_and_sigint_stop_the_server_with_exit_code_0() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Binary::start(&dir.path().join("t.db"), &[], &[]);
        assert_eq!(server.call("GET", "/healthz").send().status, 200);
        server.signal(signal);
        assert_eq!(
            server.wait_for_exit(Duration::from_secs(5)),
            Some(0),
            "signal {signal}"
        );
    }
}

#[test]
fn a_generated_secret_survives_a_restart_so_old_tokens_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");

    let mut first = Binary::start(&db, &[], &[]);
    let reply = first
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.body["access_token"].as_str().unwrap().to_owned();
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_for_exit(Duration::from_secs(5)), Some(0));

    let second = Binary::start(&db, &[], &[]);
    let me = second.call("GET", "/auth/me").bearer(&token).send();
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "ann");

    // A server given SECRET_KEY uses it instead, so the old token fails.
    drop(second);
    let third = Binary::start(&db, &[], &[("SECRET_KEY", &"k".repeat(32))]);
    let me = third.call("GET", "/auth/me").bearer(&token).send();
    assert_eq!(me.status, 401);
}

#[test]
fn configuration_errors_exit_non_zero_with_one_line() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        (&["--port", "8000"], &[]),
        (&["--workers", "0"], &[]),
        (&["--token-ttl-minutes", "soon"], &[]),
        (&["--addr"], &[]),
        (&[], &[("SECRET_KEY", "")]),
    ];
    for (args, env) in cases {
        let output = binary_command(args, env).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} {env:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("taskapi: "), "{stderr}");
    }
}

/// A build without the `postgres` feature cannot serve a URL, and says
/// which feature to build with, before binding anything.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_in_a_build_without_the_feature_exits_1_naming_the_feature() {
    for url in [
        "postgres://ann@localhost/tasks",
        "postgresql://ann@localhost/tasks",
    ] {
        let output = binary_command(&["--db", url], &[]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--features postgres"), "{stderr}");
    }
    let output = binary_command(&[], &[("TASKAPI_DB", "postgres://ann@localhost/tasks")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn an_unusable_address_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let output = binary_command(
        &["--addr", "256.0.0.1:80", "--db", db.to_str().unwrap()],
        &[],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on"));
}

#[test]
fn a_bad_database_is_reported_before_the_address_is_taken() {
    // The port is busy and the database cannot be opened: the error must
    // be the database's, which is checked first.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no such directory").join("t.db");
    let output = binary_command(&["--addr", &addr, "--db", db.to_str().unwrap()], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no such directory"), "{stderr}");
    assert!(!stderr.contains("cannot listen"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn help_documents_every_setting() {
    let output = binary_command(&["--help"], &[]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for setting in [
        "--addr",
        "--db",
        "--workers",
        "--token-ttl-minutes",
        "TASKAPI_ADDR",
        "TASKAPI_DB",
        "TASKAPI_WORKERS",
        "TASKAPI_TOKEN_TTL_MINUTES",
        "SECRET_KEY",
    ] {
        assert!(help.contains(setting), "--help lacks {setting}");
    }
}

#[test]
fn a_short_secret_key_starts_with_a_warning_after_the_listening_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(&dir.path().join("t.db"), &[], &[("SECRET_KEY", "tooshort")]);
    let warning = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        warning.contains("WARNING") && warning.contains("SECRET_KEY"),
        "{warning}"
    );
}

#[test]
fn the_access_log_has_one_line_per_request_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(&dir.path().join("t.db"), &[], &[]);
    let register = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "secret-password-1"}));
    let token = register.body["access_token"].as_str().unwrap().to_owned();
    server
        .call("GET", "/tasks?api_key=query-secret-2")
        .bearer(&token)
        .send();

    let first = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap();
    let second = server.stderr.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(first.contains("POST /auth/register 201"), "{first}");
    assert!(second.contains("GET /tasks 400"), "{second}");
    for line in [&first, &second] {
        assert!(!line.contains("secret-password-1"), "{line}");
        assert!(!line.contains("query-secret-2"), "{line}");
        assert!(!line.contains(&token), "{line}");
    }
}

#[test]
fn running_out_of_file_descriptors_pauses_accepting_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut command = binary_command(&["--addr", "127.0.0.1:0", "--workers", "2"], &[]);
    command.arg("--db").arg(&db);
    // A hard limit of 64 open files, which the server cannot raise.
    // SAFETY: between fork and exec this only calls setrlimit, which is
    // async-signal-safe, on a struct on the stack.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut server = Binary::spawn(command);
    let addr = server.base.trim_start_matches("http://").to_owned();

    // More idle connections than the server has descriptors: the extra
    // ones wait in the kernel's backlog while accept() fails.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.stderr.recv_timeout(left) {
            Ok(line) if line.contains("pausing accepts") => break,
            Ok(_) => continue,
            Err(_) => panic!("no accept failure was logged within 5 s"),
        }
    }
    assert_eq!(server.child.try_wait().unwrap(), None, "the server exited");

    // Once the idle connections go, the server accepts and answers again.
    drop(held);
    let health = server.call("GET", "/healthz").send();
    assert_eq!(health.status, 200, "{}", health.text);
}

#[test]
fn when_the_disk_fills_up_every_acknowledged_write_is_still_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut command = binary_command(&["--addr", "127.0.0.1:0"], &[]);
    command.arg("--db").arg(&db);
    // Files may grow to 400 KB: the database fills up after a few dozen
    // tasks. SIGXFSZ is ignored so that writes past the limit fail with
    // EFBIG, as on a full disk, instead of killing the process.
    // SAFETY: between fork and exec this calls only setrlimit and signal,
    // both async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 400_000,
                rlim_max: 400_000,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let server = Binary::spawn(command);
    let register = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    let token = register.body["access_token"].as_str().unwrap().to_owned();

    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for n in 0..80 {
        let description = format!("{n:>4}").repeat(2_000);
        let reply = server
            .call("POST", "/tasks")
            .bearer(&token)
            .json(json!({"title": format!("task {n}"), "description": description}));
        match reply.status {
            201 => acknowledged.push((reply.body["id"].as_i64().unwrap(), n)),
            500 | 503 => refused += 1,
            other => panic!("unexpected status {other}: {}", reply.text),
        }
    }
    // No refusal means either that the limit never hit or that failed
    // writes were acknowledged: both make this test worthless.
    assert!(
        refused > 0,
        "no write was refused ({} acknowledged)",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty());

    // The server still answers, and every 201 is there with its content.
    for (id, n) in acknowledged {
        let task = server
            .call("GET", &format!("/tasks/{id}"))
            .bearer(&token)
            .send();
        assert_eq!(
            task.status, 200,
            "acknowledged task {id} is gone: {}",
            task.text
        );
        assert_eq!(task.body["title"], format!("task {n}"));
    }
}

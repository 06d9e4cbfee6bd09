//! Several taskapi processes on one PostgreSQL database behave as one
//! service, and the database going away is not a crash.
//!
//! These run only on PostgreSQL (`TASKAPI_TEST_POSTGRES_URL`, see
//! `database.rs`); on SQLite they say so and return. Each test starts
//! real `taskapi` processes on a schema of its own.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::database::{TestDb, postgres_base_url};
use crate::support::{Binary, Reply, call, password_of};

/// A fresh schema's URL, or `None` (and a note) when the suite runs on
/// SQLite.
fn fresh_url() -> Option<(tempfile::TempDir, TestDb, String)> {
    if postgres_base_url().is_none() {
        eprintln!("skipped: needs TASKAPI_TEST_POSTGRES_URL");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path());
    let url = db.location();
    Some((dir, db, url))
}

/// Two processes on one database, started together.
fn two_processes(url: &str, args: &[&str]) -> (Binary, Binary) {
    let (a, b) = thread::scope(|scope| {
        let a = scope.spawn(|| Binary::start_on(url, args, &[]));
        let b = scope.spawn(|| Binary::start_on(url, args, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    (a, b)
}

fn register(process: &Binary, name: &str) -> String {
    let reply = process
        .call("POST", "/auth/register")
        .json(json!({"username": name, "password": password_of(name)}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

fn login(process: &Binary, name: &str, password: &str) -> Reply {
    process
        .call("POST", "/auth/login")
        .json(json!({"username": name, "password": password}))
}

#[test]
fn processes_starting_together_on_an_empty_database_migrate_it_once() {
    let Some((_dir, db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    for process in [&a, &b] {
        assert_eq!(process.call("GET", "/healthz").send().status, 200);
    }
    assert_eq!(applied_versions(&db), every_version());
}

/// The versions `schema_migration` records, as "1,2".
fn applied_versions(db: &TestDb) -> String {
    db.scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migration")
        .unwrap_or_default()
}

/// Every migration file once, as "1,2,...".
fn every_version() -> String {
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "sql"))
        })
        .count();
    let versions: Vec<String> = (1..=files).map(|version| version.to_string()).collect();
    versions.join(",")
}

#[test]
fn a_database_at_schema_version_1_upgrades_in_place_keeping_its_rows() {
    let Some((_dir, db, url)) = fresh_url() else {
        return;
    };
    // Version 1 as a server of that version made it: its one migration,
    // recorded, and rows written with plain SQL.
    let version_1 = include_str!("../../migrations/postgres/0001-schema.sql");
    db.execute(&format!(
        "{version_1}
         CREATE TABLE schema_migration (
             version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO schema_migration (version) VALUES (1);"
    ));
    let hash = taskapi::credentials::Passwords::new(1)
        .hash("password-ann")
        .unwrap();
    db.execute(&format!(
        "INSERT INTO \"user\" (username, password_hash, created_at)
             VALUES ('ann', '{hash}', '2026-01-01T00:00:00Z');
         INSERT INTO project (owner_id, name, name_key, created_at, updated_at)
             VALUES (1, 'Home', 'home', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
         INSERT INTO task (owner_id, project_id, title, created_at, updated_at)
             VALUES (1, 1, 'kept', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z');"
    ));

    let server = Binary::start_on(&url, &[], &[]);
    assert_eq!(applied_versions(&db), every_version());
    let token = login(&server, "ann", "password-ann").body["access_token"]
        .as_str()
        .expect("ann logs in after the upgrade")
        .to_owned();
    let tasks = server.call("GET", "/tasks").bearer(&token).send();
    assert_eq!(
        tasks.body,
        json!([{"id": 1, "project_id": 1, "title": "kept", "description": null,
                "due_date": null, "completed": false, "priority": 0,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
                "assignee_id": null, "created_by": 1, "tags": [], "version": 1}]),
        "{}",
        tasks.text
    );
    let project = server.call("GET", "/projects/1").bearer(&token).send();
    assert_eq!(project.body["role"], "owner", "{}", project.text);
    assert_eq!(project.body["version"], 1, "{}", project.text);
}

#[test]
fn a_token_issued_by_one_process_is_accepted_by_another() {
    let Some((_dir, _db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    let token = register(&a, "ann");
    let me = b.call("GET", "/auth/me").bearer(&token).send();
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "ann");
    // And what one process writes, the other reads.
    let created = a
        .call("POST", "/tasks")
        .bearer(&token)
        .json(json!({"title": "written on A"}));
    assert_eq!(created.status, 201);
    let read = b
        .call("GET", &format!("/tasks/{}", created.body["id"]))
        .bearer(&token)
        .send();
    assert_eq!(read.status, 200);
    assert_eq!(read.body["title"], "written on A");
}

#[test]
fn an_idempotency_key_running_on_one_process_is_a_409_on_the_other_and_then_replays() {
    let Some((_dir, db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    let token = register(&a, "ann");
    // A's request waits for a lock held from outside, inside its
    // transaction, which holds the key's advisory lock meanwhile.
    let release = db.block_task_writes(Duration::from_millis(1500));
    let first = {
        let (base, token) = (a.base.clone(), token.clone());
        thread::spawn(move || {
            call(&base, "POST", "/tasks")
                .bearer(&token)
                .header("Idempotency-Key", "across")
                .json(json!({"title": "once"}))
        })
    };
    thread::sleep(Duration::from_millis(300));
    let retry = b
        .call("POST", "/tasks")
        .bearer(&token)
        .header("Idempotency-Key", "across")
        .json(json!({"title": "once"}));
    retry.assert_problem(409);
    release.join().unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.status, 201, "{}", first.text);
    let replay = b
        .call("POST", "/tasks")
        .bearer(&token)
        .header("Idempotency-Key", "across")
        .json(json!({"title": "once"}));
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.body["id"], first.body["id"]);
}

#[test]
fn of_two_processes_racing_with_the_same_if_match_exactly_one_wins() {
    let Some((_dir, _db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    let token = register(&a, "ann");
    let task = a
        .call("POST", "/tasks")
        .bearer(&token)
        .json(json!({"title": "contested"}));
    let path = format!("/tasks/{}", task.body["id"]);
    for round in 0..5 {
        let etag = a.call("GET", &path).bearer(&token).send();
        let etag = etag.header("ETag").unwrap().to_owned();
        let barrier = Barrier::new(8);
        let mut statuses: Vec<u16> = thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|writer| {
                    let base = if writer % 2 == 0 { &a.base } else { &b.base };
                    let (barrier, token, path, etag) = (&barrier, &token, &path, &etag);
                    scope.spawn(move || {
                        let request = call(base, "PATCH", path)
                            .bearer(token)
                            .header("If-Match", etag);
                        barrier.wait();
                        request
                            .json(json!({"title": format!("writer {writer}")}))
                            .status
                    })
                })
                .collect();
            writers
                .into_iter()
                .map(|writer| writer.join().unwrap())
                .collect()
        });
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 412, 412, 412, 412, 412, 412, 412],
            "round {round}"
        );
    }
}

#[test]
fn a_password_change_logout_or_key_deletion_on_one_process_takes_effect_on_the_other_at_once() {
    let Some((_dir, _db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    let old_token = register(&a, "ann");
    assert_eq!(
        b.call("GET", "/tasks").bearer(&old_token).send().status,
        200
    );

    let changed = a
        .call("PUT", "/auth/password")
        .bearer(&old_token)
        .json(json!({"current_password": password_of("ann"), "new_password": "a-new-password-1"}));
    assert!(changed.status < 300, "{}", changed.text);
    b.call("GET", "/tasks")
        .bearer(&old_token)
        .send()
        .assert_problem(401);

    let token = login(&b, "ann", "a-new-password-1").body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = a
        .call("POST", "/auth/api-keys")
        .bearer(&token)
        .json(json!({"name": "script"}));
    assert_eq!(key.status, 201, "{}", key.text);
    let secret = key.body["key"].as_str().unwrap().to_owned();
    let with_key = |process: &Binary| {
        process
            .call("GET", "/tasks")
            .header("X-API-Key", &secret)
            .send()
    };
    assert_eq!(with_key(&b).status, 200);
    let deleted = a
        .call("DELETE", &format!("/auth/api-keys/{}", key.body["id"]))
        .bearer(&token)
        .send();
    assert_eq!(deleted.status, 204);
    with_key(&b).assert_problem(401);

    assert_eq!(
        a.call("POST", "/auth/logout").bearer(&token).send().status,
        204
    );
    b.call("GET", "/tasks")
        .bearer(&token)
        .send()
        .assert_problem(401);
}

#[test]
fn failed_logins_on_both_processes_count_towards_one_limit() {
    let Some((_dir, _db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &["--login-max-failures", "4"]);
    register(&a, "ann");
    for process in [&a, &b, &a, &b] {
        login(process, "ann", "wrong-password").assert_problem(401);
    }
    // Four failures, two on each: both processes now refuse, even the
    // right password, before hashing it.
    for process in [&a, &b] {
        let refused = login(process, "ann", &password_of("ann"));
        refused.assert_problem(429);
        assert!(refused.header("Retry-After").is_some());
    }
}

#[test]
fn concurrent_registrations_of_one_name_on_two_processes_give_exactly_one_201() {
    let Some((_dir, db, url)) = fresh_url() else {
        return;
    };
    let (a, b) = two_processes(&url, &[]);
    let bases = [a.base.clone(), b.base.clone()];
    const ROUNDS: usize = 10;
    const CLIENTS: usize = 6;
    for round in 0..ROUNDS {
        // Half the clients register the name as a username, half as an
        // email: login takes either, so they collide too.
        let name = format!("same{round}@example.com");
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let statuses: Vec<u16> = thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|client| {
                    let (base, barrier, name) = (&bases[client % 2], Arc::clone(&barrier), &name);
                    scope.spawn(move || {
                        let field = if client % 4 < 2 { "username" } else { "email" };
                        let body = json!({field: name, "password": password_of("x")});
                        barrier.wait();
                        call(base, "POST", "/auth/register").json(body).status
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        let created = statuses.iter().filter(|&&status| status == 201).count();
        let conflicts = statuses.iter().filter(|&&status| status == 409).count();
        assert_eq!(
            (created, conflicts),
            (1, CLIENTS - 1),
            "round {round}: {statuses:?}"
        );
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM \"user\"").as_deref(),
        Some(ROUNDS.to_string().as_str())
    );
}

#[test]
fn a_multi_host_url_skips_a_host_that_is_down() {
    let Some((_dir, _db, url)) = fresh_url() else {
        return;
    };
    // Port 1 on loopback refuses at once: the first host is down.
    let (scheme_and_user, rest) = url.split_once('@').unwrap();
    let separator = if rest.contains('?') { '&' } else { '?' };
    let multi =
        format!("{scheme_and_user}@127.0.0.1:1,{rest}{separator}target_session_attrs=read-write");
    let process = Binary::start_on(&multi, &[], &[]);
    let token = register(&process, "ann");
    assert_eq!(
        process.call("GET", "/tasks").bearer(&token).send().status,
        200
    );
}

#[test]
fn an_unreachable_database_fails_the_start_with_one_line_and_no_password() {
    if postgres_base_url().is_none() {
        eprintln!("skipped: needs TASKAPI_TEST_POSTGRES_URL");
        return;
    }
    let output = crate::support::binary_command(
        &[
            "--db",
            "postgres://ann:s3cret-pw@127.0.0.1:1/tasks",
            "--addr",
            "127.0.0.1:0",
        ],
        &[],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

/// The cluster directory `tests/postgres/cluster.sh` manages, for the test
/// that stops and starts it.
const CLUSTER_VARIABLE: &str = "TASKAPI_TEST_POSTGRES_CLUSTER";

fn cluster(command: &str) {
    let dir = std::env::var(CLUSTER_VARIABLE).expect("the cluster directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postgres/cluster.sh");
    let status = std::process::Command::new("bash")
        .args([script, command, &dir])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cluster.sh {command}");
}

#[test]
#[ignore = "stops the PostgreSQL cluster under every other test: .ci/run runs it alone"]
fn postgresql_restarting_under_a_write_load_costs_503s_loses_no_acknowledged_write_and_heals() {
    let Some((_dir, db, url)) = fresh_url() else {
        return;
    };
    if std::env::var(CLUSTER_VARIABLE).is_err() {
        panic!("set {CLUSTER_VARIABLE} to the directory of tests/postgres/cluster.sh");
    }
    let server = Binary::start_on(&url, &["--workers", "4"], &[]);
    let token = register(&server, "ann");

    // Eight writers create tasks as fast as they can, each remembering the
    // ids it was given (2xx: acknowledged) and counting every status.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    // When each request that got a 503 was sent.
    let refused_at = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (base, token) = (server.base.clone(), token.clone());
            let refused_at = Arc::clone(&refused_at);
            let (acknowledged, statuses, slowest, stop) = (
                Arc::clone(&acknowledged),
                Arc::clone(&statuses),
                Arc::clone(&slowest),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    let reply = call(&base, "POST", "/tasks")
                        .bearer(&token)
                        .try_json(json!({"title": format!("writer {writer} task {n}")}));
                    let took = started.elapsed();
                    let mut slowest = slowest.lock().unwrap();
                    *slowest = (*slowest).max(took);
                    drop(slowest);
                    let status = reply.as_ref().map_or(0, |reply| reply.status);
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    if let Some(reply) = reply {
                        if reply.status == 201 {
                            acknowledged
                                .lock()
                                .unwrap()
                                .push(reply.body["id"].as_i64().unwrap());
                        } else if reply.status == 503 {
                            assert!(reply.header("Retry-After").is_some(), "{}", reply.text);
                            refused_at.lock().unwrap().push(started);
                        }
                    }
                }
            })
        })
        .collect();
    let count_acknowledged = || acknowledged.lock().unwrap().len();

    thread::sleep(Duration::from_secs(1));
    let before_stop = count_acknowledged();
    assert!(before_stop > 0, "the writers are writing");
    cluster("stop");
    let health = call(&server.base, "GET", "/healthz").send();
    assert_eq!(health.status, 503, "/healthz while the database is away");
    thread::sleep(Duration::from_secs(2));
    cluster("start");
    let back = Instant::now();
    let at_start = count_acknowledged();
    // Service resumes by itself: a write is acknowledged within 5 s.
    while count_acknowledged() == at_start {
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "no write acknowledged 5 s after the restart"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let recovery = back.elapsed();
    // A worker whose last attempt to connect failed while the database was
    // down waits out its reconnect interval (250 ms) first, so /healthz may
    // still say 503 for a moment; within a second every worker is back.
    while call(&server.base, "GET", "/healthz").send().status != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "/healthz still 503 a second after the database was back"
        );
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }

    let statuses = statuses.lock().unwrap().clone();
    let slowest = *slowest.lock().unwrap();
    eprintln!(
        "restart under load: statuses {statuses:?}, recovery {recovery:?} after the database \
         was back, slowest request {slowest:?}"
    );
    // Once the database is back, every worker finds it within one
    // reconnect interval: no request sent a second later is refused.
    let late = refused_at
        .lock()
        .unwrap()
        .iter()
        .filter(|sent| **sent > back + Duration::from_secs(1))
        .count();
    assert_eq!(
        late, 0,
        "503s for requests sent over 1 s after the database was back"
    );
    let unexpected: Vec<_> = statuses
        .keys()
        .filter(|status| ![201, 503].contains(*status))
        .collect();
    assert!(unexpected.is_empty(), "only 201 and 503: {statuses:?}");
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the gap was seen: {statuses:?}"
    );
    assert!(
        slowest < Duration::from_secs(6),
        "no request hung: {slowest:?}"
    );

    // Every acknowledged write is in the database.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored: std::collections::HashSet<i64> = db
        .query("SELECT id FROM task")
        .into_iter()
        .filter_map(|row| row[0].as_deref().and_then(|id| id.parse().ok()))
        .collect();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes are missing",
        missing.len()
    );

    // A restart while every connection sits idle: each worker's connection
    // is dead without knowing it, and the first requests after the restart
    // still succeed (a read, or a write's BEGIN, is tried again on a new
    // connection), rather than each worker failing one request first.
    for _ in 0..8 {
        assert_eq!(
            call(&server.base, "GET", "/tasks")
                .bearer(&token)
                .send()
                .status,
            200
        );
    }
    cluster("stop");
    cluster("start");
    for n in 0..8 {
        let read = call(&server.base, "GET", "/healthz").send();
        assert_eq!(
            read.status, 200,
            "read {n} after an idle restart: {}",
            read.text
        );
        let write = call(&server.base, "POST", "/tasks")
            .bearer(&token)
            .json(json!({"title": format!("after the idle restart {n}")}));
        assert_eq!(
            write.status, 201,
            "write {n} after an idle restart: {}",
            write.text
        );
    }
}

//! Nothing acknowledged is lost: the real binary under a write load is
//! killed with SIGKILL at arbitrary moments, again and again, or stopped
//! with SIGTERM; afterwards the database is intact and every write that got
//! a 2xx is there.
//!
//! SQLite-specific, so on SQLite in both suites: the file, its write-ahead
//! log and the writer's group commit are what a kill can catch half-done.
//! On PostgreSQL a 2xx follows the `COMMIT` PostgreSQL acknowledged, and the
//! restart test in `postgres.rs` kills the database side instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::support::{Binary, assert_database_intact, call};

/// What the writers were told: task id -> (title, highest acknowledged
/// priority). A write in flight at the kill may or may not have landed, so
/// a task's priority may also be one more than acknowledged.
type Acknowledged = HashMap<i64, (String, i64)>;

/// One writer: creates a task, then raises its priority one PATCH at a
/// time, recording each 2xx, until the server stops answering.
fn writer(base: &str, token: &str, name: &str, stop: &AtomicBool) -> Acknowledged {
    let mut acknowledged = Acknowledged::new();
    let mut current = None;
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let reply = match current {
            None => call(base, "POST", "/tasks")
                .bearer(token)
                .try_json(json!({"title": format!("{name} {round}"), "priority": 0})),
            Some((id, priority)) => call(base, "PATCH", &format!("/tasks/{id}"))
                .bearer(token)
                .try_json(json!({"priority": priority + 1})),
        };
        let Some(reply) = reply else { break };
        assert!(
            reply.status == 200 || reply.status == 201,
            "a write failed with {}: {}",
            reply.status,
            reply.text
        );
        let id = reply.body["id"].as_i64().expect("a task id");
        let priority = reply.body["priority"].as_i64().expect("a priority");
        let title = reply.body["title"].as_str().expect("a title").to_owned();
        acknowledged.insert(id, (title, priority));
        // A new task every tenth write, so creates are killed too.
        current = if round % 10 == 0 {
            None
        } else {
            Some((id, priority))
        };
    }
    acknowledged
}

#[test]
fn writes_acknowledged_before_a_sigkill_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut acknowledged = Acknowledged::new();
    let mut token = String::new();

    // Kill moments vary from round to round, from 40 to 400 ms of load.
    for (round, kill_after_ms) in [40u64, 230, 90, 400, 150, 310].into_iter().enumerate() {
        let mut server = Binary::start(&db, &["--workers", "4"], &[]);
        if round == 0 {
            let reply = server
                .call("POST", "/auth/register")
                .json(json!({"username": "ann", "password": "password-ann"}));
            token = reply.body["access_token"].as_str().unwrap().to_owned();
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|n| {
                    let (base, token, stop) = (&server.base, &token, &stop);
                    scope.spawn(move || writer(base, token, &format!("r{round}w{n}"), stop))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(kill_after_ms));
            server.signal(libc::SIGKILL);
            stop.store(true, Ordering::SeqCst);
            for writer in writers {
                acknowledged.extend(writer.join().unwrap());
            }
        });
        server.wait_for_exit(Duration::from_secs(5));
    }
    assert!(
        acknowledged.len() > 20,
        "too little load: {}",
        acknowledged.len()
    );

    let server = Binary::start(&db, &[], &[]);
    let listed = server.call("GET", "/tasks?limit=500").bearer(&token).send();
    assert_eq!(listed.status, 200);
    let stored: HashMap<i64, (String, i64)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            let id = task["id"].as_i64().unwrap();
            let title = task["title"].as_str().unwrap().to_owned();
            (id, (title, task["priority"].as_i64().unwrap()))
        })
        .collect();
    for (id, (title, priority)) in &acknowledged {
        let (stored_title, stored_priority) = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged task {id} ({title}) is gone"));
        assert_eq!(stored_title, title);
        assert!(
            *stored_priority == *priority || *stored_priority == priority + 1,
            "task {id}: acknowledged priority {priority}, stored {stored_priority}"
        );
    }
    drop(server);

    assert_database_intact(&db);
}

#[test]
fn sigterm_under_a_write_load_exits_0_and_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut server = Binary::start(&db, &["--workers", "4"], &[]);
    let reply = server
        .call("POST", "/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    let token = reply.body["access_token"].as_str().unwrap().to_owned();

    let stop = AtomicBool::new(false);
    let mut acknowledged = Acknowledged::new();
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let (base, token, stop) = (&server.base, &token, &stop);
                scope.spawn(move || writer(base, token, &format!("w{n}"), stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        server.signal(libc::SIGTERM);
        // Writers keep going until the server stops answering.
        for writer in writers {
            acknowledged.extend(writer.join().unwrap());
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(server.wait_for_exit(Duration::from_secs(10)), Some(0));
    assert!(
        acknowledged.len() > 8,
        "too little load: {}",
        acknowledged.len()
    );

    let server = Binary::start(&db, &[], &[]);
    for (id, (title, priority)) in &acknowledged {
        let task = server
            .call("GET", &format!("/tasks/{id}"))
            .bearer(&token)
            .send();
        assert_eq!(task.status, 200, "acknowledged task {id} is gone");
        assert_eq!(&task.body["title"], title.as_str());
        let stored = task.body["priority"].as_i64().unwrap();
        assert!(
            stored == *priority || stored == priority + 1,
            "task {id}: {priority} vs {stored}"
        );
    }
    drop(server);
    assert_database_intact(&db);
}

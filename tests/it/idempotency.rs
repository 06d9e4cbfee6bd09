//! `Idempotency-Key`: a retried `POST` gets the first answer again and
//! creates nothing; a key reused for another request is a 422; a retry
//! while the first is still running is a 409; keys are per user; and the
//! key is committed with what it created, so a crash never leaves a key
//! that replays a write which is not there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Binary, Reply, Session, TestApp, call};

fn post(app: &TestApp, session: &Session, path: &str, key: &str, body: Value) -> Reply {
    app.post(path)
        .bearer(&session.token)
        .header("Idempotency-Key", key)
        .json(body)
}

fn count(app: &TestApp, session: &Session, path: &str) -> usize {
    let reply = app.get(path).bearer(&session.token).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body.as_array().expect("a list").len()
}

#[test]
fn a_retry_with_the_same_key_and_body_replays_the_first_answer_on_every_creating_route() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    app.register("nia");
    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));
    let project_id = project.body["id"].as_i64().unwrap();
    let routes = [
        ("/tasks", json!({"title": "Once"}), "/tasks"),
        ("/projects", json!({"name": "Once"}), "/projects"),
        (
            &format!("/projects/{project_id}/tasks") as &str,
            json!({"title": "Filed once"}),
            "/tasks",
        ),
        (
            &format!("/projects/{project_id}/members"),
            json!({"user": "nia", "role": "viewer"}),
            &format!("/projects/{project_id}/members"),
        ),
    ];
    for (index, (path, body, listed)) in routes.into_iter().enumerate() {
        let before = count(&app, &ann, listed);
        // A key per route: the same key on another path is another request.
        let key = format!("key-{index}");
        let first = post(&app, &ann, path, &key, body.clone());
        assert_eq!(first.status, 201, "{path}: {}", first.text);
        assert_eq!(first.header("Idempotent-Replayed"), None);
        for _ in 0..2 {
            let again = post(&app, &ann, path, &key, body.clone());
            assert_eq!(again.status, 201, "{path}: {}", again.text);
            assert_eq!(again.header("Idempotent-Replayed"), Some("true"), "{path}");
            assert_eq!(again.body, first.body, "{path}");
            for header in ["Location", "ETag", "Content-Type"] {
                assert_eq!(
                    again.header(header),
                    first.header(header),
                    "{path} {header}"
                );
            }
        }
        assert_eq!(count(&app, &ann, listed), before + 1, "{path} created once");
    }
}

#[test]
fn the_same_key_with_another_body_or_path_is_a_422_and_creates_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let first = post(&app, &ann, "/tasks", "k", json!({"title": "Milk"}));
    assert_eq!(first.status, 201, "{}", first.text);
    let other_body = post(&app, &ann, "/tasks", "k", json!({"title": "Bread"}));
    assert_eq!(other_body.invalid_fields(), ["Idempotency-Key"]);
    let other_path = post(&app, &ann, "/projects", "k", json!({"name": "Milk"}));
    assert_eq!(other_path.invalid_fields(), ["Idempotency-Key"]);
    assert_eq!(count(&app, &ann, "/tasks"), 1);
    assert_eq!(count(&app, &ann, "/projects"), 0);
}

#[test]
fn keys_are_per_user_so_the_same_key_creates_each_users_own() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let body = json!({"title": "Same"});
    let anns = post(&app, &ann, "/tasks", "shared-key", body.clone());
    let bobs = post(&app, &bob, "/tasks", "shared-key", body);
    assert_eq!((anns.status, bobs.status), (201, 201));
    assert_eq!(bobs.header("Idempotent-Replayed"), None);
    assert_ne!(anns.body["id"], bobs.body["id"]);
    assert_eq!(count(&app, &bob, "/tasks"), 1);
}

#[test]
fn a_failed_request_keeps_no_answer_so_its_retry_runs_again() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let body = json!({"title": "In a project", "project_id": 4242});
    let refused = post(&app, &ann, "/tasks", "k", body.clone());
    refused.assert_problem(404);
    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Real"}));
    let body = json!({"title": "In a project", "project_id": project.body["id"]});
    // A different body after a failure is a new request, not a mismatch.
    let created = post(&app, &ann, "/tasks", "k", body);
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("Idempotent-Replayed"), None);
}

#[test]
fn a_malformed_key_is_a_400_and_creates_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let longest = "k".repeat(255);
    for bad in ["", "has space", "quote\"inside", &"k".repeat(256)] {
        let reply = post(&app, &ann, "/tasks", bad, json!({"title": "x"}));
        reply.assert_problem(400);
    }
    assert_eq!(count(&app, &ann, "/tasks"), 0);
    let quoted = post(&app, &ann, "/tasks", "\"sf-string\"", json!({"title": "x"}));
    assert_eq!(quoted.status, 201, "{}", quoted.text);
    let bare = post(&app, &ann, "/tasks", "sf-string", json!({"title": "x"}));
    assert_eq!(
        bare.header("Idempotent-Replayed"),
        Some("true"),
        "the same key, quoted or not"
    );
    let long = post(&app, &ann, "/tasks", &longest, json!({"title": "x"}));
    assert_eq!(long.status, 201, "{}", long.text);
}

#[test]
fn a_retry_while_the_first_request_is_still_running_is_a_409() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    // The first request waits for a lock held from outside, as a slow
    // disk or a busy database would keep it.
    let release = app.db.block_task_writes(Duration::from_millis(1500));
    let first = {
        let (base, token) = (app.base.clone(), ann.token.clone());
        std::thread::spawn(move || {
            call(&base, "POST", "/tasks")
                .bearer(&token)
                .header("Idempotency-Key", "slow")
                .json(json!({"title": "Slow"}))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let retry = post(&app, &ann, "/tasks", "slow", json!({"title": "Slow"}));
    let problem = retry.assert_problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("still running"),
        "{}",
        retry.text
    );
    release.join().unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.status, 201, "{}", first.text);
    let after = post(&app, &ann, "/tasks", "slow", json!({"title": "Slow"}));
    assert_eq!(after.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(after.body["id"], first.body["id"]);
    assert_eq!(count(&app, &ann, "/tasks"), 1);
}

/// Creates tasks with a fresh key each, until the server stops answering:
/// key -> the task id acknowledged for it (`None` if no answer came).
fn keyed_writer(
    base: &str,
    token: &str,
    name: &str,
    stop: &AtomicBool,
) -> HashMap<String, Option<i64>> {
    let mut sent = HashMap::new();
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let key = format!("{name}-{round}");
        let reply = call(base, "POST", "/tasks")
            .bearer(token)
            .header("Idempotency-Key", &key)
            .try_json(json!({"title": key}));
        let id = reply
            .filter(|reply| reply.status == 201)
            .and_then(|reply| reply.body["id"].as_i64());
        let answered = id.is_some();
        sent.insert(key, id);
        if !answered {
            break;
        }
    }
    sent
}

#[test]
fn after_a_kill_every_key_replays_only_a_write_that_is_there() {
    // On SQLite in both suites, as the crash tests: the file and its
    // writer are what a SIGKILL can catch half-done.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taskapi.db");
    let mut sent: HashMap<String, Option<i64>> = HashMap::new();
    let token = {
        let server = Binary::start(&path, &[], &[]);
        let reply = server
            .call("POST", "/auth/register")
            .json(json!({"username": "ann", "password": "password-ann"}));
        reply.body["access_token"].as_str().unwrap().to_owned()
    };
    for round in 0..3 {
        let mut server = Binary::start(&path, &[], &[]);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|writer| {
                    let (base, token, stop) = (&server.base, &token, &stop);
                    scope.spawn(move || {
                        keyed_writer(base, token, &format!("r{round}w{writer}"), stop)
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(400 + 150 * round));
            server.signal(libc::SIGKILL);
            stop.store(true, Ordering::SeqCst);
            for writer in writers {
                sent.extend(writer.join().unwrap());
            }
        });
        server.wait_for_exit(Duration::from_secs(5));
    }
    let server = Binary::start(&path, &[], &[]);
    let mut unanswered = 0;
    for (key, acknowledged) in &sent {
        let retry = server
            .call("POST", "/tasks")
            .bearer(&token)
            .header("Idempotency-Key", key)
            .json(json!({"title": key}));
        assert_eq!(retry.status, 201, "{key}: {}", retry.text);
        let id = retry.body["id"].as_i64().unwrap();
        let task = server
            .call("GET", &format!("/tasks/{id}"))
            .bearer(&token)
            .send();
        assert_eq!(
            task.status, 200,
            "{key} replays task {id}, which must be there"
        );
        assert_eq!(task.body["title"], key.as_str());
        match acknowledged {
            Some(acknowledged) => {
                assert_eq!(retry.header("Idempotent-Replayed"), Some("true"), "{key}");
                assert_eq!(id, *acknowledged, "{key}");
            }
            None => unanswered += 1,
        }
    }
    // Each write of a key is there once, replayed or created by the retry;
    // and the change feed from the start shows each of them, once.
    let mut titles = Vec::new();
    for offset in (0..).step_by(500) {
        let page = server
            .call("GET", &format!("/tasks?limit=500&offset={offset}"))
            .bearer(&token)
            .send();
        let page = page.body.as_array().unwrap().clone();
        titles.extend(
            page.iter()
                .map(|task| task["title"].as_str().unwrap().to_owned()),
        );
        if page.len() < 500 {
            break;
        }
    }
    let mut distinct = titles.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), titles.len(), "no key created twice");
    assert_eq!(titles.len(), sent.len(), "one task per key");
    let mut in_feed = Vec::new();
    let mut cursor = "0.0".to_owned();
    loop {
        let page = server
            .call("GET", &format!("/changes?since={cursor}&limit=500"))
            .bearer(&token)
            .send();
        assert_eq!(page.status, 200, "{}", page.text);
        let entries = page.body["changes"].as_array().unwrap().clone();
        cursor = page.body["next"].as_str().unwrap().to_owned();
        in_feed.extend(
            entries
                .iter()
                .map(|entry| entry["data"]["title"].as_str().unwrap().to_owned()),
        );
        if entries.is_empty() {
            break;
        }
    }
    in_feed.sort_unstable();
    assert_eq!(
        in_feed, distinct,
        "the feed shows exactly the writes that are there"
    );
    assert!(
        sent.len() > unanswered,
        "the load acknowledged something ({} keys)",
        sent.len()
    );
}

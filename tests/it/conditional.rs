//! ETags and conditional requests: a `GET` the client already has is a
//! 304; a write with a stale `If-Match` is a 412 that changes nothing; and
//! of two writers racing with the same `If-Match`, exactly one wins.

use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp, call};

/// ann's task and project (the task in no project), and the ETags a GET
/// gives them.
struct Fixture {
    app: TestApp,
    ann: Session,
    task: String,
    project: String,
}

fn fixture() -> Fixture {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Water plants", "tags": ["home"]}));
    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Garden"}));
    assert_eq!(project.status, 201, "{}", project.text);
    Fixture {
        task: format!("/tasks/{}", task["id"]),
        project: format!("/projects/{}", project.body["id"]),
        app,
        ann,
    }
}

impl Fixture {
    fn get(&self, path: &str) -> Reply {
        let reply = self.app.get(path).bearer(&self.ann.token).send();
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
    }

    fn etag(&self, path: &str) -> String {
        etag(&self.get(path))
    }
}

#[track_caller]
fn etag(reply: &Reply) -> String {
    let etag = reply.header("ETag").expect("an ETag").to_owned();
    assert!(
        etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
        "a strong, quoted ETag: {etag}"
    );
    etag
}

/// The write routes an `If-Match` guards, with a body for each.
fn writes(fixture: &Fixture) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("PUT", fixture.task.clone(), Some(json!({"title": "Put"}))),
        (
            "PATCH",
            fixture.task.clone(),
            Some(json!({"title": "Patched"})),
        ),
        ("DELETE", fixture.task.clone(), None),
        ("PUT", fixture.project.clone(), Some(json!({"name": "Put"}))),
        (
            "PATCH",
            fixture.project.clone(),
            Some(json!({"name": "Patched"})),
        ),
        ("DELETE", fixture.project.clone(), None),
    ]
}

fn send(
    app: &TestApp,
    session: &Session,
    method: &str,
    path: &str,
    body: Option<&Value>,
    if_match: &str,
) -> Reply {
    let request = app
        .call(method, path)
        .bearer(&session.token)
        .header("If-Match", if_match);
    match body {
        Some(body) => request.json(body.clone()),
        None => request.send(),
    }
}

#[test]
fn a_get_carries_an_etag_and_if_none_match_with_it_is_a_304_without_a_body() {
    let fixture = fixture();
    for path in [&fixture.task, &fixture.project] {
        let first = fixture.get(path);
        let tag = etag(&first);
        assert_eq!(first.header("Cache-Control"), Some("private, no-cache"));
        for (method, if_none_match) in [
            ("GET", tag.clone()),
            ("HEAD", tag.clone()),
            ("GET", format!("W/{tag}")),
            ("GET", format!("\"other\", {tag}")),
            ("GET", "*".to_owned()),
        ] {
            let reply = fixture
                .app
                .call(method, path)
                .bearer(&fixture.ann.token)
                .header("If-None-Match", &if_none_match)
                .send();
            assert_eq!(
                reply.status, 304,
                "{method} {path} If-None-Match: {if_none_match}"
            );
            assert_eq!(reply.text, "", "a 304 has no body");
            assert_eq!(reply.header("ETag"), Some(tag.as_str()));
            assert_eq!(reply.header("Cache-Control"), Some("private, no-cache"));
        }
        // Another tag, or a malformed header: the full answer.
        for if_none_match in ["\"other\"", "not-a-tag"] {
            let reply = fixture
                .app
                .get(path)
                .bearer(&fixture.ann.token)
                .header("If-None-Match", if_none_match)
                .send();
            assert_eq!(reply.status, 200, "If-None-Match: {if_none_match}");
            assert_eq!(reply.body, first.body);
        }
    }
}

#[test]
fn the_etag_of_a_write_is_the_one_the_next_get_gives() {
    let fixture = fixture();
    let app = &fixture.app;
    let created = app
        .post("/tasks")
        .bearer(&fixture.ann.token)
        .json(json!({"title": "New"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let path = created.header("Location").unwrap().to_owned();
    assert_eq!(etag(&created), fixture.etag(&path));

    let patched = app
        .patch(&path)
        .bearer(&fixture.ann.token)
        .json(json!({"priority": 2}));
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(etag(&patched), fixture.etag(&path));

    let project = app
        .post("/projects")
        .bearer(&fixture.ann.token)
        .json(json!({"name": "Shed"}));
    assert_eq!(project.status, 201, "{}", project.text);
    let project_path = project.header("Location").unwrap().to_owned();
    assert_eq!(etag(&project), fixture.etag(&project_path));
}

#[test]
fn every_write_gives_a_new_version_and_etag_even_one_that_sets_the_same_values() {
    let fixture = fixture();
    for (path, body) in [
        (&fixture.task, json!({"title": "Water plants"})),
        (&fixture.project, json!({"name": "Garden"})),
    ] {
        let before = fixture.get(path);
        let after = fixture
            .app
            .patch(path)
            .bearer(&fixture.ann.token)
            .json(body);
        assert_eq!(after.status, 200, "{}", after.text);
        assert_eq!(
            after.body["version"],
            before.body["version"].as_i64().unwrap() + 1
        );
        assert_ne!(etag(&after), etag(&before), "{path}");
    }
}

#[test]
fn a_projects_etag_follows_everything_it_shows_its_task_count_included() {
    let fixture = fixture();
    let before = fixture.etag(&fixture.project);
    let project_id: i64 = fixture.project.rsplit('/').next().unwrap().parse().unwrap();
    fixture.app.create_task(
        &fixture.ann,
        json!({"title": "Dig", "project_id": project_id}),
    );
    let after = fixture.get(&fixture.project);
    assert_eq!(after.body["task_count"], 1);
    assert_eq!(
        after.body["version"], 1,
        "the project itself was not written"
    );
    assert_ne!(etag(&after), before);
}

#[test]
fn a_stale_if_match_is_a_412_naming_the_current_etag_and_every_write_route_changes_nothing() {
    let fixture = fixture();
    for (method, path, body) in writes(&fixture) {
        let before = fixture.get(&path);
        let current = etag(&before);
        for stale in [
            "\"0123456789abcdef0123456789abcdef\"",
            &format!("W/{current}"),
        ] {
            let reply = send(
                &fixture.app,
                &fixture.ann,
                method,
                &path,
                body.as_ref(),
                stale,
            );
            let problem = reply.assert_problem(412);
            assert!(
                problem["detail"].as_str().unwrap().contains("If-Match"),
                "{}",
                reply.text
            );
            assert_eq!(
                reply.header("ETag"),
                Some(current.as_str()),
                "{method} {path}"
            );
            assert_eq!(
                fixture.get(&path).body,
                before.body,
                "{method} {path} changed it"
            );
        }
    }
}

#[test]
fn if_match_with_the_current_etag_a_list_holding_it_or_a_star_lets_each_write_through() {
    for (index, expected) in [200, 200, 204, 200, 200, 204].into_iter().enumerate() {
        for form in ["current", "list", "star"] {
            let fixture = fixture();
            let (method, path, body) = writes(&fixture).swap_remove(index);
            let current = fixture.etag(&path);
            let if_match = match form {
                "current" => current.clone(),
                "list" => format!("\"stale\", {current}"),
                _ => "*".to_owned(),
            };
            let reply = send(
                &fixture.app,
                &fixture.ann,
                method,
                &path,
                body.as_ref(),
                &if_match,
            );
            assert_eq!(
                reply.status, expected,
                "{method} {path} If-Match: {if_match}: {}",
                reply.text
            );
            if expected == 200 {
                assert_ne!(etag(&reply), current, "the write made a new version");
            }
        }
    }
}

#[test]
fn if_match_on_a_deleted_or_unseen_object_is_the_404_it_would_be_without_it() {
    // RFC 9110 §13.2.1: a failure found before the precondition is
    // evaluated takes precedence, and a task one may not see is a 404.
    let fixture = fixture();
    let deleted = fixture
        .app
        .delete(&fixture.task)
        .bearer(&fixture.ann.token)
        .send();
    assert_eq!(deleted.status, 204);
    for method in ["PUT", "PATCH", "DELETE"] {
        let body = (method != "DELETE").then(|| json!({"title": "Back"}));
        let reply = send(
            &fixture.app,
            &fixture.ann,
            method,
            &fixture.task,
            body.as_ref(),
            "*",
        );
        reply.assert_problem(404);
    }
    let bob = fixture.app.register("bob");
    let reply = send(&fixture.app, &bob, "DELETE", &fixture.project, None, "*");
    reply.assert_problem(404);
    assert_eq!(fixture.get(&fixture.project).status, 200);
}

#[test]
fn a_viewer_with_the_right_if_match_is_still_refused_with_a_403() {
    let fixture = fixture();
    let app = &fixture.app;
    let vic = app.register("vic");
    let added = app
        .post(&format!("{}/members", fixture.project))
        .bearer(&fixture.ann.token)
        .json(json!({"user": "vic", "role": "viewer"}));
    assert_eq!(added.status, 201, "{}", added.text);
    let project_id: i64 = fixture.project.rsplit('/').next().unwrap().parse().unwrap();
    let task = app.create_task(
        &fixture.ann,
        json!({"title": "Shared", "project_id": project_id}),
    );
    let path = format!("/tasks/{}", task["id"]);
    let current = etag(&app.get(&path).bearer(&vic.token).send());
    let reply = send(
        app,
        &vic,
        "PATCH",
        &path,
        Some(&json!({"title": "Mine"})),
        &current,
    );
    reply.assert_problem(403);
    let reply = send(
        app,
        &vic,
        "PATCH",
        &fixture.project,
        Some(&json!({"name": "Mine"})),
        "*",
    );
    reply.assert_problem(403);
}

#[test]
fn a_malformed_if_match_is_a_400_and_changes_nothing() {
    let fixture = fixture();
    for (method, path, body) in writes(&fixture) {
        let before = fixture.get(&path);
        for bad in ["abc", "\"unterminated", "W/", "\"a\" \"b\""] {
            let reply = send(
                &fixture.app,
                &fixture.ann,
                method,
                &path,
                body.as_ref(),
                bad,
            );
            reply.assert_problem(400);
        }
        assert_eq!(fixture.get(&path).body, before.body);
    }
}

/// Sends `method` with the same `If-Match` from `writers` threads at once
/// and returns their statuses.
fn race(fixture: &Fixture, method: &str, path: &str, if_match: &str, writers: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|writer| {
            let (base, token) = (fixture.app.base.clone(), fixture.ann.token.clone());
            let (method, path, if_match) =
                (method.to_owned(), path.to_owned(), if_match.to_owned());
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let request = call(&base, &method, &path)
                    .bearer(&token)
                    .header("If-Match", &if_match);
                barrier.wait();
                if method == "DELETE" {
                    request.send().status
                } else {
                    request
                        .json(json!({"title": format!("writer {writer}")}))
                        .status
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect()
}

#[test]
fn of_writers_racing_with_the_same_if_match_exactly_one_wins() {
    let fixture = fixture();
    for round in 0..5 {
        let current = fixture.etag(&fixture.task);
        let mut statuses = race(&fixture, "PATCH", &fixture.task, &current, 8);
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 412, 412, 412, 412, 412, 412, 412],
            "round {round}"
        );
        let after = fixture.get(&fixture.task);
        assert_eq!(after.body["version"], round + 2);
    }
    let current = fixture.etag(&fixture.task);
    let statuses = race(&fixture, "DELETE", &fixture.task, &current, 8);
    assert_eq!(
        statuses.iter().filter(|status| **status == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| [204, 404, 412].contains(status)),
        "the losers find it changed or gone: {statuses:?}"
    );
}

#[test]
fn the_documentation_is_public_and_revalidated_by_its_own_etag() {
    let app = TestApp::spawn();
    for path in ["/openapi.json", "/docs"] {
        let first = app.get(path).send();
        assert_eq!(first.status, 200);
        assert_eq!(first.header("Cache-Control"), Some("public, no-cache"));
        let tag = etag(&first);
        let again = app.get(path).header("If-None-Match", &tag).send();
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(again.text, "");
    }
}

#[test]
fn if_none_match_on_a_write_is_a_precondition_that_a_matching_tag_fails() {
    let fixture = fixture();
    for (method, path, body) in writes(&fixture) {
        let before = fixture.get(&path);
        let current = etag(&before);
        for matching in ["*".to_owned(), current.clone(), format!("W/{current}")] {
            let mut request = fixture
                .app
                .call(method, &path)
                .bearer(&fixture.ann.token)
                .header("If-None-Match", &matching);
            if let Some(body) = &body {
                request = request.header("Content-Type", "application/json");
                let reply = request.body_bytes(None, body.to_string().into_bytes());
                reply.assert_problem(412);
            } else {
                request.send().assert_problem(412);
            }
            assert_eq!(
                fixture.get(&path).body,
                before.body,
                "{method} {path} changed it"
            );
        }
    }
}

#[test]
fn a_tag_with_a_comma_inside_is_a_tag_and_gets_its_412() {
    let fixture = fixture();
    let body = json!({"title": "x"});
    let reply = send(
        &fixture.app,
        &fixture.ann,
        "PATCH",
        &fixture.task,
        Some(&body),
        "\"a,b\", W/\"c,d\"",
    );
    reply.assert_problem(412);
}

#[test]
fn an_empty_patch_writes_nothing_on_a_task_or_a_project() {
    let fixture = fixture();
    for path in [&fixture.task, &fixture.project] {
        let before = fixture.get(path);
        let reply = fixture
            .app
            .patch(path)
            .bearer(&fixture.ann.token)
            .json(json!({}));
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body, before.body, "{path}");
        assert_eq!(etag(&reply), etag(&before));
    }
}

#[test]
fn an_empty_if_match_names_no_tag_so_it_fails_and_an_empty_if_none_match_holds() {
    // `#entity-tag` allows an empty list (RFC 9110 §5.6.1).
    let fixture = fixture();
    let before = fixture.get(&fixture.task);
    let body = json!({"title": "x"});
    let refused = send(
        &fixture.app,
        &fixture.ann,
        "PATCH",
        &fixture.task,
        Some(&body),
        "",
    );
    refused.assert_problem(412);
    assert_eq!(fixture.get(&fixture.task).body, before.body);
    let allowed = fixture
        .app
        .patch(&fixture.task)
        .bearer(&fixture.ann.token)
        .header("If-None-Match", "")
        .json(body);
    assert_eq!(allowed.status, 200, "{}", allowed.text);
}

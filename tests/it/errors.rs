//! Bad input over real HTTP: bodies that are not JSON objects, bodies too
//! big or in the wrong media type, malformed paths and query strings. Each
//! must get its exact status and an RFC 9457 problem body, change nothing,
//! and leave the server answering the next request.
//!
//! Token failures (401) are tested in `tokens.rs`.

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp};

// Bodies that are not a JSON object: 400.

#[test]
fn an_invalid_json_body_returns_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));

    for (method, path) in body_routes(&task) {
        let reply = app
            .call(method, &path)
            .bearer(&ann.token)
            .body_bytes(Some("application/json"), br#"{"title": "Unclosed"#.to_vec());
        reply.assert_problem(400);
    }
    assert_tasks_are(&app, &ann, &[task]);
}

#[test]
fn a_json_array_body_returns_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));

    for (method, path) in body_routes(&task) {
        let reply = app
            .call(method, &path)
            .bearer(&ann.token)
            .json(json!([{"title": "In an array"}]));
        reply.assert_problem(400);
    }
    assert_tasks_are(&app, &ann, &[task]);
}

#[test]
fn an_empty_body_returns_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));

    for (method, path) in body_routes(&task) {
        let declared_json = app
            .call(method, &path)
            .bearer(&ann.token)
            .body_bytes(Some("application/json"), Vec::new());
        declared_json.assert_problem(400);

        // Without a Content-Type the body is still read as JSON, and
        // nothing is not JSON.
        let undeclared = app.call(method, &path).bearer(&ann.token).send();
        undeclared.assert_problem(400);
    }
    assert_tasks_are(&app, &ann, &[task]);
}

// JSON objects with bad fields: 422.

#[test]
fn wrong_field_types_return_422_naming_each_field() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));
    let body = json!({
        "title": 5,
        "description": true,
        "due_date": 20_250_101,
        "completed": "yes",
        "priority": "high",
    });

    for (method, path) in body_routes(&task) {
        let reply = app
            .call(method, &path)
            .bearer(&ann.token)
            .json(body.clone());
        reply.assert_problem(422);
        assert_eq!(
            reply.invalid_fields(),
            ["completed", "description", "due_date", "priority", "title"],
            "{method} {path}"
        );
    }
    assert_tasks_are(&app, &ann, &[task]);
}

#[test]
fn an_unknown_field_returns_422_naming_it() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));

    for (method, path) in body_routes(&task) {
        let reply = app
            .call(method, &path)
            .bearer(&ann.token)
            .json(json!({"title": "Typo", "titel": "Typo"}));
        reply.assert_problem(422);
        assert_eq!(reply.invalid_fields(), ["titel"], "{method} {path}");
    }
    assert_tasks_are(&app, &ann, &[task]);
}

// Bodies the server will not read: 413 and 415.

#[test]
fn a_body_over_the_size_limit_returns_413() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    // A well-formed task of 2 MiB: only its size is wrong.
    let body = json!({"title": "Huge", "description": "x".repeat(2 * 1024 * 1024)})
        .to_string()
        .into_bytes();
    assert!(body.len() > 2 * 1024 * 1024);

    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .body_bytes(Some("application/json"), body);

    reply.assert_problem(413);
    assert_tasks_are(&app, &ann, &[]);
}

#[test]
fn a_form_body_returns_415() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app.post("/tasks").bearer(&ann.token).form("title=x");

    reply.assert_problem(415);
    assert_tasks_are(&app, &ann, &[]);
}

#[test]
fn a_text_plain_body_returns_415() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Existing"}));

    // The body is valid JSON: the declared media type alone is refused.
    for (method, path) in body_routes(&task) {
        let reply = app.call(method, &path).bearer(&ann.token).body_bytes(
            Some("text/plain"),
            json!({"title": "Plain"}).to_string().into_bytes(),
        );
        reply.assert_problem(415);
    }
    assert_tasks_are(&app, &ann, &[task]);
}

// Paths and query strings.

#[test]
fn a_malformed_task_id_in_the_path_returns_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for id in ["abc", "-1", "0", "99999999999999999999"] {
        for path in [format!("/tasks/{id}"), format!("/api/v1/tasks/{id}")] {
            app.get(&path).bearer(&ann.token).send().assert_problem(400);
            app.put(&path)
                .bearer(&ann.token)
                .json(json!({"title": "Valid"}))
                .assert_problem(400);
            app.patch(&path)
                .bearer(&ann.token)
                .json(json!({"title": "Valid"}))
                .assert_problem(400);
            app.delete(&path)
                .bearer(&ann.token)
                .send()
                .assert_problem(400);
        }
    }
    assert_tasks_are(&app, &ann, &[]);
}

#[test]
fn an_unknown_route_returns_404() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for path in ["/nope", "/tasks/1/comments", "/api/v2/tasks"] {
        let reply = app.get(path).bearer(&ann.token).send();
        reply.assert_problem(404);
        assert_eq!(reply.body["title"], "Not Found");
    }
}

#[test]
fn deleting_the_task_collection_returns_405_with_an_allow_header() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Survivor"}));

    let reply = app.delete("/tasks").bearer(&ann.token).send();

    reply.assert_problem(405);
    let allowed = allowed_methods(&reply);
    assert!(allowed.contains(&"GET".to_owned()), "{allowed:?}");
    assert!(allowed.contains(&"POST".to_owned()), "{allowed:?}");
    assert!(!allowed.contains(&"DELETE".to_owned()), "{allowed:?}");
    assert_tasks_are(&app, &ann, &[task]);
}

#[test]
fn an_unknown_query_parameter_returns_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    app.create_task(&ann, json!({"title": "Open", "completed": false}));

    // A typo must not silently return the unfiltered list.
    let reply = app.get("/tasks?completd=true").bearer(&ann.token).send();

    let problem = reply.assert_problem(400);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("completd")),
        "{}",
        reply.text
    );
}

// Recovery.

#[test]
fn after_a_run_of_bad_requests_the_server_still_answers_and_nothing_was_created() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let token = ann.token.as_str();
    let huge = json!({"title": "Huge", "description": "x".repeat(2 * 1024 * 1024)})
        .to_string()
        .into_bytes();

    let bad: Vec<(u16, Reply)> = vec![
        (
            400,
            app.post("/tasks")
                .bearer(token)
                .body_bytes(Some("application/json"), b"{not json".to_vec()),
        ),
        (400, app.post("/tasks").bearer(token).json(json!(["title"]))),
        (
            400,
            app.post("/tasks")
                .bearer(token)
                .body_bytes(Some("application/json"), Vec::new()),
        ),
        (
            422,
            app.post("/tasks").bearer(token).json(json!({"title": 1})),
        ),
        (
            422,
            app.post("/tasks")
                .bearer(token)
                .json(json!({"title": "x", "colour": "red"})),
        ),
        (
            413,
            app.post("/tasks")
                .bearer(token)
                .body_bytes(Some("application/json"), huge),
        ),
        (415, app.post("/tasks").bearer(token).form("title=x")),
        (
            415,
            app.post("/tasks")
                .bearer(token)
                .body_bytes(Some("text/plain"), b"title=x".to_vec()),
        ),
        (400, app.get("/tasks/abc").bearer(token).send()),
        (400, app.get("/tasks/-1").bearer(token).send()),
        (400, app.get("/tasks/0").bearer(token).send()),
        (
            400,
            app.get("/tasks/99999999999999999999").bearer(token).send(),
        ),
        (404, app.get("/nope").bearer(token).send()),
        (405, app.delete("/tasks").bearer(token).send()),
        (400, app.get("/tasks?completd=true").bearer(token).send()),
    ];
    for (status, reply) in &bad {
        reply.assert_problem(*status);
    }

    assert_tasks_are(&app, &ann, &[]);
    let created = app
        .post("/tasks")
        .bearer(token)
        .json(json!({"title": "Still works"}));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_tasks_are(&app, &ann, &[created.body]);
}

// Helpers.

/// The routes that read a task body: create, and replace and patch `task`.
fn body_routes(task: &Value) -> [(&'static str, String); 3] {
    let path = format!("/tasks/{}", task["id"].as_i64().expect("an integer id"));
    [
        ("POST", "/tasks".to_owned()),
        ("PUT", path.clone()),
        ("PATCH", path),
    ]
}

/// Asserts that `session`'s task list is exactly `tasks`, field for field.
#[track_caller]
fn assert_tasks_are(app: &TestApp, session: &Session, tasks: &[Value]) {
    let listed = app.get("/tasks").bearer(&session.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, Value::Array(tasks.to_vec()));
}

/// The methods of a 405's `Allow` header (RFC 9110 §10.2.1), in order.
#[track_caller]
fn allowed_methods(reply: &Reply) -> Vec<String> {
    let allow = reply
        .header("Allow")
        .expect("a 405 carries an Allow header");
    allow
        .split(',')
        .map(|method| method.trim().to_owned())
        .collect()
}

#[test]
fn a_nul_character_in_a_string_or_a_search_is_refused_and_stores_nothing() {
    // PostgreSQL cannot store NUL in text, and SQLite should not differ.
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "before\u{0}after"}));
    assert_eq!(reply.invalid_fields(), ["title"]);
    app.get("/tasks?q=a%00b")
        .bearer(&ann.token)
        .send()
        .assert_problem(400);
    let login = app
        .post("/auth/login")
        .form("username=ann%00&password=password-ann");
    login.assert_problem(401);
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([]));
}

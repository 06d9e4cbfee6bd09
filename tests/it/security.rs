//! Security checks as tests, after the OWASP API Security Top 10 (2023):
//! broken object level authorization (API1), broken authentication (API2),
//! mass assignment (API3, property level authorization), resource limits
//! (API4), function level authorization (API5) and security
//! misconfiguration (API8: what error bodies and headers give away).
//!
//! Several tests are driven by the route table itself, `router::ROUTES`:
//! [`owner_call`] knows how the owner of a route's object calls it
//! successfully, and [`Owner::id_for`] which of the owner's objects an
//! `{id}` names. Both panic on a route they do not know, so a new route
//! fails these tests until someone decides how to attack it, and coverage
//! cannot shrink without anyone noticing.
//!
//! Much of the neighbouring ground is covered per resource elsewhere
//! (`tasks.rs`, `projects.rs`, `accounts.rs`, `tokens.rs`, `errors.rs`,
//! `lists.rs`); the tests here add what those do not check.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use jwt_simple::prelude::{Claims, HS256Key, HS384Key, HS512Key, MACLike};
use serde_json::{Value, json};
use taskapi::http::MAX_BODY_BYTES;
use taskapi::router::{ROUTES, Route};

use crate::support::{Call, Reply, Session, TEST_SECRET, TestApp, password_of};

/// An id no test creates: the "does not exist" side of an isolation check.
const MISSING_ID: i64 = 987_654;

// Object level authorization (API1): every `{id}` route, every list.

#[test]
fn every_id_route_answers_another_users_id_with_404_and_changes_nothing() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let bob = Owner::new(&app, "bob");
    let anns_view = everything_seen_by(&app, &ann);
    let database = database_rows(&app);

    let id_routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|route| route.pattern.contains("{id}"))
        .collect();
    assert!(
        !id_routes.is_empty(),
        "the route table has no {{id}} routes"
    );
    for route in id_routes {
        let method = route.method.as_str();
        let anns_id = ann.id_for(route);
        let theirs = ann.path_for(route);
        let missing = ann.path_with_id(route, MISSING_ID);
        // A body Bob could send to his own object, so that only ownership
        // can refuse it.
        let (body, _) = owner_call(route, &bob);
        let label = format!("Bob's {method} {theirs}");

        for prefix in ["", "/api/v1"] {
            let call = |path: &str| {
                let call = app
                    .call(method, &format!("{prefix}{path}"))
                    .bearer(&bob.session.token);
                send(call, body.as_ref())
            };
            let reply = call(&theirs);
            let absent = call(&missing);
            assert_same_404_as_missing(&reply, anns_id, &absent, &format!("{label} ({prefix})"));
        }
        if method == "GET" {
            let head = app.call("HEAD", &theirs).bearer(&bob.session.token).send();
            assert_eq!(head.status, 404, "HEAD {theirs} as Bob");
        }
        // With Bob's API key: the same 404, or the 403 of the routes no API
        // key may use at all (accounts.rs checks which those are).
        let with_key = send(
            app.call(method, &theirs).header("X-API-Key", &bob.key),
            body.as_ref(),
        );
        assert!(
            matches!(with_key.status, 403 | 404),
            "{label} with his API key: {} {}",
            with_key.status,
            with_key.text
        );
        with_key.assert_problem(with_key.status);

        assert_eq!(
            everything_seen_by(&app, &ann),
            anns_view,
            "Ann's objects changed after {label}"
        );
        assert_eq!(
            database_rows(&app),
            database,
            "the database changed after {label}"
        );
    }
    // Ann's key was never revoked.
    let me = app.get("/auth/me").header("X-API-Key", &ann.key).send();
    assert_eq!(me.body["username"], "ann", "{}", me.text);
}

#[test]
fn no_list_or_filter_shows_or_counts_another_users_rows() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    app.create_task(
        &ann.session,
        json!({"title": "ann overdue", "due_date": "2001-01-01", "priority": 99,
               "description": "ann secret", "project_id": ann.project_id}),
    );
    let bob = Owner::new(&app, "bob");
    let bob_overdue = app.create_task(
        &bob.session,
        json!({"title": "bob overdue", "due_date": "2001-01-01", "priority": 1}),
    );
    let bobs_tasks = [bob.task_id, bob.loose_task_id, id_of(&bob_overdue)];

    let task_lists = [
        "/tasks".to_owned(),
        "/tasks?limit=500".to_owned(),
        "/tasks?completed=true".to_owned(),
        "/tasks?completed=false".to_owned(),
        "/tasks?overdue=true".to_owned(),
        "/tasks?overdue=false".to_owned(),
        "/tasks?due_before=2100-01-01".to_owned(),
        "/tasks?due_after=1990-01-01".to_owned(),
        "/tasks?project_id=none".to_owned(),
        format!("/tasks?project_id={}", ann.project_id),
        "/tasks?q=ann".to_owned(),
        "/tasks?q=secret".to_owned(),
        "/tasks?sort=-priority,due_date".to_owned(),
        "/tasks?sort=-created_at&offset=0&limit=1".to_owned(),
        format!("/projects/{}/tasks", bob.project_id),
        format!("/projects/{}/tasks?overdue=false&q=task", bob.project_id),
    ];
    let project_lists = ["/projects", "/projects?q=ann", "/projects?sort=-name"];
    let mut rows_seen = 0;
    let bobs_projects = [bob.project_id];
    for (paths, bobs) in [
        (
            task_lists.iter().map(String::as_str).collect::<Vec<_>>(),
            &bobs_tasks[..],
        ),
        (project_lists.to_vec(), &bobs_projects[..]),
    ] {
        for path in paths {
            let reply = app.get(path).bearer(&bob.session.token).send();
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            let ids = ids_in(&reply.body);
            assert!(
                ids.iter().all(|id| bobs.contains(id)),
                "{path} shows Bob rows that are not his: {}",
                reply.text
            );
            assert!(!reply.text.contains("ann"), "{path}: {}", reply.text);
            // Every row Bob owns fits on one page, so the total is what he
            // sees (all his rows, on the one-row page) unless the count
            // includes rows of others.
            let total = reply.header("X-Total-Count").unwrap_or_default();
            let expected = if path.ends_with("limit=1") {
                bobs.len()
            } else {
                ids.len()
            };
            assert_eq!(total, expected.to_string(), "{path}: X-Total-Count");
            rows_seen += ids.len();
        }
    }
    // The filters above are not all empty for Bob: his rows do show.
    assert!(
        rows_seen > task_lists.len(),
        "Bob saw only {rows_seen} rows"
    );

    let keys = app.get("/auth/api-keys").bearer(&bob.session.token).send();
    assert_eq!(ids_in(&keys.body), [bob.key_id], "{}", keys.text);
}

#[test]
fn a_task_cannot_be_filed_under_another_users_project_by_any_route() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let bob = Owner::new(&app, "bob");
    let database = database_rows(&app);
    let anns = ann.project_id;
    let bobs_task = format!("/tasks/{}", bob.task_id);

    // Naming Ann's project in the path and the body alike: her project is
    // not found, as if it did not exist.
    let both = app
        .post(&format!("/projects/{anns}/tasks"))
        .bearer(&bob.session.token)
        .json(json!({"title": "Planted", "project_id": anns}));
    assert_eq!(
        both.assert_problem(404)["detail"],
        format!("project {anns} not found")
    );
    // Bob's project in the path, Ann's in the body: the body disagrees.
    let mismatch = app
        .post(&format!("/projects/{}/tasks", bob.project_id))
        .bearer(&bob.session.token)
        .json(json!({"title": "Planted", "project_id": anns}));
    assert_eq!(mismatch.invalid_fields(), ["project_id"]);
    // With an API key instead of a token, on every route that sets a
    // project: the same 404 naming Ann's project.
    let with_key = [
        app.post("/tasks")
            .header("X-API-Key", &bob.key)
            .json(json!({"title": "Planted", "project_id": anns})),
        app.put(&bobs_task)
            .header("X-API-Key", &bob.key)
            .json(json!({"title": "Moved", "project_id": anns})),
        // Other fields in the same patch must not be applied either.
        app.patch(&bobs_task)
            .header("X-API-Key", &bob.key)
            .json(json!({"title": "Moved", "priority": 7, "project_id": anns})),
    ];
    for reply in with_key {
        let problem = reply.assert_problem(404);
        assert_eq!(problem["detail"], format!("project {anns} not found"));
    }

    assert_eq!(database_rows(&app), database);
}

// Mass assignment (API3): fields a client must not set.

/// Fields that would decide whose a row is or what an account may do, were
/// any route to accept them.
const PRIVILEGED_FIELDS: &[&str] = &[
    "owner_id",
    "user_id",
    "owner",
    "token_generation",
    "password_hash",
    "is_admin",
    "role",
];

#[test]
fn every_json_route_refuses_ownership_and_privilege_fields_and_writes_nothing() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let bob = Owner::new(&app, "bob");
    let database = database_rows(&app);

    let mut checked = 0;
    for route in ROUTES {
        let (Some(body), _) = owner_call(route, &ann) else {
            continue;
        };
        let method = route.method.as_str();
        let path = ann.path_for(route);
        for field in PRIVILEGED_FIELDS {
            // A project shows the caller's `role`, ignored on input like its
            // other read-only fields; a member's `user_id` is read-only too.
            let pattern = canonical(route);
            let read_only = (*field == "role"
                && pattern.starts_with("/projects")
                && !pattern.contains("/members"))
                || (*field == "user_id" && pattern.contains("/members"));
            if read_only {
                continue;
            }
            let mut body = body.clone();
            body[*field] = json!(bob.session.user_id);
            let reply = app
                .call(method, &path)
                .bearer(&ann.session.token)
                .json(body);
            assert_eq!(
                reply.invalid_fields(),
                [*field],
                "{method} {path} with {field}"
            );
        }
        assert_eq!(
            database_rows(&app),
            database,
            "{method} {path} wrote something"
        );
        checked += 1;
    }
    // Register, its alias, the three logins, password, account deletion,
    // keys, and the task and project writes.
    assert!(checked >= 15, "only {checked} routes take a JSON body");
}

#[test]
fn read_only_fields_are_ignored_on_task_and_project_creates_and_patches() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let stamped = json!({
        "id": MISSING_ID,
        "created_at": "1999-01-01T00:00:00Z",
        "updated_at": "1999-01-01T00:00:00Z",
    });
    let with = |body: Value| -> Value {
        let mut body = body;
        for (name, value) in stamped.as_object().unwrap() {
            body[name] = value.clone();
        }
        body
    };
    let original_task = app
        .get(&format!("/tasks/{}", ann.task_id))
        .bearer(&ann.session.token)
        .send()
        .body;
    let original_project = app
        .get(&format!("/projects/{}", ann.project_id))
        .bearer(&ann.session.token)
        .send()
        .body;

    let writes = [
        (
            "POST /tasks",
            None,
            app.post("/tasks")
                .bearer(&ann.session.token)
                .json(with(json!({"title": "New"}))),
        ),
        (
            "POST /projects/{id}/tasks",
            None,
            app.post(&format!("/projects/{}/tasks", ann.project_id))
                .bearer(&ann.session.token)
                .json(with(json!({"title": "Filed"}))),
        ),
        (
            "PATCH /tasks/{id}",
            Some(&original_task),
            app.patch(&format!("/tasks/{}", ann.task_id))
                .bearer(&ann.session.token)
                .json(with(json!({"title": "Patched"}))),
        ),
        (
            "POST /projects",
            None,
            app.post("/projects")
                .bearer(&ann.session.token)
                .json(with(json!({"name": "New", "task_count": 42}))),
        ),
        (
            "PATCH /projects/{id}",
            Some(&original_project),
            app.patch(&format!("/projects/{}", ann.project_id))
                .bearer(&ann.session.token)
                .json(with(json!({"name": "Patched", "task_count": 42}))),
        ),
    ];
    for (what, original, reply) in writes {
        assert!(matches!(reply.status, 200 | 201), "{what}: {}", reply.text);
        let written = &reply.body;
        assert_ne!(written["id"], MISSING_ID, "{what}");
        assert_ne!(written["created_at"], "1999-01-01T00:00:00Z", "{what}");
        assert_ne!(written["updated_at"], "1999-01-01T00:00:00Z", "{what}");
        if let Some(original) = original {
            assert_eq!(written["id"], original["id"], "{what}");
            assert_eq!(written["created_at"], original["created_at"], "{what}");
        }
        if written.get("task_count").is_some() {
            assert_ne!(written["task_count"], 42, "{what}");
        }
    }
    for path in [
        format!("/tasks/{MISSING_ID}"),
        format!("/projects/{MISSING_ID}"),
    ] {
        let reply = app.get(&path).bearer(&ann.session.token).send();
        reply.assert_problem(404);
    }
}

#[test]
fn a_client_cannot_choose_its_user_id_or_the_secret_of_its_api_key() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let database = database_rows(&app);

    for (field, value) in [
        ("id", json!(ann.user_id)),
        ("created_at", json!("1999-01-01T00:00:00Z")),
    ] {
        let mut body = json!({"username": "carol", "password": password_of("carol")});
        body[field] = value;
        let reply = app.post("/auth/register").json(body);
        assert_eq!(reply.invalid_fields(), [field]);
    }
    let chosen = format!("tk_{}", "0".repeat(64));
    for (field, value) in [
        ("key", json!(chosen)),
        ("prefix", json!("tk_00000000")),
        ("id", json!(1)),
        ("created_at", json!("1999-01-01T00:00:00Z")),
        ("last_used_at", json!("1999-01-01T00:00:00Z")),
    ] {
        let mut body = json!({"name": "script"});
        body[field] = value;
        let reply = app.post("/auth/api-keys").bearer(&ann.token).json(body);
        assert_eq!(reply.invalid_fields(), [field]);
    }
    assert_eq!(database_rows(&app), database);
    app.get("/tasks")
        .header("X-API-Key", &chosen)
        .send()
        .assert_problem(401);
}

#[test]
fn a_form_login_with_extra_fields_logs_in_only_the_user_it_names() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let form = format!(
        "username=ann&password={}&user_id={id}&sub={id}&owner_id={id}&client_id=bob",
        password_of("ann"),
        id = bob.user_id
    );

    let reply = app.post("/auth/login").form(&form);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["user"]["id"], ann.user_id);
    let token = reply.body["access_token"].as_str().expect("a token");
    let me = app.get("/auth/me").bearer(token).send();
    assert_eq!(me.body["id"], ann.user_id, "{}", me.text);
}

// Resource limits (API4).

#[test]
fn a_page_holds_at_most_500_rows_when_more_exist() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Big"}));
    let project_id = id_of(&project.body);
    // 501 tasks and 501 more projects, straight into the database: over
    // HTTP this would take the better part of a minute.
    // A recursive CTE counts 0..500 on both backends.
    let numbers = "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 500)";
    let stamp = "'2026-01-01T00:00:00Z'";
    app.db.execute(&format!(
        "{numbers}
         INSERT INTO task (owner_id, project_id, title, created_at, updated_at)
         SELECT {}, {project_id}, 'bulk ' || i, {stamp}, {stamp} FROM n",
        ann.user_id
    ));
    app.db.execute(&format!(
        "{numbers}
         INSERT INTO project (owner_id, name, name_key, created_at, updated_at)
         SELECT {}, 'bulk ' || i, 'bulk ' || i, {stamp}, {stamp} FROM n",
        ann.user_id
    ));

    for (path, total) in [
        ("/tasks".to_owned(), 501),
        ("/projects".to_owned(), 502),
        (format!("/projects/{project_id}/tasks"), 501),
    ] {
        let reply = app
            .get(&format!("{path}?limit=500"))
            .bearer(&ann.token)
            .send();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_eq!(ids_in(&reply.body).len(), 500, "{path}");
        assert_eq!(
            reply.header("X-Total-Count"),
            Some(total.to_string().as_str())
        );
        let links = reply.header("Link").unwrap_or_default();
        assert!(links.contains("rel=\"next\""), "{path}: {links}");
    }
}

#[test]
fn the_body_cap_is_exactly_max_body_bytes() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let at_cap = padded(&json!({"title": "At the cap"}), MAX_BODY_BYTES);
    let over_cap = padded(&json!({"title": "Over the cap"}), MAX_BODY_BYTES + 1);

    let accepted = app
        .post("/tasks")
        .bearer(&ann.token)
        .body_bytes(Some("application/json"), at_cap);
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    let refused = app
        .post("/tasks")
        .bearer(&ann.token)
        .body_bytes(Some("application/json"), over_cap);
    refused.assert_problem(413);

    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(ids_in(&listed.body), [id_of(&accepted.body)]);
}

#[test]
fn a_body_one_byte_over_the_cap_is_a_413_on_every_route_that_reads_one() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let database = database_rows(&app);

    let mut checked = 0;
    for route in ROUTES {
        let (Some(body), _) = owner_call(route, &ann) else {
            continue;
        };
        let method = route.method.as_str();
        let path = ann.path_for(route);
        // Well-formed and valid, padded with JSON whitespace: only its size
        // is wrong.
        let reply = app
            .call(method, &path)
            .bearer(&ann.session.token)
            .body_bytes(Some("application/json"), padded(&body, MAX_BODY_BYTES + 1));
        reply.assert_problem(413);
        assert_eq!(database_rows(&app), database, "{method} {path}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} routes take a JSON body");

    // The login form is read under the same cap.
    let mut form = format!("username=ann&password={}&scope=", password_of("ann")).into_bytes();
    form.resize(MAX_BODY_BYTES + 1, b'x');
    let reply = app
        .post("/auth/login")
        .body_bytes(Some("application/x-www-form-urlencoded"), form);
    reply.assert_problem(413);
}

#[test]
fn a_chunked_body_over_the_cap_is_a_413_and_writes_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    // No Content-Length: the server learns the size only while reading.
    let body = padded(&json!({"title": "Chunked"}), MAX_BODY_BYTES + 1);
    let mut request = format!(
        "POST /tasks HTTP/1.1\r\nHost: taskapi\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        ann.token
    )
    .into_bytes();
    for chunk in body.chunks(64 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");

    let reply = raw_exchange(&app, &request);
    reply.assert_problem(413);
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([]));
}

#[test]
fn api_key_names_emails_and_search_text_have_length_caps() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let key_name = |length: usize| {
        app.post("/auth/api-keys")
            .bearer(&ann.token)
            .json(json!({"name": "k".repeat(length)}))
    };
    assert_eq!(key_name(201).invalid_fields(), ["name"]);
    assert_eq!(key_name(200).status, 201);

    // 254 characters in all is the longest address.
    let email = |length: usize| format!("{}@example.com", "e".repeat(length - 12));
    let register = |address: String| {
        app.post("/auth/register")
            .json(json!({"email": address, "password": "long enough"}))
    };
    assert_eq!(register(email(255)).invalid_fields(), ["email"]);
    assert_eq!(register(email(254)).status, 201);

    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));
    let project_tasks = format!("/projects/{}/tasks", id_of(&project.body));
    for path in ["/tasks", "/projects", project_tasks.as_str()] {
        let search = |length: usize| {
            app.get(&format!("{path}?q={}", "q".repeat(length)))
                .bearer(&ann.token)
                .send()
        };
        let too_long = search(201);
        let detail = too_long.assert_problem(400)["detail"].as_str().unwrap();
        assert!(detail.contains("200"), "{path}: {detail}");
        assert_eq!(search(200).status, 200, "{path}");
    }
}

#[test]
fn deeply_nested_json_is_a_400_and_the_server_keeps_answering() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let in_a_field = format!(r#"{{"title": {arrays}}}"#);
    let objects = format!("{}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));

    for body in [arrays, in_a_field, objects] {
        let reply = app
            .post("/tasks")
            .bearer(&ann.token)
            .body_bytes(Some("application/json"), body.into_bytes());
        reply.assert_problem(400);
    }
    assert_eq!(app.get("/healthz").send().status, 200);
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([]));
}

// What errors give away (API8).

#[test]
fn no_error_response_reveals_internals_or_the_credentials_sent() {
    let (provoked, secrets) = provoke_every_error();
    for Provoked { what, reply } in &provoked {
        let problem = reply.assert_problem(reply.status);
        if reply.status == 500 {
            assert_eq!(problem["detail"], "internal error", "{what}");
        }
        let mut seen = reply.text.clone();
        for (name, value) in &reply.headers {
            seen.push_str(&format!("\n{name}: {value}"));
        }
        let lower = seen.to_lowercase();
        for needle in INTERNALS_ANY_CASE {
            assert!(!lower.contains(needle), "{what} reveals {needle:?}: {seen}");
        }
        for needle in INTERNALS {
            assert!(!seen.contains(needle), "{what} reveals {needle:?}: {seen}");
        }
        for secret in &secrets {
            assert!(
                !seen.contains(secret.as_str()),
                "{what} echoes {secret:?}: {seen}"
            );
        }
    }
}

#[test]
fn every_error_response_carries_nosniff() {
    let (provoked, _) = provoke_every_error();
    for Provoked { what, reply } in &provoked {
        assert_eq!(
            reply.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{what}: {}",
            reply.status
        );
    }
}

// Headers on success (API8).

#[test]
fn every_route_answers_its_owner_with_nosniff_and_the_cache_control_its_content_needs() {
    let app = TestApp::spawn();
    let mut carrying = Vec::new();
    for (index, route) in ROUTES.iter().enumerate() {
        // A fresh owner per route: some routes delete, revoke or log out.
        let owner = Owner::new(&app, &format!("owner{index}"));
        let method = route.method.as_str();
        let path = owner.path_for(route);
        let (body, success) = owner_call(route, &owner);
        let token = &owner.session.token;

        let mut replies = vec![(
            format!("{method} {path}"),
            send(app.call(method, &path).bearer(token), body.as_ref()),
        )];
        if method == "GET" {
            let head = app.call("HEAD", &path).bearer(token).send();
            replies.push((format!("HEAD {path}"), head));
        }
        if canonical(route) == "/auth/login" {
            let form = format!(
                "username={}&password={}",
                owner.name,
                password_of(&owner.name)
            );
            replies.push((
                format!("{method} {path} (form)"),
                app.post(&path).form(&form),
            ));
        }
        for (what, reply) in replies {
            assert_eq!(reply.status, success, "{what}: {}", reply.text);
            assert_eq!(
                reply.header("X-Content-Type-Options"),
                Some("nosniff"),
                "{what}"
            );
            // Credentials may be kept by no cache; a user's data by their
            // own client only, revalidated; the documentation by anyone.
            let cache_control = if carries_credential(&reply) {
                carrying.push(format!("{method} {}", route.pattern));
                "no-store"
            } else {
                match canonical(route) {
                    // All of the account's data: no cache keeps a copy.
                    "/healthz" | "/auth/me/export" => "no-store",
                    "/openapi.json" | "/docs" => "public, no-cache",
                    _ => "private, no-cache",
                }
            };
            assert_eq!(reply.header("Cache-Control"), Some(cache_control), "{what}");
        }
    }
    // The check looks for credentials in bodies; it must find them where
    // they are known to be.
    for known in [
        "POST /auth/register",
        "POST /register",
        "POST /auth/login",
        "POST /login",
        "POST /auth",
        "POST /auth/api-keys",
    ] {
        assert!(carrying.iter().any(|route| route == known), "{known}");
    }
}

// Authentication (API2).

/// A bug this test found, fixed by migration 4: `user.id` was an `INTEGER
/// PRIMARY KEY` without `AUTOINCREMENT`, so SQLite gave the next account the
/// largest id in use plus one, which was the deleted account's id when that
/// was the newest. A token names its user by id and token generation only,
/// and a new account starts at generation 0, as every account did: the
/// deleted user's unexpired tokens then authenticated as the new account,
/// with everything a password-login token may do (read and change its tasks,
/// mint API keys that outlive the token, log its owner out).
#[test]
fn a_deleted_users_token_stays_refused_after_the_next_account_registers() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let deleted = app
        .delete("/auth/me")
        .bearer(&ann.token)
        .json(json!({"password": password_of("ann")}));
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    let carol = app.register("carol");
    app.create_task(&carol, json!({"title": "Carol's private task"}));

    let me = app.get("/auth/me").bearer(&ann.token).send();
    assert_eq!(
        me.status, 401,
        "Ann's token after Carol (id {}, Ann was {}) registered: {}",
        carol.user_id, ann.user_id, me.text
    );
    let tasks = app.get("/tasks").bearer(&ann.token).send();
    assert!(!tasks.text.contains("Carol"), "{}", tasks.text);
}

#[test]
fn a_claimed_client_address_does_not_escape_the_per_address_login_limit() {
    let app = TestApp::spawn_configured(|config| config.login_max_failures_per_address = 3);
    // Each guess names another account, so only the per-address count can
    // stop them, and each claims another address in a header a proxy
    // would set.
    let claims = [
        ("X-Forwarded-For", "203.0.113.1"),
        ("X-Real-IP", "203.0.113.2"),
        ("Forwarded", "for=203.0.113.3"),
        ("X-Forwarded-For", "203.0.113.4, 198.51.100.7"),
    ];
    let mut statuses = Vec::new();
    for (index, (header, address)) in claims.into_iter().enumerate() {
        let reply = app
            .post("/auth/login")
            .header(header, address)
            .json(json!({"username": format!("guess{index}"), "password": "not the password"}));
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[test]
fn a_real_signature_over_another_payload_is_refused() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let [anns_header, _, anns_signature] = token_parts(&ann.token);
    let [bobs_header, bobs_payload, _] = token_parts(&bob.token);

    for token in [
        format!("{anns_header}.{bobs_payload}.{anns_signature}"),
        format!("{bobs_header}.{bobs_payload}."),
        format!("{bobs_header}.{bobs_payload}"),
    ] {
        let reply = app.get("/auth/me").bearer(&token).send();
        reply.assert_problem(401);
    }
    assert_eq!(app.get("/auth/me").bearer(&bob.token).send().status, 200);
}

#[test]
fn tokens_signed_with_another_algorithm_or_none_are_refused() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let claims = || {
        Claims::create(jwt_simple::prelude::Duration::from_mins(30))
            .with_issuer("taskapi")
            .with_audience("taskapi")
            .with_subject(ann.user_id.to_string())
    };
    let payload = token_parts(&ann.token)[1].to_owned();
    let [_, _, signature] = token_parts(&ann.token);
    let unsigned = |header: &str| format!("{}.{payload}", base64url(header.as_bytes()));

    let tokens = [
        // The same secret under a stronger HMAC is still not our algorithm.
        (
            "HS384",
            HS384Key::from_bytes(TEST_SECRET)
                .authenticate(claims())
                .unwrap(),
        ),
        (
            "HS512",
            HS512Key::from_bytes(TEST_SECRET)
                .authenticate(claims())
                .unwrap(),
        ),
        (
            "none, no signature part",
            unsigned(r#"{"alg":"none","typ":"JWT"}"#),
        ),
        (
            "None",
            format!("{}.", unsigned(r#"{"alg":"None","typ":"JWT"}"#)),
        ),
        (
            "NONE",
            format!("{}.", unsigned(r#"{"alg":"NONE","typ":"JWT"}"#)),
        ),
        (
            "HS256, empty signature",
            format!("{}.", unsigned(r#"{"alg":"HS256","typ":"JWT"}"#)),
        ),
        (
            "none, with a real signature",
            format!("{}.{signature}", unsigned(r#"{"alg":"none","typ":"JWT"}"#)),
        ),
    ];
    // The control: our own key and algorithm with these claims works.
    let genuine = HS256Key::from_bytes(TEST_SECRET)
        .authenticate(claims())
        .unwrap();
    assert_eq!(app.get("/auth/me").bearer(&genuine).send().status, 200);
    for (what, token) in tokens {
        let reply = app.get("/auth/me").bearer(&token).send();
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
    }
}

#[test]
fn credentials_in_the_url_or_a_cookie_are_not_accepted() {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let token = &ann.session.token;

    for reply in [
        app.get(&format!("/auth/me?access_token={token}")).send(),
        app.get(&format!("/auth/me?api_key={}", ann.key)).send(),
        app.get("/auth/me")
            .header("Cookie", &format!("access_token={token}"))
            .send(),
    ] {
        reply.assert_problem(401);
    }
    // On a list the parameter is unknown: a 400 that does not repeat it.
    for credential in [token.as_str(), ann.key.as_str()] {
        let reply = app
            .get(&format!("/tasks?access_token={credential}"))
            .bearer(token)
            .send();
        reply.assert_problem(400);
        assert!(!reply.text.contains(credential), "{}", reply.text);
    }
}

// The route table, as its owner calls it.

/// A user with one of each object an `{id}` route names: a project with a
/// task in it and a viewer (`{user_id}`), a task in no project, and an API
/// key; and a registered user who is in none of their projects, to add.
struct Owner {
    name: String,
    session: Session,
    project_id: i64,
    task_id: i64,
    loose_task_id: i64,
    key: String,
    key_id: i64,
    member_id: i64,
    newcomer: String,
}

impl Owner {
    fn new(app: &TestApp, name: &str) -> Owner {
        let session = app.register(name);
        let project = app.post("/projects").bearer(&session.token).json(
            json!({"name": format!("{name} project"), "description": format!("{name} plans")}),
        );
        assert_eq!(project.status, 201, "{}", project.text);
        let project_id = id_of(&project.body);
        let task = app.create_task(
            &session,
            json!({"title": format!("{name} task"), "project_id": project_id,
                   "priority": 3, "due_date": "2001-02-03", "description": format!("{name} notes")}),
        );
        let loose = app.create_task(
            &session,
            json!({"title": format!("{name} loose task"), "completed": true}),
        );
        let key = app
            .post("/auth/api-keys")
            .bearer(&session.token)
            .json(json!({"name": format!("{name} script")}));
        assert_eq!(key.status, 201, "{}", key.text);
        let member = app.register(&format!("{name}-pal"));
        let added = app
            .post(&format!("/projects/{project_id}/members"))
            .bearer(&session.token)
            .json(json!({"user": format!("{name}-pal"), "role": "viewer"}));
        assert_eq!(added.status, 201, "{}", added.text);
        let newcomer = format!("{name}-new");
        app.register(&newcomer);
        Owner {
            name: name.to_owned(),
            session,
            project_id,
            task_id: id_of(&task),
            loose_task_id: id_of(&loose),
            key: key.body["key"].as_str().expect("a key").to_owned(),
            key_id: id_of(&key.body),
            member_id: member.user_id,
            newcomer,
        }
    }

    /// The id of this owner's object that `route`'s `{id}` names. A new
    /// `{id}` route panics here until it is given an object to aim at.
    fn id_for(&self, route: &Route) -> i64 {
        match canonical(route) {
            "/tasks/{id}" => self.task_id,
            "/projects/{id}"
            | "/projects/{id}/tasks"
            | "/projects/{id}/members"
            | "/projects/{id}/members/{user_id}" => self.project_id,
            "/auth/api-keys/{id}" => self.key_id,
            pattern => panic!(
                "{pattern} names an object the security tests do not know: \
                 add it to Owner::id_for in tests/it/security.rs"
            ),
        }
    }

    /// `route`'s path, with this owner's object for an `{id}` (and their
    /// project's viewer for a `{user_id}`).
    fn path_for(&self, route: &Route) -> String {
        if route.pattern.contains("{id}") {
            self.path_with_id(route, self.id_for(route))
        } else {
            route.pattern.to_owned()
        }
    }

    /// `route`'s path with `id` for its `{id}`.
    fn path_with_id(&self, route: &Route, id: i64) -> String {
        route
            .pattern
            .replace("{id}", &id.to_string())
            .replace("{user_id}", &self.member_id.to_string())
    }
}

/// How `owner` calls `route` successfully: the JSON body, if the route reads
/// one, and the status of success. Every route is listed: a new one panics
/// here until it is added, so no route-driven test can skip it.
fn owner_call(route: &Route, owner: &Owner) -> (Option<Value>, u16) {
    let name = &owner.name;
    let password = password_of(name);
    match (route.method.as_str(), canonical(route)) {
        (
            "GET",
            "/"
            | "/healthz"
            | "/openapi.json"
            | "/docs"
            | "/auth/me"
            | "/auth/me/export"
            | "/auth/api-keys"
            | "/tasks"
            | "/tasks/{id}"
            | "/projects"
            | "/projects/{id}"
            | "/projects/{id}/tasks"
            | "/projects/{id}/members"
            | "/projects/{id}/members/{user_id}"
            | "/changes",
        ) => (None, 200),
        ("POST", "/auth/register") => (
            Some(json!({"username": format!("{name}-again"), "password": password})),
            201,
        ),
        ("POST", "/auth/login") => (Some(json!({"username": name, "password": password})), 200),
        ("DELETE", "/auth/me") => (Some(json!({"password": password})), 204),
        ("PUT", "/auth/password") => (
            Some(json!({"current_password": password, "new_password": format!("new {password}")})),
            204,
        ),
        ("POST", "/auth/logout") => (None, 204),
        ("POST", "/auth/api-keys") => (Some(json!({"name": "another script"})), 201),
        ("DELETE", "/auth/api-keys/{id}" | "/tasks/{id}" | "/projects/{id}") => (None, 204),
        ("POST", "/tasks") => (Some(json!({"title": "Another task"})), 201),
        ("PUT", "/tasks/{id}") => (Some(json!({"title": "Replaced"})), 200),
        ("PATCH", "/tasks/{id}") => (Some(json!({"title": "Patched"})), 200),
        ("POST", "/projects") => (Some(json!({"name": "Another project"})), 201),
        ("PUT", "/projects/{id}") => (Some(json!({"name": "Replaced"})), 200),
        ("PATCH", "/projects/{id}") => (Some(json!({"description": "Patched"})), 200),
        ("POST", "/projects/{id}/tasks") => (Some(json!({"title": "Filed"})), 201),
        ("POST", "/projects/{id}/members") => {
            (Some(json!({"user": owner.newcomer, "role": "viewer"})), 201)
        }
        ("PATCH", "/projects/{id}/members/{user_id}") => (Some(json!({"role": "editor"})), 200),
        ("DELETE", "/projects/{id}/members/{user_id}") => (None, 204),
        (method, pattern) => panic!(
            "{method} {pattern} is a route the security tests do not know: \
             add it to owner_call in tests/it/security.rs"
        ),
    }
}

/// The pattern a route serves, looking through aliases.
fn canonical(route: &Route) -> &'static str {
    route.alias_of.unwrap_or(route.pattern)
}

/// Everything `owner` can read about their own objects.
fn everything_seen_by(app: &TestApp, owner: &Owner) -> Vec<Value> {
    let paths = [
        "/auth/me".to_owned(),
        "/auth/api-keys".to_owned(),
        "/tasks?limit=500".to_owned(),
        format!("/tasks/{}", owner.task_id),
        format!("/tasks/{}", owner.loose_task_id),
        "/projects?limit=500".to_owned(),
        format!("/projects/{}", owner.project_id),
        format!("/projects/{}/tasks", owner.project_id),
    ];
    paths
        .iter()
        .map(|path| {
            let reply = app.get(path).bearer(&owner.session.token).send();
            assert_eq!(reply.status, 200, "{path} as its owner: {}", reply.text);
            reply.body
        })
        .collect()
}

/// Every row of every table, as text: a write anywhere changes it. An API
/// key's `last_used_at` is left out, since merely using a key sets it.
fn database_rows(app: &TestApp) -> Vec<String> {
    let mut rows = Vec::new();
    for table in app.db.tables() {
        let columns = app.db.columns(&table);
        for row in app
            .db
            .query(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))
        {
            let mut line = table.clone();
            for (column, value) in columns.iter().zip(row) {
                if column != "last_used_at" {
                    line.push_str(&format!(" {column}={value:?}"));
                }
            }
            rows.push(line);
        }
    }
    rows
}

/// Asserts that `reply`, a request for another user's object `id`, is the
/// same 404 as `missing`, the request for an object that does not exist,
/// but for the id its detail names.
#[track_caller]
fn assert_same_404_as_missing(reply: &Reply, id: i64, missing: &Reply, what: &str) {
    let problem = reply.assert_problem(404);
    missing.assert_problem(404);
    let detail = problem["detail"].as_str().unwrap_or_default();
    let missing_detail = missing.body["detail"].as_str().unwrap_or_default();
    assert_eq!(
        detail.replace(&format!(" {id} "), " {id} "),
        missing_detail.replace(&format!(" {MISSING_ID} "), " {id} "),
        "{what}"
    );
    assert_eq!(reply.body["title"], missing.body["title"], "{what}");
}

/// Whether a response hands out a credential: a session's access token or
/// a new API key.
fn carries_credential(reply: &Reply) -> bool {
    reply.body["access_token"].is_string()
        || reply.body["key"]
            .as_str()
            .is_some_and(|key| key.starts_with("tk_"))
}

// Provoking every error.

/// One provoked error response and how it was provoked.
struct Provoked {
    what: String,
    reply: Reply,
}

/// Text that must never reach a client, in any case: panics, backtraces,
/// the database's own words.
const INTERNALS_ANY_CASE: &[&str] = &[
    "panicked",
    "backtrace",
    "sqlite",
    "constraint",
    "no such table",
    "syntax error",
    "$argon2",
];

/// Text that must never reach a client as written: source locations, SQL,
/// file system paths.
const INTERNALS: &[&str] = &[
    ".rs:",
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE FROM",
    "UNIQUE",
    "/tmp",
    "/home",
    "/work",
    "/root",
];

/// Provokes every error status the server can send, each a few ways, and
/// returns the replies with every secret the requests carried. Each reply
/// has already been checked for the status it must have.
fn provoke_every_error() -> (Vec<Provoked>, Vec<String>) {
    let app = TestApp::spawn();
    let ann = Owner::new(&app, "ann");
    let bob = Owner::new(&app, "bob");
    let token = ann.session.token.as_str();
    let key = ann.key.as_str();
    let wrong_password = "wrong-password-that-must-never-echo";
    let forged = HS256Key::from_bytes(b"some-other-key-that-is-32-bytes!")
        .authenticate(
            Claims::create(jwt_simple::prelude::Duration::from_mins(30))
                .with_issuer("taskapi")
                .with_audience("taskapi")
                .with_subject(ann.session.user_id.to_string()),
        )
        .unwrap();
    let revoked = app
        .post("/auth/api-keys")
        .bearer(token)
        .json(json!({"name": "to revoke"}));
    let revoked_key = revoked.body["key"].as_str().unwrap().to_owned();
    let revoking = app
        .delete(&format!("/auth/api-keys/{}", id_of(&revoked.body)))
        .bearer(token)
        .send();
    assert_eq!(revoking.status, 204);
    let over_cap = padded(&json!({"title": "Huge"}), MAX_BODY_BYTES + 1);
    let mut login_over_cap = padded(
        &json!({"username": "ann", "password": password_of("ann")}),
        MAX_BODY_BYTES,
    );
    login_over_cap.push(b' ');
    let deep = format!(
        r#"{{"title": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut bad_utf8 = b"username=ann&password=\xff".to_vec();
    bad_utf8.extend_from_slice(password_of("ann").as_bytes());

    // A store error whose cause reads like the worst leak imaginable.
    let leak = format!(
        "UNIQUE constraint failed: SELECT password_hash FROM user in {} at src/store/tasks.rs:60",
        app.db.location()
    );
    app.db.execute(&if app.db.is_postgres() {
        format!(
            "CREATE FUNCTION fail_loudly() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.title = 'trip the trigger' THEN RAISE EXCEPTION '{}'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER fail_loudly BEFORE INSERT ON task
                 FOR EACH ROW EXECUTE FUNCTION fail_loudly();",
            // RAISE reads % as a placeholder.
            leak.replace('%', "%%")
        )
    } else {
        format!(
            "CREATE TRIGGER fail_loudly BEFORE INSERT ON task WHEN NEW.title = 'trip the trigger'
             BEGIN SELECT RAISE(ABORT, '{leak}'); END;"
        )
    });

    let mut provoked = Vec::new();
    let mut expect = |what: &str, status: u16, reply: Reply| {
        assert_eq!(reply.status, status, "{what}: {}", reply.text);
        provoked.push(Provoked {
            what: what.to_owned(),
            reply,
        });
    };
    let json_body = |text: &str| text.as_bytes().to_vec();
    let ann_task = format!("/tasks/{}", ann.task_id);

    // 400
    expect(
        "malformed JSON",
        400,
        app.post("/tasks").bearer(token).body_bytes(
            Some("application/json"),
            json_body(r#"{"title": "Unclosed"#),
        ),
    );
    expect(
        "a login cut off after the password",
        400,
        app.post("/auth/login").body_bytes(
            Some("application/json"),
            json_body(&format!(
                r#"{{"username": "ann", "password": "{}"#,
                password_of("ann")
            )),
        ),
    );
    expect(
        "a bad escape inside a password",
        400,
        app.post("/auth/login").body_bytes(
            Some("application/json"),
            json_body(&format!(
                r#"{{"username": "ann", "password": "{}\q"}}"#,
                password_of("ann")
            )),
        ),
    );
    expect(
        "a form password with a bad percent-escape",
        400,
        app.post("/auth/login")
            .form(&format!("username=ann&password={}%zz", password_of("ann"))),
    );
    expect(
        "a form password that is not UTF-8",
        400,
        app.post("/auth/login")
            .body_bytes(Some("application/x-www-form-urlencoded"), bad_utf8),
    );
    expect(
        "a JSON array",
        400,
        app.post("/tasks")
            .bearer(token)
            .json(json!([{"title": "x"}])),
    );
    expect(
        "deeply nested JSON",
        400,
        app.post("/tasks")
            .bearer(token)
            .body_bytes(Some("application/json"), deep.into_bytes()),
    );
    for path in [
        "/tasks/abc",
        "/tasks/0",
        "/projects/99999999999999999999",
        "/auth/api-keys/-1",
    ] {
        let method = if path.starts_with("/auth") {
            "DELETE"
        } else {
            "GET"
        };
        expect(
            &format!("bad id {path}"),
            400,
            app.call(method, path).bearer(token).send(),
        );
    }
    for query in [
        "colour=red",
        "limit=abc",
        "offset=99999999999999999999",
        "sort=password_hash",
        "completed=maybe",
    ] {
        expect(
            &format!("bad query {query}"),
            400,
            app.get(&format!("/tasks?{query}")).bearer(token).send(),
        );
    }

    // 401
    for (what, credential) in [
        ("garbage token", "not-a-token".to_owned()),
        ("token signed with another key", forged.clone()),
        ("unknown API key", format!("tk_{}", "0".repeat(64))),
        ("revoked API key", revoked_key.clone()),
    ] {
        expect(what, 401, app.get("/tasks").bearer(&credential).send());
    }
    expect("no token", 401, app.get("/auth/me").send());
    expect(
        "wrong password (JSON)",
        401,
        app.post("/auth/login")
            .json(json!({"username": "ann", "password": wrong_password})),
    );
    expect(
        "wrong password (form)",
        401,
        app.post("/login")
            .form(&format!("username=ann&password={wrong_password}")),
    );
    expect(
        "unknown user",
        401,
        app.post("/auth")
            .json(json!({"username": "nobody", "password": wrong_password})),
    );
    expect(
        "wrong current password",
        401,
        app.put("/auth/password").bearer(token).json(
            json!({"current_password": wrong_password, "new_password": "a brand new password"}),
        ),
    );
    expect(
        "wrong password to delete the account",
        401,
        app.delete("/auth/me")
            .bearer(token)
            .json(json!({"password": wrong_password})),
    );

    // 403
    expect(
        "API key creating a key",
        403,
        app.post("/auth/api-keys")
            .header("X-API-Key", key)
            .json(json!({"name": "escalation"})),
    );
    expect(
        "API key changing the password",
        403,
        app.put("/auth/password").bearer(key).json(
            json!({"current_password": password_of("ann"), "new_password": "a brand new password"}),
        ),
    );

    // 404
    expect("unknown route", 404, app.get("/admin").bearer(token).send());
    expect(
        "another user's task",
        404,
        app.get(&format!("/tasks/{}", bob.task_id))
            .bearer(token)
            .send(),
    );
    expect(
        "another user's project in a body",
        404,
        app.post("/tasks")
            .bearer(token)
            .json(json!({"title": "x", "project_id": bob.project_id})),
    );
    expect(
        "another user's key",
        404,
        app.delete(&format!("/auth/api-keys/{}", bob.key_id))
            .bearer(token)
            .send(),
    );

    // 405
    expect(
        "DELETE /tasks",
        405,
        app.delete("/tasks").bearer(token).send(),
    );
    expect("GET /auth/login", 405, app.get("/auth/login").send());
    expect("POST /healthz", 405, app.post("/healthz").send());

    // 409: both are UNIQUE violations underneath.
    expect(
        "a taken username",
        409,
        app.post("/auth/register")
            .json(json!({"username": "ANN", "password": password_of("ann")})),
    );
    expect(
        "a taken project name",
        409,
        app.post("/projects")
            .bearer(token)
            .json(json!({"name": "ANN PROJECT"})),
    );

    // 413
    expect(
        "a task over the body cap",
        413,
        app.post("/tasks")
            .bearer(token)
            .body_bytes(Some("application/json"), over_cap),
    );
    expect(
        "a login over the body cap",
        413,
        app.post("/auth/login")
            .body_bytes(Some("application/json"), login_over_cap),
    );

    // 415
    expect(
        "a text/plain task",
        415,
        app.post("/tasks")
            .bearer(token)
            .body_bytes(Some("text/plain"), json_body(r#"{"title": "x"}"#)),
    );
    expect(
        "a form patch",
        415,
        app.patch(&ann_task).bearer(token).form("title=x"),
    );
    expect(
        "an XML registration",
        415,
        app.post("/auth/register").body_bytes(
            Some("application/xml"),
            json_body(&format!("<password>{}</password>", password_of("ann"))),
        ),
    );

    // 422
    expect(
        "bad task fields",
        422,
        app.post("/tasks")
            .bearer(token)
            .json(json!({"title": "", "due_date": "2025-02-30", "priority": "high", "colour": 1})),
    );
    expect(
        "a short password",
        422,
        app.post("/auth/register")
            .json(json!({"username": "shorty", "password": "short"})),
    );
    expect(
        "a short new password",
        422,
        app.put("/auth/password")
            .bearer(token)
            .json(json!({"current_password": password_of("ann"), "new_password": "short"})),
    );
    expect(
        "a key that expired before it was made",
        422,
        app.post("/auth/api-keys")
            .bearer(token)
            .json(json!({"name": "late", "expires_at": "2001-01-01T00:00:00Z"})),
    );
    expect(
        "a page too big",
        422,
        app.get("/tasks?limit=501").bearer(token).send(),
    );

    // 500: a store error.
    expect(
        "a failing insert",
        500,
        app.post("/tasks")
            .bearer(token)
            .json(json!({"title": "trip the trigger"})),
    );

    // 429: a server that allows one failure per account.
    let strict = TestApp::spawn_configured(|config| config.login_max_failures = 1);
    strict.register("ann");
    let attempt = || {
        strict
            .post("/auth/login")
            .json(json!({"username": "ann", "password": wrong_password}))
    };
    expect("the failure the throttle allows", 401, attempt());
    expect("a throttled login", 429, attempt());

    let mut secrets = vec![
        String::from_utf8(TEST_SECRET.to_vec()).unwrap(),
        password_of("ann"),
        password_of("bob"),
        wrong_password.to_owned(),
        ann.session.token.clone(),
        bob.session.token.clone(),
        ann.key.clone(),
        bob.key.clone(),
        forged,
        revoked_key,
        app.db.location(),
        strict.db.location(),
    ];
    secrets.push(format!("tk_{}", "0".repeat(64)));
    (provoked, secrets)
}

// Small helpers.

/// Sends `call` with `body` as JSON, or with no body.
fn send(call: Call, body: Option<&Value>) -> Reply {
    match body {
        Some(body) => call.json(body.clone()),
        None => call.send(),
    }
}

/// `value` as JSON followed by spaces up to exactly `length` bytes: still
/// the same JSON document, only bigger.
fn padded(value: &Value, length: usize) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    assert!(bytes.len() <= length);
    bytes.resize(length, b' ');
    bytes
}

fn id_of(resource: &Value) -> i64 {
    resource["id"].as_i64().expect("an integer id")
}

fn ids_in(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// The three dot-separated parts of a JWT.
fn token_parts(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    parts.try_into().expect("a token of three parts")
}

/// Unpadded base64url (RFC 4648 §5), as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let bits = chunk
            .iter()
            .fold(0u32, |bits, byte| bits << 8 | u32::from(*byte))
            << (8 * (3 - chunk.len()));
        for index in 0..=chunk.len() {
            out.push(ALPHABET[(bits >> (18 - 6 * index) & 63) as usize] as char);
        }
    }
    out
}

/// Sends raw bytes to the server on a new connection and reads one
/// response, by its `Content-Length` (the server leaves closing to the
/// client). The request is written from another thread, so a server that
/// answers before reading everything cannot deadlock the test.
fn raw_exchange(app: &TestApp, request: &[u8]) -> Reply {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::scope(|scope| {
        // A write error means the server stopped reading: the answer is
        // what matters.
        scope.spawn(|| {
            let _ = writer.write_all(request);
        });
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let read = stream.read(&mut chunk).expect("read the response");
            assert!(read > 0, "the server closed without a full response");
            buffer.extend_from_slice(&chunk[..read]);
            let Some((answer, _)) =
                crate::wire::parse_response(&buffer, false).expect("valid HTTP")
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return Reply {
                status: answer.status,
                headers: answer.headers,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
                text,
            };
        }
    })
}

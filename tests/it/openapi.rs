//! The OpenAPI document tells the truth: it lists exactly the routes the
//! router serves, and real responses match its schemas.
//!
//! The schema check is a small JSON Schema subset (type, properties,
//! required, additionalProperties, items, enum, $ref, oneOf/anyOf/allOf,
//! length and range bounds): enough for the document's own schemas, with no
//! validator crate to compile. Response headers are held to the document
//! too: a required one must be there, with a value its schema allows, and
//! one of the API's own headers must not turn up where it is not
//! documented.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use taskapi::api::docs::OPENAPI_JSON;
use taskapi::router::ROUTES;
use taskapi::store::{Db, changes};

use crate::support::{Reply, Session, TestApp};

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON")
}

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() {
    let document = document();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| {
            (
                route.method.as_str().to_lowercase(),
                route.pattern.to_owned(),
            )
        })
        .collect();
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            methods
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_string(), path.clone()))
        })
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but undocumented: {undocumented:?}"
    );
    assert!(
        not_served.is_empty(),
        "documented but not served: {not_served:?}"
    );
}

#[test]
fn aliases_are_documented_as_aliases() {
    let document = document();
    for route in ROUTES {
        if let Some(original) = route.alias_of {
            let method = route.method.as_str().to_lowercase();
            let description = document["paths"][route.pattern][&method]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains(original),
                "{} {} should say it is an alias of {original}",
                method,
                route.pattern
            );
        }
    }
}

#[test]
fn every_request_body_has_an_example_and_login_is_the_oauth2_token_url() {
    let document = document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(content) = operation["requestBody"]["content"].as_object() else {
                continue;
            };
            for (media_type, body) in content {
                let has_example = body.get("example").is_some() || body.get("examples").is_some();
                assert!(has_example, "{method} {path} {media_type} has no example");
            }
        }
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(
        schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"],
        "/auth/login"
    );
    assert_eq!(schemes["BearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["ApiKeyHeader"]["name"], "X-API-Key");
}

/// Checks `reply` against the document's response for `method` `path` and
/// its status: the status must be documented, its headers must be as
/// documented, and the body must match the schema of its content type.
#[track_caller]
fn assert_conforms(reply: &Reply, method: &str, path: &str) {
    let document = document();
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][reply.status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: status {} is not documented ({})",
        reply.status,
        reply.text
    );
    let response = follow(&document, response);
    let mut problems = Vec::new();
    check_headers(&document, response, reply, &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {} headers: {problems:#?}\n{:#?}",
        reply.status,
        reply.headers
    );
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(
            reply.text.is_empty(),
            "{method} {path}: body where none is documented"
        );
        return;
    };
    let media_type = reply
        .header("Content-Type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let schema = &content
        .get(&media_type)
        .unwrap_or_else(|| panic!("{method} {path}: {media_type} is not documented"))["schema"];
    // Only JSON bodies are parsed; the docs page is checked as the string
    // it is.
    let body = if media_type.ends_with("json") {
        reply.body.clone()
    } else {
        Value::String(reply.text.clone())
    };
    check(&document, schema, &body, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {}: {problems:#?}\n{}",
        reply.status,
        reply.text
    );
}

fn resolve<'a>(document: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("a local $ref");
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

/// `object` itself, or what its `$ref` points to (a reference's own
/// `description` only overrides the prose).
fn follow<'a>(document: &'a Value, object: &'a Value) -> &'a Value {
    match object.get("$ref").and_then(Value::as_str) {
        Some(reference) => follow(document, resolve(document, reference)),
        None => object,
    }
}

/// Checks `reply`'s headers against those `response` documents: each
/// required one is there, and every one that is there has a value its
/// schema allows. A header the document defines among its components
/// (`ETag`, `Location`, `Idempotent-Replayed`...) must not be sent where
/// it is not documented, except `Cache-Control`: the router adds it to
/// every answer it gives, but the HTTP layer's own errors (a 413 from
/// `Content-Length` alone, a 431) never reach the router, so the shared
/// error responses cannot promise it.
fn check_headers(document: &Value, response: &Value, reply: &Reply, problems: &mut Vec<String>) {
    let documented = response.get("headers").and_then(Value::as_object);
    for (name, header) in documented.into_iter().flatten() {
        let header = follow(document, header);
        let Some(text) = reply.header(name) else {
            if header["required"] == Value::Bool(true) {
                problems.push(format!("required header {name} is missing"));
            }
            continue;
        };
        let schema = &header["schema"];
        let value = match text.parse::<i64>() {
            Ok(number) if schema["type"] == "integer" => Value::from(number),
            _ => Value::String(text.to_owned()),
        };
        check(
            document,
            schema,
            &value,
            &format!("header {name}"),
            problems,
        );
    }
    let defined = document["components"]["headers"].as_object().unwrap();
    for name in defined.keys().filter(|name| *name != "Cache-Control") {
        let declared = documented.is_some_and(|headers| headers.contains_key(name));
        if reply.header(name).is_some() && !declared {
            problems.push(format!("header {name} is sent but not documented here"));
        }
    }
}

/// Validates `value` against `schema`, pushing a message per problem.
fn check(document: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return check(document, resolve(document, reference), value, at, problems);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(document, part, value, at, problems);
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|option| {
                    let mut inner = Vec::new();
                    check(document, option, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            let ok = if keyword == "oneOf" {
                matching == 1
            } else {
                matching >= 1
            };
            if !ok {
                problems.push(format!("{at}: {matching} of the {keyword} options match"));
            }
        }
    }
    if let Some(expected) = schema.get("type") {
        let types: Vec<&str> = match expected {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !fits {
            problems.push(format!("{at}: a {actual}, expected {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(text), Some(max)) = (
        value.as_str(),
        schema.get("maxLength").and_then(Value::as_u64),
    ) && text.chars().count() as u64 > max
    {
        problems.push(format!("{at}: longer than {max}"));
    }
    if let (Some(number), Some(min)) = (
        value.as_f64(),
        schema.get("minimum").and_then(Value::as_f64),
    ) && number < min
    {
        problems.push(format!("{at}: below the minimum {min}"));
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str()
                && !object.contains_key(name)
            {
                problems.push(format!("{at}: missing required {name}"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(field_schema) => check(
                    document,
                    field_schema,
                    field,
                    &format!("{at}.{name}"),
                    problems,
                ),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    problems.push(format!("{at}: undocumented field {name}"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(
                document,
                item_schema,
                item,
                &format!("{at}[{index}]"),
                problems,
            );
        }
    }
}

#[test]
fn real_responses_match_the_documented_schemas() {
    let app = TestApp::spawn();

    let registered = app
        .post("/auth/register")
        .json(json!({"username": "ann", "email": "ann@example.com", "password": "password-ann"}));
    assert_conforms(&registered, "post", "/auth/register");
    let token = registered.body["access_token"].as_str().unwrap().to_owned();
    assert_conforms(
        &app.post("/auth/login")
            .form("username=ann&password=password-ann"),
        "post",
        "/auth/login",
    );
    assert_conforms(
        &app.post("/auth/login")
            .json(json!({"username": "ann", "password": "wrong password"})),
        "post",
        "/auth/login",
    );
    assert_conforms(
        &app.get("/auth/me").bearer(&token).send(),
        "get",
        "/auth/me",
    );
    assert_conforms(&app.get("/healthz").send(), "get", "/healthz");
    assert_conforms(&app.get("/").send(), "get", "/");

    let project = app
        .post("/projects")
        .bearer(&token)
        .json(json!({"name": "Home", "description": "around the house"}));
    assert_conforms(&project, "post", "/projects");
    let project_path = format!("/projects/{}", project.body["id"]);
    let task = app
        .post(&format!("{project_path}/tasks"))
        .bearer(&token)
        .json(json!({"title": "Fix the tap", "due_date": "2026-12-01", "priority": 2}));
    assert_conforms(&task, "post", "/projects/{id}/tasks");
    let task_path = format!("/tasks/{}", task.body["id"]);
    let plain = app
        .post("/tasks")
        .bearer(&token)
        .json(json!({"title": "Buy milk"}));
    assert_conforms(&plain, "post", "/tasks");

    let calls = [
        (
            app.get("/tasks?limit=1").bearer(&token).send(),
            "get",
            "/tasks",
        ),
        (
            app.get(&task_path).bearer(&token).send(),
            "get",
            "/tasks/{id}",
        ),
        (
            app.put(&task_path)
                .bearer(&token)
                .json(json!({"title": "Fix the tap", "completed": true})),
            "put",
            "/tasks/{id}",
        ),
        (
            app.patch(&task_path)
                .bearer(&token)
                .json(json!({"description": null})),
            "patch",
            "/tasks/{id}",
        ),
        (
            app.get("/projects").bearer(&token).send(),
            "get",
            "/projects",
        ),
        (
            app.get(&project_path).bearer(&token).send(),
            "get",
            "/projects/{id}",
        ),
        (
            app.get(&format!("{project_path}/tasks"))
                .bearer(&token)
                .send(),
            "get",
            "/projects/{id}/tasks",
        ),
        (
            app.patch(&project_path)
                .bearer(&token)
                .json(json!({"name": "House"})),
            "patch",
            "/projects/{id}",
        ),
        (
            app.put(&project_path)
                .bearer(&token)
                .json(json!({"name": "Home"})),
            "put",
            "/projects/{id}",
        ),
        (
            app.get("/tasks/999999").bearer(&token).send(),
            "get",
            "/tasks/{id}",
        ),
        (app.get("/tasks").send(), "get", "/tasks"),
        (
            app.post("/tasks").bearer(&token).json(json!({"title": ""})),
            "post",
            "/tasks",
        ),
        (
            app.get("/tasks?sort=colour").bearer(&token).send(),
            "get",
            "/tasks",
        ),
        (
            app.post("/projects")
                .bearer(&token)
                .json(json!({"name": "home"})),
            "post",
            "/projects",
        ),
    ];
    for (reply, method, path) in &calls {
        assert_conforms(reply, method, path);
    }

    let key = app
        .post("/auth/api-keys")
        .bearer(&token)
        .json(json!({"name": "cron"}));
    assert_conforms(&key, "post", "/auth/api-keys");
    let key_secret = key.body["key"].as_str().unwrap().to_owned();
    // The export, holding the project, the tasks and the key made above
    // and a seat in Bob's project; and an API key's 403.
    let bob = app
        .post("/auth/register")
        .json(json!({"username": "bob", "password": "password-bob"}));
    let bobs_token = bob.body["access_token"].as_str().unwrap().to_owned();
    let bobs_project = app
        .post("/projects")
        .bearer(&bobs_token)
        .json(json!({"name": "Bob's"}));
    let seat = app
        .post(&format!("/projects/{}/members", bobs_project.body["id"]))
        .bearer(&bobs_token)
        .json(json!({"user": "ann", "role": "viewer"}));
    assert_eq!(seat.status, 201, "{}", seat.text);
    assert_conforms(
        &app.get("/auth/me/export").bearer(&token).send(),
        "get",
        "/auth/me/export",
    );
    assert_conforms(
        &app.get("/auth/me/export").bearer(&key_secret).send(),
        "get",
        "/auth/me/export",
    );
    assert_conforms(
        &app.get("/auth/api-keys").bearer(&token).send(),
        "get",
        "/auth/api-keys",
    );
    assert_conforms(
        &app.get("/auth/api-keys").bearer(&key_secret).send(),
        "get",
        "/auth/api-keys",
    );
    assert_conforms(
        &app.delete(&format!("/auth/api-keys/{}", key.body["id"]))
            .bearer(&token)
            .send(),
        "delete",
        "/auth/api-keys/{id}",
    );
    assert_conforms(
        &app.delete(&task_path).bearer(&token).send(),
        "delete",
        "/tasks/{id}",
    );
    assert_conforms(
        &app.delete(&project_path).bearer(&token).send(),
        "delete",
        "/projects/{id}",
    );
    assert_conforms(
        &app.post("/auth/logout").bearer(&token).send(),
        "post",
        "/auth/logout",
    );
}

#[test]
fn docs_serves_swagger_ui_for_the_document_and_no_docs_turns_both_off() {
    let app = TestApp::spawn_configured(|config| {
        config.docs_assets_url = Some("http://assets.example/\"swagger\"".to_owned());
    });
    let page = app.get("/docs").send();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text
            .contains(r#"src="http://assets.example/&quot;swagger&quot;/swagger-ui-bundle.js""#)
    );
    assert!(page.text.contains(r#"url: "/openapi.json""#));
    let served = app.get("/openapi.json").send();
    assert_eq!(served.status, 200);
    assert_eq!(served.body, document());

    let hidden = TestApp::spawn_configured(|config| config.docs_assets_url = None);
    hidden.get("/docs").send().assert_problem(404);
    hidden.get("/openapi.json").send().assert_problem(404);
}

/// The writes that take `If-Match`.
const CONDITIONAL_WRITES: &[(&str, &str)] = &[
    ("put", "/tasks/{id}"),
    ("patch", "/tasks/{id}"),
    ("delete", "/tasks/{id}"),
    ("put", "/projects/{id}"),
    ("patch", "/projects/{id}"),
    ("delete", "/projects/{id}"),
];
/// The reads whose 200 has an ETag, and so take `If-None-Match`.
const CONDITIONAL_READS: &[&str] = &["/tasks/{id}", "/projects/{id}", "/openapi.json", "/docs"];
/// The creates that take `Idempotency-Key`.
const IDEMPOTENT_CREATES: &[&str] = &[
    "/tasks",
    "/projects",
    "/projects/{id}/tasks",
    "/projects/{id}/members",
];

/// The names of the parameters of `method` `path`, their `$ref`s followed.
fn parameter_names(document: &Value, method: &str, path: &str) -> Vec<String> {
    let operation = &document["paths"][path][method];
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|parameter| {
            follow(document, parameter)["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Whether `method` `path` documents a `status` answer, and that answer's
/// header `name`.
fn documents(
    document: &Value,
    method: &str,
    path: &str,
    status: &str,
    header: Option<&str>,
) -> bool {
    let Some(response) = document["paths"][path][method]["responses"].get(status) else {
        return false;
    };
    header.is_none_or(|name| follow(document, response)["headers"].get(name).is_some())
}

#[test]
fn every_answer_of_conditional_and_idempotent_requests_and_of_the_feed_is_documented() {
    let document = document();
    for (method, path) in CONDITIONAL_WRITES {
        assert!(
            parameter_names(&document, method, path).contains(&"If-Match".to_owned()),
            "{method} {path} takes If-Match"
        );
        for status in ["400", "403", "404"] {
            assert!(
                documents(&document, method, path, status, None),
                "{method} {path} {status}"
            );
        }
        assert!(
            documents(&document, method, path, "412", Some("ETag")),
            "{method} {path} answers a stale If-Match with a 412 giving the current ETag"
        );
        if *method != "delete" {
            assert!(
                documents(&document, method, path, "200", Some("ETag")),
                "{method} {path}"
            );
        }
    }
    for path in CONDITIONAL_READS {
        assert!(
            parameter_names(&document, "get", path).contains(&"If-None-Match".to_owned()),
            "GET {path} takes If-None-Match"
        );
        assert!(
            documents(&document, "get", path, "200", Some("ETag")),
            "GET {path}"
        );
        assert!(
            documents(&document, "get", path, "304", Some("ETag")),
            "GET {path} answers a current If-None-Match with a 304"
        );
    }
    for path in IDEMPOTENT_CREATES {
        assert!(
            parameter_names(&document, "post", path).contains(&"Idempotency-Key".to_owned()),
            "POST {path} takes Idempotency-Key"
        );
        assert!(
            documents(&document, "post", path, "201", Some("Idempotent-Replayed")),
            "POST {path} marks a replay"
        );
        for (status, why) in [
            ("400", "a malformed key"),
            ("409", "a retry while the first runs"),
            ("422", "a key reused for another request"),
        ] {
            assert!(
                documents(&document, "post", path, status, None),
                "POST {path} {status}: {why}"
            );
        }
        let members = *path == "/projects/{id}/members";
        assert_eq!(
            documents(&document, "post", path, "201", Some("ETag")),
            !members,
            "POST {path}: a new task or project has an ETag, a member none"
        );
    }
    assert_eq!(
        parameter_names(&document, "get", "/changes"),
        ["since", "limit"]
    );
    for status in ["200", "400", "401", "410", "422"] {
        assert!(
            documents(&document, "get", "/changes", status, None),
            "GET /changes {status}"
        );
    }
}

/// Asserts a strong ETag as the server writes them: 32 hex digits, quoted.
/// (The schema check does not do `pattern`.)
#[track_caller]
fn assert_etag(reply: &Reply) -> String {
    let etag = reply
        .header("ETag")
        .unwrap_or_else(|| panic!("no ETag: {reply:?}"));
    let digits = etag
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'));
    assert!(
        digits.is_some_and(
            |digits| digits.len() == 32 && digits.bytes().all(|b| b.is_ascii_hexdigit())
        ),
        "{etag}"
    );
    etag.to_owned()
}

/// ann's project with one task in it, as `(task path, project path)`.
fn project_with_a_task(app: &TestApp, ann: &Session) -> (String, String) {
    let project = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));
    assert_eq!(project.status, 201, "{}", project.text);
    let project_path = format!("/projects/{}", project.body["id"]);
    let task = app
        .post(&format!("{project_path}/tasks"))
        .bearer(&ann.token)
        .json(json!({"title": "Fix the tap"}));
    assert_eq!(task.status, 201, "{}", task.text);
    (format!("/tasks/{}", task.body["id"]), project_path)
}

#[test]
fn a_304_a_412_and_a_malformed_if_match_are_answered_as_documented() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let (task_path, project_path) = project_with_a_task(&app, &ann);
    // Any ETag the server wrote would be 32 hex digits of a digest.
    let stale = "\"00000000000000000000000000000000\"";
    let objects = [
        (
            task_path,
            "/tasks/{id}",
            json!({"title": "Fix the tap"}),
            json!({"completed": true}),
        ),
        (
            project_path,
            "/projects/{id}",
            json!({"name": "Home"}),
            json!({"description": "ours"}),
        ),
    ];
    for (path, pattern, replacement, patch) in objects {
        let fetched = app.get(&path).bearer(&ann.token).send();
        assert_conforms(&fetched, "get", pattern);
        assert_eq!(fetched.body["version"], 1, "{}", fetched.text);
        let etag = assert_etag(&fetched);

        for copy in [etag.as_str(), "*"] {
            let not_modified = app
                .get(&path)
                .bearer(&ann.token)
                .header("If-None-Match", copy)
                .send();
            assert_eq!(
                not_modified.status, 304,
                "If-None-Match: {copy}: {}",
                not_modified.text
            );
            assert_conforms(&not_modified, "get", pattern);
            assert_eq!(not_modified.header("ETag"), Some(etag.as_str()));
        }

        for (method, body) in [
            ("PUT", Some(&replacement)),
            ("PATCH", Some(&patch)),
            ("DELETE", None),
        ] {
            let call = app
                .call(method, &path)
                .bearer(&ann.token)
                .header("If-Match", stale);
            let refused = match body {
                Some(body) => call.json(body.clone()),
                None => call.send(),
            };
            refused.assert_problem(412);
            assert_conforms(&refused, &method.to_lowercase(), pattern);
            assert_eq!(
                refused.header("ETag"),
                Some(etag.as_str()),
                "the current ETag"
            );
        }
        let malformed = app
            .patch(&path)
            .bearer(&ann.token)
            .header("If-Match", "not-a-quoted-tag")
            .json(patch.clone());
        malformed.assert_problem(400);
        assert_conforms(&malformed, "patch", pattern);

        let changed = app
            .patch(&path)
            .bearer(&ann.token)
            .header("If-Match", &etag)
            .json(patch);
        assert_conforms(&changed, "patch", pattern);
        assert_eq!(changed.body["version"], 2, "{}", changed.text);
        assert_ne!(assert_etag(&changed), etag);
    }

    for path in ["/openapi.json", "/docs"] {
        let served = app.get(path).send();
        assert_conforms(&served, "get", path);
        let etag = assert_etag(&served);
        let not_modified = app.get(path).header("If-None-Match", &etag).send();
        assert_eq!(not_modified.status, 304, "{path}");
        assert_conforms(&not_modified, "get", path);
    }
}

#[test]
fn a_replayed_create_and_a_reused_or_malformed_idempotency_key_are_answered_as_documented() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    app.register("bob");
    let (_, project_path) = project_with_a_task(&app, &ann);
    // Each create, with a body and another body for the same key.
    let creates = [
        (
            "/tasks".to_owned(),
            "/tasks",
            json!({"title": "Buy milk"}),
            json!({"title": "Buy tea"}),
        ),
        (
            "/projects".to_owned(),
            "/projects",
            json!({"name": "Work"}),
            json!({"name": "Play"}),
        ),
        (
            format!("{project_path}/tasks"),
            "/projects/{id}/tasks",
            json!({"title": "Paint"}),
            json!({"title": "Sand"}),
        ),
        (
            format!("{project_path}/members"),
            "/projects/{id}/members",
            json!({"user": "bob", "role": "viewer"}),
            json!({"user": "bob", "role": "editor"}),
        ),
    ];
    for (number, (path, pattern, body, other)) in creates.into_iter().enumerate() {
        let key = format!("create-{number}");
        let send = |body: Value| {
            app.post(&path)
                .bearer(&ann.token)
                .header("Idempotency-Key", &key)
                .json(body)
        };
        let first = send(body.clone());
        assert_eq!(first.status, 201, "POST {path}: {}", first.text);
        assert_conforms(&first, "post", pattern);
        assert_eq!(first.header("Idempotent-Replayed"), None);

        let replayed = send(body.clone());
        assert_conforms(&replayed, "post", pattern);
        assert_eq!(
            replayed.header("Idempotent-Replayed"),
            Some("true"),
            "POST {path}"
        );
        assert_eq!((replayed.status, &replayed.body), (201, &first.body));
        for header in ["Location", "ETag", "Content-Type"] {
            assert_eq!(
                replayed.header(header),
                first.header(header),
                "POST {path} {header}"
            );
        }

        let reused = send(other);
        assert_eq!(reused.invalid_fields(), ["Idempotency-Key"], "POST {path}");
        assert_conforms(&reused, "post", pattern);

        let malformed = app
            .post(&path)
            .bearer(&ann.token)
            .header("Idempotency-Key", "no spaces allowed")
            .json(body);
        assert_eq!(malformed.status, 400, "POST {path}: {}", malformed.text);
        assert_conforms(&malformed, "post", pattern);
    }
}

/// `(kind, op)` of each entry of a `/changes` answer.
fn kinds_and_ops(reply: &Reply) -> Vec<(String, String)> {
    reply.body["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes array: {}", reply.text))
        .iter()
        .map(|entry| {
            let text = |field: &str| entry[field].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("op"))
        })
        .collect()
}

#[test]
fn the_change_feed_and_its_errors_are_answered_as_documented() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let start = app.get("/changes").bearer(&ann.token).send();
    assert_conforms(&start, "get", "/changes");
    assert_eq!(
        start.body["changes"],
        json!([]),
        "without since, nothing yet"
    );
    let cursor = start.body["next"].as_str().unwrap().to_owned();

    project_with_a_task(&app, &ann);
    let gone = app.create_task(&ann, json!({"title": "Buy milk"}));
    let deleted = app
        .delete(&format!("/tasks/{}", gone["id"]))
        .bearer(&ann.token)
        .send();
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    // On PostgreSQL the feed holds entries back while any older
    // transaction in the cluster (another test's) still runs.
    let wanted = [
        ("project", "upsert"),
        ("task", "upsert"),
        ("task", "delete"),
    ];
    let mut feed = None;
    for _ in 0..200 {
        let reply = app
            .get(&format!("/changes?since={cursor}&limit=10"))
            .bearer(&ann.token)
            .send();
        let seen = kinds_and_ops(&reply);
        let complete = wanted
            .iter()
            .all(|(kind, op)| seen.contains(&(kind.to_string(), op.to_string())));
        feed = Some(reply);
        if complete {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let feed = feed.unwrap();
    assert_conforms(&feed, "get", "/changes");
    let seen = kinds_and_ops(&feed);
    for (kind, op) in wanted {
        assert!(
            seen.contains(&(kind.to_owned(), op.to_owned())),
            "{kind} {op}: {}",
            feed.text
        );
    }
    let next = feed.body["next"].as_str().unwrap().to_owned();

    for (query, status) in [
        ("since=abc", 400),
        ("offset=1", 400),
        ("sort=id", 400),
        ("limit=0", 422),
    ] {
        let refused = app
            .get(&format!("/changes?{query}"))
            .bearer(&ann.token)
            .send();
        refused.assert_problem(status);
        assert_conforms(&refused, "get", "/changes");
    }
    let anonymous = app.get("/changes").send();
    anonymous.assert_problem(401);
    assert_conforms(&anonymous, "get", "/changes");

    // Forty days pass, and the maintenance purge runs: the first cursor
    // is from before entries the log no longer keeps (`next`, after them,
    // lost nothing and still reads on).
    app.db
        .execute("UPDATE change_log SET logged_at = logged_at - 40 * 86400");
    let db = Db::open(&app.db.database()).unwrap();
    assert!(changes::purge(&db, taskapi::time::unix_now()).unwrap() > 0);
    let expired = app
        .get(&format!("/changes?since={cursor}"))
        .bearer(&ann.token)
        .send();
    expired.assert_problem(410);
    assert_conforms(&expired, "get", "/changes");
    let current = app
        .get(&format!("/changes?since={next}"))
        .bearer(&ann.token)
        .send();
    assert_conforms(&current, "get", "/changes");
    assert_eq!(current.status, 200, "{}", current.text);
}

#[test]
fn the_conditional_and_idempotency_headers_have_no_example_for_swagger_ui_to_fill_in() {
    // Swagger UI's "Try it out" pre-fills a parameter with its example: an
    // example Idempotency-Key would make every create after the first a
    // 422, and an example If-Match every write a 412.
    let document = document();
    for name in [
        "If-Match",
        "If-None-Match",
        "If-None-Match-write",
        "Idempotency-Key",
    ] {
        let parameter = &document["components"]["parameters"][name];
        assert!(parameter.is_object(), "{name} is a parameter component");
        assert!(parameter.get("example").is_none(), "{name}");
        assert!(parameter.get("examples").is_none(), "{name}");
        assert!(parameter["schema"].get("example").is_none(), "{name}");
        assert!(parameter["schema"].get("default").is_none(), "{name}");
    }
}

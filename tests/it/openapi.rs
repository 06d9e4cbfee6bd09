//! The OpenAPI document tells the truth: it lists exactly the routes the
//! router serves, and real responses match its schemas.
//!
//! The schema check is a small JSON Schema subset (type, properties,
//! required, additionalProperties, items, enum, $ref, oneOf/anyOf/allOf,
//! length and range bounds): enough for the document's own schemas, with no
//! validator crate to compile.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use taskapi::api::docs::OPENAPI_JSON;
use taskapi::router::ROUTES;

use crate::support::{Reply, TestApp};

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
/// its status: the status must be documented, and the body must match the
/// schema of its content type.
#[track_caller]
fn assert_conforms(reply: &Reply, method: &str, path: &str) {
    let document = document();
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let mut response = &operation["responses"][reply.status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: status {} is not documented ({})",
        reply.status,
        reply.text
    );
    if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        response = resolve(&document, reference);
    }
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
    let mut problems = Vec::new();
    check(&document, schema, &reply.body, "$", &mut problems);
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

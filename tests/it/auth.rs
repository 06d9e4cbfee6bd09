//! Accounts: registering, logging in with JSON or an OAuth2 form, `/auth/me`.

use serde_json::json;

use crate::support::{TestApp, password_of};

#[test]
fn registering_with_a_username_returns_a_session_and_logs_you_in() {
    let app = TestApp::spawn();
    let reply = app
        .post("/auth/register")
        .json(json!({"username": "ann", "password": "correct horse"}));

    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("Location"), Some("/auth/me"));
    assert_eq!(reply.body["token_type"], "bearer");
    assert_eq!(reply.body["expires_in"], 1800);
    let user = &reply.body["user"];
    assert_eq!(user["username"], "ann");
    assert_eq!(user["email"], json!(null));
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    assert!(
        user["created_at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z'))
    );
    assert_eq!(
        user.as_object().unwrap().len(),
        4,
        "no other fields: {user}"
    );

    let token = reply.body["access_token"].as_str().unwrap();
    let me = app.get("/auth/me").bearer(token).send();
    assert_eq!(me.status, 200);
    assert_eq!(&me.body, user);
}

#[test]
fn registering_with_only_an_email_or_with_both_works() {
    let app = TestApp::spawn();
    let email_only = app
        .post("/register")
        .json(json!({"email": "bob@example.com", "password": "password-bob"}));
    assert_eq!(email_only.status, 201, "{}", email_only.text);
    assert_eq!(email_only.body["user"]["username"], json!(null));
    assert_eq!(email_only.body["user"]["email"], "bob@example.com");

    let both = app
        .post("/auth/register")
        .json(json!({"username": "cat", "email": "cat@example.com", "password": "password-cat"}));
    assert_eq!(both.status, 201, "{}", both.text);
    assert_eq!(both.body["user"]["username"], "cat");
    assert_eq!(both.body["user"]["email"], "cat@example.com");
}

#[test]
fn a_taken_username_or_email_is_a_409_whatever_its_case() {
    let app = TestApp::spawn();
    let first = app
        .post("/auth/register")
        .json(json!({"username": "ann", "email": "ann@example.com", "password": "password-ann"}));
    assert_eq!(first.status, 201);

    for body in [
        json!({"username": "ANN", "password": "password-x1"}),
        json!({"email": "Ann@Example.COM", "password": "password-x2"}),
        // A username may contain @, but not equal someone's email: login
        // takes either in one field and must find one account.
        json!({"username": "ann@example.com", "password": "password-x3"}),
    ] {
        let reply = app.post("/auth/register").json(body.clone());
        reply.assert_problem(409);
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("already taken"),
            "{body}: {}",
            reply.text
        );
    }
}

#[test]
fn invalid_registrations_list_every_bad_field_at_once() {
    let app = TestApp::spawn();
    let reply = app
        .post("/auth/register")
        .json(json!({"username": "ab", "email": "not-an-email", "password": "short"}));
    assert_eq!(reply.invalid_fields(), ["email", "password", "username"]);

    for (body, field) in [
        (
            json!({"username": "ann smith", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "x".repeat(65), "password": "long enough"}),
            "username",
        ),
        (json!({"email": "a@", "password": "long enough"}), "email"),
        (json!({"email": "@b", "password": "long enough"}), "email"),
        (
            json!({"email": "a@b@c", "password": "long enough"}),
            "email",
        ),
        (json!({"password": "long enough"}), "username"),
        (json!({"username": "ann"}), "password"),
        (
            json!({"username": "ann", "password": "x".repeat(1025)}),
            "password",
        ),
        // Seven characters, fourteen bytes: the policy counts characters.
        (
            json!({"username": "ann", "password": "ééééééé"}),
            "password",
        ),
        (json!({"username": "ann", "password": 12345678}), "password"),
        (
            json!({"username": "ann", "password": "long enough", "role": "admin"}),
            "role",
        ),
    ] {
        let reply = app.post("/auth/register").json(body.clone());
        assert_eq!(reply.invalid_fields(), [field], "{body}");
    }
    // None of those created an account.
    let login = app
        .post("/auth/login")
        .json(json!({"username": "ann", "password": "long enough"}));
    login.assert_problem(401);
}

#[test]
fn passwords_of_8_and_1024_characters_are_accepted_and_never_echoed() {
    let app = TestApp::spawn();
    let short = app
        .post("/auth/register")
        .json(json!({"username": "ann", "password": "éééééééé"}));
    assert_eq!(short.status, 201, "{}", short.text);
    assert!(!short.text.contains("éééééééé"));
    assert!(!short.text.contains("argon2"));

    let long_password = "p".repeat(1024);
    let long = app
        .post("/auth/register")
        .json(json!({"username": "bob", "password": long_password}));
    assert_eq!(long.status, 201, "{}", long.text);
    // The whole password counts: a prefix does not log in.
    let prefix = app
        .post("/auth/login")
        .json(json!({"username": "bob", "password": "p".repeat(1023)}));
    prefix.assert_problem(401);
}

#[test]
fn passwords_are_stored_only_as_argon2id_hashes() {
    let app = TestApp::spawn();
    app.register("ann");
    let hash = app
        .db
        .scalar("SELECT password_hash FROM \"user\"")
        .expect("a hash");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(&password_of("ann")));
}

#[test]
fn login_accepts_json_by_username_or_by_email() {
    let app = TestApp::spawn();
    app.post("/auth/register")
        .json(json!({"username": "ann", "email": "ann@example.com", "password": "password-ann"}));

    for body in [
        json!({"username": "ann", "password": "password-ann"}),
        json!({"username": "ANN", "password": "password-ann"}),
        json!({"email": "ann@example.com", "password": "password-ann"}),
        json!({"username": "ann@example.com", "password": "password-ann"}),
    ] {
        let reply = app.post("/auth/login").json(body.clone());
        assert_eq!(reply.status, 200, "{body}: {}", reply.text);
        assert_eq!(reply.body["user"]["username"], "ann");
        let token = reply.body["access_token"].as_str().unwrap();
        assert_eq!(app.get("/auth/me").bearer(token).send().status, 200);
    }
}

#[test]
fn login_accepts_an_oauth2_password_form_on_every_alias() {
    let app = TestApp::spawn();
    app.post("/auth/register")
        .json(json!({"username": "ann", "email": "ann@example.com", "password": "pass word+1"}));

    for path in ["/auth/login", "/login", "/auth", "/api/v1/auth/login/"] {
        for login in ["ann", "ann%40example.com"] {
            let form = format!(
                "grant_type=password&username={login}&password=pass+word%2B1&scope=&client_id="
            );
            let reply = app.post(path).form(&form);
            assert_eq!(reply.status, 200, "{path} {login}: {}", reply.text);
            assert_eq!(reply.body["token_type"], "bearer");
            assert!(reply.body["access_token"].is_string());
        }
    }
}

#[test]
fn a_form_login_with_another_grant_type_or_missing_fields_is_a_422() {
    let app = TestApp::spawn();
    app.register("ann");
    let reply = app
        .post("/auth/login")
        .form("grant_type=client_credentials&username=ann&password=password-ann");
    assert_eq!(reply.invalid_fields(), ["grant_type"]);
    let reply = app.post("/auth/login").form("username=ann");
    assert_eq!(reply.invalid_fields(), ["password"]);
}

#[test]
fn wrong_password_and_unknown_user_get_identical_401s() {
    let app = TestApp::spawn();
    app.register("ann");

    let wrong_password = app
        .post("/auth/login")
        .json(json!({"username": "ann", "password": "not her password"}));
    let unknown_user = app
        .post("/auth/login")
        .json(json!({"username": "nobody", "password": "not her password"}));
    let wrong_form = app
        .post("/auth/login")
        .form("username=ann&password=not+her+password");

    wrong_password.assert_problem(401);
    assert_eq!(wrong_password.text, unknown_user.text);
    assert_eq!(wrong_password.text, wrong_form.text);
    assert_eq!(
        wrong_password.header("WWW-Authenticate"),
        unknown_user.header("WWW-Authenticate")
    );
}

#[test]
fn me_requires_a_token() {
    let app = TestApp::spawn();
    let reply = app.get("/auth/me").send();
    reply.assert_problem(401);
    assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
}

#[test]
fn responses_carrying_credentials_are_not_cacheable_and_nothing_is_sniffed() {
    let app = TestApp::spawn();
    let registered = app
        .post("/auth/register")
        .json(json!({"username": "ann", "password": "password-ann"}));
    let logged_in = app
        .post("/auth/login")
        .form("username=ann&password=password-ann");
    let token = logged_in.body["access_token"].as_str().unwrap().to_owned();
    let key = app
        .post("/auth/api-keys")
        .bearer(&token)
        .json(json!({"name": "cron"}));
    for reply in [&registered, &logged_in, &key] {
        assert_eq!(
            reply.header("Cache-Control"),
            Some("no-store"),
            "{}",
            reply.text
        );
    }
    for reply in [
        &registered,
        &app.get("/healthz").send(),
        &app.get("/nope").send(),
    ] {
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    }
}

//! Accounts for real use: API keys, changing the password, logging out,
//! deleting the account, and login throttling.
//!
//! Every test is an HTTP conversation with a real server; a few also open
//! the SQLite file underneath to check what the API cannot show (no
//! plaintext key is stored; a deleted account leaves no rows behind).

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwt_simple::prelude::{Claims, HS256Key, MACLike};
use serde_json::{Value, json};

use crate::support::{Reply, Session, TEST_SECRET, TestApp, password_of};

// API keys.

#[test]
fn an_api_key_is_shown_once_then_used_listed_without_its_secret_and_revoked() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/auth/api-keys")
        .bearer(&ann.token)
        .json(json!({"name": "backup script"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let mut fields: Vec<&str> = created
        .body
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "key",
            "last_used_at",
            "name",
            "prefix"
        ]
    );
    assert_eq!(created.body["name"], "backup script");
    assert_eq!(created.body["expires_at"], Value::Null);
    assert_eq!(created.body["last_used_at"], Value::Null);
    assert!(
        is_rfc3339_utc(&created.body["created_at"]),
        "{}",
        created.text
    );
    let id = created.body["id"].as_i64().expect("an integer id");
    let key = created.body["key"].as_str().expect("a key").to_owned();
    let prefix = created.body["prefix"].as_str().expect("a prefix");
    assert!(key.starts_with("tk_"), "{key}");
    assert!(
        key.starts_with(prefix),
        "{key} does not start with {prefix}"
    );
    assert!(prefix.len() < key.len(), "the prefix is not the whole key");
    // At least 128 bits even if written in hex.
    assert!(key.len() >= "tk_".len() + 32, "{key} is too short");

    // The key works on ordinary routes with either header, as its owner.
    for header in ["Authorization", "X-API-Key"] {
        let value = match header {
            "Authorization" => format!("Bearer {key}"),
            _ => key.clone(),
        };
        let title = format!("made with {header}");
        let made = app
            .post("/tasks")
            .header(header, &value)
            .json(json!({"title": title}));
        assert_eq!(made.status, 201, "{header}: {}", made.text);
        assert_eq!(made.body["title"], title.as_str());
        let listed = app.get("/tasks").header(header, &value).send();
        assert_eq!(listed.status, 200, "{header}: {}", listed.text);
        assert!(listed.text.contains(&title), "{header}: {}", listed.text);
    }
    let owners_view = app.get("/tasks").bearer(&ann.token).send();
    assert!(owners_view.text.contains("made with Authorization"));
    assert!(owners_view.text.contains("made with X-API-Key"));

    // The list shows the key without its secret, and when it was last used.
    let list = app.get("/auth/api-keys").bearer(&ann.token).send();
    assert_eq!(list.status, 200, "{}", list.text);
    let keys = list.body.as_array().expect("a JSON array");
    assert_eq!(keys.len(), 1, "{}", list.text);
    let listed = keys[0].as_object().expect("a JSON object");
    assert!(!listed.contains_key("key"), "{}", list.text);
    assert!(!list.text.contains(&key), "the secret leaks: {}", list.text);
    assert_eq!(listed["id"], id);
    assert_eq!(listed["name"], "backup script");
    assert_eq!(listed["prefix"], prefix);
    assert_eq!(listed["created_at"], created.body["created_at"]);
    assert!(
        is_rfc3339_utc(&listed["last_used_at"]),
        "last_used_at is not set after use: {}",
        list.text
    );
    assert!(
        listed["last_used_at"].as_str() >= listed["created_at"].as_str(),
        "{}",
        list.text
    );

    // Revoked, it is refused exactly like a token that never existed.
    let revoked = app
        .delete(&format!("/auth/api-keys/{id}"))
        .bearer(&ann.token)
        .send();
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(revoked.text, "");
    let garbage = app.get("/tasks").bearer("not-a-token").send();
    garbage.assert_problem(401);
    for reply in [
        app.get("/tasks").bearer(&key).send(),
        app.get("/tasks").header("X-API-Key", &key).send(),
    ] {
        reply.assert_problem(401);
        assert_eq!(reply.text, garbage.text);
    }
    let list = app.get("/auth/api-keys").bearer(&ann.token).send();
    assert_eq!(list.body, json!([]));
}

#[test]
fn an_unknown_or_malformed_api_key_is_the_same_401_as_a_garbage_token() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let key = create_key(&app, &ann, json!({"name": "real"}));
    let garbage = app.get("/tasks").bearer("not-a-token").send();
    garbage.assert_problem(401);

    // One character changed, the prefix alone, and the bare prefix.
    let mut altered = key[..key.len() - 1].to_owned();
    altered.push(if key.ends_with('0') { '1' } else { '0' });
    for bad in [altered.as_str(), &key[..11], "tk_"] {
        for reply in [
            app.get("/tasks").bearer(bad).send(),
            app.get("/tasks").header("X-API-Key", bad).send(),
        ] {
            reply.assert_problem(401);
            assert_eq!(reply.text, garbage.text, "{bad}");
        }
    }
    assert_eq!(app.get("/tasks").bearer(&key).send().status, 200);
}

#[test]
fn the_database_stores_only_a_32_byte_hash_of_each_api_key() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let keys = [
        create_key(&app, &ann, json!({"name": "first"})),
        create_key(&app, &ann, json!({"name": "second"})),
    ];
    assert_ne!(keys[0], keys[1]);

    // Every value as text, a blob as hex: the key must be in none of them,
    // neither as text nor as the hex of its bytes.
    let columns = app.db.columns("api_key");
    let hash_column = columns
        .iter()
        .position(|name| name == "key_hash")
        .expect("a key_hash column");
    let rows = app.db.query("SELECT * FROM api_key");
    assert_eq!(rows.len(), 2);

    for row in &rows {
        for (column, value) in columns.iter().zip(row) {
            let Some(value) = value else { continue };
            for key in &keys {
                let secret = &key["tk_".len()..];
                for needle in [
                    key.as_str(),
                    secret,
                    &hex(key.as_bytes()),
                    &hex(secret.as_bytes()),
                ] {
                    assert!(
                        !value.contains(needle),
                        "column {column} holds the key or its secret part"
                    );
                }
            }
        }
        let hash = row[hash_column].as_deref().expect("a key hash");
        assert_eq!(hash.len(), 64, "32 bytes, as hex: {hash}");
    }
    assert_ne!(rows[0][hash_column], rows[1][hash_column]);
}

#[test]
fn an_expires_at_in_the_past_or_malformed_is_a_422_and_creates_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let one_minute_ago = rfc3339(unix_now() - 60);
    for expires_at in [
        json!("2020-01-01T00:00:00Z"),
        json!(one_minute_ago),
        json!("tomorrow"),
        json!("2030-13-01T00:00:00Z"),
        json!("2030-01-01"),
        json!("2030-01-01T00:00:00"),
        json!(1_900_000_000),
    ] {
        let reply = app
            .post("/auth/api-keys")
            .bearer(&ann.token)
            .json(json!({"name": "script", "expires_at": expires_at}));
        assert_eq!(reply.invalid_fields(), ["expires_at"], "{expires_at}");
    }
    let reply = app
        .post("/auth/api-keys")
        .bearer(&ann.token)
        .json(json!({"expires_at": rfc3339(unix_now() + 3600)}));
    assert_eq!(reply.invalid_fields(), ["name"]);

    let list = app.get("/auth/api-keys").bearer(&ann.token).send();
    assert_eq!(list.status, 200);
    assert_eq!(list.body, json!([]));
}

#[test]
fn a_key_with_an_expiry_works_until_then_and_is_a_401_afterwards() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let expires = unix_now() + 3;
    let expires_at = rfc3339(expires);
    let created = app
        .post("/auth/api-keys")
        .bearer(&ann.token)
        .json(json!({"name": "short-lived", "expires_at": expires_at}));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["expires_at"], expires_at.as_str());
    let key = created.body["key"].as_str().unwrap();
    assert_eq!(app.get("/tasks").bearer(key).send().status, 200);

    // Wait until the expiry has certainly passed.
    thread::sleep(Duration::from_secs((expires + 1 - unix_now()).max(0) as u64));
    let garbage = app.get("/tasks").bearer("not-a-token").send();
    for reply in [
        app.get("/tasks").bearer(key).send(),
        app.get("/tasks").header("X-API-Key", key).send(),
    ] {
        reply.assert_problem(401);
        assert_eq!(reply.text, garbage.text);
    }
}

#[test]
fn a_key_whose_stored_expiry_has_passed_is_refused() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let key = create_key(
        &app,
        &ann,
        json!({"name": "yearly", "expires_at": rfc3339(unix_now() + 365 * 86_400)}),
    );
    assert_eq!(app.get("/tasks").bearer(&key).send().status, 200);

    app.db.execute(&format!(
        "UPDATE api_key SET expires_at = {}",
        unix_now() - 10
    ));
    assert_eq!(
        app.db.scalar("SELECT count(*) FROM api_key").as_deref(),
        Some("1")
    );

    let garbage = app.get("/tasks").bearer("not-a-token").send();
    let reply = app.get("/tasks").header("X-API-Key", &key).send();
    reply.assert_problem(401);
    assert_eq!(reply.text, garbage.text);
    // The owner's token is unaffected.
    assert_eq!(app.get("/tasks").bearer(&ann.token).send().status, 200);
}

#[test]
fn an_api_key_gets_403_on_every_route_that_needs_a_password_login() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let key = create_key(&app, &ann, json!({"name": "script"}));
    let key_id = list_keys(&app, &ann)[0]["id"].as_i64().unwrap();
    let delete_key_path = format!("/auth/api-keys/{key_id}");

    for header in ["Authorization", "X-API-Key"] {
        let value = match header {
            "Authorization" => format!("Bearer {key}"),
            _ => key.clone(),
        };
        let replies = [
            (
                "POST /auth/api-keys",
                app.post("/auth/api-keys")
                    .header(header, &value)
                    .json(json!({"name": "another"})),
            ),
            (
                "GET /auth/api-keys",
                app.get("/auth/api-keys").header(header, &value).send(),
            ),
            (
                "DELETE /auth/api-keys/{id}",
                app.delete(&delete_key_path).header(header, &value).send(),
            ),
            (
                "PUT /auth/password",
                app.put("/auth/password")
                    .header(header, &value)
                    .json(json!({
                        "current_password": password_of("ann"),
                        "new_password": "a brand new password",
                    })),
            ),
            (
                "POST /auth/logout",
                app.post("/auth/logout").header(header, &value).send(),
            ),
            (
                "DELETE /auth/me",
                app.delete("/auth/me")
                    .header(header, &value)
                    .json(json!({"password": password_of("ann")})),
            ),
        ];
        for (route, reply) in replies {
            let body = reply.assert_problem(403);
            let detail = body["detail"].as_str().unwrap().to_lowercase();
            assert!(
                detail.contains("api key") && detail.contains("password"),
                "{header} on {route}: unclear detail {detail:?}"
            );
        }
    }

    // Nothing changed: the token was not revoked, the account and the key
    // still exist, no key was added, and the password is the old one.
    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);
    let keys = list_keys(&app, &ann);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["id"], key_id);
    assert_eq!(app.get("/tasks").bearer(&key).send().status, 200);
    login(&app, "ann", &password_of("ann")).assert_status(200);
    login(&app, "ann", "a brand new password").assert_problem(401);
}

#[test]
fn revoking_another_users_key_is_a_404_and_the_key_keeps_working() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let key = create_key(&app, &ann, json!({"name": "ann's script"}));
    let key_id = list_keys(&app, &ann)[0]["id"].as_i64().unwrap();

    let reply = app
        .delete(&format!("/auth/api-keys/{key_id}"))
        .bearer(&bob.token)
        .send();
    let body = reply.assert_problem(404);
    // The same answer as for a key that does not exist at all.
    let missing = app
        .delete(&format!("/auth/api-keys/{}", key_id + 1000))
        .bearer(&bob.token)
        .send();
    missing.assert_problem(404);
    assert_eq!(body["title"], missing.body["title"]);
    // Bob's list does not show it either.
    assert_eq!(list_keys(&app, &bob), Vec::<Value>::new());

    assert_eq!(
        app.get("/auth/me").bearer(&key).send().body["username"],
        "ann"
    );
    assert_eq!(list_keys(&app, &ann).len(), 1);
}

// Changing the password.

#[test]
fn changing_the_password_revokes_earlier_tokens_but_not_api_keys() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let key = create_key(&app, &ann, json!({"name": "script"}));
    let other_session = login(&app, "ann", &password_of("ann"));
    other_session.assert_status(200);
    let other_token = other_session.body["access_token"].as_str().unwrap();

    let reply = app.put("/auth/password").bearer(&ann.token).json(json!({
        "current_password": password_of("ann"),
        "new_password": "correct horse battery",
    }));
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(reply.text, "", "the response carries no token");

    let garbage = app.get("/auth/me").bearer("not-a-token").send();
    for token in [ann.token.as_str(), other_token] {
        let reply = app.get("/auth/me").bearer(token).send();
        reply.assert_problem(401);
        assert_eq!(reply.text, garbage.text);
    }
    login(&app, "ann", &password_of("ann")).assert_problem(401);
    let fresh = login(&app, "ann", "correct horse battery");
    fresh.assert_status(200);
    let fresh_token = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/auth/me").bearer(fresh_token).send().status, 200);
    assert_eq!(app.get("/auth/me").bearer(&key).send().status, 200);
    assert_eq!(
        app.get("/tasks").header("X-API-Key", &key).send().status,
        200
    );
}

#[test]
fn a_new_password_must_follow_the_registration_policy() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for (body, fields) in [
        (
            json!({"current_password": password_of("ann"), "new_password": "7-chars"}),
            vec!["new_password"],
        ),
        (
            json!({"current_password": password_of("ann"), "new_password": "x".repeat(1025)}),
            vec!["new_password"],
        ),
        (
            json!({"current_password": password_of("ann")}),
            vec!["new_password"],
        ),
        (
            json!({"new_password": "long enough"}),
            vec!["current_password"],
        ),
        (json!({}), vec!["current_password", "new_password"]),
    ] {
        let reply = app
            .put("/auth/password")
            .bearer(&ann.token)
            .json(body.clone());
        assert_eq!(reply.invalid_fields(), fields, "{body}");
    }
    // None of those changed anything.
    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);
    login(&app, "ann", &password_of("ann")).assert_status(200);
    login(&app, "ann", "long enough").assert_problem(401);
}

#[test]
fn a_wrong_current_password_is_a_401_and_leaves_the_password_alone() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let reply = app.put("/auth/password").bearer(&ann.token).json(json!({
        "current_password": "not my password",
        "new_password": "correct horse battery",
    }));
    reply.assert_problem(401);

    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);
    login(&app, "ann", "correct horse battery").assert_problem(401);
    login(&app, "ann", &password_of("ann")).assert_status(200);
}

// Logging out.

#[test]
fn logging_out_revokes_every_earlier_token_but_not_api_keys() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let first = login(&app, "ann", &password_of("ann"));
    let second = login(&app, "ann", &password_of("ann"));
    first.assert_status(200);
    second.assert_status(200);
    let tokens = [
        ann.token.clone(),
        first.body["access_token"].as_str().unwrap().to_owned(),
        second.body["access_token"].as_str().unwrap().to_owned(),
    ];
    let key = create_key(&app, &ann, json!({"name": "script"}));

    let reply = app.post("/auth/logout").bearer(&tokens[2]).send();
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(reply.text, "");

    let garbage = app.get("/auth/me").bearer("not-a-token").send();
    for token in &tokens {
        let reply = app.get("/auth/me").bearer(token).send();
        reply.assert_problem(401);
        assert_eq!(reply.text, garbage.text);
    }
    // Logging out again with a revoked token is refused too.
    app.post("/auth/logout")
        .bearer(&tokens[0])
        .send()
        .assert_problem(401);

    let fresh = login(&app, "ann", &password_of("ann"));
    fresh.assert_status(200);
    let fresh_token = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/auth/me").bearer(fresh_token).send().status, 200);
    assert_eq!(app.get("/tasks").bearer(&key).send().status, 200);
    // Another user's session is not touched.
    assert_eq!(app.get("/auth/me").bearer(&bob.token).send().status, 200);
}

// Deleting the account.

#[test]
fn deleting_the_account_removes_its_rows_and_locks_out_its_tokens_and_keys() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let mut keys = Vec::new();
    for session in [&ann, &bob] {
        let project = app
            .post("/projects")
            .bearer(&session.token)
            .json(json!({"name": "Home"}));
        assert_eq!(project.status, 201, "{}", project.text);
        let project_id = project.body["id"].as_i64().unwrap();
        let in_project = app
            .post(&format!("/projects/{project_id}/tasks"))
            .bearer(&session.token)
            .json(json!({"title": "Fix the sink"}));
        assert_eq!(in_project.status, 201, "{}", in_project.text);
        app.create_task(session, json!({"title": "Buy milk"}));
        keys.push(create_key(&app, session, json!({"name": "script"})));
    }
    let second = login(&app, "ann", &password_of("ann"));
    second.assert_status(200);
    let second_token = second.body["access_token"].as_str().unwrap();
    let before_bob = rows_of(&app, bob.user_id);
    assert_eq!(before_bob, [1, 1, 2, 1]);
    assert_eq!(rows_of(&app, ann.user_id), [1, 1, 2, 1]);

    let reply = app
        .delete("/auth/me")
        .bearer(&ann.token)
        .json(json!({"password": password_of("ann")}));
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(reply.text, "");

    let garbage = app.get("/auth/me").bearer("not-a-token").send();
    for reply in [
        app.get("/auth/me").bearer(&ann.token).send(),
        app.get("/auth/me").bearer(second_token).send(),
        app.get("/tasks").bearer(&keys[0]).send(),
        app.get("/tasks").header("X-API-Key", &keys[0]).send(),
    ] {
        reply.assert_problem(401);
        assert_eq!(reply.text, garbage.text);
    }
    login(&app, "ann", &password_of("ann")).assert_problem(401);

    assert_eq!(rows_of(&app, ann.user_id), [0, 0, 0, 0]);
    assert_eq!(rows_of(&app, bob.user_id), before_bob);
    assert_eq!(app.get("/tasks").bearer(&keys[1]).send().status, 200);
    let bobs_tasks = app.get("/tasks").bearer(&bob.token).send();
    assert_eq!(bobs_tasks.status, 200);
    assert!(bobs_tasks.text.contains("Fix the sink"));
    assert!(bobs_tasks.text.contains("Buy milk"));
}

#[test]
fn deleting_the_account_needs_the_right_password() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    app.create_task(&ann, json!({"title": "Buy milk"}));
    let key = create_key(&app, &ann, json!({"name": "script"}));

    let wrong = app
        .delete("/auth/me")
        .bearer(&ann.token)
        .json(json!({"password": "not my password"}));
    wrong.assert_problem(401);
    let missing = app.delete("/auth/me").bearer(&ann.token).json(json!({}));
    assert_eq!(missing.invalid_fields(), ["password"]);

    assert_eq!(rows_of(&app, ann.user_id), [1, 0, 1, 1]);
    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);
    assert_eq!(app.get("/tasks").bearer(&key).send().status, 200);
    login(&app, "ann", &password_of("ann")).assert_status(200);
}

// Login throttling.

#[test]
fn the_sixth_attempt_is_a_429_even_with_the_right_password_until_the_window_passes() {
    let window = 3;
    let app = TestApp::spawn_configured(|config| config.login_window_seconds = window);
    app.register("ann");

    for attempt in 1..=5 {
        let reply = login(&app, "ann", "not my password");
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
        reply.assert_problem(401);
    }
    for password in ["not my password".to_owned(), password_of("ann")] {
        let reply = login(&app, "ann", &password);
        reply.assert_problem(429);
        assert_retry_after_within(&reply, window);
    }
    // The same account by another spelling of its name is locked too.
    login(&app, "ANN", &password_of("ann")).assert_problem(429);

    thread::sleep(Duration::from_secs(window + 1));
    let reply = login(&app, "ann", &password_of("ann"));
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn unknown_usernames_are_throttled_like_real_ones() {
    let app = TestApp::spawn();
    app.register("ann");
    let real = login(&app, "ann", "not my password");
    real.assert_problem(401);

    for attempt in 1..=5 {
        let reply = login(&app, "nobody", "some password");
        reply.assert_problem(401);
        assert_eq!(reply.text, real.text, "attempt {attempt}");
    }
    let reply = login(&app, "nobody", "some password");
    reply.assert_problem(429);
    assert_retry_after_within(&reply, 900);
    // Unknown names are compared like real ones: case does not matter.
    login(&app, "NoBody", "some password").assert_problem(429);
    // Another name and the real user are not affected.
    login(&app, "somebody", "some password").assert_problem(401);
    login(&app, "ann", &password_of("ann")).assert_status(200);
}

#[test]
fn a_successful_login_resets_the_accounts_failure_count() {
    let app = TestApp::spawn();
    app.register("ann");
    for attempt in 1..=4 {
        let reply = login(&app, "ann", "not my password");
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
    }
    login(&app, "ann", &password_of("ann")).assert_status(200);
    // A fresh count of five failures, not one.
    for attempt in 1..=5 {
        let reply = login(&app, "ann", "not my password");
        assert_eq!(
            reply.status, 401,
            "attempt {attempt} after the reset: {}",
            reply.text
        );
    }
    login(&app, "ann", "not my password").assert_problem(429);
}

#[test]
fn failures_from_one_address_across_usernames_lock_out_that_address() {
    let app = TestApp::spawn_configured(|config| {
        config.login_max_failures = 100;
        config.login_max_failures_per_address = 8;
    });
    app.register("ann");
    app.register("zed");

    let names = ["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"];
    for name in names {
        let reply = login(&app, name, "not the password");
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
    }
    // A username never tried before, and a real user with the right
    // password: the address is over its limit.
    let fresh = login(&app, "ivy", "not the password");
    fresh.assert_problem(429);
    assert_retry_after_within(&fresh, 900);
    let real = login(&app, "zed", &password_of("zed"));
    real.assert_problem(429);
    assert_retry_after_within(&real, 900);
}

#[test]
fn wrong_current_passwords_count_toward_the_same_limit_as_logins() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for attempt in 1..=3 {
        let reply = app.put("/auth/password").bearer(&ann.token).json(json!({
            "current_password": "not my password",
            "new_password": "correct horse battery",
        }));
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
    }
    for attempt in 4..=5 {
        let reply = login(&app, "ann", "not my password");
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text);
    }

    let reply = login(&app, "ann", &password_of("ann"));
    reply.assert_problem(429);
    assert_retry_after_within(&reply, 900);
    let change = app.put("/auth/password").bearer(&ann.token).json(json!({
        "current_password": password_of("ann"),
        "new_password": "correct horse battery",
    }));
    change.assert_problem(429);
    assert_retry_after_within(&change, 900);
    // The refused change changed nothing: the token was not revoked.
    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);
}

// Tokens from before token generations existed.

#[test]
fn a_token_without_a_generation_claim_works_until_the_password_changes() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let legacy = legacy_token(ann.user_id);
    let me = app.get("/auth/me").bearer(&legacy).send();
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "ann");

    let reply = app.put("/auth/password").bearer(&ann.token).json(json!({
        "current_password": password_of("ann"),
        "new_password": "correct horse battery",
    }));
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.get("/auth/me")
        .bearer(&legacy)
        .send()
        .assert_problem(401);
}

#[test]
fn a_token_without_a_generation_claim_works_until_logout() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let legacy = legacy_token(ann.user_id);
    assert_eq!(app.get("/tasks").bearer(&legacy).send().status, 200);

    // It is a password-login token, so it may log itself out.
    let reply = app.post("/auth/logout").bearer(&legacy).send();
    assert_eq!(reply.status, 204, "{}", reply.text);
    app.get("/tasks").bearer(&legacy).send().assert_problem(401);
    app.get("/tasks")
        .bearer(&ann.token)
        .send()
        .assert_problem(401);
}

// Helpers.

/// Logs in with JSON.
fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    app.post("/auth/login")
        .json(json!({"username": username, "password": password}))
}

/// Creates an API key for `session` with `body` and returns the secret.
fn create_key(app: &TestApp, session: &Session, body: Value) -> String {
    let reply = app.post("/auth/api-keys").bearer(&session.token).json(body);
    assert_eq!(reply.status, 201, "creating an API key: {}", reply.text);
    reply.body["key"].as_str().expect("a key").to_owned()
}

/// The keys `GET /auth/api-keys` lists for `session`.
fn list_keys(app: &TestApp, session: &Session) -> Vec<Value> {
    let reply = app.get("/auth/api-keys").bearer(&session.token).send();
    assert_eq!(reply.status, 200, "listing API keys: {}", reply.text);
    reply.body.as_array().expect("a JSON array").clone()
}

/// How many user, project, task and api_key rows belong to `user_id`,
/// read straight from the database.
fn rows_of(app: &TestApp, user_id: i64) -> [i64; 4] {
    let count = |sql: &str| -> i64 {
        let sql = sql.replace("?1", &user_id.to_string());
        app.db
            .scalar(&sql)
            .expect("a count")
            .parse()
            .expect("a number")
    };
    [
        count("SELECT count(*) FROM \"user\" WHERE id = ?1"),
        count("SELECT count(*) FROM project WHERE owner_id = ?1"),
        count("SELECT count(*) FROM task WHERE owner_id = ?1"),
        count("SELECT count(*) FROM api_key WHERE owner_id = ?1"),
    ]
}

/// A valid token for `user_id` as a server without token generations
/// issued them: the standard claims and no `gen`.
fn legacy_token(user_id: i64) -> String {
    let claims = Claims::create(jwt_simple::prelude::Duration::from_mins(30))
        .with_issuer("taskapi")
        .with_audience("taskapi")
        .with_subject(user_id.to_string());
    HS256Key::from_bytes(TEST_SECRET)
        .authenticate(claims)
        .unwrap()
}

/// Asserts a `Retry-After` of a whole number of seconds in `1..=window`.
#[track_caller]
fn assert_retry_after_within(reply: &Reply, window: u64) {
    let header = reply.header("Retry-After").expect("a Retry-After header");
    let seconds: u64 = header
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not a whole number: {header:?}"));
    assert!(
        (1..=window).contains(&seconds),
        "Retry-After {seconds} is outside 1..={window}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, with Howard
/// Hinnant's `civil_from_days` (written out here rather than borrowed from
/// the server, so the test does not check the server against itself).
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Whether `value` is a string shaped like `2026-11-22T09:30:00Z`.
fn is_rfc3339_utc(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == 20
            && text.bytes().enumerate().all(|(index, byte)| match index {
                4 | 7 => byte == b'-',
                10 => byte == b'T',
                13 | 16 => byte == b':',
                19 => byte == b'Z',
                _ => byte.is_ascii_digit(),
            })
    })
}

/// `assert_problem` for success statuses: the status, with the body on
/// failure.
trait AssertStatus {
    fn assert_status(&self, status: u16);
}

impl AssertStatus for Reply {
    #[track_caller]
    fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.text);
    }
}

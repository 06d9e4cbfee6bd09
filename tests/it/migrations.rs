//! Schema migrations: a database made by an earlier version upgrades in
//! place at start-up, keeping its users, tasks and tokens.

use rusqlite::{Connection, params};
use serde_json::json;
use taskapi::auth::{Passwords, Tokens};

use crate::support::{Binary, assert_database_intact, binary_command};

/// Migration 1 exactly as the first release applied it.
const SCHEMA_V1: &str = include_str!("../../schema.sql");

#[test]
fn a_version_1_database_upgrades_in_place_with_users_tasks_and_tokens_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let key = b"the key a version 1 server generated".to_vec();
    {
        // What a version 1 server leaves behind: its schema, its generated
        // signing key, a user and their tasks.
        let db = Connection::open(&path).unwrap();
        db.execute_batch(SCHEMA_V1).unwrap();
        db.execute_batch("PRAGMA user_version = 1").unwrap();
        db.execute(
            "INSERT INTO setting (name, value) VALUES ('token_signing_key', ?1)",
            [&key],
        )
        .unwrap();
        let hash = Passwords::new(1).hash("password-ann").unwrap();
        db.execute(
            "INSERT INTO user (id, username, email, password_hash, created_at)
             VALUES (1, 'ann', 'ann@example.com', ?1, '2026-01-01T00:00:00Z')",
            [hash],
        )
        .unwrap();
        for (id, title, completed) in [(1, "first", false), (2, "second", true)] {
            db.execute(
                "INSERT INTO task (id, owner_id, title, description, due_date, completed, priority,
                                   created_at, updated_at)
                 VALUES (?1, 1, ?2, 'kept', '2026-02-03', ?3, 4,
                         '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
                params![id, title, completed],
            )
            .unwrap();
        }
    }
    // A token a version 1 server issued before the upgrade.
    let old_token = Tokens::new(&key, 1800).issue(1, 0).unwrap();

    let server = Binary::start(&path, &[], &[]);

    let me = server.call("GET", "/auth/me").bearer(&old_token).send();
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "ann");

    let tasks = server.call("GET", "/tasks").bearer(&old_token).send();
    assert_eq!(tasks.status, 200, "{}", tasks.text);
    assert_eq!(
        tasks.body,
        json!([
            {"id": 1, "project_id": null, "title": "first", "description": "kept",
             "due_date": "2026-02-03", "completed": false, "priority": 4,
             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"},
            {"id": 2, "project_id": null, "title": "second", "description": "kept",
             "due_date": "2026-02-03", "completed": true, "priority": 4,
             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"},
        ])
    );

    let login = server
        .call("POST", "/auth/login")
        .json(json!({"username": "ann", "password": "password-ann"}));
    assert_eq!(login.status, 200, "{}", login.text);

    // The new schema works on the old data: file a task under a project.
    let project = server
        .call("POST", "/projects")
        .bearer(&old_token)
        .json(json!({"name": "Home"}));
    assert_eq!(project.status, 201, "{}", project.text);
    let moved = server
        .call("PATCH", "/tasks/1")
        .bearer(&old_token)
        .json(json!({"project_id": project.body["id"]}));
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["project_id"], project.body["id"]);

    drop(server);
    let db = Connection::open(&path).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 3);
    drop(db);
    assert_database_intact(&path);
}

#[test]
fn a_database_from_a_newer_version_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let db = Connection::open(&path).unwrap();
        db.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let mut command = binary_command(&["--addr", "127.0.0.1:0"], &[]);
    command.arg("--db").arg(&path);
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("schema version 99 is newer"), "{stderr}");
}

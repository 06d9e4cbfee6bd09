//! Schema migrations: a database made by an earlier version upgrades in
//! place at start-up, keeping its users, tasks and tokens.
//!
//! An old database is built the way an old server built it: by applying the
//! released migration files it knew (they are never edited) and setting
//! `user_version`, then filling it with plain SQL.
//!
//! SQLite-specific (the files and `user_version` are SQLite's), so on SQLite
//! in both suites. PostgreSQL's migrations start at one file; every test on
//! PostgreSQL applies it to an empty schema, and `postgres.rs` has processes
//! starting together migrate once.

use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::{Value, json};
use taskapi::credentials::{Passwords, Tokens, hash_api_key};

use crate::support::{Binary, assert_database_intact, binary_command};

/// Migration 1 exactly as the first release applied it.
const SCHEMA_V1: &str = include_str!("../../schema.sql");
/// Migrations 2 and 3, which a version 3 server had applied on top.
const MIGRATION_2: &str = include_str!("../../migrations/0002-projects.sql");
const MIGRATION_3: &str = include_str!("../../migrations/0003-accounts.sql");

/// The newest schema version; every upgrade ends here.
const LATEST_VERSION: i64 = 7;

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
             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
             "assignee_id": null, "created_by": 1, "tags": [], "version": 1},
            {"id": 2, "project_id": null, "title": "second", "description": "kept",
             "due_date": "2026-02-03", "completed": true, "priority": 4,
             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
             "assignee_id": null, "created_by": 1, "tags": [], "version": 1},
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
    assert_eq!(version, LATEST_VERSION);
    drop(db);
    assert_database_intact(&path);
}

/// Migration 4 rebuilds `user`, the table every other table references,
/// with ids that are never reused. The rebuild must not lose or renumber a
/// row anywhere, nor leave a reference dangling.
#[test]
fn a_version_3_database_upgrades_in_place_with_every_row_and_reference_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    version_3_database(&path);
    let rows_before = every_row(&path);
    let user_table_before = user_table_shape(&path);

    // The server migrates before it listens; nothing else is written.
    drop(Binary::start(&path, &[], &[]));

    assert_eq!(every_row(&path), rows_before);
    assert_database_intact(&path);
    // Migration 6: every existing task was created by its owner.
    let uncredited: i64 = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM task WHERE created_by IS NOT owner_id",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(uncredited, 0);
    let db = Connection::open(&path).unwrap();
    // Migration 7: every existing task and project is at version 1.
    let versions: (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM task WHERE version <> 1) + \
                    (SELECT count(*) FROM project WHERE version <> 1), \
                    (SELECT count(*) FROM task) + (SELECT count(*) FROM project)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(versions, (0, 6));
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, LATEST_VERSION);
    drop(db);

    // Every column, constraint, index and reference as before: only
    // AUTOINCREMENT is new, and it has its bookkeeping row, starting from the
    // largest id in use.
    assert_eq!(user_table_shape(&path), user_table_before);
    let db = Connection::open(&path).unwrap();
    let user_sql: String = db
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'user'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        user_sql.contains("INTEGER PRIMARY KEY AUTOINCREMENT"),
        "{user_sql}"
    );
    assert!(user_sql.contains("-- An argon2id PHC string"), "{user_sql}");
    let sequence: i64 = db
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'user'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(sequence, 4);
    // The table's CHECK constraint came along too (table_xinfo cannot show it).
    let nameless = db.execute(
        "INSERT INTO user (password_hash, created_at) VALUES ('x', '2026-01-01T00:00:00Z')",
        [],
    );
    assert!(nameless.is_err(), "a user with neither username nor email");
}

/// The upgrade keeps what the fix is for: the newest account deletes itself,
/// its rows go with it, and the next account gets a new id, so the deleted
/// account's token finds nobody.
#[test]
fn after_the_upgrade_a_deleted_newest_users_rows_go_with_it_and_its_id_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let key = version_3_database(&path);
    let tokens = Tokens::new(&key, 1800);
    // Tokens the version 3 server issued: Ann had logged out twice.
    let anns_token = tokens.issue(1, 2).unwrap();
    let cats_token = tokens.issue(4, 0).unwrap();

    let server = Binary::start(&path, &[], &[]);

    // The old credentials still work and see their own rows.
    let me = server.call("GET", "/auth/me").bearer(&anns_token).send();
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["username"], "ann");
    let anns_project = server
        .call("GET", "/projects/2/tasks")
        .bearer(&anns_token)
        .send();
    assert_eq!(ids(&anns_project.body), [4], "{}", anns_project.text);
    let cats_tasks = server.call("GET", "/tasks").bearer(&api_key('c')).send();
    assert_eq!(ids(&cats_tasks.body), [6, 9], "{}", cats_tasks.text);

    // Cat, the newest account, deletes herself.
    let deleted = server
        .call("DELETE", "/auth/me")
        .bearer(&cats_token)
        .json(json!({"password": V3_PASSWORD}));
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let cats_key = server.call("GET", "/tasks").bearer(&api_key('c')).send();
    assert_eq!(cats_key.status, 401, "{}", cats_key.text);

    let dan = server
        .call("POST", "/auth/register")
        .json(json!({"username": "dan", "password": "password-dan"}));
    assert_eq!(dan.status, 201, "{}", dan.text);
    assert_eq!(
        dan.body["user"]["id"], 5,
        "Cat's id 4 is not given out again"
    );
    let me = server.call("GET", "/auth/me").bearer(&cats_token).send();
    assert_eq!(
        me.status, 401,
        "Cat's token after Dan registered: {}",
        me.text
    );
    drop(server);

    // The cascade took Cat's project, tasks and key, and nothing else.
    let db = Connection::open(&path).unwrap();
    let remaining = |table: &str| -> Vec<i64> {
        db.prepare(&format!("SELECT id FROM {table} ORDER BY id"))
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(remaining("user"), [1, 3, 5]);
    assert_eq!(remaining("project"), [2]);
    assert_eq!(remaining("task"), [1, 4]);
    assert_eq!(remaining("api_key"), [1]);
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

/// The password of every account in the version 3 database.
const V3_PASSWORD: &str = "password-v3";

/// Writes what a version 3 server leaves behind at `path`, and returns its
/// token signing key.
///
/// The ids have gaps, as in a database that has seen deletions: users 1
/// (Ann), 3 (Bob, an email and nothing else) and 4 (Cat, the newest).
/// Ann has project 2, task 1 outside it, task 4 in it and API key 1; Cat has
/// project 5, task 6 in it, task 9 outside it and API key 3.
fn version_3_database(path: &Path) -> Vec<u8> {
    let key = b"the key a version 3 server generated".to_vec();
    let db = Connection::open(path).unwrap();
    // Enforced, as the server applied them and as it wrote every row.
    db.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    for sql in [SCHEMA_V1, MIGRATION_2, MIGRATION_3] {
        db.execute_batch(sql).unwrap();
    }
    db.execute_batch("PRAGMA user_version = 3").unwrap();
    db.execute(
        "INSERT INTO setting (name, value) VALUES ('token_signing_key', ?1)",
        [&key],
    )
    .unwrap();
    let hash = Passwords::new(1).hash(V3_PASSWORD).unwrap();
    db.execute(
        "INSERT INTO user (id, username, email, password_hash, created_at, token_generation)
         VALUES (1, 'ann', 'ann@example.com', ?1, '2026-01-01T00:00:00Z', 2),
                (3, NULL, 'bob@example.com', ?1, '2026-01-02T00:00:00Z', 0),
                (4, 'cat', NULL, ?1, '2026-01-03T00:00:00Z', 0)",
        [&hash],
    )
    .unwrap();
    db.execute_batch(
        "INSERT INTO project (id, owner_id, name, name_key, description, created_at, updated_at)
         VALUES (2, 1, 'Home', 'home', 'chores', '2026-01-04T00:00:00Z', '2026-01-05T00:00:00Z'),
                (5, 4, 'Work', 'work', NULL, '2026-01-04T00:00:00Z', '2026-01-04T00:00:00Z');
         INSERT INTO task (id, owner_id, project_id, title, description, due_date, completed,
                           priority, created_at, updated_at)
         VALUES (1, 1, NULL, 'water plants', NULL, NULL, 0, 0,
                 '2026-01-04T00:00:00Z', '2026-01-04T00:00:00Z'),
                (4, 1, 2, 'fix the tap', 'kitchen', '2026-02-03', 1, 3,
                 '2026-01-04T00:00:00Z', '2026-01-06T00:00:00Z'),
                (6, 4, 5, 'write report', NULL, '2026-03-01', 0, 5,
                 '2026-01-04T00:00:00Z', '2026-01-04T00:00:00Z'),
                (9, 4, NULL, 'book train', NULL, NULL, 0, 1,
                 '2026-01-04T00:00:00Z', '2026-01-04T00:00:00Z');",
    )
    .unwrap();
    for (id, owner_id, digit) in [(1, 1, 'a'), (3, 4, 'c')] {
        let key = api_key(digit);
        db.execute(
            "INSERT INTO api_key (id, owner_id, name, prefix, key_hash, created_at,
                                  expires_at, last_used_at)
             VALUES (?1, ?2, 'script', ?3, ?4, '2026-01-04T00:00:00Z', NULL, NULL)",
            params![id, owner_id, &key[..11], hash_api_key(&key)],
        )
        .unwrap();
    }
    key
}

/// A well-formed API key made of one repeated hex digit.
fn api_key(digit: char) -> String {
    format!("tk_{}", digit.to_string().repeat(64))
}

/// Every row of every table a version 3 database has, as text, in rowid
/// order: equal before and after means nothing was lost, added or
/// renumbered.
fn every_row(path: &Path) -> Vec<String> {
    let db = Connection::open(path).unwrap();
    let mut rows = Vec::new();
    // The columns of version 3; later ones (task.created_by, the versions
    // of migration 7) are checked where they are added.
    for (table, columns) in [
        ("setting", "*"),
        ("user", "*"),
        (
            "project",
            "id, owner_id, name, name_key, description, created_at, updated_at",
        ),
        (
            "task",
            "id, owner_id, project_id, title, description, due_date, completed, priority, \
             created_at, updated_at",
        ),
        ("api_key", "*"),
    ] {
        rows.extend(
            query_as_text(
                &db,
                &format!("SELECT {columns} FROM {table} ORDER BY rowid"),
            )
            .into_iter()
            .map(|row| format!("{table}: {row}")),
        );
    }
    rows
}

/// What SQLite reports about the `user` table's definition: strictness,
/// columns (type, NOT NULL, default, key), its indexes with their columns
/// and collations, and the foreign keys that point at it.
fn user_table_shape(path: &Path) -> Vec<String> {
    let db = Connection::open(path).unwrap();
    let mut shape = Vec::new();
    for pragma in [
        "PRAGMA table_list('user')",
        "PRAGMA table_xinfo('user')",
        "PRAGMA index_list('user')",
        "PRAGMA foreign_key_list('project')",
        "PRAGMA foreign_key_list('task')",
        "PRAGMA foreign_key_list('api_key')",
    ] {
        // Migration 6 adds task.assignee_id and task.created_by, which also
        // refer to user: not part of the shape migration 4 must keep, and
        // they renumber the task's foreign keys (the leading `id=`).
        shape.extend(
            query_as_text(&db, pragma)
                .into_iter()
                .filter(|row| !row.contains("assignee_id") && !row.contains("created_by"))
                .map(|row| match row.strip_prefix("id=Integer(") {
                    Some(rest) => rest
                        .split_once(") ")
                        .map_or(row.clone(), |(_, r)| r.to_owned()),
                    None => row,
                }),
        );
    }
    let indexes: Vec<String> = db
        .prepare("SELECT name FROM pragma_index_list('user') ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for index in indexes {
        shape.extend(query_as_text(
            &db,
            &format!("PRAGMA index_xinfo('{index}')"),
        ));
    }
    shape
}

/// Each row of a query's result as `column=value` pairs.
fn query_as_text(db: &Connection, sql: &str) -> Vec<String> {
    let mut statement = db.prepare(sql).unwrap();
    let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let mut query = statement.query([]).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = query.next().unwrap() {
        let fields: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let value: rusqlite::types::Value = row.get(index).unwrap();
                format!("{column}={value:?}")
            })
            .collect();
        rows.push(fields.join(" "));
    }
    rows
}

/// The `id` of each object in a JSON array.
fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

//! Fills a database with realistic data for benchmarks: a user `bench`
//! (password `password-bench`) owning `--bench-tasks` tasks spread over
//! `--projects` projects, and `--users - 1` other users sharing the rest of
//! `--tasks` tasks. The defaults give one user with 100,000 tasks in 100
//! projects (the list benchmark); `bench/run.sh` seeds 1,000 users,
//! 100,000 tasks and a `bench` user with 50 tasks in one project.
//!
//! `--shared NAME` puts every one of bench's tasks in a project and adds a
//! user NAME (password `password-bench`) to each project as a viewer: one
//! user who sees 100,000 tasks through 100 projects, the sharing benchmark.
//!
//! ```sh
//! cargo run --release --example seed -- --db /tmp/bench.db
//! cargo run --release --example seed -- --db /tmp/bench.db \
//!     --users 1000 --tasks 100000 --bench-tasks 50 --projects 1
//! ```
//!
//! This is benchmark tooling, not part of the server: it writes rows with
//! SQL directly, in one transaction, because going through the API would
//! take minutes. The schema comes from the server's own migrations.

use std::path::PathBuf;

use rusqlite::{Connection, params};
use taskapi::credentials::Passwords;
use taskapi::store::{Database, Db};

fn main() {
    let mut db_path = PathBuf::from("bench.db");
    let (mut users, mut tasks, mut projects) = (1i64, 100_000i64, 100i64);
    let mut bench_tasks = None;
    let mut shared_with: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || {
            value
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--db" => db_path = PathBuf::from(&value),
            "--users" => users = number().max(1),
            "--tasks" => tasks = number(),
            "--projects" => projects = number(),
            "--bench-tasks" => bench_tasks = Some(number()),
            "--shared" => shared_with = Some(value.clone()),
            _ => panic!("unknown flag {flag}"),
        }
    }

    Db::open(&Database::Sqlite(db_path.clone()))
        .and_then(|mut db| db.migrate())
        .expect("create the schema");
    let mut conn = Connection::open(&db_path).expect("open the database");
    let tx = conn.transaction().expect("begin");
    let now = taskapi::time::now_rfc3339();
    // Every seeded user shares one hash: hashing is the slow part.
    let hash = Passwords::new(1).hash("password-bench").expect("hash");

    for user in 1..=users {
        let name = if user == 1 {
            "bench".to_owned()
        } else {
            format!("user{user}")
        };
        tx.execute(
            "INSERT INTO user (id, username, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![user, name, hash, now],
        )
        .expect("insert a user");
    }
    for project in 1..=projects {
        tx.execute(
            "INSERT INTO project (id, owner_id, name, name_key, description, created_at, updated_at)
             VALUES (?1, 1, ?2, lower(?2), 'seeded project', ?3, ?3)",
            params![project, format!("Project {project}"), now],
        )
        .expect("insert a project");
    }
    let bench_tasks = bench_tasks.unwrap_or(tasks).min(tasks);
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO task (owner_id, project_id, title, description, due_date, completed,
                                   priority, created_at, updated_at, created_by)
                 VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            )
            .expect("prepare");
        for n in 0..tasks {
            // The first `bench_tasks` belong to bench, the rest to the other
            // users in turn. One of bench's tasks in ten has no project and
            // one task in five no due date; three in ten are done;
            // priorities 0-9.
            let (owner, is_bench) = if n < bench_tasks || users == 1 {
                (1, true)
            } else {
                (2 + (n - bench_tasks) % (users - 1), false)
            };
            let project = (is_bench && projects > 0 && (n % 10 != 0 || shared_with.is_some()))
                .then(|| n % projects + 1);
            let due = (n % 5 != 0)
                .then(|| format!("{}-{:02}-{:02}", 2025 + n % 3, n % 12 + 1, n % 28 + 1));
            insert
                .execute(params![
                    project,
                    format!("Task {n}: follow up on item {}", n * 7 % 1000),
                    format!("Seeded task number {n}, with a description of realistic length."),
                    due,
                    n % 10 < 3,
                    n * 31 % 10,
                    now,
                    owner
                ])
                .expect("insert a task");
        }
    }
    if let Some(name) = &shared_with {
        let member = tx
            .query_row(
                "INSERT INTO user (username, password_hash, created_at) VALUES (?1, ?2, ?3)
                 RETURNING id",
                params![name, hash, now],
                |row| row.get::<_, i64>(0),
            )
            .expect("insert the member");
        tx.execute(
            "INSERT INTO project_member (project_id, user_id, role, joined_at)
             SELECT id, ?1, 'viewer', ?2 FROM project WHERE owner_id = 1",
            params![member, now],
        )
        .expect("add the member");
    }
    tx.commit().expect("commit");
    eprintln!(
        "seeded {}: {users} users, {tasks} tasks; bench has {bench_tasks} tasks in {projects} projects",
        db_path.display()
    );
}

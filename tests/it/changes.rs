//! The change feed, `GET /changes`: every write route produces exactly the
//! entries it should, paging with `next` misses nothing and repeats nothing
//! while writes go on, what a caller sees follows their access, and a
//! cursor older than the log keeps is a 410.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use taskapi::store::{Db, changes};

use crate::support::{Binary, Session, TestApp, call};

/// `(kind, id, op)` of each entry, in order.
type Entries = Vec<(String, i64, String)>;

/// A client following the feed.
struct Follower<'a> {
    app: &'a TestApp,
    session: &'a Session,
    cursor: String,
}

impl<'a> Follower<'a> {
    /// Starts from now.
    fn new(app: &'a TestApp, session: &'a Session) -> Follower<'a> {
        let reply = app.get("/changes").bearer(&session.token).send();
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.body["changes"],
            json!([]),
            "without since, nothing yet"
        );
        Follower {
            app,
            session,
            cursor: reply.body["next"].as_str().expect("a cursor").to_owned(),
        }
    }

    /// One page after the cursor; moves the cursor to its `next`.
    fn page(&mut self, limit: usize) -> Vec<Value> {
        let reply = self
            .app
            .get(&format!("/changes?since={}&limit={limit}", self.cursor))
            .bearer(&self.session.token)
            .send();
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("Cache-Control"), Some("private, no-cache"));
        self.cursor = reply.body["next"].as_str().expect("a cursor").to_owned();
        reply.body["changes"].as_array().expect("changes").clone()
    }

    /// What the last write added, once the feed shows it. On PostgreSQL
    /// the feed holds back a committed entry while an older transaction
    /// (any test's, in this shared cluster) is still running; a write's
    /// entries share its transaction, so they appear together.
    fn next_entries(&mut self) -> Vec<Value> {
        for _ in 0..200 {
            let page = self.page(500);
            if !page.is_empty() {
                return page;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("the feed showed nothing new within 2 s");
    }

    /// [`Follower::next_entries`] as `(kind, id, op)`.
    fn entries(&mut self) -> Entries {
        self.next_entries().iter().map(summary).collect()
    }

    /// Asserts that the feed has nothing new for this caller, after giving
    /// any transaction still running time to finish.
    #[track_caller]
    fn assert_nothing_new(&mut self) {
        thread::sleep(Duration::from_millis(100));
        let page: Entries = self.page(500).iter().map(summary).collect();
        assert_eq!(page, [], "nothing new");
    }
}

fn summary(entry: &Value) -> (String, i64, String) {
    (
        entry["kind"].as_str().unwrap().to_owned(),
        entry["id"].as_i64().unwrap(),
        entry["op"].as_str().unwrap().to_owned(),
    )
}

fn entry(kind: &str, id: i64, op: &str) -> (String, i64, String) {
    (kind.to_owned(), id, op.to_owned())
}

/// ann's new project `name`; its id.
fn project(app: &TestApp, ann: &Session, name: &str) -> i64 {
    id(&app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": name})))
}

/// ann adds `user` to project `p` with `role`.
fn add(app: &TestApp, ann: &Session, p: i64, user: &str, role: &str) {
    let added = app
        .post(&format!("/projects/{p}/members"))
        .bearer(&ann.token)
        .json(json!({"user": user, "role": role}));
    assert_eq!(added.status, 201, "{}", added.text);
}

fn id(reply: &crate::support::Reply) -> i64 {
    assert!(reply.status == 201 || reply.status == 200, "{}", reply.text);
    reply.body["id"].as_i64().unwrap()
}

#[test]
fn every_write_route_produces_exactly_the_entries_it_should() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut feed = Follower::new(&app, &ann);
    let bearer = |call: crate::support::Call| call.bearer(&ann.token);

    let t1 = id(&bearer(app.post("/tasks")).json(json!({"title": "one"})));
    let first = feed.next_entries();
    assert_eq!(
        first.iter().map(summary).collect::<Entries>(),
        [entry("task", t1, "upsert")]
    );
    let current = bearer(app.get(&format!("/tasks/{t1}"))).send();
    assert_eq!(
        first[0]["data"], current.body,
        "data is the task as GET shows it"
    );

    bearer(app.patch(&format!("/tasks/{t1}"))).json(json!({"priority": 1}));
    assert_eq!(feed.entries(), [entry("task", t1, "upsert")]);
    bearer(app.put(&format!("/tasks/{t1}"))).json(json!({"title": "one again"}));
    assert_eq!(feed.entries(), [entry("task", t1, "upsert")]);

    let p = id(&bearer(app.post("/projects")).json(json!({"name": "Home"})));
    assert_eq!(feed.entries(), [entry("project", p, "upsert")]);

    // A task arriving in a project changes the project's task_count.
    let t2 = id(&bearer(app.post(&format!("/projects/{p}/tasks"))).json(json!({"title": "two"})));
    assert_eq!(
        feed.entries(),
        [entry("task", t2, "upsert"), entry("project", p, "upsert")]
    );
    bearer(app.patch(&format!("/tasks/{t1}"))).json(json!({"project_id": p}));
    assert_eq!(
        feed.entries(),
        [entry("task", t1, "upsert"), entry("project", p, "upsert")]
    );

    bearer(app.patch(&format!("/projects/{p}"))).json(json!({"description": "chores"}));
    assert_eq!(feed.entries(), [entry("project", p, "upsert")]);
    bearer(app.put(&format!("/projects/{p}"))).json(json!({"name": "House"}));
    assert_eq!(feed.entries(), [entry("project", p, "upsert")]);

    let deleted = bearer(app.delete(&format!("/tasks/{t2}"))).send();
    assert_eq!(deleted.status, 204);
    let entries = feed.next_entries();
    assert_eq!(
        entries.iter().map(summary).collect::<Entries>(),
        [entry("task", t2, "delete"), entry("project", p, "upsert")]
    );
    assert_eq!(entries[0]["data"], Value::Null, "a tombstone has no data");

    // Deleting a project deletes its tasks with it.
    assert_eq!(
        bearer(app.delete(&format!("/projects/{p}"))).send().status,
        204
    );
    assert_eq!(
        feed.entries(),
        [entry("task", t1, "delete"), entry("project", p, "delete")]
    );

    // Reads, refusals and failed writes are not changes.
    bearer(app.get("/tasks")).send();
    bearer(app.patch("/tasks/4242")).json(json!({"title": "nobody's"}));
    bearer(app.post("/tasks")).json(json!({"title": ""}));
    feed.assert_nothing_new();
}

#[test]
fn members_see_a_project_arrive_with_its_tasks_and_leave_with_them() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let p = project(&app, &ann, "Shared");
    let tasks: Vec<i64> = (0..3)
        .map(|n| {
            id(&app
                .post(&format!("/projects/{p}/tasks"))
                .bearer(&ann.token)
                .json(json!({"title": format!("t{n}")})))
        })
        .collect();
    let mut anns = Follower::new(&app, &ann);
    let mut bobs = Follower::new(&app, &bob);

    add(&app, &ann, p, "bob", "editor");
    let mut arrived: Entries = tasks
        .iter()
        .map(|task| entry("task", *task, "upsert"))
        .collect();
    arrived.push(entry("project", p, "upsert"));
    assert_eq!(bobs.entries(), arrived);
    anns.assert_nothing_new();

    // An editor's write is in both views.
    app.patch(&format!("/tasks/{}", tasks[0]))
        .bearer(&bob.token)
        .json(json!({"assignee_id": bob.user_id}));
    assert_eq!(bobs.entries(), [entry("task", tasks[0], "upsert")]);
    assert_eq!(anns.entries(), [entry("task", tasks[0], "upsert")]);

    let demoted = app
        .patch(&format!("/projects/{p}/members/{}", bob.user_id))
        .bearer(&ann.token)
        .json(json!({"role": "viewer"}));
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    let entries = bobs.next_entries();
    assert_eq!(
        entries.iter().map(summary).collect::<Entries>(),
        [entry("project", p, "upsert")]
    );
    assert_eq!(entries[0]["data"]["role"], "viewer");

    // Removed: every task and the project leave bob's view, and the task
    // assigned to him is unassigned in ann's.
    let removed = app
        .delete(&format!("/projects/{p}/members/{}", bob.user_id))
        .bearer(&ann.token)
        .send();
    assert_eq!(removed.status, 204);
    let mut left: Entries = tasks
        .iter()
        .map(|task| entry("task", *task, "delete"))
        .collect();
    left.push(entry("project", p, "delete"));
    assert_eq!(bobs.entries(), left);
    assert_eq!(anns.entries(), [entry("task", tasks[0], "upsert")]);

    // What happens in the project afterwards is no longer bob's to see.
    app.patch(&format!("/tasks/{}", tasks[1]))
        .bearer(&ann.token)
        .json(json!({"title": "secret"}));
    app.post(&format!("/projects/{p}/tasks"))
        .bearer(&ann.token)
        .json(json!({"title": "new"}));
    bobs.assert_nothing_new();
    let mut anns_writes = anns.entries();
    if anns_writes.len() < 3 {
        anns_writes.extend(anns.entries());
    }
    assert_eq!(
        anns_writes.len(),
        3,
        "ann sees her own writes: {anns_writes:?}"
    );
}

#[test]
fn a_deleted_shared_project_leaves_every_members_view_and_a_deleted_member_changes_tasks() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let p = project(&app, &ann, "Shared");
    add(&app, &ann, p, "bob", "editor");
    let bobs_task = id(&app
        .post(&format!("/projects/{p}/tasks"))
        .bearer(&bob.token)
        .json(json!({"title": "by bob"})));
    let mut anns = Follower::new(&app, &ann);

    // bob's account goes: his task stays with the project, creator unknown.
    let gone = app
        .delete("/auth/me")
        .bearer(&bob.token)
        .json(json!({"password": "password-bob"}));
    assert_eq!(gone.status, 204, "{}", gone.text);
    let entries = anns.next_entries();
    assert_eq!(
        entries.iter().map(summary).collect::<Entries>(),
        [entry("task", bobs_task, "upsert")]
    );
    assert_eq!(entries[0]["data"]["created_by"], Value::Null);

    let cat = app.register("cat");
    add(&app, &ann, p, "cat", "viewer");
    let mut cats = Follower::new(&app, &cat);
    assert_eq!(
        app.delete(&format!("/projects/{p}"))
            .bearer(&ann.token)
            .send()
            .status,
        204
    );
    assert_eq!(
        cats.entries(),
        [
            entry("task", bobs_task, "delete"),
            entry("project", p, "delete")
        ]
    );
    assert_eq!(anns.entries().last(), Some(&entry("project", p, "delete")));
}

#[test]
fn paging_with_next_misses_nothing_and_repeats_nothing_while_writes_go_on() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let mut feed = Follower::new(&app, &ann);
    let stop = AtomicBool::new(false);
    let mut seen: Vec<i64> = Vec::new();
    let created: Vec<i64> = thread::scope(|scope| {
        let writers: Vec<_> = (0..3)
            .map(|writer| {
                let (base, token, stop) = (&app.base, &ann.token, &stop);
                scope.spawn(move || {
                    let mut created = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let reply = call(base, "POST", "/tasks")
                            .bearer(token)
                            .json(json!({"title": format!("w{writer} {n}")}));
                        assert_eq!(reply.status, 201, "{}", reply.text);
                        created.push(reply.body["id"].as_i64().unwrap());
                    }
                    created
                })
            })
            .collect();
        for _ in 0..40 {
            seen.extend(
                feed.page(7)
                    .iter()
                    .map(|entry| entry["id"].as_i64().unwrap()),
            );
            thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::SeqCst);
        writers
            .into_iter()
            .flat_map(|writer| writer.join().unwrap())
            .collect()
    });
    // The rest, once every write has finished (on PostgreSQL the feed
    // holds back entries of transactions that may still be running).
    for _ in 0..50 {
        let page = feed.page(7);
        if page.is_empty() && seen.len() >= created.len() {
            break;
        }
        seen.extend(page.iter().map(|entry| entry["id"].as_i64().unwrap()));
        thread::sleep(Duration::from_millis(20));
    }
    let mut expected = created.clone();
    expected.sort_unstable();
    let mut got = seen.clone();
    got.sort_unstable();
    assert!(created.len() > 20, "the writers wrote ({})", created.len());
    assert_eq!(got, expected, "each created task exactly once");
}

#[test]
fn a_bad_cursor_or_parameter_is_a_400_and_a_cursor_older_than_the_log_keeps_is_a_410() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for bad in [
        "since=abc",
        "since=1",
        "since=-1.2",
        "offset=1",
        "sort=id",
        "kind=task",
    ] {
        let reply = app
            .get(&format!("/changes?{bad}"))
            .bearer(&ann.token)
            .send();
        reply.assert_problem(400);
    }
    app.get("/changes?limit=0")
        .bearer(&ann.token)
        .send()
        .assert_problem(422);
    app.get("/changes").send().assert_problem(401);

    let mut follower = Follower::new(&app, &ann);
    let old = follower.cursor.clone();
    let task = app.create_task(&ann, json!({"title": "long ago"}));
    follower.next_entries();
    let recent = follower.cursor;
    // Forty days pass, and the maintenance purge runs.
    app.db
        .execute("UPDATE change_log SET logged_at = logged_at - 40 * 86400");
    let db = Db::open(&app.db.database()).unwrap();
    assert_eq!(changes::purge(&db, taskapi::time::unix_now()).unwrap(), 1);

    let gone = app
        .get(&format!("/changes?since={old}"))
        .bearer(&ann.token)
        .send();
    let problem = gone.assert_problem(410);
    assert!(
        problem["detail"].as_str().unwrap().contains("list"),
        "{}",
        gone.text
    );
    let fine = app
        .get(&format!("/changes?since={recent}"))
        .bearer(&ann.token)
        .send();
    assert_eq!(fine.status, 200, "{}", fine.text);
    assert_eq!(fine.body["changes"], json!([]));
    assert_eq!(
        app.get(&format!("/tasks/{}", task["id"]))
            .bearer(&ann.token)
            .send()
            .status,
        200
    );
}

#[test]
fn the_feed_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taskapi.db");
    let (token, cursor, task) = {
        let server = Binary::start(&path, &[], &[]);
        let reply = server
            .call("POST", "/auth/register")
            .json(json!({"username": "ann", "password": "password-ann"}));
        let token = reply.body["access_token"].as_str().unwrap().to_owned();
        let cursor = server.call("GET", "/changes").bearer(&token).send().body["next"]
            .as_str()
            .unwrap()
            .to_owned();
        let task = server
            .call("POST", "/tasks")
            .bearer(&token)
            .json(json!({"title": "kept"}));
        (token, cursor, task.body["id"].as_i64().unwrap())
    };
    let server = Binary::start(&path, &[], &[]);
    let reply = server
        .call("GET", &format!("/changes?since={cursor}"))
        .bearer(&token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let entries: Entries = reply.body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(summary)
        .collect();
    assert_eq!(entries, [entry("task", task, "upsert")]);
}

//! Shared projects: what a stranger, a viewer, an editor and the owner each
//! get from every route that touches a project or its tasks, driven by the
//! route table; and that joining, leaving, removal, role changes and
//! account deletion take effect on the very next request.

use serde_json::{Value, json};
use taskapi::router::{ROUTES, Route};

use crate::support::{Reply, Session, TestApp};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Stranger,
    Viewer,
    Editor,
    Owner,
}

use Actor::{Editor, Owner, Stranger, Viewer};

const ACTORS: [Actor; 4] = [Stranger, Viewer, Editor, Owner];

/// The people: ann owns the project, vic views it, eve edits it, sam is in
/// none of it, and nia is registered but not yet in it (to be added).
struct People {
    ann: Session,
    vic: Session,
    eve: Session,
    sam: Session,
}

impl People {
    fn new(app: &TestApp) -> People {
        let people = People {
            ann: app.register("ann"),
            vic: app.register("vic"),
            eve: app.register("eve"),
            sam: app.register("sam"),
        };
        app.register("nia");
        people
    }

    fn session(&self, actor: Actor) -> &Session {
        match actor {
            Stranger => &self.sam,
            Viewer => &self.vic,
            Editor => &self.eve,
            Owner => &self.ann,
        }
    }
}

/// A fresh project of ann's with one task, vic as viewer and eve as editor.
struct Shared {
    project_id: i64,
    task_id: i64,
}

fn share(app: &TestApp, people: &People, name: &str) -> Shared {
    let project = app
        .post("/projects")
        .bearer(&people.ann.token)
        .json(json!({"name": name}));
    assert_eq!(project.status, 201, "{}", project.text);
    let project_id = project.body["id"].as_i64().unwrap();
    for (who, role) in [("vic", "viewer"), ("eve", "editor")] {
        let added = app
            .post(&format!("/projects/{project_id}/members"))
            .bearer(&people.ann.token)
            .json(json!({"user": who, "role": role}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let task = app.create_task(
        &people.ann,
        json!({"title": "shared task", "project_id": project_id, "tags": ["a"]}),
    );
    Shared {
        project_id,
        task_id: task["id"].as_i64().unwrap(),
    }
}

/// What each actor gets from `route`, and the body to send. Every route is
/// listed: a new one fails here until it says what each role may do.
fn expected(route: &Route, people: &People, shared: &Shared) -> Option<([u16; 4], Option<Value>)> {
    let project = shared.project_id;
    let pattern = route.alias_of.unwrap_or(route.pattern);
    //                                      stranger viewer editor owner
    Some(match (route.method.as_str(), pattern) {
        ("GET", "/tasks/{id}") => ([404, 200, 200, 200], None),
        ("PUT", "/tasks/{id}") => (
            [404, 403, 200, 200],
            Some(json!({"title": "replaced", "project_id": project})),
        ),
        ("PATCH", "/tasks/{id}") => ([404, 403, 200, 200], Some(json!({"title": "patched"}))),
        ("DELETE", "/tasks/{id}") => ([404, 403, 204, 204], None),
        ("GET", "/projects/{id}" | "/projects/{id}/tasks" | "/projects/{id}/members") => {
            ([404, 200, 200, 200], None)
        }
        ("GET", "/projects/{id}/members/{user_id}") => ([404, 200, 200, 200], None),
        ("PUT", "/projects/{id}") => ([404, 403, 403, 200], Some(json!({"name": "renamed"}))),
        ("PATCH", "/projects/{id}") => (
            [404, 403, 403, 200],
            Some(json!({"description": "patched"})),
        ),
        ("DELETE", "/projects/{id}") => ([404, 403, 403, 204], None),
        ("POST", "/projects/{id}/tasks") => ([404, 403, 201, 201], Some(json!({"title": "filed"}))),
        ("POST", "/projects/{id}/members") => (
            [404, 403, 403, 201],
            Some(json!({"user": "nia", "role": "viewer"})),
        ),
        ("PATCH", "/projects/{id}/members/{user_id}") => {
            ([404, 403, 403, 200], Some(json!({"role": "editor"})))
        }
        // The viewer removing themself is leaving.
        ("DELETE", "/projects/{id}/members/{user_id}") => ([404, 204, 403, 204], None),
        ("POST", "/tasks") => (
            [404, 403, 201, 201],
            Some(json!({"title": "filed", "project_id": project})),
        ),
        ("GET", "/tasks" | "/projects" | "/changes") => ([200, 200, 200, 200], None),
        // Not about projects or their tasks: each user's own (security.rs).
        (
            _,
            "/"
            | "/healthz"
            | "/openapi.json"
            | "/docs"
            | "/auth/register"
            | "/auth/login"
            | "/auth/me"
            | "/auth/me/export"
            | "/auth/password"
            | "/auth/logout"
            | "/auth/api-keys"
            | "/auth/api-keys/{id}"
            | "/projects",
        ) => return None,
        (method, pattern) => panic!(
            "{method} {pattern}: say what a stranger, a viewer, an editor and the owner get, \
             in expected() in tests/it/sharing.rs (people: {:?})",
            people.ann.user_id
        ),
    })
}

/// What the owner sees of the project, its members and its tasks.
fn owners_view(app: &TestApp, people: &People, shared: &Shared) -> Vec<Value> {
    [
        format!("/projects/{}", shared.project_id),
        format!("/projects/{}/members", shared.project_id),
        format!("/projects/{}/tasks", shared.project_id),
    ]
    .iter()
    .map(|path| app.get(path).bearer(&people.ann.token).send().body)
    .collect()
}

#[test]
fn each_role_gets_what_it_may_do_on_every_route_and_a_refusal_changes_nothing() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let mut checked = 0;
    for (index, route) in ROUTES.iter().enumerate() {
        let probe = share(&app, &people, &format!("probe {index}"));
        let Some((statuses, body)) = expected(route, &people, &probe) else {
            continue;
        };
        for (actor, status) in ACTORS.into_iter().zip(statuses) {
            // A fresh project for each call, so one actor's write does not
            // decide the next one's answer.
            let shared = share(&app, &people, &format!("route {index} {actor:?}"));
            let path = route
                .pattern
                .replace(
                    "{id}",
                    &match route.pattern {
                        pattern if pattern.starts_with("/tasks/") => shared.task_id,
                        _ => shared.project_id,
                    }
                    .to_string(),
                )
                .replace("{user_id}", &people.vic.user_id.to_string());
            let body = body.clone().map(|body| {
                let mut body = body;
                if body.get("project_id").is_some() {
                    body["project_id"] = json!(shared.project_id);
                }
                body
            });
            let before = owners_view(&app, &people, &shared);
            let call = app
                .call(route.method.as_str(), &path)
                .bearer(&people.session(actor).token);
            let reply: Reply = match &body {
                Some(body) => call.json(body.clone()),
                None => call.send(),
            };
            let label = format!("{actor:?} {} {path}", route.method.as_str());
            assert_eq!(reply.status, status, "{label}: {}", reply.text);
            if status >= 400 {
                let problem = reply.assert_problem(status);
                if status == 403 {
                    let detail = problem["detail"].as_str().unwrap_or_default();
                    assert!(
                        detail.contains("editor") || detail.contains("owner"),
                        "{label}: the 403 names what is needed: {detail}"
                    );
                }
                assert_eq!(
                    owners_view(&app, &people, &shared),
                    before,
                    "{label} was refused but changed something"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} routes checked");
}

#[test]
fn a_stranger_cannot_tell_a_shared_project_or_task_from_a_missing_one() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let shared = share(&app, &people, "secret");
    for (path, missing) in [
        (
            format!("/projects/{}", shared.project_id),
            "/projects/987654".to_owned(),
        ),
        (
            format!("/tasks/{}", shared.task_id),
            "/tasks/987654".to_owned(),
        ),
        (
            format!("/projects/{}/members", shared.project_id),
            "/projects/987654/members".to_owned(),
        ),
    ] {
        let seen = app.get(&path).bearer(&people.sam.token).send();
        let absent = app.get(&missing).bearer(&people.sam.token).send();
        seen.assert_problem(404);
        absent.assert_problem(404);
        let id = |text: &str| {
            text.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        };
        assert_eq!(
            seen.body["detail"].as_str().map(|d| d.replace(&id(d), "N")),
            absent.body["detail"]
                .as_str()
                .map(|d| d.replace(&id(d), "N")),
        );
    }
    let listed = app.get("/tasks").bearer(&people.sam.token).send();
    assert_eq!(listed.body, json!([]));
}

#[test]
fn members_see_the_projects_tasks_in_their_lists_with_their_role() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let shared = share(&app, &people, "together");
    app.create_task(&people.vic, json!({"title": "vic's own"}));

    let projects = app.get("/projects").bearer(&people.vic.token).send();
    assert_eq!(projects.body[0]["role"], "viewer", "{}", projects.text);
    let mine = app.get("/projects").bearer(&people.ann.token).send();
    assert_eq!(mine.body[0]["role"], "owner");

    let tasks = app.get("/tasks").bearer(&people.vic.token).send();
    let titles: Vec<&str> = tasks
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["shared task", "vic's own"]);
    assert_eq!(tasks.header("X-Total-Count"), Some("2"));
    // Ann does not see vic's own task.
    let anns = app.get("/tasks").bearer(&people.ann.token).send();
    assert_eq!(anns.header("X-Total-Count"), Some("1"));

    let members = app
        .get(&format!("/projects/{}/members", shared.project_id))
        .bearer(&people.eve.token)
        .send();
    let roles: Vec<(&str, &str)> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|member| {
            (
                member["username"].as_str().unwrap(),
                member["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [("ann", "owner"), ("vic", "viewer"), ("eve", "editor")]
    );
    for member in members.body.as_array().unwrap() {
        let mut keys: Vec<&str> = member
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["joined_at", "role", "user_id", "username"]);
    }
}

#[test]
fn leaving_removal_a_role_change_and_account_deletion_take_effect_on_the_next_request() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let shared = share(&app, &people, "changing");
    let task = format!("/tasks/{}", shared.task_id);
    let members = format!("/projects/{}/members", shared.project_id);

    // Vic, a viewer, is refused an edit; made an editor, he may.
    let patch = |who: &Session| {
        app.patch(&task)
            .bearer(&who.token)
            .json(json!({"priority": 2}))
    };
    patch(&people.vic).assert_problem(403);
    let promoted = app
        .patch(&format!("{members}/{}", people.vic.user_id))
        .bearer(&people.ann.token)
        .json(json!({"role": "editor"}));
    assert_eq!(promoted.body["role"], "editor", "{}", promoted.text);
    assert_eq!(patch(&people.vic).status, 200);

    // Also through an API key: access is read on every request.
    let key = app
        .post("/auth/api-keys")
        .bearer(&people.eve.token)
        .json(json!({"name": "eve's script"}));
    let key = key.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&task).header("X-API-Key", &key).send().status, 200);

    // Eve leaves: the next request, with her token or her key, is a 404.
    let left = app
        .delete(&format!("{members}/{}", people.eve.user_id))
        .bearer(&people.eve.token)
        .send();
    assert_eq!(left.status, 204, "{}", left.text);
    app.get(&task)
        .bearer(&people.eve.token)
        .send()
        .assert_problem(404);
    app.get(&task)
        .header("X-API-Key", &key)
        .send()
        .assert_problem(404);

    // Vic is assigned, then removed: he loses access and the assignment.
    let assigned = app
        .patch(&task)
        .bearer(&people.ann.token)
        .json(json!({"assignee_id": people.vic.user_id}));
    assert_eq!(
        assigned.body["assignee_id"], people.vic.user_id,
        "{}",
        assigned.text
    );
    let removed = app
        .delete(&format!("{members}/{}", people.vic.user_id))
        .bearer(&people.ann.token)
        .send();
    assert_eq!(removed.status, 204);
    app.get(&task)
        .bearer(&people.vic.token)
        .send()
        .assert_problem(404);
    let after = app.get(&task).bearer(&people.ann.token).send();
    assert_eq!(after.body["assignee_id"], Value::Null);

    // Eve rejoins as editor and files a task; then she deletes her account:
    // the task she made stays with the project, without a creator.
    app.post(&members)
        .bearer(&people.ann.token)
        .json(json!({"user": "eve", "role": "editor"}));
    let hers = app.create_task(
        &people.eve,
        json!({"title": "eve's contribution", "project_id": shared.project_id}),
    );
    assert_eq!(hers["created_by"], people.eve.user_id);
    let gone = app
        .delete("/auth/me")
        .bearer(&people.eve.token)
        .json(json!({"password": crate::support::password_of("eve")}));
    assert_eq!(gone.status, 204, "{}", gone.text);
    let kept = app
        .get(&format!("/tasks/{}", hers["id"]))
        .bearer(&people.ann.token)
        .send();
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.body["created_by"], Value::Null);
    let listed = app.get(&members).bearer(&people.ann.token).send();
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.text);
}

#[test]
fn members_are_added_by_username_or_email_once_and_the_owner_stays_the_owner() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let project = app
        .post("/projects")
        .bearer(&people.ann.token)
        .json(json!({"name": "P"}));
    let members = format!("/projects/{}/members", project.body["id"]);
    let add = |user: &str, role: &str| {
        app.post(&members)
            .bearer(&people.ann.token)
            .json(json!({"user": user, "role": role}))
    };
    let added = add("VIC", "viewer");
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(
        added.header("Location"),
        Some(format!("{members}/{}", people.vic.user_id).as_str())
    );
    add("vic", "editor").assert_problem(409);
    add("ann", "viewer").assert_problem(409);
    add("nobody-like-this", "viewer").assert_problem(404);
    assert_eq!(add("eve", "admin").invalid_fields(), ["role"]);
    assert_eq!(add("eve", "owner").invalid_fields(), ["role"]);
    let owner = format!("{members}/{}", people.ann.user_id);
    app.delete(&owner)
        .bearer(&people.ann.token)
        .send()
        .assert_problem(409);
    app.patch(&owner)
        .bearer(&people.ann.token)
        .json(json!({"role": "viewer"}))
        .assert_problem(409);
    app.delete(&format!("{members}/{}", people.sam.user_id))
        .bearer(&people.ann.token)
        .send()
        .assert_problem(404);
}

#[test]
fn an_assignee_must_see_the_task_and_tags_are_distinct_ignoring_case() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let shared = share(&app, &people, "rules");
    let task = format!("/tasks/{}", shared.task_id);
    let patch = |body: Value| app.patch(&task).bearer(&people.ann.token).json(body);

    assert_eq!(
        patch(json!({"assignee_id": people.sam.user_id})).invalid_fields(),
        ["assignee_id"]
    );
    assert_eq!(
        patch(json!({"assignee_id": 987654})).invalid_fields(),
        ["assignee_id"]
    );
    assert_eq!(
        patch(json!({"assignee_id": people.vic.user_id})).status,
        200
    );
    // A private task: only its owner may be assigned.
    let own = app.create_task(&people.sam, json!({"title": "sam's"}));
    let reply = app
        .patch(&format!("/tasks/{}", own["id"]))
        .bearer(&people.sam.token)
        .json(json!({"assignee_id": people.ann.user_id}));
    assert_eq!(reply.invalid_fields(), ["assignee_id"]);

    assert_eq!(
        patch(json!({"tags": ["Home", "home"]})).invalid_fields(),
        ["tags"]
    );
    assert_eq!(patch(json!({"tags": [""]})).invalid_fields(), ["tags"]);
    assert_eq!(
        patch(json!({"tags": ["x".repeat(51)]})).invalid_fields(),
        ["tags"]
    );
    let many: Vec<String> = (0..21).map(|n| format!("t{n}")).collect();
    assert_eq!(patch(json!({"tags": many})).invalid_fields(), ["tags"]);
    assert_eq!(patch(json!({"tags": null})).invalid_fields(), ["tags"]);
    let tagged = patch(json!({"tags": ["Zeta", "alpha", "Ünïcode"]}));
    assert_eq!(
        tagged.body["tags"],
        json!(["Zeta", "alpha", "Ünïcode"]),
        "{}",
        tagged.text
    );

    let found = app
        .get("/tasks?tag=ZETA&assignee_id=none")
        .bearer(&people.eve.token)
        .send();
    assert_eq!(found.header("X-Total-Count"), Some("0"), "assigned to vic");
    let found = app
        .get(&format!(
            "/tasks?tag=ünïcode&assignee_id={}",
            people.vic.user_id
        ))
        .bearer(&people.eve.token)
        .send();
    assert_eq!(found.header("X-Total-Count"), Some("1"), "{}", found.text);
    let mine = app
        .get("/tasks?assignee_id=me")
        .bearer(&people.vic.token)
        .send();
    assert_eq!(mine.header("X-Total-Count"), Some("1"));
    app.get("/tasks?assignee_id=someone")
        .bearer(&people.vic.token)
        .send()
        .assert_problem(400);
}

#[test]
fn moving_a_task_needs_editor_rights_where_it_goes_and_its_creator_or_owner_to_leave() {
    let app = TestApp::spawn();
    let people = People::new(&app);
    let shared = share(&app, &people, "home of tasks");
    // Vic, a viewer, cannot move his own task into the project.
    let vics = app.create_task(&people.vic, json!({"title": "vic's"}));
    app.patch(&format!("/tasks/{}", vics["id"]))
        .bearer(&people.vic.token)
        .json(json!({"project_id": shared.project_id}))
        .assert_problem(403);
    // Eve, an editor, may move hers in; ann then sees it.
    let eves = app.create_task(&people.eve, json!({"title": "eve's"}));
    let moved = app
        .patch(&format!("/tasks/{}", eves["id"]))
        .bearer(&people.eve.token)
        .json(json!({"project_id": shared.project_id}));
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(
        app.get(&format!("/tasks/{}", eves["id"]))
            .bearer(&people.ann.token)
            .send()
            .status,
        200
    );
    // Eve may not take ann's task out of the project, but may take hers.
    app.patch(&format!("/tasks/{}", shared.task_id))
        .bearer(&people.eve.token)
        .json(json!({"project_id": null}))
        .assert_problem(403);
    let out = app
        .patch(&format!("/tasks/{}", eves["id"]))
        .bearer(&people.eve.token)
        .json(json!({"project_id": null}));
    assert_eq!(out.status, 200, "{}", out.text);
    app.get(&format!("/tasks/{}", eves["id"]))
        .bearer(&people.ann.token)
        .send()
        .assert_problem(404);
}

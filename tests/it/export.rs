//! `GET /auth/me/export`: the account's own data as one document. Each
//! object in it must be what the route that shows it alone returns; it
//! holds what the caller owns and nothing of anyone else's; no secret is
//! in it; and it takes a password session, not an API key.

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp, password_of};

/// Ann, Bob and Carol, and what each has:
/// - Ann: two tasks of her own (one tagged), the project "Garden" with Bob
///   as an editor and tasks by both of them in it, an API key, and an
///   editor's seat in Carol's "Office", where she filed a task (Carol's);
/// - Bob: a task and an API key of his own;
/// - Carol: "Office" and a task of her own.
struct World {
    ann: Session,
    bob: Session,
    carol: Session,
    anns_key: String,
    bobs_key: String,
    garden: i64,
    office: i64,
    /// Ann's tasks: her own two, hers and Bob's in Garden.
    anns_tasks: Vec<i64>,
    /// The task Ann filed in Carol's project, and the one Bob filed in Ann's.
    ann_in_office: i64,
    bob_in_garden: i64,
    bobs_own: i64,
    carols_own: i64,
}

impl World {
    fn new(app: &TestApp) -> World {
        let ann = app.register("ann");
        let bob = app.register("bob");
        let carol = app.register("carol");
        let garden = create_project(app, &ann, "Garden");
        let office = create_project(app, &carol, "Office");
        add_member(app, &ann, garden, "bob", "editor");
        add_member(app, &carol, office, "ann", "editor");

        let anns_first = app.create_task(
            &ann,
            json!({"title": "Buy milk", "tags": ["shopping", "Urgent"], "priority": 2}),
        );
        let anns_second = app.create_task(
            &ann,
            json!({"title": "Call the plumber", "due_date": "2026-12-01"}),
        );
        let anns_in_garden = app.create_task(
            &ann,
            json!({"title": "Plant tulips", "project_id": garden, "tags": ["spring"],
                   "assignee_id": bob.user_id}),
        );
        let bob_in_garden =
            app.create_task(&bob, json!({"title": "Mow the lawn", "project_id": garden}));
        let ann_in_office = app.create_task(
            &ann,
            json!({"title": "Ann's office chore", "project_id": office}),
        );
        let bobs_own = app.create_task(&bob, json!({"title": "Bob's private errand"}));
        let carols_own = app.create_task(&carol, json!({"title": "Carol's private errand"}));
        let anns_key = create_key(app, &ann, "ann's backup script");
        let bobs_key = create_key(app, &bob, "bob's script");
        World {
            anns_tasks: [&anns_first, &anns_second, &anns_in_garden, &bob_in_garden]
                .into_iter()
                .map(id_of)
                .collect(),
            ann,
            bob,
            carol,
            anns_key,
            bobs_key,
            garden,
            office,
            ann_in_office: id_of(&ann_in_office),
            bob_in_garden: id_of(&bob_in_garden),
            bobs_own: id_of(&bobs_own),
            carols_own: id_of(&carols_own),
        }
    }
}

#[test]
fn an_export_holds_exactly_what_the_caller_owns_each_object_as_its_own_route_shows_it() {
    let app = TestApp::spawn();
    let world = World::new(&app);
    let ann = &world.ann;

    let reply = export(&app, ann);
    let document = &reply.body;
    assert_eq!(
        keys_of(document),
        [
            "account",
            "api_keys",
            "exported_at",
            "format",
            "memberships",
            "projects",
            "tasks"
        ]
    );
    assert_eq!(document["format"], "taskapi-export/1");
    let exported_at = document["exported_at"].as_str().expect("a timestamp");
    assert!(
        exported_at.len() == 20 && exported_at.ends_with('Z'),
        "{exported_at}"
    );
    assert_eq!(document["account"], read(&app, ann, "/auth/me"));

    // The project she owns, as its route shows it, with its people as
    // theirs lists them; not Carol's, which she only belongs to.
    let projects = document["projects"].as_array().expect("an array");
    assert_eq!(projects.len(), 1, "{}", reply.text);
    let mut garden = projects[0].clone();
    let members = garden
        .as_object_mut()
        .and_then(|project| project.remove("members"))
        .expect("the project's members");
    assert_eq!(
        garden,
        read(&app, ann, &format!("/projects/{}", world.garden))
    );
    assert_eq!(
        members,
        read(&app, ann, &format!("/projects/{}/members", world.garden))
    );
    assert_eq!(members.as_array().map(Vec::len), Some(2), "{members}");

    // Carol's project, by reference, with the role and the joining time
    // its member list shows for her.
    let office_members = read(&app, ann, &format!("/projects/{}/members", world.office));
    let seat = office_members
        .as_array()
        .and_then(|people| {
            people
                .iter()
                .find(|person| person["user_id"] == ann.user_id)
        })
        .expect("Ann in Carol's project");
    assert_eq!(
        document["memberships"],
        json!([{
            "project_id": world.office,
            "project_name": "Office",
            "role": "editor",
            "joined_at": seat["joined_at"],
        }])
    );

    // Her tasks and the tasks of her project, Bob's included, in order of
    // id, each as its own route shows it; not the one she filed in Carol's.
    let tasks = document["tasks"].as_array().expect("an array");
    assert_eq!(ids_in(&document["tasks"]), world.anns_tasks);
    for task in tasks {
        assert_eq!(
            *task,
            read(&app, ann, &format!("/tasks/{}", task["id"])),
            "task {}",
            task["id"]
        );
    }
    assert!(
        tasks
            .iter()
            .any(|task| task["tags"] == json!(["shopping", "Urgent"]))
    );
    assert!(!ids_in(&document["tasks"]).contains(&world.ann_in_office));

    assert_eq!(document["api_keys"], read(&app, ann, "/auth/api-keys"));
    assert_eq!(document["api_keys"].as_array().map(Vec::len), Some(1));
}

#[test]
fn an_export_carries_no_secret_of_any_kind() {
    let app = TestApp::spawn();
    let world = World::new(&app);
    let ann = &world.ann;
    let reply = export(&app, ann);

    let password_hash = app
        .db
        .scalar(&format!(
            "SELECT password_hash FROM \"user\" WHERE id = {}",
            ann.user_id
        ))
        .expect("a password hash");
    let key_hash = app
        .db
        .scalar(&format!(
            "SELECT {} FROM api_key WHERE owner_id = {}",
            if app.db.is_postgres() {
                "encode(key_hash, 'hex')"
            } else {
                "hex(key_hash)"
            },
            ann.user_id
        ))
        .expect("a key hash");
    let text = reply.text.to_lowercase();
    for secret in [
        password_of("ann"),
        password_hash,
        "$argon2".to_owned(),
        world.anns_key.clone(),
        key_hash,
        ann.token.clone(),
    ] {
        assert!(
            !text.contains(&secret.to_lowercase()),
            "the export holds the secret {secret:?}"
        );
    }
    // The key is listed by its prefix, which is all a listing shows of it.
    assert!(text.contains(&world.anns_key[..11]), "{}", reply.text);
    let mut names = Vec::new();
    member_names(&reply.body, &mut names);
    for name in names {
        for word in ["password", "hash", "token", "secret", "generation"] {
            assert!(
                !name.contains(word),
                "the export has a member {name:?}: {}",
                reply.text
            );
        }
    }
}

#[test]
fn no_other_users_tasks_projects_or_keys_appear_in_an_export() {
    let app = TestApp::spawn();
    let world = World::new(&app);

    let anns = export(&app, &world.ann);
    for foreign in [world.ann_in_office, world.bobs_own, world.carols_own] {
        assert!(
            !ids_in(&anns.body["tasks"]).contains(&foreign),
            "task {foreign} in Ann's export"
        );
    }
    for text in [
        "Bob's private errand",
        "Carol's private errand",
        "Ann's office chore",
        "bob's script",
        &world.bobs_key[..11],
    ] {
        assert!(!anns.text.contains(text), "{text:?} in Ann's export");
    }
    assert_eq!(ids_in(&anns.body["projects"]), [world.garden]);

    // Bob, an editor of Ann's project: his own task and key, and Garden by
    // reference only; not the task he filed there, which is Ann's.
    let bobs = export(&app, &world.bob);
    assert_eq!(bobs.body["account"]["id"], world.bob.user_id);
    assert_eq!(ids_in(&bobs.body["tasks"]), [world.bobs_own]);
    assert_eq!(bobs.body["projects"], json!([]));
    assert_eq!(
        bobs.body["memberships"].as_array().map(|seats| seats
            .iter()
            .map(|seat| seat["project_id"].clone())
            .collect()),
        Some(vec![json!(world.garden)])
    );
    assert!(!ids_in(&bobs.body["tasks"]).contains(&world.bob_in_garden));
    assert_eq!(
        bobs.body["api_keys"],
        read(&app, &world.bob, "/auth/api-keys")
    );
    for text in [
        "Buy milk",
        "Plant tulips",
        "ann's backup script",
        &world.anns_key[..11],
    ] {
        assert!(!bobs.text.contains(text), "{text:?} in Bob's export");
    }

    // Carol owns Office and the task Ann filed in it.
    let carols = export(&app, &world.carol);
    assert_eq!(ids_in(&carols.body["projects"]), [world.office]);
    assert_eq!(
        ids_in(&carols.body["tasks"]),
        [world.ann_in_office, world.carols_own]
    );
}

#[test]
fn an_export_needs_a_password_session_so_no_credential_is_a_401_and_an_api_key_a_403() {
    let app = TestApp::spawn();
    let world = World::new(&app);

    app.get("/auth/me/export").send().assert_problem(401);
    app.get("/auth/me/export")
        .bearer("not-a-token")
        .send()
        .assert_problem(401);
    for reply in [
        app.get("/auth/me/export")
            .header("X-API-Key", &world.anns_key)
            .send(),
        app.get("/auth/me/export").bearer(&world.anns_key).send(),
    ] {
        let detail = reply.assert_problem(403)["detail"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(
            detail.contains("api key") && detail.contains("password"),
            "{detail}"
        );
        assert!(!reply.text.contains("Buy milk"), "{}", reply.text);
    }
    // After logging out, the session's token no longer exports.
    let logout = app.post("/auth/logout").bearer(&world.ann.token).send();
    assert_eq!(logout.status, 204, "{}", logout.text);
    app.get("/auth/me/export")
        .bearer(&world.ann.token)
        .send()
        .assert_problem(401);
}

#[test]
fn an_export_is_a_download_no_cache_may_keep_named_after_the_user_and_the_day() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let reply = export(&app, &ann);
    let day = &reply.body["exported_at"].as_str().expect("a timestamp")[..10];
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    assert_eq!(
        reply.header("Content-Disposition"),
        Some(format!("attachment; filename=\"taskapi-export-ann-{day}.json\"").as_str())
    );
    // An empty account still has every member.
    for list in ["projects", "memberships", "tasks", "api_keys"] {
        assert_eq!(reply.body[list], json!([]), "{list}");
    }

    // An account with an email only is named by its id.
    let registered = app
        .post("/auth/register")
        .json(json!({"email": "dee@example.com", "password": password_of("dee")}));
    assert_eq!(registered.status, 201, "{}", registered.text);
    let dee = Session {
        token: registered.body["access_token"]
            .as_str()
            .expect("a token")
            .to_owned(),
        user_id: registered.body["user"]["id"].as_i64().expect("an id"),
    };
    let reply = export(&app, &dee);
    let day = &reply.body["exported_at"].as_str().expect("a timestamp")[..10];
    assert_eq!(
        reply.header("Content-Disposition"),
        Some(
            format!(
                "attachment; filename=\"taskapi-export-{}-{day}.json\"",
                dee.user_id
            )
            .as_str()
        )
    );
}

/// 2,000 tasks: two of the store's batches of 1,000, with another user's
/// tasks among them, so that a batch's ids are not consecutive.
#[test]
fn a_large_export_lists_every_task_once_in_order_of_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let project = create_project(&app, &ann, "Big");
    // Straight into the database: over HTTP this would take a minute. A
    // recursive CTE counts on both backends; one row in five is Bob's.
    let stamp = "'2026-01-01T00:00:00Z'";
    app.db.execute(&format!(
        "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499)
         INSERT INTO task (owner_id, project_id, title, created_at, updated_at)
         SELECT CASE WHEN i % 5 = 4 THEN {bob} ELSE {ann} END,
                CASE WHEN i % 5 = 4 THEN NULL WHEN i % 2 = 0 THEN {project} ELSE NULL END,
                'bulk ' || i, {stamp}, {stamp}
         FROM n",
        bob = bob.user_id,
        ann = ann.user_id,
    ));
    app.db.execute(&format!(
        "INSERT INTO task_tag (task_id, position, tag, tag_key)
         SELECT id, 0, 'bulk', 'bulk' FROM task WHERE owner_id = {} AND id % 7 = 0",
        ann.user_id
    ));
    let expected: Vec<i64> = app
        .db
        .query(&format!(
            "SELECT id FROM task WHERE owner_id = {} ORDER BY id",
            ann.user_id
        ))
        .into_iter()
        .map(|row| {
            row[0]
                .as_deref()
                .and_then(|id| id.parse().ok())
                .expect("an id")
        })
        .collect();
    assert_eq!(expected.len(), 2000);

    let reply = export(&app, &ann);
    assert_eq!(ids_in(&reply.body["tasks"]), expected);
    let tasks = reply.body["tasks"].as_array().expect("an array");
    // The first, last and a tagged task, each as its own route shows it.
    let tagged = tasks
        .iter()
        .find(|task| task["tags"] == json!(["bulk"]))
        .expect("a tagged task");
    for task in [&tasks[0], &tasks[tasks.len() - 1], tagged] {
        assert_eq!(*task, read(&app, &ann, &format!("/tasks/{}", task["id"])));
    }
    assert_eq!(reply.body["projects"][0]["task_count"], 1000);
}

/// `session`'s export, checked to be a 200 with a JSON body.
#[track_caller]
fn export(app: &TestApp, session: &Session) -> Reply {
    let reply = app.get("/auth/me/export").bearer(&session.token).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.body.is_object(), "{}", reply.text);
    reply
}

/// What `path` returns to `session`, which must be a 200.
#[track_caller]
fn read(app: &TestApp, session: &Session, path: &str) -> Value {
    let reply = app.get(path).bearer(&session.token).send();
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.body
}

fn create_project(app: &TestApp, session: &Session, name: &str) -> i64 {
    let reply = app
        .post("/projects")
        .bearer(&session.token)
        .json(json!({"name": name}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    id_of(&reply.body)
}

fn add_member(app: &TestApp, owner: &Session, project: i64, user: &str, role: &str) {
    let reply = app
        .post(&format!("/projects/{project}/members"))
        .bearer(&owner.token)
        .json(json!({"user": user, "role": role}));
    assert_eq!(reply.status, 201, "{}", reply.text);
}

fn create_key(app: &TestApp, session: &Session, name: &str) -> String {
    let reply = app
        .post("/auth/api-keys")
        .bearer(&session.token)
        .json(json!({"name": name}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body["key"].as_str().expect("a key").to_owned()
}

fn id_of(resource: &Value) -> i64 {
    resource["id"].as_i64().expect("an integer id")
}

/// The ids of a JSON array of objects, in order.
fn ids_in(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(id_of)
        .collect()
}

/// The member names of a JSON object, sorted.
fn keys_of(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Every member name anywhere in `value`, lowercased.
fn member_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (name, inner) in object {
                names.push(name.to_lowercase());
                member_names(inner, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| member_names(item, names)),
        _ => {}
    }
}

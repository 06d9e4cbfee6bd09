//! The project routes over real HTTP: create, read, replace, patch and
//! delete with exact statuses and bodies; validation and per-user unique
//! names; the isolation of one user's projects from another's on every
//! route, including tasks created in or moved into them; the cascade that
//! deletes a project's tasks with it; and the tasks of one project, listed
//! highest priority first.

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp, assert_stamps_in_order, is_rfc3339_utc_seconds};

/// An id no test ever creates, for "does not exist" requests.
const MISSING_ID: i64 = 999_999;

// Create, read, replace, patch, delete.

#[test]
fn creating_a_project_returns_201_with_its_location_and_the_full_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home", "description": "Chores and repairs"}));

    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    let project = &reply.body;
    assert_project_shape(project);
    assert_eq!(
        reply.header("Location"),
        Some(project_path(project).as_str())
    );
    assert_eq!(project["name"], "Home");
    assert_eq!(project["description"], "Chores and repairs");
    assert_eq!(project["task_count"], 0);
    // A new project has never been updated, so both stamps are one instant.
    assert_eq!(project["created_at"], project["updated_at"]);
}

#[test]
fn a_project_created_without_a_description_has_a_null_description() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let project = create_project(&app, &ann, json!({"name": "Garden"}));

    assert_project_shape(&project);
    assert_eq!(project["description"], Value::Null);
}

#[test]
fn listing_projects_returns_an_array_of_the_callers_projects_by_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let empty = app.get("/projects").bearer(&ann.token).send();
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body, json!([]));

    let created: Vec<Value> = ["Home", "Work", "Garden"]
        .into_iter()
        .map(|name| create_project(&app, &ann, json!({"name": name})))
        .collect();

    let reply = app.get("/projects").bearer(&ann.token).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, Value::Array(created));
    assert_eq!(reply.header("X-Total-Count"), Some("3"));
}

#[test]
fn getting_a_project_returns_it_exactly_as_created() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let reply = get_project(&app, &ann, &project);

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, project);
}

#[test]
fn replacing_a_project_with_put_sets_an_omitted_description_to_null() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let reply = app
        .put(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"name": "Office"}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_project_shape(&reply.body);
    assert_eq!(
        reply.body,
        with_fields(
            &project,
            json!({
                "name": "Office",
                "description": null,
                "updated_at": reply.body["updated_at"],
                "version": 2,
            })
        )
    );
    assert_stamps_in_order(&reply.body);
    assert_eq!(get_project(&app, &ann, &project).body, reply.body);
}

#[test]
fn replacing_a_project_with_put_sets_both_fields() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Work"}));

    let reply = app
        .put(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"name": "Office", "description": "Third floor"}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["name"], "Office");
    assert_eq!(reply.body["description"], "Third floor");
    assert_eq!(get_project(&app, &ann, &project).body, reply.body);
}

#[test]
fn read_only_fields_in_a_project_put_body_are_ignored() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Work"}));
    app.create_task(
        &ann,
        json!({"title": "Report", "project_id": project["id"]}),
    );

    let reply = app
        .put(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({
            "id": MISSING_ID,
            "name": "Office",
            "task_count": 42,
            "created_at": "1999-01-01T00:00:00Z",
            "updated_at": "1999-01-01T00:00:00Z",
        }));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["id"], project["id"]);
    assert_eq!(reply.body["name"], "Office");
    assert_eq!(reply.body["task_count"], 1);
    assert_eq!(reply.body["created_at"], project["created_at"]);
    assert_ne!(reply.body["updated_at"], "1999-01-01T00:00:00Z");
    assert_stamps_in_order(&reply.body);
    let missing = app
        .get(&format!("/projects/{MISSING_ID}"))
        .bearer(&ann.token)
        .send();
    missing.assert_problem(404);
}

#[test]
fn a_project_fetched_with_get_can_be_sent_back_with_put_unchanged() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let reply = app
        .put(&project_path(&project))
        .bearer(&ann.token)
        .json(project.clone());

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        with_fields(
            &project,
            json!({"updated_at": reply.body["updated_at"], "version": 2})
        )
    );
}

#[test]
fn patching_a_project_changes_only_the_fields_present() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let renamed = app
        .patch(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"name": "Office"}));
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(
        renamed.body,
        with_fields(
            &project,
            json!({"name": "Office", "updated_at": renamed.body["updated_at"], "version": 2})
        )
    );

    let described = app
        .patch(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"description": "Third floor"}));
    assert_eq!(described.status, 200, "{}", described.text);
    assert_eq!(described.body["name"], "Office");
    assert_eq!(described.body["description"], "Third floor");
    assert_eq!(get_project(&app, &ann, &project).body, described.body);
}

#[test]
fn patching_a_project_description_with_null_clears_it() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let reply = app
        .patch(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"description": null}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        with_fields(
            &project,
            json!({"description": null, "updated_at": reply.body["updated_at"], "version": 2})
        )
    );
    assert_eq!(get_project(&app, &ann, &project).body, reply.body);
}

#[test]
fn patching_a_project_name_to_null_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Work"}));

    let reply = app
        .patch(&project_path(&project))
        .bearer(&ann.token)
        .json(json!({"name": null}));

    assert_eq!(reply.invalid_fields(), ["name"]);
    assert_eq!(get_project(&app, &ann, &project).body, project);
}

#[test]
fn deleting_a_project_returns_204_with_an_empty_body_and_then_it_is_gone() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Work"}));

    let reply = app
        .delete(&project_path(&project))
        .bearer(&ann.token)
        .send();
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(reply.text, "");

    get_project(&app, &ann, &project).assert_problem(404);
    let again = app
        .delete(&project_path(&project))
        .bearer(&ann.token)
        .send();
    again.assert_problem(404);
    let listed = app.get("/projects").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([]));
}

#[test]
fn a_missing_project_is_a_404_naming_it_on_every_route() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let path = format!("/projects/{MISSING_ID}");
    let tasks_path = format!("{path}/tasks");

    let replies = [
        app.get(&path).bearer(&ann.token).send(),
        app.put(&path).bearer(&ann.token).json(json!({"name": "X"})),
        app.patch(&path)
            .bearer(&ann.token)
            .json(json!({"name": "X"})),
        app.delete(&path).bearer(&ann.token).send(),
        app.get(&tasks_path).bearer(&ann.token).send(),
        app.post(&tasks_path)
            .bearer(&ann.token)
            .json(json!({"title": "Lost"})),
    ];

    for reply in &replies {
        let problem = reply.assert_problem(404);
        assert_eq!(
            problem["detail"],
            format!("project {MISSING_ID} not found"),
            "{}",
            reply.text
        );
    }
}

#[test]
fn project_routes_need_a_bearer_token() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Work"}));
    let path = project_path(&project);

    let replies = [
        app.get("/projects").send(),
        app.post("/projects").json(json!({"name": "Home"})),
        app.get(&path).send(),
        app.put(&path).json(json!({"name": "Office"})),
        app.patch(&path).json(json!({"name": "Office"})),
        app.delete(&path).send(),
        app.get(&format!("{path}/tasks")).send(),
        app.post(&format!("{path}/tasks"))
            .json(json!({"title": "Report"})),
    ];

    for reply in &replies {
        reply.assert_problem(401);
    }
    assert_eq!(get_project(&app, &ann, &project).body, project);
}

// Validation.

#[test]
fn creating_a_project_without_a_name_returns_422_naming_name() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"description": "No name"}));

    assert_eq!(reply.invalid_fields(), ["name"]);
    assert_no_projects(&app, &ann);
}

#[test]
fn a_blank_project_name_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for name in ["", "   ", "\t\n"] {
        let reply = app
            .post("/projects")
            .bearer(&ann.token)
            .json(json!({"name": name}));
        assert_eq!(reply.invalid_fields(), ["name"], "name {name:?}");
    }
    assert_no_projects(&app, &ann);
}

#[test]
fn a_project_name_may_have_200_characters_but_not_201() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    // Multi-byte characters: the limit counts characters, not bytes.
    let longest = "é".repeat(200);
    let created = create_project(&app, &ann, json!({"name": longest}));
    assert_eq!(created["name"], longest.as_str());

    let too_long = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "n".repeat(201)}));
    assert_eq!(too_long.invalid_fields(), ["name"]);

    let put = app
        .put(&project_path(&created))
        .bearer(&ann.token)
        .json(json!({"name": "n".repeat(201)}));
    assert_eq!(put.invalid_fields(), ["name"]);
    let patched = app
        .patch(&project_path(&created))
        .bearer(&ann.token)
        .json(json!({"name": "n".repeat(201)}));
    assert_eq!(patched.invalid_fields(), ["name"]);
    assert_eq!(get_project(&app, &ann, &created).body, created);
}

#[test]
fn a_project_description_may_have_10000_characters_but_not_10001() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let longest = "d".repeat(10_000);
    let created = create_project(&app, &ann, json!({"name": "Long", "description": longest}));
    assert_eq!(created["description"], longest.as_str());

    let too_long = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Longer", "description": "d".repeat(10_001)}));
    assert_eq!(too_long.invalid_fields(), ["description"]);

    let patched = app
        .patch(&project_path(&created))
        .bearer(&ann.token)
        .json(json!({"description": "d".repeat(10_001)}));
    assert_eq!(patched.invalid_fields(), ["description"]);
    assert_eq!(get_project(&app, &ann, &created).body, created);
}

#[test]
fn an_unknown_project_field_is_rejected_by_name() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home", "colour": "green"}));
    assert_eq!(created.invalid_fields(), ["colour"]);
    assert_no_projects(&app, &ann);

    let project = create_project(&app, &ann, json!({"name": "Home"}));
    for reply in [
        app.put(&project_path(&project))
            .bearer(&ann.token)
            .json(json!({"name": "Home", "colour": "green"})),
        app.patch(&project_path(&project))
            .bearer(&ann.token)
            .json(json!({"colour": "green"})),
    ] {
        assert_eq!(reply.invalid_fields(), ["colour"]);
    }
    assert_eq!(get_project(&app, &ann, &project).body, project);
}

#[test]
fn a_project_name_of_the_wrong_type_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for name in [json!(42), json!(true), json!(["Home"]), json!(null)] {
        let reply = app
            .post("/projects")
            .bearer(&ann.token)
            .json(json!({"name": name}));
        assert_eq!(reply.invalid_fields(), ["name"], "name {name}");
    }
    assert_no_projects(&app, &ann);
}

// Unique names.

#[test]
fn a_duplicate_project_name_in_any_case_is_a_409_on_create() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));

    for name in ["Home", "home", "HOME", "hOmE"] {
        let reply = app
            .post("/projects")
            .bearer(&ann.token)
            .json(json!({"name": name}));
        reply.assert_problem(409);
    }

    let listed = app.get("/projects").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([home]));
}

#[test]
fn a_duplicate_project_name_is_a_409_on_put_and_patch_and_changes_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    create_project(&app, &ann, json!({"name": "Home"}));
    let work = create_project(
        &app,
        &ann,
        json!({"name": "Work", "description": "Day job"}),
    );

    let put = app
        .put(&project_path(&work))
        .bearer(&ann.token)
        .json(json!({"name": "HOME"}));
    put.assert_problem(409);

    let patched = app
        .patch(&project_path(&work))
        .bearer(&ann.token)
        .json(json!({"name": "home"}));
    patched.assert_problem(409);

    assert_eq!(get_project(&app, &ann, &work).body, work);
}

#[test]
fn renaming_a_project_to_its_own_name_in_another_case_is_not_a_conflict() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "home"}));

    let reply = app
        .patch(&project_path(&home))
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["name"], "Home");
}

#[test]
fn project_names_that_differ_only_in_non_ascii_case_are_duplicates() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    create_project(&app, &ann, json!({"name": "Über"}));

    // "Case-insensitive" is not limited to ASCII letters: "über" is the
    // same name as "Über" to the person who typed it.
    let reply = app
        .post("/projects")
        .bearer(&ann.token)
        .json(json!({"name": "über"}));

    reply.assert_problem(409);
}

#[test]
fn two_users_may_each_have_a_project_with_the_same_name() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");

    let anns = create_project(&app, &ann, json!({"name": "Home"}));
    let bobs = create_project(&app, &bob, json!({"name": "Home"}));
    let bobs_other = create_project(&app, &bob, json!({"name": "Work"}));

    assert_ne!(anns["id"], bobs["id"]);
    // Renaming into a name only another user has is no conflict either.
    let renamed = app
        .patch(&project_path(&bobs_other))
        .bearer(&bob.token)
        .json(json!({"name": "Garden"}));
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let anns_garden = create_project(&app, &ann, json!({"name": "GARDEN"}));
    assert_eq!(anns_garden["name"], "GARDEN");
}

// Isolation between users.

#[test]
fn another_users_project_is_the_same_404_as_a_missing_one_on_every_route() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let project = create_project(&app, &ann, json!({"name": "Home", "description": "Ann's"}));
    let task = app.create_task(
        &ann,
        json!({"title": "Fix the sink", "project_id": project["id"], "priority": 2}),
    );
    let before = get_project(&app, &ann, &project).body;
    assert_eq!(before["task_count"], 1);
    let id = project["id"].as_i64().expect("an integer id");
    let theirs = format!("/projects/{id}");
    let missing = format!("/projects/{MISSING_ID}");

    type Request = fn(&TestApp, &str, &Session) -> Reply;
    let requests: [(&str, Request); 6] = [
        ("GET", |app, path, who| {
            app.get(path).bearer(&who.token).send()
        }),
        ("PUT", |app, path, who| {
            app.put(path)
                .bearer(&who.token)
                .json(json!({"name": "Bob's now"}))
        }),
        ("PATCH", |app, path, who| {
            app.patch(path)
                .bearer(&who.token)
                .json(json!({"description": null}))
        }),
        ("DELETE", |app, path, who| {
            app.delete(path).bearer(&who.token).send()
        }),
        ("GET tasks", |app, path, who| {
            app.get(&format!("{path}/tasks")).bearer(&who.token).send()
        }),
        ("POST tasks", |app, path, who| {
            app.post(&format!("{path}/tasks"))
                .bearer(&who.token)
                .json(json!({"title": "Planted"}))
        }),
    ];
    for (name, request) in requests {
        let reply = request(&app, &theirs, &bob);
        let absent = request(&app, &missing, &bob);
        assert_same_404_as_missing(&reply, id, &absent, name);
    }

    assert_eq!(get_project(&app, &ann, &project).body, before);
    let anns_tasks = app
        .get(&format!("{theirs}/tasks"))
        .bearer(&ann.token)
        .send();
    assert_eq!(anns_tasks.body, json!([task]));
    let bobs_tasks = app.get("/tasks").bearer(&bob.token).send();
    assert_eq!(bobs_tasks.body, json!([]));
}

#[test]
fn creating_a_task_in_another_users_project_returns_404_naming_the_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let project = create_project(&app, &ann, json!({"name": "Home"}));
    let id = project["id"].as_i64().expect("an integer id");

    let reply = app
        .post("/tasks")
        .bearer(&bob.token)
        .json(json!({"title": "Planted", "project_id": id}));

    let problem = reply.assert_problem(404);
    assert_eq!(problem["detail"], format!("project {id} not found"));
    let bobs_tasks = app.get("/tasks").bearer(&bob.token).send();
    assert_eq!(bobs_tasks.body, json!([]));
    assert_eq!(get_project(&app, &ann, &project).body["task_count"], 0);
}

#[test]
fn moving_a_task_into_another_users_project_returns_404_and_changes_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let anns_project = create_project(&app, &ann, json!({"name": "Home"}));
    let anns_task = app.create_task(
        &ann,
        json!({"title": "Ann's", "project_id": anns_project["id"]}),
    );
    let bobs_project = create_project(&app, &bob, json!({"name": "Home"}));
    let bobs_task = app.create_task(
        &bob,
        json!({"title": "Bob's", "project_id": bobs_project["id"], "priority": 3}),
    );
    let anns_before = get_project(&app, &ann, &anns_project).body;
    assert_eq!(anns_before["task_count"], 1);
    let id = anns_project["id"].as_i64().expect("an integer id");
    let path = task_path(&bobs_task);

    let put = app
        .put(&path)
        .bearer(&bob.token)
        .json(json!({"title": "Bob's", "project_id": id}));
    let patched = app
        .patch(&path)
        .bearer(&bob.token)
        .json(json!({"project_id": id}));

    // Nothing moved, whatever the replies say.
    let bobs_now = app.get(&path).bearer(&bob.token).send();
    assert_eq!(bobs_now.body, bobs_task);
    assert_eq!(get_project(&app, &ann, &anns_project).body, anns_before);
    let anns_tasks = app
        .get(&format!("{}/tasks", project_path(&anns_project)))
        .bearer(&ann.token)
        .send();
    assert_eq!(anns_tasks.body, json!([anns_task]));

    for (method, reply) in [("PUT", &put), ("PATCH", &patched)] {
        assert_eq!(reply.status, 404, "{method}: {}", reply.text);
        let problem = reply.assert_problem(404);
        assert_eq!(
            problem["detail"],
            format!("project {id} not found"),
            "{method}"
        );
    }
}

#[test]
fn a_users_project_list_never_contains_another_users_projects() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    create_project(&app, &ann, json!({"name": "Home"}));
    create_project(&app, &ann, json!({"name": "Shared secret"}));
    let bobs = create_project(&app, &bob, json!({"name": "Garage"}));

    let listed = app.get("/projects").bearer(&bob.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([bobs]));
    assert_eq!(listed.header("X-Total-Count"), Some("1"));

    let searched = app.get("/projects?q=secret").bearer(&bob.token).send();
    assert_eq!(searched.status, 200, "{}", searched.text);
    assert_eq!(searched.body, json!([]));
}

// Cascade and task counts.

#[test]
fn deleting_a_project_deletes_its_tasks_and_leaves_the_users_other_tasks() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let doomed = create_project(&app, &ann, json!({"name": "Doomed"}));
    let kept = create_project(&app, &ann, json!({"name": "Kept"}));
    let in_doomed: Vec<Value> = ["one", "two"]
        .into_iter()
        .map(|title| app.create_task(&ann, json!({"title": title, "project_id": doomed["id"]})))
        .collect();
    let in_kept = app.create_task(&ann, json!({"title": "three", "project_id": kept["id"]}));
    let loose = app.create_task(&ann, json!({"title": "four"}));
    let bobs_project = create_project(&app, &bob, json!({"name": "Doomed"}));
    let bobs_task = app.create_task(
        &bob,
        json!({"title": "bob's", "project_id": bobs_project["id"]}),
    );

    let reply = app.delete(&project_path(&doomed)).bearer(&ann.token).send();
    assert_eq!(reply.status, 204, "{}", reply.text);

    for task in &in_doomed {
        app.get(&task_path(task))
            .bearer(&ann.token)
            .send()
            .assert_problem(404);
    }
    for task in [&in_kept, &loose] {
        let reply = app.get(&task_path(task)).bearer(&ann.token).send();
        assert_eq!(reply.body, *task);
    }
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([in_kept, loose]));
    app.get(&format!("{}/tasks", project_path(&doomed)))
        .bearer(&ann.token)
        .send()
        .assert_problem(404);
    assert_eq!(get_project(&app, &ann, &kept).body["task_count"], 1);
    let bobs_now = app.get(&task_path(&bobs_task)).bearer(&bob.token).send();
    assert_eq!(bobs_now.body, bobs_task);
}

#[test]
fn task_count_follows_tasks_created_moved_and_deleted() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));
    let work = create_project(&app, &ann, json!({"name": "Work"}));
    let counts = |app: &TestApp| -> (Value, Value) {
        (
            get_project(app, &ann, &home).body["task_count"].clone(),
            get_project(app, &ann, &work).body["task_count"].clone(),
        )
    };

    let tasks: Vec<Value> = (0..3)
        .map(|index| {
            app.create_task(
                &ann,
                json!({"title": format!("home {index}"), "project_id": home["id"]}),
            )
        })
        .collect();
    app.create_task(&ann, json!({"title": "loose"}));
    assert_eq!(counts(&app), (json!(3), json!(0)));

    let moved = app
        .patch(&task_path(&tasks[0]))
        .bearer(&ann.token)
        .json(json!({"project_id": work["id"]}));
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(counts(&app), (json!(2), json!(1)));

    let deleted = app.delete(&task_path(&tasks[1])).bearer(&ann.token).send();
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(counts(&app), (json!(1), json!(1)));

    let listed = app.get("/projects").bearer(&ann.token).send();
    let listed_counts: Vec<&Value> = listed
        .body
        .as_array()
        .expect("an array")
        .iter()
        .map(|project| &project["task_count"])
        .collect();
    assert_eq!(listed_counts, [&json!(1), &json!(1)]);
}

// Tasks in projects.

#[test]
fn creating_a_task_in_a_project_returns_201_with_its_location_and_project_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Home"}));

    let reply = app
        .post(&format!("{}/tasks", project_path(&project)))
        .bearer(&ann.token)
        .json(json!({"title": "Fix the sink", "priority": 4}));

    assert_eq!(reply.status, 201, "{}", reply.text);
    let task = &reply.body;
    let id = task["id"].as_i64().expect("an integer id");
    assert_eq!(
        reply.header("Location"),
        Some(format!("/tasks/{id}").as_str())
    );
    assert_eq!(task["project_id"], project["id"]);
    assert_eq!(task["title"], "Fix the sink");
    assert_eq!(task["priority"], 4);
    let fetched = app.get(&task_path(task)).bearer(&ann.token).send();
    assert_eq!(fetched.body, *task);
    assert_eq!(get_project(&app, &ann, &project).body["task_count"], 1);
}

#[test]
fn a_project_id_in_the_body_that_disagrees_with_the_path_is_a_422() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));
    let work = create_project(&app, &ann, json!({"name": "Work"}));
    let path = format!("{}/tasks", project_path(&home));

    let reply = app
        .post(&path)
        .bearer(&ann.token)
        .json(json!({"title": "Confused", "project_id": work["id"]}));
    assert_eq!(reply.invalid_fields(), ["project_id"]);

    let agreeing = app
        .post(&path)
        .bearer(&ann.token)
        .json(json!({"title": "Agreed", "project_id": home["id"]}));
    assert_eq!(agreeing.status, 201, "{}", agreeing.text);
    assert_eq!(agreeing.body["project_id"], home["id"]);

    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([agreeing.body]));
}

#[test]
fn creating_a_task_with_a_project_id_files_it_in_that_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Home"}));

    let task = app.create_task(&ann, json!({"title": "Paint", "project_id": project["id"]}));

    assert_eq!(task["project_id"], project["id"]);
    let listed = app
        .get(&format!("{}/tasks", project_path(&project)))
        .bearer(&ann.token)
        .send();
    assert_eq!(listed.body, json!([task]));
}

#[test]
fn patching_project_id_moves_a_task_to_another_project_and_null_moves_it_out() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));
    let work = create_project(&app, &ann, json!({"name": "Work"}));
    let task = app.create_task(
        &ann,
        json!({"title": "Paint", "description": "Blue", "project_id": home["id"]}),
    );

    let moved = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"project_id": work["id"]}));
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["project_id"], work["id"]);
    assert_eq!(moved.body["description"], "Blue");
    assert_eq!(project_task_ids(&app, &ann, &home), Vec::<i64>::new());
    assert_eq!(project_task_ids(&app, &ann, &work), [id_of(&task)]);

    let out = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"project_id": null}));
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.body["project_id"], Value::Null);
    assert_eq!(out.body["title"], "Paint");
    assert_eq!(project_task_ids(&app, &ann, &work), Vec::<i64>::new());
    let fetched = app.get(&task_path(&task)).bearer(&ann.token).send();
    assert_eq!(fetched.body, out.body);
}

#[test]
fn putting_a_task_without_project_id_moves_it_out_of_its_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));
    let task = app.create_task(&ann, json!({"title": "Paint", "project_id": home["id"]}));

    let reply = app
        .put(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"title": "Paint"}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["project_id"], Value::Null);
    assert_eq!(project_task_ids(&app, &ann, &home), Vec::<i64>::new());
    assert_eq!(get_project(&app, &ann, &home).body["task_count"], 0);
}

#[test]
fn putting_a_task_with_project_id_moves_it_into_that_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, json!({"name": "Home"}));
    let task = app.create_task(&ann, json!({"title": "Paint"}));

    let reply = app
        .put(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"title": "Paint", "project_id": home["id"]}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["project_id"], home["id"]);
    assert_eq!(project_task_ids(&app, &ann, &home), [id_of(&task)]);
}

#[test]
fn a_project_id_must_be_a_positive_whole_number_or_null() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Paint"}));

    for project_id in [json!(0), json!(-1), json!("x"), json!(1.5), json!(true)] {
        let created = app
            .post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": "Bad", "project_id": project_id}));
        assert_eq!(created.invalid_fields(), ["project_id"], "{project_id}");
        let put = app
            .put(&task_path(&task))
            .bearer(&ann.token)
            .json(json!({"title": "Bad", "project_id": project_id}));
        assert_eq!(put.invalid_fields(), ["project_id"], "{project_id}");
        let patched = app
            .patch(&task_path(&task))
            .bearer(&ann.token)
            .json(json!({"project_id": project_id}));
        assert_eq!(patched.invalid_fields(), ["project_id"], "{project_id}");
    }

    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([task]));
}

#[test]
fn a_missing_project_id_on_a_task_is_a_404_naming_the_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Paint"}));
    let detail = format!("project {MISSING_ID} not found");

    let replies = [
        (
            "POST",
            app.post("/tasks")
                .bearer(&ann.token)
                .json(json!({"title": "Lost", "project_id": MISSING_ID})),
        ),
        (
            "PUT",
            app.put(&task_path(&task))
                .bearer(&ann.token)
                .json(json!({"title": "Lost", "project_id": MISSING_ID})),
        ),
        (
            "PATCH",
            app.patch(&task_path(&task))
                .bearer(&ann.token)
                .json(json!({"project_id": MISSING_ID})),
        ),
    ];

    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([task]));
    for (method, reply) in &replies {
        assert_eq!(reply.status, 404, "{method}: {}", reply.text);
        let problem = reply.assert_problem(404);
        assert_eq!(problem["detail"], detail.as_str(), "{method}");
    }
}

// Listing one project's tasks.

#[test]
fn a_projects_tasks_are_listed_highest_priority_first_with_ties_by_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Home"}));
    let other = create_project(&app, &ann, json!({"name": "Work"}));
    let ids: Vec<i64> = [1, 5, 3, 5, 0]
        .into_iter()
        .map(|priority| {
            id_of(&app.create_task(
                &ann,
                json!({
                    "title": format!("priority {priority}"),
                    "priority": priority,
                    "project_id": project["id"],
                }),
            ))
        })
        .collect();
    // Tasks elsewhere never appear in the project's list.
    app.create_task(&ann, json!({"title": "loose", "priority": 9}));
    app.create_task(
        &ann,
        json!({"title": "other", "priority": 9, "project_id": other["id"]}),
    );

    let reply = app
        .get(&format!("{}/tasks", project_path(&project)))
        .bearer(&ann.token)
        .send();

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.header("X-Total-Count"), Some("5"));
    assert_eq!(
        ids_in(&reply.body),
        [ids[1], ids[3], ids[2], ids[0], ids[4]]
    );
    let priorities: Vec<i64> = reply
        .body
        .as_array()
        .expect("an array")
        .iter()
        .map(|task| task["priority"].as_i64().expect("a priority"))
        .collect();
    assert_eq!(priorities, [5, 5, 3, 1, 0]);
}

#[test]
fn a_projects_tasks_take_negative_priorities_and_the_list_filters() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Home"}));
    let low = app.create_task(
        &ann,
        json!({"title": "low", "priority": -2, "project_id": project["id"]}),
    );
    let done = app.create_task(
        &ann,
        json!({"title": "done", "priority": 7, "completed": true, "project_id": project["id"]}),
    );
    let high = app.create_task(
        &ann,
        json!({"title": "high", "priority": 7, "project_id": project["id"]}),
    );
    let path = format!("{}/tasks", project_path(&project));

    let all = app.get(&path).bearer(&ann.token).send();
    assert_eq!(ids_in(&all.body), [id_of(&done), id_of(&high), id_of(&low)]);

    let open = app
        .get(&format!("{path}?completed=false"))
        .bearer(&ann.token)
        .send();
    assert_eq!(open.status, 200, "{}", open.text);
    assert_eq!(ids_in(&open.body), [id_of(&high), id_of(&low)]);
    assert_eq!(open.header("X-Total-Count"), Some("2"));

    let by_title = app
        .get(&format!("{path}?sort=title"))
        .bearer(&ann.token)
        .send();
    assert_eq!(by_title.status, 200, "{}", by_title.text);
    assert_eq!(
        ids_in(&by_title.body),
        [id_of(&done), id_of(&high), id_of(&low)]
    );
}

#[test]
fn the_project_id_parameter_is_a_400_on_a_projects_task_list() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, json!({"name": "Home"}));

    let reply = app
        .get(&format!(
            "{}/tasks?project_id={}",
            project_path(&project),
            project["id"]
        ))
        .bearer(&ann.token)
        .send();

    let problem = reply.assert_problem(400);
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(detail.contains("project_id"), "{detail}");
}

#[test]
fn a_trailing_slash_is_ignored_on_project_routes() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/projects/")
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let project = created.body;
    let listed = app.get("/projects/").bearer(&ann.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([project]));

    let tasks_path = format!("{}/tasks/", project_path(&project));
    let low = app
        .post(&tasks_path)
        .bearer(&ann.token)
        .json(json!({"title": "low", "priority": 1}));
    assert_eq!(low.status, 201, "{}", low.text);
    assert_eq!(low.body["project_id"], project["id"]);
    let high = app
        .post(&tasks_path)
        .bearer(&ann.token)
        .json(json!({"title": "high", "priority": 2}));
    assert_eq!(high.status, 201, "{}", high.text);

    let tasks = app.get(&tasks_path).bearer(&ann.token).send();
    assert_eq!(tasks.status, 200, "{}", tasks.text);
    assert_eq!(tasks.body, json!([high.body, low.body]));

    let single = app
        .get(&format!("{}/", project_path(&project)))
        .bearer(&ann.token)
        .send();
    assert_eq!(single.status, 200, "{}", single.text);
    assert_eq!(single.body["task_count"], 2);
}

#[test]
fn project_routes_are_also_served_under_api_v1() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/api/v1/projects")
        .bearer(&ann.token)
        .json(json!({"name": "Home"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let id = id_of(&created.body);

    let fetched = app
        .get(&format!("/api/v1/projects/{id}"))
        .bearer(&ann.token)
        .send();
    assert_eq!(fetched.body, created.body);
    let task = app
        .post(&format!("/api/v1/projects/{id}/tasks/"))
        .bearer(&ann.token)
        .json(json!({"title": "Paint"}));
    assert_eq!(task.status, 201, "{}", task.text);
    let tasks = app
        .get(&format!("/api/v1/projects/{id}/tasks"))
        .bearer(&ann.token)
        .send();
    assert_eq!(tasks.body, json!([task.body]));
}

#[test]
fn project_routes_with_a_malformed_id_are_a_400() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for path in ["/projects/abc", "/projects/0", "/projects/-1/tasks"] {
        let reply = app.get(path).bearer(&ann.token).send();
        reply.assert_problem(400);
    }
}

// Helpers.

/// Creates a project for `session` and returns its JSON.
#[track_caller]
fn create_project(app: &TestApp, session: &Session, body: Value) -> Value {
    let reply = app.post("/projects").bearer(&session.token).json(body);
    assert_eq!(reply.status, 201, "creating a project: {}", reply.text);
    reply.body
}

fn id_of(resource: &Value) -> i64 {
    resource["id"].as_i64().expect("an integer id")
}

fn project_path(project: &Value) -> String {
    format!("/projects/{}", id_of(project))
}

fn task_path(task: &Value) -> String {
    format!("/tasks/{}", id_of(task))
}

/// `GET` of `project` as `session`.
fn get_project(app: &TestApp, session: &Session, project: &Value) -> Reply {
    app.get(&project_path(project))
        .bearer(&session.token)
        .send()
}

/// The ids of a JSON array of resources, in order.
fn ids_in(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("an array: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// The ids listed by `GET /projects/{id}/tasks`, in order.
#[track_caller]
fn project_task_ids(app: &TestApp, session: &Session, project: &Value) -> Vec<i64> {
    let reply = app
        .get(&format!("{}/tasks", project_path(project)))
        .bearer(&session.token)
        .send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    ids_in(&reply.body)
}

/// Asserts that `session` has no projects at all.
#[track_caller]
fn assert_no_projects(app: &TestApp, session: &Session) {
    let listed = app.get("/projects").bearer(&session.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([]));
}

/// A copy of `resource` with the fields of `changes` overwritten.
fn with_fields(resource: &Value, changes: Value) -> Value {
    let mut resource = resource.clone();
    let object = resource.as_object_mut().expect("a JSON object");
    for (name, value) in changes.as_object().expect("changes are an object") {
        object.insert(name.clone(), value.clone());
    }
    resource
}

/// Asserts that `project` has exactly the documented fields, with their
/// types.
#[track_caller]
fn assert_project_shape(project: &Value) {
    let object = project.as_object().expect("a project is a JSON object");
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "created_at",
            "description",
            "id",
            "name",
            "role",
            "task_count",
            "updated_at",
            "version"
        ],
        "{project}"
    );
    assert!(
        ["owner", "editor", "viewer"].contains(&project["role"].as_str().unwrap_or_default()),
        "{project}"
    );
    assert!(project["id"].as_i64().is_some_and(|id| id > 0), "{project}");
    assert!(project["name"].is_string(), "{project}");
    assert!(
        project["description"].is_string() || project["description"].is_null(),
        "{project}"
    );
    assert!(
        project["task_count"]
            .as_i64()
            .is_some_and(|count| count >= 0),
        "{project}"
    );
    for stamp in ["created_at", "updated_at"] {
        let text = project[stamp].as_str().unwrap_or_default();
        assert!(
            is_rfc3339_utc_seconds(text),
            "{stamp} {text:?} in {project}"
        );
    }
}

/// Asserts that `reply`, another user's request for project `id`, is a 404
/// that differs from `missing` (the same request for a project that does
/// not exist) in nothing but the id its detail names, so nobody can tell
/// "not yours" from "not there".
#[track_caller]
fn assert_same_404_as_missing(reply: &Reply, id: i64, missing: &Reply, request: &str) {
    assert_eq!(reply.status, 404, "{request}: {}", reply.text);
    reply.assert_problem(404);
    missing.assert_problem(404);
    assert_eq!(
        without_id(&reply.body, id),
        without_id(&missing.body, MISSING_ID),
        "{request}: another user's project: {}\nmissing project: {}",
        reply.text,
        missing.text
    );
    assert_eq!(
        reply.body["detail"],
        format!("project {id} not found"),
        "{request}"
    );
}

/// A problem body with `id` in its detail replaced by a placeholder.
fn without_id(problem: &Value, id: i64) -> Value {
    let mut problem = problem.clone();
    let detail = problem["detail"].as_str().unwrap_or_default();
    problem["detail"] = Value::String(detail.replace(&id.to_string(), "{id}"));
    problem
}

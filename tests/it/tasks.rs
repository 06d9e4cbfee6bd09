//! The task routes over real HTTP: every route's success path with its exact
//! status, headers and body; the path spellings the router accepts; the
//! isolation of one user's tasks from another's; input validation; and many
//! clients creating tasks at once.

use std::collections::HashSet;
use std::thread;

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp, assert_stamps_in_order, is_rfc3339_utc_seconds};

// Success paths, route by route.

#[test]
fn creating_a_task_returns_201_with_its_location_and_the_full_task_with_defaults() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Buy milk"}));

    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    let task = &reply.body;
    assert_task_shape(task);
    let id = task["id"].as_i64().expect("an integer id");
    assert_eq!(
        reply.header("Location"),
        Some(format!("/tasks/{id}").as_str())
    );
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], Value::Null);
    assert_eq!(task["due_date"], Value::Null);
    assert_eq!(task["completed"], false);
    assert_eq!(task["priority"], 0);
    // A new task has never been updated, so both stamps are the same instant.
    assert_eq!(task["created_at"], task["updated_at"]);
}

#[test]
fn creating_a_task_with_every_field_returns_each_of_them() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app.post("/tasks").bearer(&ann.token).json(json!({
        "title": "File taxes",
        "description": "Form 1040 and the receipts",
        "due_date": "2026-04-15",
        "completed": true,
        "priority": 3,
        "assignee_id": ann.user_id,
        "tags": ["Money", "home"],
    }));

    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_task_shape(&reply.body);
    assert_eq!(
        without_server_fields(&reply.body),
        json!({
            "project_id": null,
            "title": "File taxes",
            "description": "Form 1040 and the receipts",
            "due_date": "2026-04-15",
            "completed": true,
            "priority": 3,
            "assignee_id": ann.user_id,
            "created_by": ann.user_id,
            "tags": ["Money", "home"],
            "version": 1,
        })
    );
}

#[test]
fn listing_tasks_returns_the_callers_tasks_ordered_by_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let empty = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.header("Content-Type"), Some("application/json"));
    assert_eq!(empty.body, json!([]));

    let created: Vec<Value> = ["first", "second", "third"]
        .into_iter()
        .map(|title| app.create_task(&ann, json!({"title": title})))
        .collect();

    let reply = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, Value::Array(created.clone()));
    let ids: Vec<i64> = created
        .iter()
        .map(|task| task["id"].as_i64().expect("an integer id"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

#[test]
fn getting_a_task_returns_it_exactly_as_created() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({"title": "Call mum", "description": "Sunday", "priority": 2}),
    );

    let reply = app.get(&task_path(&task)).bearer(&ann.token).send();

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.body, task);
}

#[test]
fn replacing_a_task_with_put_returns_omitted_fields_to_their_defaults() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({
            "title": "Old title",
            "description": "Old description",
            "due_date": "2026-01-31",
            "completed": true,
            "priority": 5,
        }),
    );

    let reply = app
        .put(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"title": "New title"}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_task_shape(&reply.body);
    assert_eq!(
        reply.body,
        with_fields(
            &task,
            json!({
                "title": "New title",
                "description": null,
                "due_date": null,
                "completed": false,
                "priority": 0,
                "updated_at": reply.body["updated_at"],
                "version": 2,
            })
        )
    );
    assert_stamps_in_order(&reply.body);
    assert_eq!(get_task(&app, &ann, &task).body, reply.body);
}

#[test]
fn patching_a_task_changes_only_the_fields_present() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({
            "title": "Water plants",
            "description": "The ferns too",
            "due_date": "2026-06-01",
            "priority": 1,
        }),
    );

    let reply = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"priority": 7, "completed": true}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(
        reply.body,
        with_fields(
            &task,
            json!({"priority": 7, "completed": true, "updated_at": reply.body["updated_at"], "version": 2})
        )
    );
    assert_stamps_in_order(&reply.body);
    assert_eq!(get_task(&app, &ann, &task).body, reply.body);
}

#[test]
fn patching_with_null_clears_the_description_and_the_due_date() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({"title": "Pack", "description": "Passport", "due_date": "2026-07-04"}),
    );

    let reply = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"description": null, "due_date": null}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        with_fields(
            &task,
            json!({"description": null, "due_date": null, "updated_at": reply.body["updated_at"], "version": 2})
        )
    );
    assert_eq!(get_task(&app, &ann, &task).body, reply.body);
}

#[test]
fn an_empty_patch_returns_the_task_unchanged() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Untouched", "priority": 4}));

    let reply = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({}));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, task);
}

#[test]
fn patching_accepts_the_merge_patch_content_type() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Draft", "description": "v1"}));

    // RFC 7396 names `application/merge-patch+json` as the media type of a
    // merge patch; careful clients send it instead of `application/json`.
    let patch = json!({"title": "Final", "description": null});
    let reply = app.patch(&task_path(&task)).bearer(&ann.token).body_bytes(
        Some("application/merge-patch+json"),
        patch.to_string().into_bytes(),
    );

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        with_fields(
            &task,
            json!({"title": "Final", "description": null, "updated_at": reply.body["updated_at"], "version": 2})
        )
    );
}

#[test]
fn is_completed_is_accepted_as_an_alias_of_completed() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Alias", "is_completed": true}));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["completed"], true);
    // The alias is an input spelling only: the output names the field once.
    assert!(
        created.body.get("is_completed").is_none(),
        "{}",
        created.text
    );

    let patched = app
        .patch(&task_path(&created.body))
        .bearer(&ann.token)
        .json(json!({"is_completed": false}));
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["completed"], false);

    let replaced = app
        .put(&task_path(&created.body))
        .bearer(&ann.token)
        .json(json!({"title": "Alias", "is_completed": true}));
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["completed"], true);
    assert_eq!(get_task(&app, &ann, &created.body).body["completed"], true);
}

#[test]
fn giving_both_completed_and_is_completed_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Both", "completed": true, "is_completed": true}));

    assert_eq!(reply.invalid_fields(), ["is_completed"]);
    assert_no_tasks(&app, &ann);
}

#[test]
fn a_task_fetched_with_get_can_be_sent_back_with_put_unchanged() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({
            "title": "Round trip",
            "description": "Every field set",
            "due_date": "2026-12-24",
            "completed": true,
            "priority": 9,
        }),
    );
    let fetched = get_task(&app, &ann, &task);
    assert_eq!(fetched.status, 200, "{}", fetched.text);

    // The body carries the read-only id, created_at and updated_at.
    let reply = app
        .put(&task_path(&task))
        .bearer(&ann.token)
        .json(fetched.body.clone());

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        with_fields(
            &fetched.body,
            json!({"updated_at": reply.body["updated_at"], "version": 2})
        )
    );
}

#[test]
fn read_only_fields_in_a_put_body_are_ignored() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Stamped"}));

    let reply = app.put(&task_path(&task)).bearer(&ann.token).json(json!({
        "id": 424_242,
        "title": "Restamped",
        "created_at": "1999-01-01T00:00:00Z",
        "updated_at": "1999-01-01T00:00:00Z",
    }));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["id"], task["id"]);
    assert_eq!(reply.body["created_at"], task["created_at"]);
    assert_ne!(reply.body["updated_at"], "1999-01-01T00:00:00Z");
    assert_eq!(reply.body["title"], "Restamped");
    let missing = app.get("/tasks/424242").bearer(&ann.token).send();
    missing.assert_problem(404);
}

#[test]
fn deleting_a_task_returns_204_with_an_empty_body_and_then_it_is_gone() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Short-lived"}));
    let path = task_path(&task);

    let reply = app.delete(&path).bearer(&ann.token).send();

    assert_eq!(reply.status, 204, "{}", reply.text);
    assert_eq!(reply.text, "");

    let fetched = app.get(&path).bearer(&ann.token).send();
    let problem = fetched.assert_problem(404);
    assert_eq!(problem["title"], "Not Found");

    let deleted_again = app.delete(&path).bearer(&ann.token).send();
    deleted_again.assert_problem(404);

    assert_no_tasks(&app, &ann);
}

// Path spellings.

#[test]
fn a_trailing_slash_is_ignored_on_task_routes() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/tasks/")
        .bearer(&ann.token)
        .json(json!({"title": "Slashed"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!("{}/", task_path(&created.body));

    let listed = app.get("/tasks/").bearer(&ann.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([created.body]));

    let fetched = app.get(&path).bearer(&ann.token).send();
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body, created.body);

    let patched = app
        .patch(&path)
        .bearer(&ann.token)
        .json(json!({"priority": 1}));
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["priority"], 1);

    let deleted = app.delete(&path).bearer(&ann.token).send();
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_no_tasks(&app, &ann);
}

#[test]
fn task_routes_are_also_served_under_api_v1() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let created = app
        .post("/api/v1/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Versioned"}));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_task_shape(&created.body);
    let path = format!("/api/v1{}", task_path(&created.body));

    let listed = app.get("/api/v1/tasks/").bearer(&ann.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([created.body]));

    let fetched = app.get(&path).bearer(&ann.token).send();
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.body, created.body);

    let replaced = app
        .put(&path)
        .bearer(&ann.token)
        .json(json!({"title": "Replaced"}));
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["title"], "Replaced");

    let patched = app
        .patch(&format!("{path}/"))
        .bearer(&ann.token)
        .json(json!({"completed": true}));
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["completed"], true);
    // The unversioned path names the same task.
    assert_eq!(get_task(&app, &ann, &created.body).body, patched.body);

    let deleted = app.delete(&path).bearer(&ann.token).send();
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    app.get(&path).bearer(&ann.token).send().assert_problem(404);
}

// Isolation between users.

#[test]
fn reading_another_users_task_returns_the_same_404_as_a_missing_task() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let task = app.create_task(&ann, json!({"title": "Ann's secret", "priority": 2}));

    let reply = app.get(&task_path(&task)).bearer(&bob.token).send();
    let missing = app
        .get(&format!("/tasks/{MISSING_ID}"))
        .bearer(&bob.token)
        .send();

    assert_same_404_as_missing(&reply, &task, &missing);
    assert_eq!(get_task(&app, &ann, &task).body, task);
}

#[test]
fn replacing_another_users_task_returns_404_and_leaves_it_unchanged() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let task = app.create_task(
        &ann,
        json!({"title": "Ann's plan", "due_date": "2026-03-01"}),
    );
    let body = json!({"title": "Bob was here", "completed": true});

    let reply = app
        .put(&task_path(&task))
        .bearer(&bob.token)
        .json(body.clone());
    let missing = app
        .put(&format!("/tasks/{MISSING_ID}"))
        .bearer(&bob.token)
        .json(body);

    assert_same_404_as_missing(&reply, &task, &missing);
    assert_eq!(get_task(&app, &ann, &task).body, task);
}

#[test]
fn patching_another_users_task_returns_404_and_leaves_it_unchanged() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let task = app.create_task(&ann, json!({"title": "Ann's list", "description": "mine"}));
    let body = json!({"description": null, "priority": 99});

    let reply = app
        .patch(&task_path(&task))
        .bearer(&bob.token)
        .json(body.clone());
    let missing = app
        .patch(&format!("/tasks/{MISSING_ID}"))
        .bearer(&bob.token)
        .json(body);

    assert_same_404_as_missing(&reply, &task, &missing);
    assert_eq!(get_task(&app, &ann, &task).body, task);
}

#[test]
fn deleting_another_users_task_returns_404_and_leaves_it_in_place() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let task = app.create_task(&ann, json!({"title": "Ann's keepsake"}));

    let reply = app.delete(&task_path(&task)).bearer(&bob.token).send();
    let missing = app
        .delete(&format!("/tasks/{MISSING_ID}"))
        .bearer(&bob.token)
        .send();

    assert_same_404_as_missing(&reply, &task, &missing);
    assert_eq!(get_task(&app, &ann, &task).body, task);
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([task]));
}

#[test]
fn a_users_list_never_contains_another_users_tasks() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let bob = app.register("bob");
    let ann_tasks: Vec<Value> = (1..=3)
        .map(|n| app.create_task(&ann, json!({"title": format!("ann {n}")})))
        .collect();
    let bob_tasks: Vec<Value> = (1..=2)
        .map(|n| app.create_task(&bob, json!({"title": format!("bob {n}")})))
        .collect();

    let ann_list = app.get("/tasks").bearer(&ann.token).send();
    let bob_list = app.get("/tasks").bearer(&bob.token).send();

    assert_eq!(ann_list.status, 200, "{}", ann_list.text);
    assert_eq!(bob_list.status, 200, "{}", bob_list.text);
    assert_eq!(ann_list.body, Value::Array(ann_tasks));
    assert_eq!(bob_list.body, Value::Array(bob_tasks));

    let carol = app.register("carol");
    assert_no_tasks(&app, &carol);
}

// Validation.

#[test]
fn creating_a_task_without_a_title_returns_422_naming_title() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for body in [json!({}), json!({"description": "no title here"})] {
        let reply = app.post("/tasks").bearer(&ann.token).json(body);
        assert_eq!(reply.invalid_fields(), ["title"], "{}", reply.text);
    }
    assert_no_tasks(&app, &ann);
}

#[test]
fn a_blank_title_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for title in ["", "   "] {
        let reply = app
            .post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": title}));
        assert_eq!(
            reply.invalid_fields(),
            ["title"],
            "{title:?}: {}",
            reply.text
        );
    }
    assert_no_tasks(&app, &ann);
}

#[test]
fn a_title_may_have_200_characters_but_not_201() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let too_long = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "t".repeat(201)}));
    assert_eq!(too_long.invalid_fields(), ["title"]);
    assert_no_tasks(&app, &ann);

    // The limit counts characters, not bytes: 200 two-byte characters fit.
    for title in ["t".repeat(200), "é".repeat(200)] {
        let reply = app
            .post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": title}));
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.body["title"], title);
    }
}

#[test]
fn a_description_may_have_10000_characters_but_not_10001() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let too_long = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Essay", "description": "d".repeat(10_001)}));
    assert_eq!(too_long.invalid_fields(), ["description"]);
    assert_no_tasks(&app, &ann);

    let description = "d".repeat(10_000);
    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Essay", "description": description}));
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["description"], description);
}

#[test]
fn a_due_date_must_be_a_real_calendar_date_written_yyyy_mm_dd() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for due_date in ["2025-02-30", "2025-2-3"] {
        let reply = app
            .post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": "Dated", "due_date": due_date}));
        assert_eq!(
            reply.invalid_fields(),
            ["due_date"],
            "{due_date}: {}",
            reply.text
        );
    }
    assert_no_tasks(&app, &ann);

    let leap_day = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Dated", "due_date": "2024-02-29"}));
    assert_eq!(leap_day.status, 201, "{}", leap_day.text);
    assert_eq!(leap_day.body["due_date"], "2024-02-29");
}

#[test]
fn a_priority_must_be_a_whole_number() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for priority in [json!(1.5), json!("high")] {
        let reply = app
            .post("/tasks")
            .bearer(&ann.token)
            .json(json!({"title": "Ranked", "priority": priority}));
        assert_eq!(
            reply.invalid_fields(),
            ["priority"],
            "{priority}: {}",
            reply.text
        );
    }
    assert_no_tasks(&app, &ann);
}

#[test]
fn completed_must_be_true_or_false() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Done?", "completed": "yes"}));

    assert_eq!(reply.invalid_fields(), ["completed"]);
    assert_no_tasks(&app, &ann);
}

#[test]
fn an_unknown_field_is_rejected_by_name() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Painted", "colour": "red"}));

    assert_eq!(reply.invalid_fields(), ["colour"]);
    assert!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("colour")),
        "{}",
        reply.text
    );
    assert_no_tasks(&app, &ann);
}

#[test]
fn every_bad_field_is_listed_in_one_422() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let reply = app.post("/tasks").bearer(&ann.token).json(json!({
        "title": "   ",
        "description": 5,
        "due_date": "2025-2-3",
        "completed": "yes",
        "priority": 1.5,
        "colour": "red",
    }));

    assert_eq!(
        reply.invalid_fields(),
        [
            "colour",
            "completed",
            "description",
            "due_date",
            "priority",
            "title"
        ]
    );
    for error in reply.body["errors"].as_array().expect("an errors array") {
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{error}"
        );
    }
    assert_no_tasks(&app, &ann);
}

#[test]
fn patching_the_title_to_null_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(&ann, json!({"title": "Keep me"}));

    let reply = app
        .patch(&task_path(&task))
        .bearer(&ann.token)
        .json(json!({"title": null}));

    assert_eq!(reply.invalid_fields(), ["title"]);
    assert_eq!(get_task(&app, &ann, &task).body, task);
}

#[test]
fn a_failed_validation_changes_nothing() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let task = app.create_task(
        &ann,
        json!({"title": "Stable", "description": "as it was", "priority": 1}),
    );
    let path = task_path(&task);

    // One good field next to one bad field: the good one must not be applied.
    let put = app
        .put(&path)
        .bearer(&ann.token)
        .json(json!({"title": "Changed", "due_date": "2025-02-30"}));
    assert_eq!(put.invalid_fields(), ["due_date"]);

    let put_without_title = app
        .put(&path)
        .bearer(&ann.token)
        .json(json!({"description": "changed"}));
    assert_eq!(put_without_title.invalid_fields(), ["title"]);

    let patch = app
        .patch(&path)
        .bearer(&ann.token)
        .json(json!({"description": "changed", "priority": "high"}));
    assert_eq!(patch.invalid_fields(), ["priority"]);

    let blank = app
        .patch(&path)
        .bearer(&ann.token)
        .json(json!({"title": "   ", "completed": true}));
    assert_eq!(blank.invalid_fields(), ["title"]);

    let post = app
        .post("/tasks")
        .bearer(&ann.token)
        .json(json!({"title": "Extra", "colour": "blue"}));
    assert_eq!(post.invalid_fields(), ["colour"]);

    assert_eq!(get_task(&app, &ann, &task).body, task);
    let listed = app.get("/tasks").bearer(&ann.token).send();
    assert_eq!(listed.body, json!([task]));
}

// Concurrency.

#[test]
fn concurrent_creates_by_one_user_all_succeed_with_distinct_ids() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 50;
    let app = TestApp::spawn();
    let ann = app.register("ann");

    // Scoped threads borrow the app and the session; all of them start
    // sending at once and the scope joins them before the assertions.
    let replies: Vec<Reply> = thread::scope(|scope| {
        let clients: Vec<_> = (0..THREADS)
            .map(|client| {
                let (app, ann) = (&app, &ann);
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|n| {
                            app.post("/tasks")
                                .bearer(&ann.token)
                                .json(json!({"title": format!("client {client} task {n}")}))
                        })
                        .collect::<Vec<Reply>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("a client thread finishes"))
            .collect()
    });

    assert_eq!(replies.len(), THREADS * PER_THREAD);
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let created_ids: HashSet<i64> = replies
        .iter()
        .map(|reply| reply.body["id"].as_i64().expect("an integer id"))
        .collect();
    assert_eq!(created_ids.len(), THREADS * PER_THREAD);

    let listed = app.get("/tasks?limit=500").bearer(&ann.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    let tasks = listed.body.as_array().expect("a JSON array");
    assert_eq!(tasks.len(), THREADS * PER_THREAD);
    assert_eq!(listed.header("X-Total-Count"), Some("400"));
    let listed_ids: HashSet<i64> = tasks
        .iter()
        .map(|task| task["id"].as_i64().expect("an integer id"))
        .collect();
    assert_eq!(listed_ids, created_ids);
    let titles: HashSet<&str> = tasks
        .iter()
        .map(|task| task["title"].as_str().expect("a title"))
        .collect();
    assert_eq!(titles.len(), THREADS * PER_THREAD);
}

// Helpers.

/// An id no test ever creates: the "does not exist" side of isolation tests.
const MISSING_ID: i64 = 987_654;

/// `/tasks/{id}` for a task's JSON.
fn task_path(task: &Value) -> String {
    format!("/tasks/{}", task["id"].as_i64().expect("an integer id"))
}

/// `GET` of `task` as `session`.
fn get_task(app: &TestApp, session: &Session, task: &Value) -> Reply {
    app.get(&task_path(task)).bearer(&session.token).send()
}

/// Asserts that `session` has no tasks at all.
#[track_caller]
fn assert_no_tasks(app: &TestApp, session: &Session) {
    let listed = app.get("/tasks").bearer(&session.token).send();
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([]));
}

/// A copy of `task` with the fields of `changes` overwritten.
fn with_fields(task: &Value, changes: Value) -> Value {
    let mut task = task.clone();
    let object = task.as_object_mut().expect("a task is a JSON object");
    for (name, value) in changes.as_object().expect("changes are an object") {
        object.insert(name.clone(), value.clone());
    }
    task
}

/// The writable fields of a task: everything but id and the timestamps.
fn without_server_fields(task: &Value) -> Value {
    let mut task = task.clone();
    let object = task.as_object_mut().expect("a task is a JSON object");
    for name in ["id", "created_at", "updated_at"] {
        object.remove(name);
    }
    task
}

/// Asserts that `task` has exactly the documented fields, a positive id and
/// RFC 3339 UTC timestamps.
#[track_caller]
fn assert_task_shape(task: &Value) {
    let object = task.as_object().expect("a task is a JSON object");
    let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "assignee_id",
            "completed",
            "created_at",
            "created_by",
            "description",
            "due_date",
            "id",
            "priority",
            "project_id",
            "tags",
            "title",
            "updated_at",
            "version"
        ],
        "{task}"
    );
    assert!(task["tags"].is_array(), "{task}");
    assert!(task["id"].as_i64().is_some_and(|id| id > 0), "{task}");
    assert!(task["title"].is_string(), "{task}");
    assert!(task["completed"].is_boolean(), "{task}");
    assert!(task["priority"].is_i64(), "{task}");
    for stamp in ["created_at", "updated_at"] {
        let text = task[stamp].as_str().unwrap_or_default();
        assert!(is_rfc3339_utc_seconds(text), "{stamp} {text:?} in {task}");
    }
}

/// Asserts that `reply`, another user's request for `task`, is a 404 that
/// differs from `missing` (the same request for a task that does not exist)
/// in nothing but the id the detail names: the reply must not let anyone
/// tell "not yours" from "not there". A 403 would.
#[track_caller]
fn assert_same_404_as_missing(reply: &Reply, task: &Value, missing: &Reply) {
    reply.assert_problem(404);
    missing.assert_problem(404);
    let id = task["id"].as_i64().expect("an integer id");
    assert_eq!(
        without_id(&reply.body, id),
        without_id(&missing.body, MISSING_ID),
        "another user's task: {}\nmissing task: {}",
        reply.text,
        missing.text
    );
    for header in ["Content-Type", "WWW-Authenticate", "Allow"] {
        assert_eq!(reply.header(header), missing.header(header), "{header}");
    }
}

/// A problem body with `id` in its detail replaced by a placeholder.
fn without_id(problem: &Value, id: i64) -> Value {
    let mut problem = problem.clone();
    let detail = problem["detail"].as_str().unwrap_or_default();
    problem["detail"] = Value::String(detail.replace(&id.to_string(), "{id}"));
    problem
}

#[test]
fn sixteen_writers_doing_a_thousand_mixed_writes_each_leave_an_exact_state() {
    // 16 workers, so 16 requests really write at once; SQLite serialises
    // them and none may fail with SQLITE_BUSY (which would be a 500).
    let app = TestApp::spawn_with(16, taskapi::router::dispatch);
    let ann = app.register("ann");
    let results: Vec<(i64, i64, i64)> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..16)
            .map(|writer| {
                let (app, ann) = (&app, &ann);
                scope.spawn(move || {
                    let counter =
                        app.create_task(ann, json!({"title": format!("counter {writer}")}));
                    let counter_path = format!("/tasks/{}", counter["id"]);
                    let (mut patches, mut created, mut deleted) = (0, 0, 0);
                    let mut extras = Vec::new();
                    for step in 0..1000 {
                        let reply = match step % 10 {
                            // One create and one delete in ten writes...
                            3 => {
                                let reply = app
                                    .post("/tasks")
                                    .bearer(&ann.token)
                                    .json(json!({"title": format!("extra {writer}.{step}")}));
                                extras.push(reply.body["id"].clone());
                                created += 1;
                                reply
                            }
                            7 if !extras.is_empty() => {
                                let id = extras.remove(0);
                                deleted += 1;
                                app.delete(&format!("/tasks/{id}"))
                                    .bearer(&ann.token)
                                    .send()
                            }
                            // ...and eight PATCHes that step this writer's
                            // counter task to its next value.
                            _ => {
                                patches += 1;
                                app.patch(&counter_path)
                                    .bearer(&ann.token)
                                    .json(json!({"priority": patches}))
                            }
                        };
                        assert!(
                            reply.status < 300,
                            "step {step}: {} {}",
                            reply.status,
                            reply.text
                        );
                    }
                    let counter = app.get(&counter_path).bearer(&ann.token).send();
                    assert_eq!(counter.body["priority"], patches, "writer {writer}");
                    (patches, created, deleted)
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|writer| writer.join().unwrap())
            .collect()
    });
    let created: i64 = results.iter().map(|(_, created, _)| created).sum();
    let deleted: i64 = results.iter().map(|(_, _, deleted)| deleted).sum();
    let listed = app.get("/tasks?limit=1").bearer(&ann.token).send();
    let expected_total = 16 + created - deleted;
    assert_eq!(
        listed.header("X-Total-Count"),
        Some(expected_total.to_string().as_str())
    );
}

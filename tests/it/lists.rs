//! The list query language shared by `GET /tasks`, `GET /projects/{id}/tasks`
//! and `GET /projects`, over real HTTP: pages (`limit`, `offset`,
//! `X-Total-Count` and the RFC 8288 `Link` header), every task filter alone
//! and combined, every sort key in both directions, and the 400s and 422s
//! for parameters the server does not understand.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Reply, Session, TestApp};

/// The task sort keys the spec names.
const TASK_SORT_KEYS: [&str; 6] = [
    "id",
    "priority",
    "due_date",
    "created_at",
    "updated_at",
    "title",
];

// Pagination.

#[test]
fn the_default_page_holds_50_tasks_and_the_total_counts_all_of_them() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let ids: Vec<i64> = (0..60)
        .map(|index| id_of(&app.create_task(&ann, json!({"title": format!("task {index}")}))))
        .collect();

    let first = list(&app, &ann, "/tasks");
    assert_eq!(ids_in(&first.body), ids[..50]);
    assert_eq!(first.header("X-Total-Count"), Some("60"));

    let rest = list(&app, &ann, "/tasks?offset=50");
    assert_eq!(ids_in(&rest.body), ids[50..]);
    assert_eq!(rest.header("X-Total-Count"), Some("60"));
}

#[test]
fn limit_and_offset_select_an_exact_window() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let ids: Vec<i64> = (0..12)
        .map(|index| id_of(&app.create_task(&ann, json!({"title": format!("task {index}")}))))
        .collect();

    for (limit, offset) in [(1, 0), (3, 0), (3, 4), (5, 10), (12, 0), (20, 0), (4, 11)] {
        let reply = list(&app, &ann, &format!("/tasks?limit={limit}&offset={offset}"));
        let end = (offset + limit).min(ids.len());
        assert_eq!(
            ids_in(&reply.body),
            ids[offset..end],
            "limit={limit}&offset={offset}"
        );
        assert_eq!(reply.header("X-Total-Count"), Some("12"));
    }
}

#[test]
fn pages_of_seven_concatenate_to_the_full_list_for_every_sort_order() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    // Few distinct values per key, so that every order has long runs of
    // ties that only the id tie-breaker can split consistently across pages.
    for index in 0..30 {
        let due_date = match index % 4 {
            0 => Value::Null,
            1 => json!("2030-01-01"),
            2 => json!("2030-06-01"),
            _ => json!("2029-12-31"),
        };
        let title = ["pear", "apple", "fig"][index % 3];
        app.create_task(
            &ann,
            json!({
                "title": title,
                "priority": (index % 5) as i64 - 2,
                "due_date": due_date,
                "completed": index % 7 == 0,
            }),
        );
    }

    let orders = [
        "sort=id",
        "sort=-id",
        "sort=priority",
        "sort=-priority",
        "sort=due_date",
        "sort=-due_date",
        "sort=title",
        "sort=-title",
        "sort=-priority,title",
        "sort=-created_at",
        "sort=updated_at",
        "completed=false&sort=-priority",
    ];
    for order in orders {
        let full = list(&app, &ann, &format!("/tasks?{order}&limit=500"));
        let full_ids = ids_in(&full.body);
        let total = full_ids.len();
        assert_eq!(
            full.header("X-Total-Count"),
            Some(total.to_string().as_str()),
            "{order}"
        );

        let mut walked = Vec::new();
        for offset in (0..total + 7).step_by(7) {
            let page = list(
                &app,
                &ann,
                &format!("/tasks?{order}&limit=7&offset={offset}"),
            );
            let page_ids = ids_in(&page.body);
            assert_eq!(
                page_ids.len(),
                total.saturating_sub(offset).min(7),
                "{order} offset {offset}"
            );
            assert_eq!(
                page.header("X-Total-Count"),
                Some(total.to_string().as_str()),
                "{order} offset {offset}"
            );
            walked.extend(page_ids);
        }
        assert_eq!(walked, full_ids, "{order}");
    }
}

#[test]
fn a_page_past_the_end_is_an_empty_array_not_null() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let nothing = list(&app, &ann, "/tasks");
    assert_eq!(nothing.text, "[]\n");
    assert_eq!(nothing.header("X-Total-Count"), Some("0"));

    for title in ["one", "two", "three"] {
        app.create_task(&ann, json!({"title": title}));
    }
    for query in ["offset=3", "offset=100", "limit=2&offset=4"] {
        let reply = list(&app, &ann, &format!("/tasks?{query}"));
        assert_eq!(reply.text, "[]\n", "{query}");
        assert_eq!(reply.header("X-Total-Count"), Some("3"), "{query}");
    }
    let filtered = list(&app, &ann, "/tasks?completed=true");
    assert_eq!(filtered.text, "[]\n");
    assert_eq!(filtered.header("X-Total-Count"), Some("0"));
}

#[test]
fn x_total_count_is_the_filtered_total_not_the_page_size() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for index in 0..10 {
        app.create_task(
            &ann,
            json!({"title": format!("task {index}"), "completed": index % 3 == 0}),
        );
    }

    let done = list(&app, &ann, "/tasks?completed=true&limit=2");
    assert_eq!(ids_in(&done.body).len(), 2);
    assert_eq!(done.header("X-Total-Count"), Some("4"));
    let open = list(&app, &ann, "/tasks?completed=false&limit=2&offset=5");
    assert_eq!(ids_in(&open.body).len(), 1);
    assert_eq!(open.header("X-Total-Count"), Some("6"));
}

#[test]
fn limit_may_be_500_but_501_is_a_422_that_names_the_maximum() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, "Home");
    let task = app.create_task(&ann, json!({"title": "Paint", "project_id": project["id"]}));

    let project_tasks = format!("/projects/{}/tasks", id_of(&project));
    for path in ["/tasks", "/projects", project_tasks.as_str()] {
        let largest = list(&app, &ann, &format!("{path}?limit=500"));
        assert_eq!(ids_in(&largest.body).len(), 1, "{path}");

        for limit in ["501", "1000", "99999999999"] {
            let reply = app
                .get(&format!("{path}?limit={limit}"))
                .bearer(&ann.token)
                .send();
            let problem = reply.assert_problem(422);
            let messages: Vec<&str> = problem["errors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|error| error["message"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let says_500 = problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("500"))
                || messages.iter().any(|message| message.contains("500"));
            assert!(says_500, "{path}?limit={limit}: {}", reply.text);
        }
    }
    assert_eq!(id_of(&task), id_of(&list(&app, &ann, "/tasks").body[0]));
}

#[test]
fn limit_0_is_a_422() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    app.create_task(&ann, json!({"title": "Paint"}));

    for path in ["/tasks?limit=0", "/projects?limit=0"] {
        let reply = app.get(path).bearer(&ann.token).send();
        reply.assert_problem(422);
        assert!(reply.text.contains("limit"), "{path}: {}", reply.text);
    }
}

#[test]
fn a_malformed_limit_or_offset_is_a_400_naming_it() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let cases = [
        ("limit=abc", "limit"),
        ("limit=-5", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=2.0", "offset"),
    ];
    for (query, name) in cases {
        for path in ["/tasks", "/projects"] {
            let reply = app
                .get(&format!("{path}?{query}"))
                .bearer(&ann.token)
                .send();
            assert_bad_parameter(&reply, name, &format!("{path}?{query}"));
        }
    }
}

// The Link header.

#[test]
fn the_first_page_links_to_first_next_and_last_but_not_prev() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);

    let reply = list(&app, &ann, &format!("/tasks?{LINK_QUERY}&limit=5"));

    assert_eq!(reply.header("X-Total-Count"), Some("23"));
    assert_links(
        &reply,
        "/tasks",
        &LINK_PARAMETERS,
        5,
        &[("first", 0), ("next", 5), ("last", 20)],
    );
}

#[test]
fn a_middle_page_links_to_first_prev_next_and_last() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);

    let reply = list(
        &app,
        &ann,
        &format!("/tasks?{LINK_QUERY}&limit=5&offset=10"),
    );

    assert_eq!(ids_in(&reply.body).len(), 5);
    assert_links(
        &reply,
        "/tasks",
        &LINK_PARAMETERS,
        5,
        &[("first", 0), ("prev", 5), ("next", 15), ("last", 20)],
    );
}

#[test]
fn the_last_page_links_to_first_prev_and_last_but_not_next() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);

    let reply = list(
        &app,
        &ann,
        &format!("/tasks?{LINK_QUERY}&limit=5&offset=20"),
    );

    assert_eq!(ids_in(&reply.body).len(), 3);
    assert_links(
        &reply,
        "/tasks",
        &LINK_PARAMETERS,
        5,
        &[("first", 0), ("prev", 15), ("last", 20)],
    );
}

#[test]
fn a_single_page_links_only_to_first_and_last() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let empty = list(&app, &ann, "/tasks");
    assert_links(&empty, "/tasks", &[], 50, &[("first", 0), ("last", 0)]);

    for title in ["one", "two"] {
        app.create_task(&ann, json!({"title": title}));
    }
    let reply = list(&app, &ann, "/tasks?limit=2");
    assert_links(&reply, "/tasks", &[], 2, &[("first", 0), ("last", 0)]);
}

#[test]
fn following_next_links_walks_every_page_exactly_once() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);
    let full = list(&app, &ann, &format!("/tasks?{LINK_QUERY}&limit=500"));
    let full_ids = ids_in(&full.body);
    assert_eq!(full_ids.len(), 23);

    let mut page = list(&app, &ann, &format!("/tasks?{LINK_QUERY}&limit=5"));
    let mut walked = ids_in(&page.body);
    let mut pages = 1;
    while let Some(next) = links_of(&page).get("next").cloned() {
        // The target is a path and query, requested exactly as given.
        page = list(&app, &ann, &next);
        walked.extend(ids_in(&page.body));
        pages += 1;
        assert!(pages <= 5, "more pages than 23 rows need: {next}");
    }

    assert_eq!(pages, 5);
    assert_eq!(walked, full_ids);
}

#[test]
fn following_the_prev_link_returns_the_previous_page() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);
    let full = list(&app, &ann, &format!("/tasks?{LINK_QUERY}&limit=500"));
    let full_ids = ids_in(&full.body);

    let page = list(
        &app,
        &ann,
        &format!("/tasks?{LINK_QUERY}&limit=5&offset=10"),
    );
    let links = links_of(&page);
    let prev = list(&app, &ann, &links["prev"]);
    let last = list(&app, &ann, &links["last"]);
    let first = list(&app, &ann, &links["first"]);

    assert_eq!(ids_in(&prev.body), full_ids[5..10]);
    assert_eq!(ids_in(&last.body), full_ids[20..]);
    assert_eq!(ids_in(&first.body), full_ids[..5]);
}

#[test]
fn links_under_api_v1_keep_the_prefix() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    seed_link_tasks(&app, &ann);

    let reply = list(
        &app,
        &ann,
        &format!("/api/v1/tasks?{LINK_QUERY}&limit=5&offset=5"),
    );

    assert_links(
        &reply,
        "/api/v1/tasks",
        &LINK_PARAMETERS,
        5,
        &[("first", 0), ("prev", 0), ("next", 10), ("last", 20)],
    );
    let next = list(&app, &ann, &links_of(&reply)["next"]);
    let direct = list(
        &app,
        &ann,
        &format!("/tasks?{LINK_QUERY}&limit=5&offset=10"),
    );
    assert_eq!(next.body, direct.body);
}

#[test]
fn project_lists_carry_links_to_their_own_paths() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let projects: Vec<Value> = ["alpha", "bravo", "charlie"]
        .into_iter()
        .map(|name| create_project(&app, &ann, name))
        .collect();
    let project_id = id_of(&projects[0]);
    for priority in 0..5 {
        app.create_task(
            &ann,
            json!({"title": format!("task {priority}"), "priority": priority, "project_id": project_id}),
        );
    }

    let listed = list(&app, &ann, "/projects?sort=-name&limit=1&offset=1");
    assert_eq!(ids_in(&listed.body), [id_of(&projects[1])]);
    assert_eq!(listed.header("X-Total-Count"), Some("3"));
    assert_links(
        &listed,
        "/projects",
        &[("sort", "-name")],
        1,
        &[("first", 0), ("prev", 0), ("next", 2), ("last", 2)],
    );

    let tasks_path = format!("/projects/{project_id}/tasks");
    let tasks = list(&app, &ann, &format!("{tasks_path}?completed=false&limit=2"));
    assert_eq!(tasks.header("X-Total-Count"), Some("5"));
    assert_links(
        &tasks,
        &tasks_path,
        &[("completed", "false")],
        2,
        &[("first", 0), ("next", 2), ("last", 4)],
    );
    let next = list(&app, &ann, &links_of(&tasks)["next"]);
    let priorities: Vec<&Value> = next
        .body
        .as_array()
        .expect("an array")
        .iter()
        .map(|task| &task["priority"])
        .collect();
    assert_eq!(priorities, [&json!(2), &json!(1)]);
}

// Filters.

#[test]
fn completed_filters_done_and_open_tasks() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let open = app.create_task(&ann, json!({"title": "open"}));
    let done = app.create_task(&ann, json!({"title": "done", "completed": true}));
    let open_too = app.create_task(&ann, json!({"title": "open too"}));

    let completed = list(&app, &ann, "/tasks?completed=true");
    assert_eq!(ids_in(&completed.body), [id_of(&done)]);
    assert_eq!(completed.header("X-Total-Count"), Some("1"));
    let not_completed = list(&app, &ann, "/tasks?completed=false");
    assert_eq!(
        ids_in(&not_completed.body),
        [id_of(&open), id_of(&open_too)]
    );
    assert_eq!(not_completed.header("X-Total-Count"), Some("2"));
}

#[test]
fn project_id_filters_one_projects_tasks_and_none_the_tasks_in_no_project() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, "Home");
    let work = create_project(&app, &ann, "Work");
    let ids: Vec<i64> = [
        home["id"].clone(),
        Value::Null,
        work["id"].clone(),
        home["id"].clone(),
        Value::Null,
    ]
    .into_iter()
    .enumerate()
    .map(|(index, project_id)| {
        id_of(&app.create_task(
            &ann,
            json!({"title": format!("task {index}"), "project_id": project_id}),
        ))
    })
    .collect();

    let in_home = list(&app, &ann, &format!("/tasks?project_id={}", id_of(&home)));
    assert_eq!(ids_in(&in_home.body), [ids[0], ids[3]]);
    let in_work = list(&app, &ann, &format!("/tasks?project_id={}", id_of(&work)));
    assert_eq!(ids_in(&in_work.body), [ids[2]]);
    let in_none = list(&app, &ann, "/tasks?project_id=none");
    assert_eq!(ids_in(&in_none.body), [ids[1], ids[4]]);
    assert_eq!(in_none.header("X-Total-Count"), Some("2"));
}

#[test]
fn due_before_and_due_after_are_inclusive_and_never_match_undated_tasks() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let early = id_of(&app.create_task(&ann, json!({"title": "early", "due_date": "2030-01-10"})));
    let undated = id_of(&app.create_task(&ann, json!({"title": "undated"})));
    let middle =
        id_of(&app.create_task(&ann, json!({"title": "middle", "due_date": "2030-01-15"})));
    let late = id_of(&app.create_task(&ann, json!({"title": "late", "due_date": "2030-01-20"})));

    let cases: [(&str, Vec<i64>); 9] = [
        ("due_before=2030-01-15", vec![early, middle]),
        ("due_after=2030-01-15", vec![middle, late]),
        ("due_before=2030-01-15&due_after=2030-01-15", vec![middle]),
        (
            "due_after=2030-01-10&due_before=2030-01-20",
            vec![early, middle, late],
        ),
        ("due_after=2030-01-11&due_before=2030-01-19", vec![middle]),
        ("due_before=2030-01-09", vec![]),
        ("due_after=2030-01-21", vec![]),
        ("due_after=1900-01-01", vec![early, middle, late]),
        ("due_before=9999-12-31", vec![early, middle, late]),
    ];
    for (query, expected) in cases {
        let reply = list(&app, &ann, &format!("/tasks?{query}"));
        assert_eq!(ids_in(&reply.body), expected, "{query}");
        assert!(!ids_in(&reply.body).contains(&undated), "{query}");
    }
}

#[test]
fn overdue_true_is_a_past_due_date_on_an_open_task_and_false_is_the_rest() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let past_open =
        id_of(&app.create_task(&ann, json!({"title": "late", "due_date": "2000-01-01"})));
    let past_done = id_of(&app.create_task(
        &ann,
        json!({"title": "done late", "due_date": "2000-01-01", "completed": true}),
    ));
    let future_open =
        id_of(&app.create_task(&ann, json!({"title": "future", "due_date": "2999-01-01"})));
    let undated = id_of(&app.create_task(&ann, json!({"title": "someday"})));
    let future_done = id_of(&app.create_task(
        &ann,
        json!({"title": "done early", "due_date": "2999-01-01", "completed": true}),
    ));

    let overdue = list(&app, &ann, "/tasks?overdue=true");
    assert_eq!(ids_in(&overdue.body), [past_open]);
    assert_eq!(overdue.header("X-Total-Count"), Some("1"));

    let not_overdue = list(&app, &ann, "/tasks?overdue=false");
    assert_eq!(
        ids_in(&not_overdue.body),
        [past_done, future_open, undated, future_done]
    );

    // Completing an overdue task takes it off the overdue list.
    let completed = app
        .patch(&format!("/tasks/{past_open}"))
        .bearer(&ann.token)
        .json(json!({"completed": true}));
    assert_eq!(completed.status, 200, "{}", completed.text);
    let overdue = list(&app, &ann, "/tasks?overdue=true");
    assert_eq!(overdue.text, "[]\n");
}

#[test]
fn q_matches_title_or_description_ignoring_case() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let in_title = id_of(&app.create_task(&ann, json!({"title": "Buy MILK"})));
    let in_description = id_of(&app.create_task(
        &ann,
        json!({"title": "Errand", "description": "Dairy: Milk and eggs"}),
    ));
    let neither = id_of(&app.create_task(&ann, json!({"title": "Bread", "description": "rye"})));

    for q in ["milk", "MILK", "mIlK", "ilk"] {
        let reply = list(&app, &ann, &format!("/tasks?q={q}"));
        assert_eq!(ids_in(&reply.body), [in_title, in_description], "q={q}");
        assert_eq!(reply.header("X-Total-Count"), Some("2"), "q={q}");
    }
    let spaced = list(&app, &ann, "/tasks?q=buy%20milk");
    assert_eq!(ids_in(&spaced.body), [in_title]);
    let description_only = list(&app, &ann, "/tasks?q=RYE");
    assert_eq!(ids_in(&description_only.body), [neither]);
    let nothing = list(&app, &ann, "/tasks?q=cheese");
    assert_eq!(nothing.text, "[]\n");
}

#[test]
fn percent_and_underscore_in_q_are_literal() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let percent = id_of(&app.create_task(&ann, json!({"title": "100% done"})));
    let no_percent = id_of(&app.create_task(&ann, json!({"title": "100 done"})));
    let underscore = id_of(&app.create_task(&ann, json!({"title": "snake_case"})));
    let no_underscore = id_of(&app.create_task(&ann, json!({"title": "snakeXcase"})));
    let percent_in_description =
        id_of(&app.create_task(&ann, json!({"title": "Discount", "description": "50% off"})));
    let backslash = id_of(&app.create_task(&ann, json!({"title": "C:\\temp"})));

    let cases: [(&str, Vec<i64>); 7] = [
        ("%25", vec![percent, percent_in_description]),
        ("100%25", vec![percent]),
        ("100%25%20done", vec![percent]),
        ("_", vec![underscore]),
        ("snake_case", vec![underscore]),
        ("%5C", vec![backslash]),
        ("%25_", vec![]),
    ];
    for (q, expected) in cases {
        let reply = list(&app, &ann, &format!("/tasks?q={q}"));
        assert_eq!(ids_in(&reply.body), expected, "q={q}");
    }
    let plain = list(&app, &ann, "/tasks?q=100");
    assert_eq!(ids_in(&plain.body), [percent, no_percent]);
    let snake = list(&app, &ann, "/tasks?q=snake");
    assert_eq!(ids_in(&snake.body), [underscore, no_underscore]);
}

#[test]
fn filters_combine_with_and() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, "Home");
    let work = create_project(&app, &ann, "Work");
    let home_id = home["id"].clone();
    let work_id = work["id"].clone();
    // Each task but the first fails exactly one of the four filters below.
    let matching = id_of(&app.create_task(
        &ann,
        json!({"title": "Report alpha", "due_date": "2030-01-10", "project_id": home_id}),
    ));
    let done = id_of(&app.create_task(
        &ann,
        json!({"title": "Report beta", "due_date": "2030-01-10", "project_id": home_id, "completed": true}),
    ));
    let elsewhere = id_of(&app.create_task(
        &ann,
        json!({"title": "Report gamma", "due_date": "2030-01-10", "project_id": work_id}),
    ));
    let too_late = id_of(&app.create_task(
        &ann,
        json!({"title": "Report delta", "due_date": "2030-02-10", "project_id": home_id}),
    ));
    let other_text = id_of(&app.create_task(
        &ann,
        json!({"title": "Memo", "due_date": "2030-01-10", "project_id": home_id}),
    ));
    let undated =
        id_of(&app.create_task(&ann, json!({"title": "Report zeta", "project_id": home_id})));
    let home_id = id_of(&home);

    let cases: [(String, Vec<i64>); 6] = [
        (
            format!("completed=false&project_id={home_id}&due_before=2030-01-31&q=REPORT"),
            vec![matching],
        ),
        (
            "q=report".to_owned(),
            vec![matching, done, elsewhere, too_late, undated],
        ),
        (
            format!("project_id={home_id}&completed=false"),
            vec![matching, too_late, other_text, undated],
        ),
        (
            "due_before=2030-01-31&completed=false".to_owned(),
            vec![matching, elsewhere, other_text],
        ),
        ("completed=true&q=memo".to_owned(), vec![]),
        ("project_id=none&completed=false".to_owned(), vec![]),
    ];
    for (query, expected) in cases {
        let reply = list(&app, &ann, &format!("/tasks?{query}"));
        assert_eq!(ids_in(&reply.body), expected, "{query}");
        assert_eq!(
            reply.header("X-Total-Count"),
            Some(expected.len().to_string().as_str()),
            "{query}"
        );
    }

    let loose_overdue = id_of(&app.create_task(
        &ann,
        json!({"title": "Report old", "due_date": "2000-01-01"}),
    ));
    let overdue_reports = list(&app, &ann, "/tasks?overdue=true&q=report&project_id=none");
    assert_eq!(ids_in(&overdue_reports.body), [loose_overdue]);
}

#[test]
fn filters_apply_within_a_projects_task_list() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let home = create_project(&app, &ann, "Home");
    let path = format!("/projects/{}/tasks", id_of(&home));
    let low_open = id_of(&app.create_task(
        &ann,
        json!({"title": "paint fence", "priority": 1, "due_date": "2000-01-01", "project_id": home["id"]}),
    ));
    let high_done = id_of(&app.create_task(
        &ann,
        json!({"title": "paint door", "priority": 3, "completed": true, "project_id": home["id"]}),
    ));
    let high_open = id_of(&app.create_task(
        &ann,
        json!({"title": "mow lawn", "priority": 3, "due_date": "2999-01-01", "project_id": home["id"]}),
    ));
    app.create_task(&ann, json!({"title": "paint elsewhere", "priority": 9}));

    let cases: [(&str, Vec<i64>); 5] = [
        ("completed=false", vec![high_open, low_open]),
        ("q=paint", vec![high_done, low_open]),
        ("overdue=true", vec![low_open]),
        ("due_after=2000-01-01", vec![high_open, low_open]),
        ("sort=id", vec![low_open, high_done, high_open]),
    ];
    for (query, expected) in cases {
        let reply = list(&app, &ann, &format!("{path}?{query}"));
        assert_eq!(ids_in(&reply.body), expected, "{query}");
    }
}

// Sorting.

#[test]
fn each_sort_key_orders_tasks_ascending_and_descending_with_id_breaking_ties() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let tasks = seed_sort_tasks(&app, &ann);

    for key in TASK_SORT_KEYS {
        for sort in [key.to_owned(), format!("-{key}")] {
            let reply = list(&app, &ann, &format!("/tasks?sort={sort}"));
            assert_eq!(
                ids_in(&reply.body),
                expected_order(&tasks, &sort),
                "sort={sort}"
            );
        }
    }
}

#[test]
fn sorting_by_priority_gives_exact_orders_with_ties_by_id() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let ids: Vec<i64> = [1, 5, 3, 5, 0, -2, 3]
        .into_iter()
        .map(|priority| {
            id_of(&app.create_task(
                &ann,
                json!({"title": format!("p{priority}"), "priority": priority}),
            ))
        })
        .collect();

    let ascending = list(&app, &ann, "/tasks?sort=priority");
    assert_eq!(
        ids_in(&ascending.body),
        [ids[5], ids[4], ids[0], ids[2], ids[6], ids[1], ids[3]]
    );
    // Descending priority, but equal priorities still come in id order.
    let descending = list(&app, &ann, "/tasks?sort=-priority");
    assert_eq!(
        ids_in(&descending.body),
        [ids[1], ids[3], ids[2], ids[6], ids[0], ids[4], ids[5]]
    );
    let by_id_descending = list(&app, &ann, "/tasks?sort=-id");
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(ids_in(&by_id_descending.body), reversed);
}

#[test]
fn tasks_without_a_due_date_sort_last_in_both_directions() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let undated_first = id_of(&app.create_task(&ann, json!({"title": "a"})));
    let middle = id_of(&app.create_task(&ann, json!({"title": "b", "due_date": "2030-05-05"})));
    let undated_second = id_of(&app.create_task(&ann, json!({"title": "c"})));
    let early = id_of(&app.create_task(&ann, json!({"title": "d", "due_date": "2030-01-01"})));
    let late = id_of(&app.create_task(&ann, json!({"title": "e", "due_date": "2030-12-31"})));

    let ascending = list(&app, &ann, "/tasks?sort=due_date");
    assert_eq!(
        ids_in(&ascending.body),
        [early, middle, late, undated_first, undated_second]
    );
    let descending = list(&app, &ann, "/tasks?sort=-due_date");
    assert_eq!(
        ids_in(&descending.body),
        [late, middle, early, undated_first, undated_second]
    );
}

#[test]
fn several_sort_keys_apply_in_order() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let tasks = seed_sort_tasks(&app, &ann);
    let by_title = |title: &str| -> Vec<i64> {
        tasks
            .iter()
            .filter(|task| task["title"] == title)
            .map(id_of)
            .collect()
    };

    // Written out by hand from `seed_sort_tasks`, not computed.
    let reply = list(&app, &ann, "/tasks?sort=-priority,title");
    let expected: Vec<i64> = [
        by_title("apple")[..1].to_vec(), // 5
        by_title("cherry"),              // 5
        by_title("kiwi"),                // 5
        by_title("fig"),                 // 2, 2
        by_title("pear"),                // 2
        by_title("banana"),              // 0
        by_title("apple")[1..].to_vec(), // -1
    ]
    .concat();
    assert_eq!(ids_in(&reply.body), expected);

    for sort in [
        "-priority,title",
        "priority,-due_date",
        "title,-priority",
        "due_date,-title",
        "-due_date,priority,-id",
        "title,id",
    ] {
        let reply = list(&app, &ann, &format!("/tasks?sort={sort}"));
        assert_eq!(
            ids_in(&reply.body),
            expected_order(&tasks, sort),
            "sort={sort}"
        );
    }
}

#[test]
fn sorting_by_created_at_and_updated_at_follows_the_timestamps() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    // Timestamps have whole seconds; the pauses put the tasks in distinct
    // seconds so the orders differ from plain id order.
    let early: Vec<i64> = ["one", "two"]
        .into_iter()
        .map(|title| id_of(&app.create_task(&ann, json!({"title": title}))))
        .collect();
    thread::sleep(Duration::from_millis(1100));
    let late: Vec<i64> = ["three", "four"]
        .into_iter()
        .map(|title| id_of(&app.create_task(&ann, json!({"title": title}))))
        .collect();
    thread::sleep(Duration::from_millis(1100));
    let touched = app
        .patch(&format!("/tasks/{}", early[0]))
        .bearer(&ann.token)
        .json(json!({"priority": 1}));
    assert_eq!(touched.status, 200, "{}", touched.text);
    let tasks = list(&app, &ann, "/tasks").body;
    let tasks = tasks.as_array().expect("an array");

    let newest_first = ids_in(&list(&app, &ann, "/tasks?sort=-created_at").body);
    assert_eq!(newest_first, expected_order(tasks, "-created_at"));
    assert!(late.contains(&newest_first[0]) && late.contains(&newest_first[1]));
    let oldest_first = ids_in(&list(&app, &ann, "/tasks?sort=created_at").body);
    assert_eq!(oldest_first, expected_order(tasks, "created_at"));

    let recently_updated = ids_in(&list(&app, &ann, "/tasks?sort=-updated_at").body);
    assert_eq!(recently_updated, expected_order(tasks, "-updated_at"));
    assert_eq!(recently_updated[0], early[0]);
    let least_recently_updated = ids_in(&list(&app, &ann, "/tasks?sort=updated_at").body);
    assert_eq!(least_recently_updated, expected_order(tasks, "updated_at"));
    assert_eq!(least_recently_updated.last(), Some(&early[0]));
}

// Bad parameters.

#[test]
fn an_unknown_parameter_is_a_400_naming_it_and_the_allowed_ones() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let project = create_project(&app, &ann, "Home");
    let tasks_path = format!("/projects/{}/tasks", id_of(&project));

    for path in ["/tasks", tasks_path.as_str(), "/projects"] {
        let reply = app
            .get(&format!("{path}?colour=red"))
            .bearer(&ann.token)
            .send();
        let detail = assert_bad_parameter(&reply, "colour", path);
        for allowed in ["limit", "offset", "sort", "q"] {
            assert!(detail.contains(allowed), "{path}: {detail}");
        }
    }
    let tasks = app.get("/tasks?colour=red").bearer(&ann.token).send();
    let detail = tasks.body["detail"].as_str().unwrap_or_default();
    for filter in [
        "completed",
        "project_id",
        "due_before",
        "due_after",
        "overdue",
    ] {
        assert!(detail.contains(filter), "{detail}");
    }
    // A task filter is not a project filter.
    let reply = app
        .get("/projects?completed=true")
        .bearer(&ann.token)
        .send();
    assert_bad_parameter(&reply, "completed", "/projects");
}

#[test]
fn an_unknown_sort_key_is_a_400_listing_the_allowed_keys() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for sort in [
        "colour",
        "-colour",
        "priority,colour",
        "",
        "priority,",
        "--id",
        "Priority",
    ] {
        let reply = app
            .get(&format!("/tasks?sort={sort}"))
            .bearer(&ann.token)
            .send();
        let detail = assert_bad_parameter(&reply, "sort", &format!("sort={sort}"));
        for key in TASK_SORT_KEYS {
            assert!(detail.contains(key), "sort={sort}: {detail}");
        }
    }
}

#[test]
fn malformed_filter_values_are_a_400_naming_the_parameter() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let cases = [
        ("completed=yes", "completed"),
        ("completed=1", "completed"),
        ("completed=TRUE", "completed"),
        ("overdue=1", "overdue"),
        ("overdue=", "overdue"),
        ("due_before=2025-02-30", "due_before"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2025-13-01", "due_after"),
        ("due_after=2025-1-1", "due_after"),
        ("project_id=abc", "project_id"),
        ("project_id=0", "project_id"),
        ("project_id=-1", "project_id"),
        ("project_id=", "project_id"),
    ];
    for (query, name) in cases {
        let reply = app
            .get(&format!("/tasks?{query}"))
            .bearer(&ann.token)
            .send();
        assert_bad_parameter(&reply, name, query);
    }
}

#[test]
fn a_malformed_value_says_what_is_allowed() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let cases = [
        ("completed=yes", ["true", "false"]),
        ("overdue=1", ["true", "false"]),
        ("due_before=2025-02-30", ["YYYY-MM-DD", "due_before"]),
        ("project_id=abc", ["none", "project_id"]),
    ];
    for (query, hints) in cases {
        let reply = app
            .get(&format!("/tasks?{query}"))
            .bearer(&ann.token)
            .send();
        let problem = reply.assert_problem(400);
        let detail = problem["detail"].as_str().unwrap_or_default();
        for hint in hints {
            assert!(detail.contains(hint), "{query}: {detail}");
        }
    }
}

#[test]
fn a_parameter_given_twice_is_a_400_naming_it() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    let cases = [
        ("/tasks?completed=true&completed=false", "completed"),
        ("/tasks?completed=true&completed=true", "completed"),
        ("/tasks?limit=5&offset=0&limit=5", "limit"),
        ("/tasks?sort=id&sort=-priority", "sort"),
        ("/projects?q=a&q=b", "q"),
    ];
    for (path, name) in cases {
        let reply = app.get(path).bearer(&ann.token).send();
        assert_bad_parameter(&reply, name, path);
    }
}

// Project lists.

#[test]
fn project_lists_take_limit_offset_sort_and_q() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let names = ["delta", "alpha", "charlie", "bravo", "echo"];
    let ids: Vec<i64> = names
        .into_iter()
        .map(|name| id_of(&create_project(&app, &ann, name)))
        .collect();
    let described = app
        .patch(&format!("/projects/{}", ids[4]))
        .bearer(&ann.token)
        .json(json!({"description": "The ALPHA release"}));
    assert_eq!(described.status, 200, "{}", described.text);
    let [delta, alpha, charlie, bravo, echo] = ids[..] else {
        unreachable!("five projects");
    };

    let cases: [(&str, Vec<i64>); 8] = [
        ("offset=0", vec![delta, alpha, charlie, bravo, echo]),
        ("sort=id", vec![delta, alpha, charlie, bravo, echo]),
        ("sort=-id", vec![echo, bravo, charlie, alpha, delta]),
        ("sort=name", vec![alpha, bravo, charlie, delta, echo]),
        ("sort=-name", vec![echo, delta, charlie, bravo, alpha]),
        ("sort=name&limit=2&offset=1", vec![bravo, charlie]),
        ("q=alpha", vec![alpha, echo]),
        ("q=ALPHA&sort=-name", vec![echo, alpha]),
    ];
    for (query, expected) in cases {
        let reply = list(&app, &ann, &format!("/projects?{query}"));
        assert_eq!(ids_in(&reply.body), expected, "{query}");
    }
    let page = list(&app, &ann, "/projects?sort=name&limit=2&offset=1");
    assert_eq!(page.header("X-Total-Count"), Some("5"));
    let searched = list(&app, &ann, "/projects?q=alpha&limit=1");
    assert_eq!(searched.header("X-Total-Count"), Some("2"));

    // The timestamps order projects too; only echo was updated after its
    // creation, so it cannot come before a project updated no later.
    let projects = list(&app, &ann, "/projects").body;
    let projects = projects.as_array().expect("an array");
    for sort in ["created_at", "-created_at", "updated_at", "-updated_at"] {
        let reply = list(&app, &ann, &format!("/projects?sort={sort}"));
        assert_eq!(
            ids_in(&reply.body),
            expected_order(projects, sort),
            "sort={sort}"
        );
    }
}

#[test]
fn an_unknown_project_sort_key_is_a_400_listing_the_allowed_keys() {
    let app = TestApp::spawn();
    let ann = app.register("ann");

    for sort in ["title", "priority", "-task_count"] {
        let reply = app
            .get(&format!("/projects?sort={sort}"))
            .bearer(&ann.token)
            .send();
        let detail = assert_bad_parameter(&reply, "sort", &format!("sort={sort}"));
        for key in ["id", "name", "created_at", "updated_at"] {
            assert!(detail.contains(key), "sort={sort}: {detail}");
        }
    }
}

// Helpers.

/// The filters and sort of the Link tests, as sent and as decoded.
const LINK_QUERY: &str = "completed=false&sort=-priority&q=a%20b";
const LINK_PARAMETERS: [(&str, &str); 3] =
    [("completed", "false"), ("sort", "-priority"), ("q", "a b")];

/// 23 tasks that match `LINK_QUERY` and 6 that do not, interleaved.
fn seed_link_tasks(app: &TestApp, session: &Session) {
    for index in 0..23 {
        app.create_task(
            session,
            json!({"title": format!("task a b {index}"), "priority": index % 4}),
        );
        if index % 4 == 0 {
            let (title, completed) = match index % 8 {
                0 => ("done a b", true),
                _ => ("ab apart", false),
            };
            app.create_task(session, json!({"title": title, "completed": completed}));
        }
    }
}

/// Tasks with repeated titles, priorities and due dates (all lowercase
/// titles, so no collation question arises), returned as created.
fn seed_sort_tasks(app: &TestApp, session: &Session) -> Vec<Value> {
    let specs = [
        ("pear", 2, Some("2030-03-01")),
        ("apple", 5, None),
        ("fig", 2, Some("2030-01-01")),
        ("apple", -1, Some("2030-03-01")),
        ("kiwi", 5, Some("2029-12-31")),
        ("banana", 0, None),
        ("fig", 2, Some("2030-01-01")),
        ("cherry", 5, Some("2030-02-15")),
    ];
    specs
        .into_iter()
        .map(|(title, priority, due_date)| {
            app.create_task(
                session,
                json!({"title": title, "priority": priority, "due_date": due_date}),
            )
        })
        .collect()
}

/// The ids of `items` in the order `sort` (a `sort=` value) defines: keys
/// in turn, a null `due_date` last in either direction, then id ascending.
fn expected_order(items: &[Value], sort: &str) -> Vec<i64> {
    let keys: Vec<(&str, bool)> = sort
        .split(',')
        .map(|key| match key.strip_prefix('-') {
            Some(field) => (field, true),
            None => (key, false),
        })
        .collect();
    let mut sorted: Vec<&Value> = items.iter().collect();
    sorted.sort_by(|left, right| {
        keys.iter()
            .map(|(field, descending)| compare_field(&left[*field], &right[*field], *descending))
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| id_of(left).cmp(&id_of(right)))
    });
    sorted.into_iter().map(id_of).collect()
}

/// Compares two values of one field; nulls come last whatever the direction.
fn compare_field(left: &Value, right: &Value, descending: bool) -> Ordering {
    let ordering = match (left, right) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Greater,
        (_, Value::Null) => return Ordering::Less,
        (Value::Number(left), Value::Number(right)) => left
            .as_i64()
            .expect("an integer")
            .cmp(&right.as_i64().expect("an integer")),
        (Value::String(left), Value::String(right)) => left.cmp(right),
        _ => panic!("cannot compare {left} with {right}"),
    };
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}

/// Creates a project named `name` and returns its JSON.
#[track_caller]
fn create_project(app: &TestApp, session: &Session, name: &str) -> Value {
    let reply = app
        .post("/projects")
        .bearer(&session.token)
        .json(json!({"name": name}));
    assert_eq!(reply.status, 201, "creating a project: {}", reply.text);
    reply.body
}

/// `GET path` as `session`, asserting a 200 with a JSON array.
#[track_caller]
fn list(app: &TestApp, session: &Session, path: &str) -> Reply {
    let reply = app.get(path).bearer(&session.token).send();
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert!(reply.body.is_array(), "GET {path}: {}", reply.text);
    reply
}

fn id_of(resource: &Value) -> i64 {
    resource["id"].as_i64().expect("an integer id")
}

/// The ids of a JSON array of resources, in order.
fn ids_in(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("an array: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

/// Asserts a 400 whose detail names `parameter`, and returns the detail.
#[track_caller]
fn assert_bad_parameter<'a>(reply: &'a Reply, parameter: &str, request: &str) -> &'a str {
    assert_eq!(reply.status, 400, "{request}: {}", reply.text);
    let problem = reply.assert_problem(400);
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(
        detail.contains(parameter),
        "{request}: the detail should name {parameter}: {detail}"
    );
    detail
}

/// The `Link` header of `reply` as relation -> target.
#[track_caller]
fn links_of(reply: &Reply) -> BTreeMap<String, String> {
    let header = reply
        .header("Link")
        .unwrap_or_else(|| panic!("a Link header: {:?}", reply.headers));
    parse_link_header(header)
}

/// Parses an RFC 8288 `Link` header: `<target>; rel="name"`, comma
/// separated. Targets may contain commas (`sort=-priority,title`), so the
/// parser reads each bracketed target whole before looking for the comma.
#[track_caller]
fn parse_link_header(header: &str) -> BTreeMap<String, String> {
    let mut links = BTreeMap::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let after_bracket = rest
            .strip_prefix('<')
            .unwrap_or_else(|| panic!("a link starts with <: {header}"));
        let (target, after_target) = after_bracket
            .split_once('>')
            .unwrap_or_else(|| panic!("a link target ends with >: {header}"));
        let (parameters, next) = after_target.split_once(',').unwrap_or((after_target, ""));
        let relation = parameters
            .split(';')
            .map(str::trim)
            .find_map(|parameter| parameter.strip_prefix("rel="))
            .unwrap_or_else(|| panic!("a link has a rel: {header}"))
            .trim_matches('"');
        let earlier = links.insert(relation.to_owned(), target.to_owned());
        assert!(earlier.is_none(), "rel={relation} twice: {header}");
        rest = next.trim();
    }
    links
}

/// Splits a link target into its path and its decoded query parameters.
#[track_caller]
fn split_target(target: &str) -> (String, BTreeMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parameters = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let earlier = parameters.insert(percent_decode(name), percent_decode(value));
        assert!(earlier.is_none(), "{name} twice in {target}");
    }
    (path.to_owned(), parameters)
}

/// Percent-decoding, with `+` as a space as in HTML forms.
fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex: String = input.by_ref().take(2).map(char::from).collect();
                bytes.push(u8::from_str_radix(&hex, 16).expect("two hex digits"));
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).expect("UTF-8 after decoding")
}

/// Asserts that `reply`'s `Link` header has exactly the relations of
/// `expected`, each pointing at `path` with every one of `parameters`,
/// `limit`, and the relation's offset.
#[track_caller]
fn assert_links(
    reply: &Reply,
    path: &str,
    parameters: &[(&str, &str)],
    limit: u64,
    expected: &[(&str, u64)],
) {
    let links = links_of(reply);
    let relations: Vec<&str> = links.keys().map(String::as_str).collect();
    let mut expected_relations: Vec<&str> =
        expected.iter().map(|(relation, _)| *relation).collect();
    expected_relations.sort_unstable();
    assert_eq!(relations, expected_relations, "{links:?}");

    for (relation, offset) in expected {
        let target = &links[*relation];
        let (target_path, target_parameters) = split_target(target);
        assert_eq!(target_path, path, "rel={relation}: {target}");
        let mut wanted: BTreeMap<String, String> = parameters
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        wanted.insert("limit".to_owned(), limit.to_string());
        wanted.insert("offset".to_owned(), offset.to_string());
        assert_eq!(target_parameters, wanted, "rel={relation}: {target}");
    }
}

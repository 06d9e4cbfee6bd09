//! Fuzz target: arbitrary bytes as a request body, through every validator
//! that turns a body into an input type (tasks, projects, project members,
//! registration, login as JSON and as a form, API keys).
//!
//! The invariant is that a validator never panics: any bytes get a value or
//! an `ApiError`. Beyond that, properties that must hold are asserted, since
//! they cost little and catch quiet mistakes a panic would not: what a
//! validator accepts is valid (a title is never blank, an id is positive),
//! bytes that are not a JSON object are always a 400, and a full body that
//! passes is also a valid patch with the same fields.
//!
//! The seeds in `corpus/body_validators/seed-*` are real bodies, so that
//! libFuzzer starts from JSON objects with the right field names instead of
//! discovering them byte by byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskapi::api::body;
use taskapi::api::{api_keys, auth, members, projects, tasks};
use taskapi::error::ApiError;
use taskapi::time;

/// The "now" an API key's `expires_at` must come after: a fixed instant
/// (2026-01-01T00:00:00Z), so that a crash reproduces on any day.
const NOW: i64 = 1_767_225_600;

fuzz_target!(|body: &[u8]| {
    let is_json_object = body::parse_json_object(body).is_ok();
    check_tasks(body, is_json_object);
    check_projects(body, is_json_object);
    check_accounts(body, is_json_object);
    check_members(body, is_json_object);
    // The form login reads any bytes, JSON or not.
    if let Ok((login, password)) = auth::login_from_form(body) {
        assert!(!login.is_empty() && !password.is_empty());
    }
});

/// `POST`/`PUT /tasks` and `PATCH /tasks/{id}`.
fn check_tasks(body: &[u8], is_json_object: bool) {
    let new_task = tasks::new_task_from_body(body);
    let patch = tasks::task_patch_from_body(body);
    if !is_json_object {
        assert!(matches!(new_task, Err(ApiError::BadRequest(_))));
        assert!(matches!(patch, Err(ApiError::BadRequest(_))));
        return;
    }
    if let Ok(task) = &new_task {
        assert!(!task.title.trim().is_empty() && task.title.chars().count() <= 200);
        assert!(task.project_id.is_none_or(|id| id > 0));
        assert!(task.due_date.as_deref().is_none_or(time::is_valid_date));
        assert!(i32::try_from(task.priority).is_ok());
        assert!(task.assignee_id.is_none_or(|id| id > 0));
        assert_tags_valid(&task.tags);
        // A full body checks everything a patch checks, and more.
        let patch = patch.as_ref().expect("a valid body is a valid patch");
        assert_eq!(patch.title.as_deref(), Some(task.title.as_str()));
    }
    if let Ok(patch) = &patch {
        if let Some(title) = &patch.title {
            assert!(!title.trim().is_empty());
        }
        assert!(patch.project_id.flatten().is_none_or(|id| id > 0));
        if let Some(Some(date)) = &patch.due_date {
            assert!(time::is_valid_date(date));
        }
        if let Some(tags) = &patch.tags {
            assert_tags_valid(tags);
        }
    }
}

/// At most 20 tags of 1 to 50 characters, not blank, distinct ignoring case.
fn assert_tags_valid(tags: &[String]) {
    assert!(tags.len() <= tasks::MAX_TAGS);
    for (index, tag) in tags.iter().enumerate() {
        assert!(!tag.trim().is_empty() && tag.chars().count() <= tasks::TAG_MAX_CHARS);
        let key = taskapi::store::tasks::tag_key(tag);
        assert!(
            tags[..index]
                .iter()
                .all(|seen| taskapi::store::tasks::tag_key(seen) != key)
        );
    }
}

/// `POST`/`PUT /projects` and `PATCH /projects/{id}`.
fn check_projects(body: &[u8], is_json_object: bool) {
    let new_project = projects::new_project_from_body(body);
    let patch = projects::project_patch_from_body(body);
    if !is_json_object {
        assert!(matches!(new_project, Err(ApiError::BadRequest(_))));
        assert!(matches!(patch, Err(ApiError::BadRequest(_))));
        return;
    }
    if let Ok(project) = &new_project {
        assert!(!project.name.trim().is_empty() && project.name.chars().count() <= 200);
        let patch = patch.as_ref().expect("a valid body is a valid patch");
        assert_eq!(patch.name.as_deref(), Some(project.name.as_str()));
    }
}

/// `POST /projects/{id}/members` and `PATCH .../members/{user_id}`: a role
/// that passes is a member's (never `owner`), and a login is not blank.
fn check_members(body: &[u8], is_json_object: bool) {
    let new_member = members::new_member_from_body(body);
    let role = members::role_from_body(body);
    if !is_json_object {
        assert!(matches!(new_member, Err(ApiError::BadRequest(_))));
        assert!(matches!(role, Err(ApiError::BadRequest(_))));
        return;
    }
    if let Ok((login, role)) = &new_member {
        assert!(!login.trim().is_empty());
        assert_ne!(*role, taskapi::model::Role::Owner);
    }
    if let Ok(role) = role {
        assert_ne!(role, taskapi::model::Role::Owner);
    }
}

/// Registration, the JSON login and a new API key.
fn check_accounts(body: &[u8], is_json_object: bool) {
    let registration = auth::registration_from_body(body);
    let login = auth::login_from_json(body);
    let api_key = api_keys::new_api_key_from_body(body, NOW);
    if !is_json_object {
        assert!(matches!(registration, Err(ApiError::BadRequest(_))));
        assert!(matches!(login, Err(ApiError::BadRequest(_))));
        assert!(matches!(api_key, Err(ApiError::BadRequest(_))));
        return;
    }
    if let Ok(registration) = &registration {
        assert!(registration.username.is_some() || registration.email.is_some());
        assert!((8..=1024).contains(&registration.password.chars().count()));
    }
    if let Ok(key) = &api_key {
        assert!(!key.name.trim().is_empty());
        assert!(key.expires_at.is_none_or(|at| at > NOW));
    }
}

//! The domain types that cross between `api` and `store`: what users, tasks
//! and projects are, the validated inputs that change them, the list queries
//! that read them, and [`Entity`], the kinds of thing a lookup can fail to
//! find.
//!
//! The output types serialise to exactly the JSON the API documents. The
//! input types (`NewTask`, `TaskPatch`, `NewProject`, `ProjectPatch`,
//! `ListQuery`) are only built by `api` after validation, so the store can
//! trust every field it receives.

use std::fmt;

use serde::Serialize;

/// An account, as the API shows it. The password hash never leaves the store
/// in this type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    pub created_at: String,
}

/// A task, as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub project_id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    pub due_date: Option<String>,
    pub completed: bool,
    pub priority: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Every writable field of a task: the body of `POST /tasks` and `PUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub project_id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    pub due_date: Option<String>,
    pub completed: bool,
    pub priority: i64,
}

/// A JSON Merge Patch of a task: `None` leaves a field alone; for nullable
/// fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPatch {
    pub project_id: Option<Option<i64>>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub due_date: Option<Option<String>>,
    pub completed: Option<bool>,
    pub priority: Option<i64>,
}

impl TaskPatch {
    /// Whether the patch changes nothing (`{}`).
    pub fn is_empty(&self) -> bool {
        *self == TaskPatch::default()
    }
}

/// A project, as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// How many tasks the project holds.
    pub task_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Every writable field of a project: the body of `POST /projects` and `PUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub name: String,
    pub description: Option<String>,
}

/// A JSON Merge Patch of a project (see [`TaskPatch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

/// A page of a list: which rows, in which order, under which filters.
/// `F` is the filter type of the resource (`TaskFilter`; `()` for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery<F> {
    pub filter: F,
    /// Sort keys in order of precedence; the store appends `id` as the final
    /// tie-breaker so that pages never overlap or skip rows.
    pub sort: Vec<SortKey>,
    pub limit: u32,
    pub offset: u64,
}

/// One sort key: a field name from the resource's allowed list, and a
/// direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: &'static str,
    pub descending: bool,
}

/// The filters of a task list; `None` means "don't filter on this".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub completed: Option<bool>,
    /// `Some(None)` selects tasks in no project.
    pub project_id: Option<Option<i64>>,
    /// Inclusive bounds on the due date; undated tasks never match.
    pub due_before: Option<String>,
    pub due_after: Option<String>,
    /// `Some(true)`: due before today (UTC) and not completed;
    /// `Some(false)`: every other task.
    pub overdue: Option<bool>,
    /// A case-insensitive substring of the title or description.
    pub text: Option<String>,
}

/// The filters of a project list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    /// A case-insensitive substring of the name or description.
    pub text: Option<String>,
}

/// One page of a list and the number of rows on all pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A validated request for a new API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub name: String,
    /// Seconds since the epoch, in the future; `None` never expires.
    pub expires_at: Option<i64>,
}

/// A kind of thing the store can fail to find and a 404 names:
/// [`StoreError::NotFound`](crate::store::StoreError::NotFound) carries one,
/// and [`ApiError::not_found`](crate::error::ApiError::not_found) writes the
/// message ("task 42 not found") from it.
///
/// An enum, not a string, because handlers match on it to choose the 404: a
/// misspelt `"projcet"` would compile and quietly turn that 404 into a 500,
/// while a misspelt variant does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Task,
    Project,
    ApiKey,
}

impl fmt::Display for Entity {
    /// The name used in messages: `task`, `project`, `API key`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Task => "task",
            Entity::Project => "project",
            Entity::ApiKey => "API key",
        })
    }
}

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
    /// Who the task is assigned to: someone who can see it, or nobody.
    pub assignee_id: Option<i64>,
    /// Who created it; `None` once that account is deleted. Read-only.
    pub created_by: Option<i64>,
    /// Distinct ignoring case, in the order given.
    pub tags: Vec<String>,
    /// Starts at 1; every write to the task adds one.
    pub version: i64,
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
    pub assignee_id: Option<i64>,
    pub tags: Vec<String>,
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
    pub assignee_id: Option<Option<i64>>,
    pub tags: Option<Vec<String>>,
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
    /// The caller's role in it.
    pub role: Role,
    /// Starts at 1; every write to the project itself adds one.
    pub version: i64,
}

/// What a user may do in a project: a viewer reads it and its tasks, an
/// editor also creates, changes and deletes its tasks, and the owner (its
/// creator) also changes the project itself and its members. Ordered by
/// what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    /// Any role by its name, as `GET /projects/{id}/members` reads them.
    pub fn named(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            other => Role::of_member(other),
        }
    }

    /// A member's role as stored (`viewer` or `editor`).
    pub fn of_member(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            _ => None,
        }
    }
}

/// Someone in a project, as `GET /projects/{id}/members` shows them: the
/// owner (role `owner`, joined when the project was created) or a member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub username: Option<String>,
    pub role: Role,
    pub joined_at: String,
}

/// The outcome of a change to something the caller may see but not be
/// allowed to change: a viewer editing a task is `Forbidden`, a stranger
/// `NotFound` (which a 404 shows, so that a row one may not see cannot be
/// told from one that does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Done(T),
    NotFound,
    /// What the change needs that the caller lacks, for the 403's detail
    /// ("the editor role in project 7").
    Forbidden(String),
    /// The request's `If-Match` names none of the object's current ETags;
    /// carries the current one.
    PreconditionFailed(String),
}

impl<T> Change<T> {
    /// The value of a change that was done, or else the same refusal, as a
    /// change of any type: for a step whose refusal refuses the whole.
    pub fn done<U>(self) -> Result<T, Change<U>> {
        match self {
            Change::Done(value) => Ok(value),
            Change::NotFound => Err(Change::NotFound),
            Change::Forbidden(needed) => Err(Change::Forbidden(needed)),
            Change::PreconditionFailed(etag) => Err(Change::PreconditionFailed(etag)),
        }
    }
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
    /// Whose tasks: one user's, or nobody's.
    pub assignee: Option<Assignee>,
    /// Tasks with this tag (ignoring case).
    pub tag: Option<String>,
}

/// The `assignee_id` filter: a user (`me` is the caller's id) or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    User(i64),
    Nobody,
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
    /// An account named by a username or email (adding a member).
    User,
    /// A user in a project's member list.
    Member,
}

impl fmt::Display for Entity {
    /// The name used in messages: `task`, `project`, `API key`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Task => "task",
            Entity::Project => "project",
            Entity::ApiKey => "API key",
            Entity::User => "user",
            Entity::Member => "member",
        })
    }
}

/// What a change-feed entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Task,
    Project,
}

/// What happened to it, as far as the caller's view goes: it is there (new
/// or changed), or it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Task => "task",
            ChangeKind::Project => "project",
        }
    }

    pub fn named(name: &str) -> Option<ChangeKind> {
        [ChangeKind::Task, ChangeKind::Project]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Upsert => "upsert",
            ChangeOp::Delete => "delete",
        }
    }

    pub fn named(name: &str) -> Option<ChangeOp> {
        [ChangeOp::Upsert, ChangeOp::Delete]
            .into_iter()
            .find(|op| op.as_str() == name)
    }
}

/// One entry of `GET /changes`: `data` is the object as `GET` shows it now,
/// or `null` for a delete.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChangeEntry {
    pub kind: ChangeKind,
    pub id: i64,
    pub op: ChangeOp,
    pub data: Option<ChangeData>,
}

/// The object an upsert carries.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ChangeData {
    Task(Task),
    Project(Project),
}

//! The domain types that cross between `api` and `store`: what a user and a
//! task are, and the validated inputs that change them.
//!
//! The output types serialise to exactly the JSON the API documents. The
//! input types (`NewTask`, `TaskPatch`) are only built by `api::tasks` after
//! validation, so the store can trust every field it receives.

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

//! `GET /changes?since=<cursor>&limit=N`: the change feed, for clients that
//! keep a copy of their tasks and projects and want only what changed.
//!
//! Each entry is `{"kind": "task"|"project", "id", "op": "upsert"|"delete",
//! "data"}`, in order; `data` is the object as `GET` shows it now, or null
//! for a delete. `next` is the cursor to send as `since` the next time.
//! Without `since` the answer is empty and `next` is "now": take it before
//! listing, then follow it, and nothing written in between is missed.
//! `store::changes` says who sees which entry; a cursor older than the
//! log keeps (30 days) is a 410, and the client lists again.

use serde::Serialize;

use super::list::Query;
use super::{ApiResult, Ctx};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::model::ChangeEntry;
use crate::store::changes::{self, Cursor, Feed};

/// The answer's body. A struct rather than `json!`, whose map would sort
/// the keys (and those of every object in it) alphabetically.
#[derive(Serialize)]
struct Page<'a> {
    changes: &'a [ChangeEntry],
    next: String,
}

/// `GET /changes`.
pub fn list(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let query = Query::from_url(request.target(), &["since"])?;
    for unused in ["offset", "sort"] {
        if query.get(unused).is_some() {
            return Err(ApiError::BadRequest(format!(
                "query parameter {unused} does not apply to the change feed: \
                 it is paged by since and limit"
            )));
        }
    }
    let (limit, _) = query.page()?;
    let since = match query.get("since") {
        None => None,
        Some(text) => Some(Cursor::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "query parameter since must be a cursor from an earlier answer's next, \
                 not {text:?}"
            ))
        })?),
    };
    match changes::since(&ctx.db, user.id, since, i64::from(limit))? {
        Feed::Page { changes, next } => Ok(Response::json(
            200,
            &Page {
                changes: &changes,
                next: next.to_string(),
            },
        )),
        Feed::Expired => Err(ApiError::Gone(format!(
            "this cursor is older than the {} days of changes kept: list your tasks and \
             projects again, then follow the feed from a new cursor (GET /changes without since)",
            changes::RETENTION_DAYS
        ))),
    }
}

//! `GET /healthz`: whether this server can reach its database.

use serde_json::json;

use super::{ApiResult, Ctx};
use crate::error::ApiError;
use crate::http::{Request, Response};

/// `GET /healthz`: 200 `{"status":"ok"}` when the database answers, else 503
/// so that a load balancer or supervisor takes this instance out.
pub fn check(ctx: &mut Ctx, _request: &Request) -> ApiResult {
    ctx.db
        .ping()
        .map_err(|error| ApiError::Unavailable(format!("health check: {error}")))?;
    let mut response = Response::json(200, &json!({"status": "ok"}));
    // A health answer is about this moment; no cache may keep it.
    response.set_header("Cache-Control", "no-store");
    Ok(response)
}

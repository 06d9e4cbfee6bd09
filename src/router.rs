//! The whole API on one screen: the route table; `resolve`, which finds the
//! route for a method and URL; and `dispatch`, which runs its handler.
//!
//! Paths are matched segment by segment; a `{...}` segment (`{id}`,
//! `{user_id}`) matches a positive integer and is handed to the handler.
//! Three rules apply to every route:
//! - a trailing slash is ignored (`/tasks/` is `/tasks`);
//! - every route is also served under `/api/v1` (`/api/v1/tasks`);
//! - `HEAD` runs the `GET` handler and the server sends no body.
//!
//! A path that matches with another method is a 405 with an `Allow` header; a
//! malformed id (`/tasks/abc`, `/tasks/-1`) is a 400; anything else a 404.

use crate::api::{
    ApiResult, Ctx, api_keys, auth, changes, credential_from_headers, docs, health, members,
    projects, tasks,
};
use crate::conditional;
use crate::error::{ApiError, AuthFailure};
use crate::http::request::split_target;
use crate::http::{Method, Request, Response};

/// The prefix every route is also served under.
pub const VERSION_PREFIX: &str = "/api/v1";

/// One route: a method, a path pattern and the function that serves it.
pub struct Route {
    pub method: Method,
    pub pattern: &'static str,
    pub handler: Handler,
    /// Another route's pattern this one duplicates, for documentation.
    pub alias_of: Option<&'static str>,
}

/// A handler, by the path parameters it takes.
#[derive(Clone, Copy)]
pub enum Handler {
    Plain(fn(&mut Ctx, &Request) -> ApiResult),
    WithId(fn(&mut Ctx, &Request, i64) -> ApiResult),
    WithTwoIds(fn(&mut Ctx, &Request, i64, i64) -> ApiResult),
}

impl Handler {
    /// How many path ids the handler takes.
    pub fn ids(&self) -> usize {
        match self {
            Plain(_) => 0,
            WithId(_) => 1,
            WithTwoIds(_) => 2,
        }
    }
}

const fn route(method: Method, pattern: &'static str, handler: Handler) -> Route {
    Route {
        method,
        pattern,
        handler,
        alias_of: None,
    }
}

const fn alias(method: Method, pattern: &'static str, handler: Handler, of: &'static str) -> Route {
    Route {
        method,
        pattern,
        handler,
        alias_of: Some(of),
    }
}

use Handler::{Plain, WithId, WithTwoIds};
use Method::{Delete, Get, Patch, Post, Put};

/// Every route the server answers.
pub static ROUTES: &[Route] = &[
    route(Get, "/", Plain(docs::index)),
    route(Get, "/healthz", Plain(health::check)),
    route(Get, "/openapi.json", Plain(docs::openapi)),
    route(Get, "/docs", Plain(docs::page)),
    // Accounts.
    route(Post, "/auth/register", Plain(auth::register)),
    alias(Post, "/register", Plain(auth::register), "/auth/register"),
    route(Post, "/auth/login", Plain(auth::login)),
    alias(Post, "/login", Plain(auth::login), "/auth/login"),
    alias(Post, "/auth", Plain(auth::login), "/auth/login"),
    route(Get, "/auth/me", Plain(auth::me)),
    route(Get, "/auth/me/export", Plain(crate::api::export::download)),
    route(Delete, "/auth/me", Plain(auth::delete_me)),
    route(Put, "/auth/password", Plain(auth::change_password)),
    route(Post, "/auth/logout", Plain(auth::logout)),
    route(Post, "/auth/api-keys", Plain(api_keys::create)),
    route(Get, "/auth/api-keys", Plain(api_keys::list)),
    route(Delete, "/auth/api-keys/{id}", WithId(api_keys::delete)),
    // Tasks.
    route(Post, "/tasks", Plain(tasks::create)),
    route(Get, "/tasks", Plain(tasks::list)),
    route(Get, "/tasks/{id}", WithId(tasks::get)),
    route(Put, "/tasks/{id}", WithId(tasks::replace)),
    route(Patch, "/tasks/{id}", WithId(tasks::patch)),
    route(Delete, "/tasks/{id}", WithId(tasks::delete)),
    // Projects, and the tasks in one.
    route(Post, "/projects", Plain(projects::create)),
    route(Get, "/projects", Plain(projects::list)),
    route(Get, "/projects/{id}", WithId(projects::get)),
    route(Put, "/projects/{id}", WithId(projects::replace)),
    route(Patch, "/projects/{id}", WithId(projects::patch)),
    route(Delete, "/projects/{id}", WithId(projects::delete)),
    route(Post, "/projects/{id}/tasks", WithId(projects::create_task)),
    route(Get, "/projects/{id}/tasks", WithId(projects::list_tasks)),
    // The people in a project.
    route(Post, "/projects/{id}/members", WithId(members::add)),
    route(Get, "/projects/{id}/members", WithId(members::list)),
    route(
        Get,
        "/projects/{id}/members/{user_id}",
        WithTwoIds(members::get),
    ),
    route(
        Patch,
        "/projects/{id}/members/{user_id}",
        WithTwoIds(members::change_role),
    ),
    route(
        Delete,
        "/projects/{id}/members/{user_id}",
        WithTwoIds(members::remove),
    ),
    // What changed since a cursor.
    route(Get, "/changes", Plain(changes::list)),
];

/// The routes that take no credential; every other route needs one.
const PUBLIC: &[&str] = &[
    "/",
    "/healthz",
    "/openapi.json",
    "/docs",
    "/auth/register",
    "/register",
    "/auth/login",
    "/login",
    "/auth",
];

/// The answer a request gets whatever its body, when its head alone
/// decides it: an unknown route (404), another method (405), a malformed
/// id (400), or no credential at all on a route that needs one (401).
/// The connection layer asks this for `Expect: 100-continue`, so such a
/// client is answered at once instead of being asked for a body that would
/// be thrown away. (Whether a credential is *valid* needs the database and
/// is left to the handler.)
pub fn refuse_early(request: &Request) -> Option<Response> {
    let error = match resolve(request.method(), request.target()) {
        Err(error) => error,
        Ok((route, _))
            if !PUBLIC.contains(&route.pattern)
                && credential_from_headers(
                    request.header("Authorization"),
                    request.header("X-API-Key"),
                )
                .is_none() =>
        {
            ApiError::Unauthorized(AuthFailure::MissingToken)
        }
        Ok(_) => return None,
    };
    Some(error.into_response())
}

/// Finds the route for `request`, runs its handler, and applies the rules
/// every answer shares:
/// - `Cache-Control: private, no-cache` unless the handler chose another:
///   a user's data may be kept only by their own client, and only after
///   revalidating it (with its ETag); tokens and keys say `no-store`, and
///   the documentation is public;
/// - a `GET` whose ETag the client's `If-None-Match` names is a 304.
pub fn dispatch(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let mut response = run(ctx, request).unwrap_or_else(ApiError::into_response);
    if response.header("Cache-Control").is_none() {
        response.set_header("Cache-Control", "private, no-cache");
    }
    Ok(conditional::revalidate(request, response))
}

fn run(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let (route, ids) = resolve(request.method(), request.target())?;
    match (route.handler, ids.as_slice()) {
        (Plain(handler), []) => handler(ctx, request),
        (WithId(handler), [id]) => handler(ctx, request, *id),
        (WithTwoIds(handler), [id, other]) => handler(ctx, request, *id, *other),
        _ => Err(ApiError::Internal(format!(
            "route {} has {} ids in its pattern and a handler for {}",
            route.pattern,
            ids.len(),
            route.handler.ids()
        ))),
    }
}

/// The pattern of the route that serves `method` on `url`
/// (`/tasks/{id}`), for the access log and the metrics, which group
/// requests by route; `None` when no route does (a 404, 405 or 400 from
/// the router).
pub fn pattern(method: &Method, url: &str) -> Option<&'static str> {
    resolve(method, url)
        .ok()
        .map(|(route, _)| route.alias_of.unwrap_or(route.pattern))
}

/// The route for `method` on `url` (the request target as the client sent
/// it, query string and all), with the ids from the path, in order. `Err` is a 404 (no such path), a 405 listing the allowed methods,
/// or a 400 (a malformed id).
///
/// Pure, and a fuzzing target (`fuzz/fuzz_targets/router.rs`): any method
/// and URL get a route or an `ApiError`, never a panic.
pub fn resolve(method: &Method, url: &str) -> Result<(&'static Route, Vec<i64>), ApiError> {
    let path = normalize(split_target(url).0);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    // HEAD is GET without the body; the server drops the body.
    let routed_as = match method {
        Method::Head => Method::Get,
        other => other.clone(),
    };

    let mut allowed: Vec<&'static str> = Vec::new();
    for route in ROUTES {
        let PathMatch::Matches(ids) = match_pattern(route.pattern, &segments)? else {
            continue;
        };
        if route.method != routed_as {
            allowed.push(route.method.as_str());
            continue;
        }
        return Ok((route, ids));
    }
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!("no route for {method} {path}")));
    }
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    Err(ApiError::MethodNotAllowed(allowed))
}

/// Strips the version prefix and a trailing slash: `/api/v1/tasks/` → `/tasks`.
fn normalize(path: &str) -> &str {
    let path = match path.strip_prefix(VERSION_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        // `/api/v1` alone is the index, as `/` is.
        _ if path.is_empty() => "/",
        _ => path,
    }
}

/// Whether a path matches a route pattern.
enum PathMatch {
    /// Another path.
    No,
    /// This path, with its ids.
    Matches(Vec<i64>),
}

/// Matches path segments against a pattern. `Err`: the literal segments
/// match but the id is malformed (a 400, not a 404: the client addressed a
/// real collection with a bad key).
fn match_pattern(pattern: &str, segments: &[&str]) -> Result<PathMatch, ApiError> {
    let parts: Vec<&str> = pattern.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return Ok(PathMatch::No);
    }
    let literals_match = parts
        .iter()
        .zip(segments)
        .all(|(part, segment)| is_parameter(part) || part == segment);
    if !literals_match {
        return Ok(PathMatch::No);
    }
    let ids = parts
        .iter()
        .zip(segments)
        .filter(|(part, _)| is_parameter(part))
        .map(|(_, segment)| parse_id(segment))
        .collect::<Result<Vec<i64>, ApiError>>()?;
    Ok(PathMatch::Matches(ids))
}

/// Whether a pattern segment is a parameter (`{id}`).
pub fn is_parameter(part: &str) -> bool {
    part.starts_with('{') && part.ends_with('}')
}

/// A path id: a positive integer of ASCII digits that fits in an i64.
fn parse_id(segment: &str) -> Result<i64, ApiError> {
    let digits_only = !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit());
    match segment.parse::<i64>() {
        Ok(id) if digits_only && id > 0 => Ok(id),
        _ => Err(ApiError::BadRequest(format!(
            "invalid id {segment:?} in path: must be a positive whole number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize("/tasks/"), "/tasks");
        assert_eq!(normalize("/api/v1/tasks/3"), "/tasks/3");
        assert_eq!(normalize("/api/v1/"), "/");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/api/v10/tasks"), "/api/v10/tasks");
    }

    #[test]
    fn ids_must_be_positive_decimal_integers() {
        assert_eq!(parse_id("42").unwrap(), 42);
        for bad in [
            "0",
            "-1",
            "+1",
            "abc",
            "1.5",
            "",
            "99999999999999999999",
            " 1",
        ] {
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn head_with_prefix_slash_and_query_resolves_to_the_get_route() {
        let (route, ids) = resolve(&Method::Head, "/api/v1/tasks/7/?sort=-id").unwrap();
        assert_eq!((route.method.clone(), route.pattern), (Get, "/tasks/{id}"));
        assert_eq!(ids, [7]);
        let (route, ids) = resolve(&Method::Delete, "/projects/3/members/9").unwrap();
        assert_eq!(route.pattern, "/projects/{id}/members/{user_id}");
        assert_eq!(ids, [3, 9]);
    }

    #[test]
    fn every_public_route_is_in_the_table() {
        for pattern in PUBLIC {
            assert!(
                ROUTES.iter().any(|route| route.pattern == *pattern),
                "{pattern}"
            );
        }
    }

    #[test]
    fn every_route_has_a_handler_for_as_many_ids_as_its_pattern_has() {
        for route in ROUTES {
            let parameters = route
                .pattern
                .split('/')
                .filter(|part| is_parameter(part))
                .count();
            assert_eq!(route.handler.ids(), parameters, "{}", route.pattern);
        }
    }
}

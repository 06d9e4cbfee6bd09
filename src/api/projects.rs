//! Projects: `/projects`, `/projects/{id}`, and the tasks in a project,
//! `/projects/{id}/tasks`. The owner and the members see a project (each
//! with their `role` in it); only the owner changes or deletes it (anyone
//! else in it gets a 403); a project someone is not in is a 404 on every
//! route, including creating or listing tasks in it.

use super::body::{json_body, parse_json_object};
use super::idempotency;
use super::input::Input;
use super::list::Query;
use super::tasks::{self, DESCRIPTION_MAX_CHARS, TITLE_MAX_CHARS, precondition};
use super::{ApiResult, Ctx};
use crate::conditional::with_etag;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::model::{Entity, ListQuery, NewProject, ProjectFilter, ProjectPatch, SortKey};
use crate::store::{self, StoreError};

/// The writable fields.
const WRITABLE: &[&str] = &["name", "description"];
/// Read-only fields, ignored on input so a fetched project can be PUT back.
const READ_ONLY: &[&str] = &[
    "id",
    "task_count",
    "created_at",
    "updated_at",
    "role",
    "version",
];

/// The filters of a project list, besides `limit`, `offset` and `sort`.
pub const FILTERS: &[&str] = &["q"];

/// `POST /projects`: 201 with `Location`; 409 if the caller already has a
/// project of that name (ignoring case).
pub fn create(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let project = new_project_from_body(json_body(request)?)?;
    idempotency::create(
        ctx,
        request,
        user.id,
        |tx| store::projects::create_in(tx, user.id, &project),
        name_taken,
        |project| {
            let location = format!("/projects/{}", project.id);
            Ok(with_etag(Response::created(location, &project)))
        },
    )
}

/// `GET /projects`: a page of the caller's projects, by id unless `sort`
/// says otherwise; `q` matches the name or description.
pub fn list(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let query = Query::from_url(request.target(), FILTERS)?;
    let page = query.page()?;
    let default_sort = vec![SortKey {
        field: "id",
        descending: false,
    }];
    let list_query = ListQuery {
        filter: ProjectFilter {
            text: query.text("q")?,
        },
        sort: query.sort(store::projects::SORT_FIELDS, default_sort)?,
        limit: page.0,
        offset: page.1,
    };
    let projects = store::projects::list(&ctx.db, user.id, &list_query)?;
    Ok(query.respond(&projects, page))
}

/// `GET /projects/{id}`.
pub fn get(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let project = store::projects::get(&ctx.db, user.id, id)?
        .ok_or(ApiError::not_found(Entity::Project, id))?;
    Ok(with_etag(Response::json(200, &project)))
}

/// `PUT /projects/{id}`: replace the name and description (an omitted
/// description becomes null).
pub fn replace(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let project = new_project_from_body(json_body(request)?)?;
    let changed =
        store::projects::replace(&ctx.db, user.id, id, &project, &condition).map_err(name_taken)?;
    let project = ApiError::refused(changed, Entity::Project, id)?;
    Ok(with_etag(Response::json(200, &project)))
}

/// `PATCH /projects/{id}`: JSON Merge Patch of the name and description.
pub fn patch(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let patch = project_patch_from_body(json_body(request)?)?;
    let changed = store::projects::patch_project(&ctx.db, user.id, id, &patch, &condition)
        .map_err(name_taken)?;
    let project = ApiError::refused(changed, Entity::Project, id)?;
    Ok(with_etag(Response::json(200, &project)))
}

/// `DELETE /projects/{id}`: 204; the project's tasks are deleted with it.
pub fn delete(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let deleted = store::projects::delete(&ctx.db, user.id, id, &condition)?;
    ApiError::refused(deleted, Entity::Project, id)?;
    Ok(Response::no_content())
}

/// `POST /projects/{id}/tasks`: create a task in this project. The body is
/// that of `POST /tasks`; a `project_id` in it must name this project.
pub fn create_task(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let mut task = tasks::new_task_from_body(json_body(request)?)?;
    match task.project_id {
        Some(other) if other != id => {
            return Err(ApiError::invalid(
                "project_id",
                format!("is {other}, but the path names project {id}"),
            ));
        }
        _ => task.project_id = Some(id),
    }
    tasks::insert(ctx, request, user.id, &task)
}

/// `GET /projects/{id}/tasks`: a page of this project's tasks, highest
/// priority first (ties by id) unless `sort` says otherwise; the filters of
/// `GET /tasks` except `project_id`, which the path gives.
pub fn list_tasks(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    store::projects::get(&ctx.db, user.id, id)?.ok_or(ApiError::not_found(Entity::Project, id))?;
    let filters: Vec<&str> = tasks::FILTERS
        .iter()
        .copied()
        .filter(|name| *name != "project_id")
        .collect();
    let query = Query::from_url(request.target(), &filters)?;
    let filter = crate::model::TaskFilter {
        project_id: Some(Some(id)),
        ..tasks::read_filter(&query, user.id)?
    };
    let default_sort = vec![SortKey {
        field: "priority",
        descending: true,
    }];
    tasks::respond_with_page(ctx, user.id, &query, filter, default_sort)
}

/// Validates a full project body (POST, PUT): `name` required, an omitted
/// `description` is null. Pure, and a fuzzing target like
/// [`tasks::new_task_from_body`].
pub fn new_project_from_body(body: &[u8]) -> Result<NewProject, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, WRITABLE, READ_ONLY);
    let name = input.name("name", TITLE_MAX_CHARS);
    if name.is_none() && !input.has_error("name") {
        input.error("name", "is required");
    }
    let description = input.nullable_text("description", DESCRIPTION_MAX_CHARS);
    input.finish(NewProject {
        name: name.unwrap_or_default(),
        description: description.flatten(),
    })
}

/// Validates a merge patch body (PATCH) of a project's name and description.
pub fn project_patch_from_body(body: &[u8]) -> Result<ProjectPatch, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, WRITABLE, READ_ONLY);
    let patch = ProjectPatch {
        name: input.name("name", TITLE_MAX_CHARS),
        description: input.nullable_text("description", DESCRIPTION_MAX_CHARS),
    };
    input.finish(patch)
}

fn name_taken(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => {
            ApiError::Conflict("you already have a project with that name".to_owned())
        }
        other => other.into(),
    }
}

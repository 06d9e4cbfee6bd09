//! The API's own documentation: `GET /openapi.json`, the OpenAPI 3.1
//! document kept in `docs/openapi.json` and compiled into the binary, and
//! `GET /docs`, a Swagger UI page for it.
//!
//! The page loads Swagger UI's script and stylesheet from `assets_url`: a
//! public CDN by default, as FastAPI does, or a self-hosted copy of the
//! `swagger-ui-dist` package on machines without internet
//! (`--docs-assets-url`). `--no-docs` turns both routes into 404s.

use super::{ApiResult, Ctx};
use crate::conditional::etag_of_bytes;
use crate::error::ApiError;
use crate::http::{Request, Response};

/// The OpenAPI document, exactly as in the repository.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// Where `/docs` loads Swagger UI from unless configured otherwise.
pub const DEFAULT_ASSETS_URL: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5";

/// `GET /openapi.json`.
pub fn openapi(ctx: &mut Ctx, _request: &Request) -> ApiResult {
    enabled(ctx)?;
    Ok(public(Response::ok_bytes(
        "application/json",
        OPENAPI_JSON.as_bytes().to_vec(),
    )))
}

/// `GET /docs`: the Swagger UI page.
pub fn page(ctx: &mut Ctx, _request: &Request) -> ApiResult {
    let assets = enabled(ctx)?;
    Ok(public(Response::ok_bytes(
        "text/html; charset=utf-8",
        swagger_page(assets).into_bytes(),
    )))
}

/// The same for everyone, so any cache may keep it, but revalidated each
/// time by its ETag: a 304 costs a few bytes, and a new release's document
/// is seen at once.
fn public(response: Response) -> Response {
    let etag = etag_of_bytes(&response.body);
    let mut response = response.with_etag(etag);
    response.set_header("Cache-Control", "public, no-cache");
    response
}

/// The configured assets URL, or a 404 when the docs are turned off.
fn enabled(ctx: &Ctx) -> Result<&str, ApiError> {
    ctx.shared
        .docs_assets_url
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("the API documentation is turned off".to_owned()))
}

/// The HTML of the Swagger UI page. The token Swagger UI obtains through
/// Authorize stays in that browser tab: `persistAuthorization` is off.
fn swagger_page(assets_url: &str) -> String {
    let assets = html_attribute(assets_url.trim_end_matches('/'));
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskapi - API documentation</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
}});
</script>
</body>
</html>
"##
    )
}

/// Escapes text for a double-quoted HTML attribute.
fn html_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

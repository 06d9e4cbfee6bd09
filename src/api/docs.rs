//! The API's own documentation: `GET /`, an index of the rest;
//! `GET /openapi.json`, the OpenAPI 3.1 document kept in
//! `docs/openapi.json` and compiled into the binary; and `GET /docs`, a
//! Swagger UI page for it.
//!
//! The page loads Swagger UI's script and stylesheet from `assets_url`: a
//! public CDN by default, as FastAPI does, or a self-hosted copy of the
//! `swagger-ui-dist` package on machines without internet
//! (`--docs-assets-url`), in both cases one exact version checked by
//! Subresource Integrity. `--no-docs` turns both routes into 404s.

use serde::Serialize;

use super::{ApiResult, Ctx};
use crate::conditional::etag_of_bytes;
use crate::error::ApiError;
use crate::http::{Request, Response};

/// The OpenAPI document, exactly as in the repository.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// The exact release of npm's `swagger-ui-dist` the page is written for.
/// The browser test installs this same version (`tests/browser/package.json`;
/// a test checks they agree), and the hashes below are of its files.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// Where `/docs` loads Swagger UI from unless configured otherwise: that
/// exact version, never a floating one, so that what runs in the page is
/// what was tested and hashed.
pub const DEFAULT_ASSETS_URL: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0";

/// Subresource Integrity hashes (SHA-384, base64) of `swagger-ui-bundle.js`
/// and `swagger-ui.css` of [`SWAGGER_UI_VERSION`]: a browser runs the
/// script and applies the stylesheet only if their bytes hash to these,
/// so a compromised CDN (or a self-hosted copy of another version) cannot
/// run code in the page that holds a user's token. Computed with
/// `openssl dgst -sha384 -binary FILE | openssl base64 -A` on the files of
/// `npm pack swagger-ui-dist@5.35.0`.
const BUNDLE_INTEGRITY: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";
const CSS_INTEGRITY: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";

/// `GET /`: where to go from here, so that the first request anyone makes
/// (a browser on the bare address) meets a map instead of a 404. The docs
/// are left out when `--no-docs` turns them off.
pub fn index(ctx: &mut Ctx, _request: &Request) -> ApiResult {
    #[derive(Serialize)]
    struct Index {
        #[serde(skip_serializing_if = "Option::is_none")]
        docs: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        openapi: Option<&'static str>,
        health: &'static str,
    }
    let docs = ctx.shared.docs_assets_url.is_some();
    Ok(Response::json(
        200,
        &Index {
            docs: docs.then_some("/docs"),
            openapi: docs.then_some("/openapi.json"),
            health: "/healthz",
        },
    ))
}

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
/// `crossorigin="anonymous"` is what lets the browser check the integrity
/// of files from another origin (and sends them no cookies).
fn swagger_page(assets_url: &str) -> String {
    let assets = html_attribute(assets_url.trim_end_matches('/'));
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskapi - API documentation</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css" integrity="{CSS_INTEGRITY}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js" integrity="{BUNDLE_INTEGRITY}" crossorigin="anonymous"></script>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_swagger_ui_is_the_version_the_browser_test_installs() {
        let package: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/browser/package.json"))
                .expect("tests/browser/package.json is JSON");
        let installed = package["dependencies"]["swagger-ui-dist"]
            .as_str()
            .or_else(|| package["devDependencies"]["swagger-ui-dist"].as_str())
            .expect("the browser test installs swagger-ui-dist");
        assert_eq!(installed, SWAGGER_UI_VERSION);
        assert!(DEFAULT_ASSETS_URL.ends_with(&format!("@{SWAGGER_UI_VERSION}")));
    }

    #[test]
    fn the_page_loads_both_assets_with_integrity_checks() {
        let page = swagger_page("https://assets.example/ui/");
        for (file, integrity) in [
            ("swagger-ui.css", CSS_INTEGRITY),
            ("swagger-ui-bundle.js", BUNDLE_INTEGRITY),
        ] {
            let tag = format!(
                "\"https://assets.example/ui/{file}\" integrity=\"{integrity}\" crossorigin=\"anonymous\""
            );
            assert!(page.contains(&tag), "{file} in {page}");
        }
        assert_eq!(page.matches("integrity=").count(), 2, "{page}");
    }
}

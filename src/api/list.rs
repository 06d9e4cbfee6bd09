//! The query language every list shares (`GET /tasks`, `GET /projects`,
//! `GET /projects/{id}/tasks`): pagination, sorting, typed filter values,
//! and the `X-Total-Count` and `Link` headers of the answer.
//!
//! Every parameter is checked: an unknown name, a malformed value or an
//! unknown sort key is a 400 that names the parameter and what is allowed,
//! so a typo never silently returns the wrong rows.

use serde::Serialize;

use crate::api::body;
use crate::error::ApiError;
use crate::http::Response;
use crate::http::request::split_target;
use crate::model::{Page, SortKey};
use crate::time;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`; asking for more is a 422, never a silent cap.
pub const MAX_LIMIT: u32 = 500;

/// The largest `offset`: 2^53 - 1, the largest integer every JSON client
/// (and the OpenAPI document) handles exactly; far beyond any real table.
pub const MAX_OFFSET: u64 = 9_007_199_254_740_991;

/// The parameters every list takes, besides its own filters.
const PAGING: &[&str] = &["limit", "offset", "sort"];

/// A list request's query string, decoded and checked against the names
/// the list accepts.
pub struct Query {
    /// The path as the client wrote it (with any `/api/v1` prefix), for
    /// the `Link` header.
    path: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes the query string of a request URL (`request.target()`: the path
    /// and query as the client sent them); any name outside `filters` and the
    /// paging parameters, or a name given twice, is a 400.
    ///
    /// Pure, and with the typed getters below a fuzzing target
    /// (`fuzz/fuzz_targets/router.rs`): any URL gets a `Query` or an
    /// `ApiError`, never a panic.
    pub fn from_url(url: &str, filters: &[&str]) -> Result<Query, ApiError> {
        let pairs = body::query_pairs(url)?;
        for (index, (name, _)) in pairs.iter().enumerate() {
            if !filters.contains(&name.as_str()) && !PAGING.contains(&name.as_str()) {
                let allowed: Vec<&str> = filters.iter().chain(PAGING).copied().collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {name:?}; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::BadRequest(format!(
                    "query parameter {name:?} is given more than once"
                )));
            }
        }
        Ok(Query {
            path: split_target(url).0.to_owned(),
            pairs,
        })
    }

    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `limit` and `offset`.
    pub fn page(&self) -> Result<(u32, u64), ApiError> {
        let limit = match self.get("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => {
                let limit: u64 = parse_number(text, "limit")?;
                if limit == 0 || limit > u64::from(MAX_LIMIT) {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("must be from 1 to {MAX_LIMIT} (the maximum page size)"),
                    ));
                }
                limit as u32
            }
        };
        let offset = match self.get("offset") {
            None => 0,
            Some(text) => match parse_number(text, "offset")? {
                offset if offset <= MAX_OFFSET => offset,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "query parameter offset must be at most {MAX_OFFSET}"
                    )));
                }
            },
        };
        Ok((limit, offset))
    }

    /// `sort`: comma-separated fields from `fields`, each optionally prefixed
    /// with `-` for descending; `default` when absent.
    pub fn sort(
        &self,
        fields: &'static [&'static str],
        default: Vec<SortKey>,
    ) -> Result<Vec<SortKey>, ApiError> {
        let Some(text) = self.get("sort") else {
            return Ok(default);
        };
        text.split(',')
            .map(|item| {
                let (name, descending) = match item.strip_prefix('-') {
                    Some(name) => (name, true),
                    None => (item, false),
                };
                let field = fields.iter().find(|field| **field == name).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown sort key {item:?} in sort; allowed: {} (prefix - for descending)",
                        fields.join(", ")
                    ))
                })?;
                Ok(SortKey { field, descending })
            })
            .collect()
    }

    /// A `true`/`false` parameter.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|value| match value {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::BadRequest(format!(
                    "query parameter {name} must be true or false, not {value:?}"
                ))),
            })
            .transpose()
    }

    /// A `YYYY-MM-DD` parameter.
    pub fn date(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|value| {
                if time::is_valid_date(value) {
                    Ok(value.to_owned())
                } else {
                    Err(ApiError::BadRequest(format!(
                        "query parameter {name} must be a date written YYYY-MM-DD, not {value:?}"
                    )))
                }
            })
            .transpose()
    }

    /// A free-text parameter (non-empty, at most 200 characters).
    pub fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|value| {
                let length = value.chars().count();
                if value.contains('\0') {
                    Err(ApiError::BadRequest(format!(
                        "query parameter {name} must not contain the NUL character"
                    )))
                } else if (1..=200).contains(&length) {
                    Ok(value.to_owned())
                } else {
                    Err(ApiError::BadRequest(format!(
                        "query parameter {name} must be 1 to 200 characters"
                    )))
                }
            })
            .transpose()
    }

    /// The answer to a list request: the page as a JSON array, with
    /// `X-Total-Count` and an RFC 8288 `Link` header (`first`, `prev`,
    /// `next`, `last`, as they apply) that keeps every other parameter.
    pub fn respond<T: Serialize>(&self, page: &Page<T>, (limit, offset): (u32, u64)) -> Response {
        let mut response = Response::json(200, &page.items);
        response.set_header("X-Total-Count", page.total.to_string());

        let limit_wide = u64::from(limit);
        let last = page.total.saturating_sub(1) / limit_wide * limit_wide;
        let mut links = vec![(0, "first")];
        if offset > 0 {
            links.push((offset.saturating_sub(limit_wide).min(last), "prev"));
        }
        if offset.saturating_add(limit_wide) < page.total {
            links.push((offset + limit_wide, "next"));
        }
        links.push((last, "last"));
        let links: Vec<String> = links
            .into_iter()
            .map(|(target, relation)| {
                format!("<{}>; rel=\"{relation}\"", self.url_at(limit, target))
            })
            .collect();
        response.set_header("Link", links.join(", "));
        response
    }

    /// This list's URL with every parameter kept but `limit` and `offset`.
    fn url_at(&self, limit: u32, offset: u64) -> String {
        let mut url = format!("{}?", self.path);
        for (name, value) in &self.pairs {
            if name != "limit" && name != "offset" {
                url.push_str(&format!(
                    "{}={}&",
                    percent_encode(name),
                    percent_encode(value)
                ));
            }
        }
        url.push_str(&format!("limit={limit}&offset={offset}"));
        url
    }
}

/// A non-negative whole number; anything else is a 400 naming `name`.
fn parse_number(text: &str, name: &str) -> Result<u64, ApiError> {
    if !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && let Ok(number) = text.parse()
    {
        return Ok(number);
    }
    Err(ApiError::BadRequest(format!(
        "query parameter {name} must be a whole number, not {text:?}"
    )))
}

/// Percent-encodes everything but RFC 3986's unreserved characters and the
/// comma that separates sort keys.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~,".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

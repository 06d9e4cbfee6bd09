//! Fuzz target: an arbitrary request line, through the router and through
//! the list query language of every list.
//!
//! The input is text shaped like an HTTP request line, `METHOD URL` (such as
//! `GET /api/v1/tasks/?sort=-due_date&limit=5`), so that the seeds in
//! `corpus/router/seed-*` read like requests. Input that is not UTF-8 or has
//! no space is skipped: the server never sees it. Everything after the
//! first space is the URL, which is more than the request parser hands over
//! (a target never holds a space), so the fuzzer covers a superset of real
//! requests.
//!
//! The invariant is "never panics". The properties asserted besides: a
//! resolved route has the request's method (GET for HEAD) and an id exactly
//! when its pattern has `{id}`, a positive one; a refusal is a 400, 404 or
//! 405, never a 500; and what the list parser accepts is within its
//! documented bounds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskapi::api::list::{MAX_LIMIT, MAX_OFFSET, Query};
use taskapi::api::{projects, tasks};
use taskapi::error::ApiError;
use taskapi::http::Method;
use taskapi::model::{Page, SortKey};
use taskapi::router;
use taskapi::{store, time};

/// List sizes to answer each accepted page with: empty, around the default
/// page of 50, large, and the most rows whose every page the server can link
/// to (offsets stop at `MAX_OFFSET`).
const TOTALS: [u64; 6] = [0, 1, 50, 51, 1_000_000, MAX_OFFSET + 1];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((method, url)) = text.split_once(' ') else {
        return;
    };
    let method = Method::from_token(method);
    check_route(&method, url);
    check_task_list(url);
    check_project_list(url);
});

fn check_route(method: &Method, url: &str) {
    let routed_as = match method {
        Method::Head => &Method::Get,
        other => other,
    };
    match router::resolve(method, url) {
        Ok((route, ids)) => {
            assert_eq!(&route.method, routed_as);
            assert_eq!(ids.len(), route.handler.ids());
            assert!(ids.iter().all(|id| *id > 0));
        }
        Err(ApiError::MethodNotAllowed(allowed)) => {
            assert!(!allowed.is_empty());
            assert!(!allowed.contains(&routed_as.as_str()));
            let mut unique = allowed.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), allowed.len(), "Allow repeats a method");
        }
        Err(ApiError::NotFound(_) | ApiError::BadRequest(_)) => {}
        Err(other) => panic!("routing answered {other:?}"),
    }
}

/// `GET /tasks` (and `GET /projects/{id}/tasks`, whose filters are these
/// without `project_id`, read by the same function).
fn check_task_list(url: &str) {
    let Ok(query) = Query::from_url(url, tasks::FILTERS) else {
        return;
    };
    let default = vec![SortKey {
        field: "id",
        descending: false,
    }];
    check_sort(&query, store::tasks::SORT_FIELDS, default);
    if let Ok(filter) = tasks::read_filter(&query, 1) {
        assert!(filter.project_id.flatten().is_none_or(|id| id > 0));
        for date in [&filter.due_before, &filter.due_after] {
            assert!(date.as_deref().is_none_or(time::is_valid_date));
        }
        check_text(filter.text.as_deref());
    }
    check_page(&query, url, tasks::FILTERS);
}

/// `GET /projects`.
fn check_project_list(url: &str) {
    let Ok(query) = Query::from_url(url, projects::FILTERS) else {
        return;
    };
    let default = vec![SortKey {
        field: "id",
        descending: false,
    }];
    check_sort(&query, store::projects::SORT_FIELDS, default);
    if let Ok(text) = query.text("q") {
        check_text(text.as_deref());
    }
    check_page(&query, url, projects::FILTERS);
}

fn check_sort(query: &Query, fields: &'static [&'static str], default: Vec<SortKey>) {
    if let Ok(keys) = query.sort(fields, default) {
        assert!(!keys.is_empty());
        assert!(keys.iter().all(|key| fields.contains(&key.field)));
    }
}

fn check_text(text: Option<&str>) {
    assert!(text.is_none_or(|text| (1..=200).contains(&text.chars().count())));
}

/// `limit` and `offset`, and the headers of a page answered with them:
/// every `Link` is a URL the server accepts, with the same filters.
fn check_page(query: &Query, url: &str, filters: &[&str]) {
    let Ok((limit, offset)) = query.page() else {
        return;
    };
    assert!((1..=MAX_LIMIT).contains(&limit));
    assert!(offset <= MAX_OFFSET);
    for total in TOTALS {
        let page = Page {
            items: Vec::<()>::new(),
            total,
        };
        let response = query.respond(&page, (limit, offset));
        let header = |name: &str| {
            let (_, value) = response
                .headers
                .iter()
                .find(|(header, _)| *header == name)
                .unwrap_or_else(|| panic!("a list answer has {name}"));
            value.as_str()
        };
        assert_eq!(header("X-Total-Count"), total.to_string());
        let link = header("Link");
        assert!(link.contains("rel=\"first\"") && link.contains("rel=\"last\""));
        let has_next = offset.saturating_add(u64::from(limit)) < total;
        assert_eq!(link.contains("rel=\"next\""), has_next);
        // The links are split on ", <" and ">; rel=", which a URL without
        // spaces cannot contain (and request targets never do).
        if url.contains(' ') {
            continue;
        }
        for target in link.split(", <") {
            let (target, _) = target
                .trim_start_matches('<')
                .split_once(">; rel=")
                .expect("a link is <url>; rel=name");
            let followed = Query::from_url(target, filters)
                .unwrap_or_else(|error| panic!("link {target} is refused: {error:?}"));
            if let Err(error) = followed.page() {
                panic!("link {target} has a bad page: {error:?}");
            }
            for name in filters.iter().chain(&["sort"]) {
                assert_eq!(followed.get(name), query.get(name), "{name} in {target}");
            }
        }
    }
}

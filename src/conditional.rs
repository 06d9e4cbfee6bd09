//! ETags and the conditional requests that compare them (RFC 9110 §8.8.3,
//! §13): `If-None-Match` turns a `GET` whose answer the client already has
//! into a `304`, and `If-Match` makes a write happen only if the object is
//! still the version the client last saw (`If-None-Match` on a write, the
//! opposite: a 412 if it is).
//!
//! A task's or project's ETag is a digest of its JSON exactly as the API
//! shows it to the caller, so it is a strong validator by construction: it
//! changes whenever any byte of that representation does (including what
//! other writes change, such as a project's `task_count` or a task's
//! `created_by` when its creator's account goes). Every write also bumps
//! the object's `version`, which the representation includes, so even a
//! write that sets the values already there gives a new ETag.
//!
//! The store compares the preconditions with the object read inside the write's
//! own transaction ([`Precondition::holds`]), so the check and the write
//! are one step: of two clients sending the same `If-Match`, one wins.

use serde::Serialize;

use crate::http::{Method, Request, Response};

/// The strong ETag of `value` as the API serialises it: the first 128 bits
/// of a SHA-256 of its JSON, in hex, quoted.
pub fn etag_of<T: Serialize + ?Sized>(value: &T) -> String {
    // As in `Response::json`: our own types always serialise.
    let json = serde_json::to_vec(value).expect("response types serialise to JSON");
    etag_of_bytes(&json)
}

/// `response`, a JSON answer carrying one object, with that object's
/// ETag. The digest is taken of the body itself, less the newline
/// `Response::json` ends it with: the same bytes [`etag_of`] serialises,
/// so the answer's ETag and the one the store compares `If-Match` with
/// agree, and the object is serialised once.
pub fn with_etag(response: Response) -> Response {
    let json = response.body.strip_suffix(b"\n").unwrap_or(&response.body);
    let etag = etag_of_bytes(json);
    response.with_etag(etag)
}

/// The strong ETag of a fixed body (the OpenAPI document, the docs page).
pub fn etag_of_bytes(bytes: &[u8]) -> String {
    let digest = hmac_sha256::Hash::hash(bytes);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push_str(&format!("{byte:02x}"));
    }
    tag.push('"');
    tag
}

/// What a write's `If-Match` and `If-None-Match` headers ask of it. Both
/// are evaluated against the object read inside the write's transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    /// `If-Match`: the object's current ETag must be one of these (strong
    /// comparison: RFC 9110 §13.1.1, so weak tags never match), or, for
    /// `*`, the object must exist (which a write to a path naming it
    /// already requires).
    if_match: Option<Tags>,
    /// `If-None-Match`: the current ETag must be none of these (weak
    /// comparison, §13.1.2); `*` never holds on an object that exists.
    if_none_match: Option<Tags>,
}

/// The value of `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    Any,
    List(Vec<(bool, String)>),
}

impl Tags {
    fn parse(name: &str, value: &str) -> Result<Tags, String> {
        if value.trim() == "*" {
            return Ok(Tags::Any);
        }
        let tags = entity_tags(value)
            .ok_or_else(|| format!("{name} must be * or a list of quoted entity tags"))?;
        Ok(Tags::List(
            tags.into_iter()
                .map(|tag| (tag.weak, tag.opaque.to_owned()))
                .collect(),
        ))
    }
}

impl Precondition {
    /// The precondition of `request`'s headers. A header that is not a list
    /// of entity tags (or `*`) is `Err`, with what is wrong.
    pub fn of(request: &Request) -> Result<Precondition, String> {
        let read = |name: &str| {
            request
                .header(name)
                .map(|value| Tags::parse(name, value))
                .transpose()
        };
        Ok(Precondition {
            if_match: read("If-Match")?,
            if_none_match: read("If-None-Match")?,
        })
    }

    /// Whether the write may go ahead on an object whose current ETag is
    /// `current`.
    pub fn holds(&self, current: &str) -> bool {
        let matched = match &self.if_match {
            None | Some(Tags::Any) => true,
            Some(Tags::List(tags)) => tags.iter().any(|(weak, tag)| !weak && tag == current),
        };
        let none_matched = match &self.if_none_match {
            None => true,
            Some(Tags::Any) => false,
            Some(Tags::List(tags)) => tags.iter().all(|(_, tag)| tag != current),
        };
        matched && none_matched
    }

    /// `None` if the write may go ahead on `current` (the object as the
    /// caller sees it, read in the write's transaction); otherwise its
    /// current ETag, for the 412.
    pub fn unmet_by<T: Serialize>(&self, current: &T) -> Option<String> {
        if !self.is_some() {
            return None;
        }
        let etag = etag_of(current);
        (!self.holds(&etag)).then_some(etag)
    }

    /// Whether there is any condition to check (and so the current object
    /// must be read before writing).
    pub fn is_some(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some()
    }
}

/// One entity tag of a list: the opaque part with its quotes (as this
/// server writes its ETags), and whether it had the weak prefix `W/`.
#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a str,
}

/// The entity tags of a comma-separated list (RFC 9110 §8.8.3):
/// `"a", W/"b"`. A comma may also be inside a tag (`"a,b"`), so the list is
/// read tag by tag rather than split. `None` if anything but tags, commas
/// and whitespace is there. Empty members (`"a",,"b"`) are allowed, as in
/// every list field (RFC 9110 §5.6.1), and so is an empty list (`#` in
/// the grammar allows none): an empty `If-Match` matches nothing.
fn entity_tags(value: &str) -> Option<Vec<EntityTag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inner = quoted.strip_prefix('"')?;
        let close = inner.find('"')?;
        // etagc: %x21 / %x23-7E / obs-text; no quote inside, no controls.
        if inner[..close]
            .bytes()
            .any(|byte| byte < 0x21 || byte == 0x7f)
        {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: &quoted[..close + 2],
        });
        rest = &inner[close + 1..];
        // A tag ends the member: what follows is a separator or the end.
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
        rest = next;
    }
    Some(tags)
}

/// Whether `If-None-Match` (its value `header`) matches `etag`, by the weak
/// comparison RFC 9110 §13.1.2 asks for: `*`, or any listed tag whose
/// opaque part equals the current one, weak or not. A malformed header
/// matches nothing, so the client simply gets the full answer.
fn none_match(header: &str, etag: &str) -> bool {
    if header.trim() == "*" {
        return true;
    }
    entity_tags(header).is_some_and(|tags| tags.iter().any(|tag| tag.opaque == etag))
}

/// `response` to a `GET` or `HEAD`, or a `304 Not Modified` in its place if
/// it is a 200 with an ETag that the request's `If-None-Match` names. The
/// 304 keeps the headers a cache needs to update what it stored (RFC 9110
/// §15.4.5: `ETag`, `Cache-Control`) and has no body.
pub fn revalidate(request: &Request, response: Response) -> Response {
    // On a write, If-None-Match is a precondition like If-Match, checked
    // by the store before writing (`Precondition`); never a 304 after it.
    if !matches!(request.method(), Method::Get | Method::Head) {
        return response;
    }
    let Some(header) = request.header("If-None-Match") else {
        return response;
    };
    let matches = response.status == 200
        && response
            .header("ETag")
            .is_some_and(|etag| none_match(header, etag));
    if !matches {
        return response;
    }
    let kept = response
        .headers
        .into_iter()
        .filter(|(name, _)| {
            ["ETag", "Cache-Control", "Vary"]
                .iter()
                .any(|keep| name.eq_ignore_ascii_case(keep))
        })
        .collect();
    Response {
        status: 304,
        headers: kept,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_a_quoted_digest_that_follows_every_byte() {
        let tag = etag_of(&serde_json::json!({"title": "a"}));
        assert_eq!(tag.len(), 34, "{tag}");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        assert_ne!(tag, etag_of(&serde_json::json!({"title": "b"})));
        assert_eq!(tag, etag_of(&serde_json::json!({"title": "a"})));
    }

    #[test]
    fn an_answers_etag_is_the_one_the_store_computes_for_its_object() {
        let object = serde_json::json!({"id": 1, "title": "a"});
        let answer = with_etag(Response::json(200, &object));
        assert_eq!(answer.header("ETag"), Some(etag_of(&object).as_str()));
    }

    #[test]
    fn entity_tag_lists_are_read_as_rfc_9110_writes_them() {
        let tags = entity_tags(r#" "a" ,W/"b",, "" , "c,d" "#).unwrap();
        let read: Vec<(bool, &str)> = tags.iter().map(|tag| (tag.weak, tag.opaque)).collect();
        assert_eq!(
            read,
            [
                (false, "\"a\""),
                (true, "\"b\""),
                (false, "\"\""),
                (false, "\"c,d\"")
            ]
        );
        for bad in ["a", "\"a", "W/a", "\"a\"b\"", "\"c d\"", "\"a\" \"b\""] {
            assert_eq!(entity_tags(bad), None, "{bad}");
        }
        for empty in ["", " ", ",", " , ,"] {
            assert_eq!(entity_tags(empty), Some(Vec::new()), "{empty:?}");
        }
    }

    fn precondition(if_match: Option<&str>, if_none_match: Option<&str>) -> Precondition {
        Precondition {
            if_match: if_match.map(|value| Tags::parse("If-Match", value).unwrap()),
            if_none_match: if_none_match.map(|value| Tags::parse("If-None-Match", value).unwrap()),
        }
    }

    #[test]
    fn if_match_compares_strongly_and_if_none_match_weakly() {
        let current = "\"abc\"";
        assert!(precondition(Some("\"x\", \"abc\""), None).holds(current));
        assert!(!precondition(Some("\"x\""), None).holds(current));
        assert!(!precondition(Some("W/\"abc\""), None).holds(current));
        assert!(precondition(Some("*"), None).holds(current));
        assert!(precondition(None, None).holds(current));
        // An empty list names no tag: If-Match fails, If-None-Match holds.
        assert!(!precondition(Some(""), None).holds(current));
        assert!(precondition(None, Some("")).holds(current));
        // On a write, a matching If-None-Match refuses it (RFC 9110 §13.1.2).
        assert!(!precondition(None, Some("W/\"abc\"")).holds(current));
        assert!(!precondition(None, Some("*")).holds(current));
        assert!(precondition(None, Some("\"x\"")).holds(current));
        // On a GET, the same comparison makes the 304.
        assert!(none_match("W/\"abc\"", current));
        assert!(none_match("\"x\", \"abc\"", current));
        assert!(none_match("*", current));
        assert!(!none_match("\"abcd\"", current));
        assert!(!none_match("abc", current));
    }
}

//! Fuzz target: arbitrary `Authorization` and `X-API-Key` header values,
//! through `credential_from_headers` and then, as a token, through
//! `Tokens::verify` with a fixed key.
//!
//! The input is text shaped like header lines, `Name: value` separated by
//! newlines, so that the seeds in `corpus/authorization/seed-*` read like
//! requests; as in `Request::header`, names are compared ignoring case and the
//! first of each counts. Values are passed exactly as they follow the colon,
//! spaces and all, and may hold any Unicode: a superset of what the request
//! parser hands over (trimmed, and UTF-8 only).
//!
//! The invariant is "never panics". The properties asserted besides: a
//! credential is a non-empty slice of the header it came from (the
//! `Authorization` one if present), with no whitespace around it, and sending
//! it back as `Bearer <credential>` yields the same credential.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use taskapi::api::credential_from_headers;
use taskapi::credentials::Tokens;

/// The key the seed tokens are signed with: 32 bytes of 7.
static TOKENS: LazyLock<Tokens> = LazyLock::new(|| Tokens::new(&[7; 32], 3600));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let authorization = header(text, "Authorization");
    let api_key = header(text, "X-API-Key");

    // A raw header value, unparsed, is also a token a client could send.
    for value in [authorization, api_key].into_iter().flatten() {
        TOKENS.verify(value);
    }

    let Some(credential) = credential_from_headers(authorization, api_key) else {
        return;
    };
    let source = authorization.or(api_key).unwrap_or_default();
    assert!(!credential.is_empty());
    assert_eq!(credential, credential.trim());
    assert!(is_slice_of(credential, source));
    let resent = format!("Bearer {credential}");
    let again = credential_from_headers(Some(&resent), None);
    assert_eq!(again, Some(credential));
    TOKENS.verify(credential);
});

/// The value of the first `name: value` line whose name is `name`, ignoring
/// case.
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split('\n').find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// Whether `part` lies inside `whole` in memory: a slice of it, not merely
/// equal text found elsewhere.
fn is_slice_of(part: &str, whole: &str) -> bool {
    let whole_range = whole.as_bytes().as_ptr_range();
    let part_range = part.as_bytes().as_ptr_range();
    whole_range.start <= part_range.start && part_range.end <= whole_range.end
}

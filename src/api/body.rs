//! What the API accepts as input besides the path: a JSON object body, an
//! HTML-form body (for OAuth2 password logins), and a query string.
//!
//! This is API policy, not wire format: the connection layer hands over
//! whatever bytes the client sent, and these functions decide which media
//! types count as JSON and what a malformed one is told.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::Request;
use crate::http::request::split_target;

/// The body of a request that should carry JSON, not yet parsed. A body in
/// another media type is a 415.
///
/// A request without `Content-Type` is read as JSON: curl users who forget
/// `-H 'Content-Type: application/json'` are the common case, and refusing
/// them would help nobody. The validators that turn the bytes into an input
/// type (`tasks::new_task_from_body` and its siblings) take them from here;
/// keeping those free of `Request` lets them be tested and fuzzed on plain
/// bytes.
pub fn json_body(request: &Request) -> Result<&[u8], ApiError> {
    if let Some(media_type) = request.media_type()
        && !is_json(&media_type)
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "request body must be application/json, not {media_type}"
        )));
    }
    Ok(request.body())
}

/// Whether a media type is JSON: `application/json` or any `application/*+json`
/// such as `application/merge-patch+json` (RFC 7396) that PATCH clients send.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Parses bytes as a JSON object: anything else is a 400.
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object".to_owned(),
        )),
        Err(error) => Err(ApiError::BadRequest(format!(
            "request body is not valid JSON: {error}"
        ))),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body or query string into
/// name/value pairs, in order. Invalid percent-escapes or UTF-8 are a 400.
pub fn parse_urlencoded(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

/// The query string of a request target, decoded (empty when there is none).
pub fn query_pairs(target: &str) -> Result<Vec<(String, String)>, ApiError> {
    match split_target(target).1 {
        Some(query) => parse_urlencoded(query),
        None => Ok(Vec::new()),
    }
}

/// Percent-decoding with `+` as a space, as HTML forms and curl `-d` encode.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    // The text is not repeated in the error: it may be a password.
    let malformed = || {
        ApiError::BadRequest(
            "malformed percent-encoding or UTF-8 in a form or query string".to_owned(),
        )
    };
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value).ok_or_else(malformed)?;
                let low = input.next().and_then(hex_value).ok_or_else(malformed)?;
                bytes.push(high << 4 | low);
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs_are_decoded_in_order() {
        let pairs = parse_urlencoded("username=ann%40example.com&password=a+b%2Bc&scope=").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("username".into(), "ann@example.com".into()),
                ("password".into(), "a b+c".into()),
                ("scope".into(), "".into()),
            ]
        );
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff"] {
            assert!(parse_urlencoded(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_media_types_include_structured_suffixes() {
        assert!(is_json("application/json"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("text/json"));
    }
}

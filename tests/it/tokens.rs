//! Access tokens: every way a token can be wrong is the same 401.

use jwt_simple::prelude::{Claims, Duration, HS256Key, MACLike, UnixTimeStamp};
use serde_json::json;

use crate::support::{TEST_SECRET, TestApp};

/// A token signed with `key` for `user_id`, after `adjust` has edited its
/// claims.
fn forge(
    key: &[u8],
    user_id: i64,
    adjust: impl FnOnce(&mut jwt_simple::claims::JWTClaims<jwt_simple::claims::NoCustomClaims>),
) -> String {
    let mut claims = Claims::create(Duration::from_mins(30))
        .with_issuer("taskapi")
        .with_audience("taskapi")
        .with_subject(user_id.to_string());
    adjust(&mut claims);
    HS256Key::from_bytes(key).authenticate(claims).unwrap()
}

/// A token with the right key and claims but over 4 KiB long (a big
/// `jti`), so that only the length cap can refuse it.
fn long_token(user_id: i64) -> String {
    let token = forge(TEST_SECRET, user_id, |claims| {
        claims.jwt_id = Some("x".repeat(4096));
    });
    assert!(token.len() > 4096);
    token
}

fn seconds_ago(seconds: u64) -> UnixTimeStamp {
    UnixTimeStamp::from_secs(jwt_simple::prelude::Clock::now_since_epoch().as_secs() - seconds)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn a_forged_or_broken_token_of_any_kind_is_the_same_401() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let claims = json!({"sub": ann.user_id.to_string(), "iss": "taskapi", "aud": "taskapi",
                        "iat": seconds_ago(0).as_secs(), "exp": seconds_ago(0).as_secs() + 600});
    let alg_none = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    );

    let bad_tokens = [
        ("garbage", "not-a-token".to_owned()),
        (
            "wrong signature",
            forge(b"some-other-key-that-is-32-bytes!", ann.user_id, |_| {}),
        ),
        ("alg none", alg_none),
        (
            "expired beyond the tolerance",
            forge(TEST_SECRET, ann.user_id, |claims| {
                claims.issued_at = Some(seconds_ago(3600));
                claims.expires_at = Some(seconds_ago(120));
            }),
        ),
        (
            "no expiry",
            forge(TEST_SECRET, ann.user_id, |claims| claims.expires_at = None),
        ),
        (
            "wrong audience",
            forge(TEST_SECRET, ann.user_id, |claims| {
                claims.audiences = Some(jwt_simple::claims::Audiences::AsString("other".into()));
            }),
        ),
        (
            "wrong issuer",
            forge(TEST_SECRET, ann.user_id, |claims| {
                claims.issuer = Some("someone-else".into());
            }),
        ),
        ("unknown user", forge(TEST_SECRET, 999_999, |_| {})),
        (
            "longer than 4 KiB, correctly signed",
            long_token(ann.user_id),
        ),
    ];

    let reference = app.get("/tasks").bearer("not-a-token").send();
    reference.assert_problem(401);
    for (what, token) in bad_tokens {
        let reply = app.get("/tasks").bearer(&token).send();
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        assert_eq!(reply.text, reference.text, "{what}");
        assert_eq!(
            reply.header("WWW-Authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
    }
    // The real token still works, so the failures above are the token's.
    assert_eq!(app.get("/tasks").bearer(&ann.token).send().status, 200);
}

#[test]
fn a_token_that_expired_within_the_clock_tolerance_still_works() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    let token = forge(TEST_SECRET, ann.user_id, |claims| {
        claims.issued_at = Some(seconds_ago(600));
        claims.expires_at = Some(seconds_ago(20));
    });
    assert_eq!(app.get("/auth/me").bearer(&token).send().status, 200);
}

#[test]
fn a_missing_token_or_another_scheme_is_a_401_without_an_error_code() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    for reply in [
        app.get("/tasks").send(),
        app.get("/tasks")
            .header("Authorization", "Basic YW5uOnB3")
            .send(),
        app.get("/tasks").header("Authorization", "Bearer").send(),
        app.get("/tasks").header("Authorization", &ann.token).send(),
    ] {
        reply.assert_problem(401);
        assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
    }
    // The scheme name is case-insensitive (RFC 6750 §2.1).
    let lower = app
        .get("/tasks")
        .header("Authorization", &format!("bearer {}", ann.token))
        .send();
    assert_eq!(lower.status, 200);
}

#[test]
fn a_deleted_users_token_is_rejected() {
    let app = TestApp::spawn();
    let ann = app.register("ann");
    assert_eq!(app.get("/auth/me").bearer(&ann.token).send().status, 200);

    app.db
        .execute(&format!("DELETE FROM \"user\" WHERE id = {}", ann.user_id));

    let reply = app.get("/auth/me").bearer(&ann.token).send();
    reply.assert_problem(401);
}

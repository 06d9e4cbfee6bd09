//! Fuzz target: arbitrary bytes as what a client sends on one connection,
//! through the request parser (`taskapi::http::parse`), whole and in pieces.
//!
//! The first two bytes choose where the rest is cut into three reads; the
//! rest is the byte stream. The invariant is "never panics". The
//! properties asserted besides: the stream parses to the same requests (or
//! the same refusal) however it is cut, which is what lets the connection
//! layer feed the parser whatever each read returns; every request has a
//! target starting with `/` (or `*`) and a body within the limit; and a
//! refusal is one of the statuses the layer documents.
//!
//! The seeds in `corpus/http_parser/seed-*` are real request streams:
//! pipelined, chunked, with `Expect`, and a few refused ones.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskapi::http::Request;
use taskapi::http::parse::{HttpError, Limits, Parsed, RequestParser};

/// Small limits, so that the fuzzer reaches them with short inputs.
const LIMITS: Limits = Limits {
    max_head_bytes: 512,
    max_headers: 8,
    max_body_bytes: 256,
};

/// What a stream parses to, in a form that can be compared.
type Outcome = (
    Vec<(String, String, Vec<(String, String)>, Vec<u8>)>,
    Option<u16>,
);

fuzz_target!(|data: &[u8]| {
    let (cuts, stream) = match data {
        [first, second, rest @ ..] => ([*first as usize, *second as usize], rest),
        _ => return,
    };
    let whole = parse(stream, &[]);
    let mut cuts = cuts.map(|cut| cut.min(stream.len()));
    cuts.sort_unstable();
    let pieces = parse(stream, &cuts);
    assert_eq!(whole, pieces, "cut at {cuts:?}");
    if let Some(status) = whole.1 {
        assert!(
            [400, 413, 414, 417, 431, 501, 505].contains(&status),
            "refused with {status}"
        );
    }
});

fn parse(stream: &[u8], cuts: &[usize]) -> Outcome {
    let mut parser = RequestParser::new(LIMITS);
    let mut buffer = Vec::new();
    let mut requests = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([stream.len()]) {
        buffer.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            match parser.advance(&mut buffer, None) {
                Ok(Parsed::Complete(request)) => requests.push(summary(&request)),
                Ok(Parsed::AwaitingBody { .. }) => {}
                Ok(Parsed::Incomplete) => break,
                Err(HttpError { status, .. }) => return (requests, Some(status)),
            }
        }
    }
    (requests, None)
}

fn summary(request: &Request) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let target = request.target();
    assert!(
        target.starts_with('/') || target == "*",
        "target {target:?}"
    );
    assert!(request.body().len() <= LIMITS.max_body_bytes);
    (
        request.method().to_string(),
        target.to_owned(),
        request.headers().to_vec(),
        request.body().to_vec(),
    )
}

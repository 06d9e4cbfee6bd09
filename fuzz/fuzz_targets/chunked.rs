//! Fuzz target: arbitrary bytes through the chunked-body decoder
//! (`taskapi::http::parse::ChunkedDecoder`), whole and fed a byte at a time.
//!
//! The invariant is "never panics". The properties asserted besides: the
//! decoder reaches the same result (body, bytes used, done, or the same
//! error) whether it gets the input at once or one byte per call; it never
//! uses more bytes than it was given, nor any after the end of the body;
//! and the body never passes the limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskapi::http::parse::{ChunkError, ChunkedDecoder};

const LIMIT: usize = 256;

fuzz_target!(|data: &[u8]| {
    let whole = decode(data, data.len().max(1));
    let bytewise = decode(data, 1);
    assert_eq!(whole, bytewise);
    if let Ok((body, used, _)) = &whole {
        assert!(*used <= data.len());
        assert!(body.len() <= LIMIT);
    }
});

/// Decodes `data` fed `step` bytes per call, until the body is done, an
/// error, or the input runs out.
fn decode(data: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut decoder = ChunkedDecoder::default();
    let mut body = Vec::new();
    let mut used = 0;
    while used < data.len() {
        let piece = &data[used..(used + step).min(data.len())];
        let (taken, done) = decoder.decode(piece, &mut body, LIMIT)?;
        if done {
            assert!(taken <= piece.len());
            return Ok((body, used + taken, true));
        }
        assert_eq!(taken, piece.len(), "an unfinished body takes every byte");
        used += taken;
    }
    Ok((body, used, false))
}

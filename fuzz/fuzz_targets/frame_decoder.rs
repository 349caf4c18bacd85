//! Fuzz target: arbitrary bytes, cut into arbitrary chunks, into the nono-wire `FrameDecoder`.
//!
//! Checks: no panic; the frames and the final error do not depend on how the input was cut
//! (whole vs chunked); every frame is within `MAX_FRAME_LEN`; every payload that parses as a
//! message re-encodes and parses back to the same value. The CI twin of this target is the
//! `fuzz_equivalent_*` proptests in crates/nono-wire/tests/wire — keep them in step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nono_wire::{
    decode_message, encode_frame, FrameDecoder, SupervisorMessage, SupervisorResponse, WireError,
    HEADER_LEN, MAX_FRAME_LEN,
};

/// Frames, then the first error, as a comparable value.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    error: Option<String>,
}

fn describe(e: &WireError) -> String {
    match e {
        WireError::Oversize { len, max } => format!("oversize {len} > {max}"),
        WireError::UnexpectedEof { expected, read } => format!("eof {read}/{expected}"),
        other => panic!("the decoder produced an error it never should: {other}"),
    }
}

fn decode<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut d = FrameDecoder::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        d.feed(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => {
                    assert!(d.is_poisoned());
                    assert_eq!(describe(&d.next_frame().unwrap_err()), describe(&e));
                    return Outcome {
                        frames,
                        error: Some(describe(&e)),
                    };
                }
            }
        }
    }
    let error = d.finish().err().map(|e| describe(&e));
    Outcome { frames, error }
}

fn check_payload(payload: &[u8]) {
    if let Ok(m) = decode_message::<SupervisorMessage>(payload) {
        let again = encode_frame(&m).expect("a parsed message re-encodes");
        assert_eq!(
            decode_message::<SupervisorMessage>(&again[HEADER_LEN..]).unwrap(),
            m
        );
    }
    if let Ok(r) = decode_message::<SupervisorResponse>(payload) {
        let again = encode_frame(&r).expect("a parsed response re-encodes");
        assert_eq!(
            decode_message::<SupervisorResponse>(&again[HEADER_LEN..]).unwrap(),
            r
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte seeds the chunk sizes; the rest is the stream.
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut chunks = Vec::new();
    let mut state = u32::from(seed) | 1;
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift: cheap, deterministic, covers 1..=64 byte pieces.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 64 + 1).min(rest.len());
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }

    let whole = decode([stream]);
    let chunked = decode(chunks);
    assert_eq!(whole, chunked);
    for f in &whole.frames {
        assert!(f.len() <= MAX_FRAME_LEN);
        check_payload(f);
    }
});

//! The check the `frame_decoder` fuzz target makes (fuzz/fuzz_targets/frame_decoder.rs),
//! as a function proptest drives in CI. Keep the two in step.

use nono_wire::{
    decode_message, encode_frame, FrameDecoder, SupervisorMessage, SupervisorResponse, WireError,
};

/// Everything a decoder yields for a stream: frames, then how it ended.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub frames: Vec<Vec<u8>>,
    /// `Some(description)` for the first error (`next_frame` or `finish`).
    pub error: Option<String>,
}

fn describe(e: &WireError) -> String {
    match e {
        WireError::Oversize { len, max } => format!("oversize {len} > {max}"),
        WireError::UnexpectedEof { expected, read } => format!("eof {read}/{expected}"),
        other => format!("unexpected error kind: {other}"),
    }
}

/// Feed `chunks` one by one, draining after each; then `finish`.
pub fn decode_stream<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
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
                    // Poisoned stays poisoned.
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

/// Parse a payload as either message type; what parses must survive a round trip.
pub fn check_payload(payload: &[u8]) {
    if let Ok(m) = decode_message::<SupervisorMessage>(payload) {
        let again = encode_frame(&m).expect("a parsed message re-encodes");
        assert_eq!(decode_message::<SupervisorMessage>(&again[4..]).unwrap(), m);
    }
    if let Ok(r) = decode_message::<SupervisorResponse>(payload) {
        let again = encode_frame(&r).expect("a parsed response re-encodes");
        assert_eq!(
            decode_message::<SupervisorResponse>(&again[4..]).unwrap(),
            r
        );
    }
}

/// The whole check: the outcome must not depend on the chunking, and no payload may make
/// the parser panic or fail to round-trip.
pub fn check_stream(bytes: &[u8], sizes: &[usize]) {
    let whole = decode_stream([bytes]);
    let chunked = decode_stream(crate::strategies::chunks(bytes, sizes));
    assert_eq!(whole, chunked);
    for f in &whole.frames {
        assert!(f.len() <= nono_wire::MAX_FRAME_LEN);
        check_payload(f);
    }
}

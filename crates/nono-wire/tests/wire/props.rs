//! Property tests: every type round-trips through JSON and frames, and a stream of frames
//! decodes the same however it is cut into reads.

use std::io::{self, Read};

use nono_wire::{
    decode_message, encode_frame, read_frame, AuditEntry, FrameDecoder, SupervisorMessage,
    SupervisorResponse, Timestamp, WireError, WireMessage, HEADER_LEN,
};
use proptest::prelude::*;

use crate::strategies::*;
use crate::stream_check::check_stream;

fn json_round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_vec(value).unwrap();
    let back: T = serde_json::from_slice(&json).unwrap();
    assert_eq!(&back, value);
    // Serialising is deterministic: the same value gives the same bytes.
    assert_eq!(serde_json::to_vec(&back).unwrap(), json);
}

fn frame_round_trip<T: WireMessage + PartialEq + std::fmt::Debug>(value: &T) {
    let frame = encode_frame(value).unwrap();
    let len = u32::from_be_bytes(frame[..HEADER_LEN].try_into().unwrap());
    assert_eq!(len as usize, frame.len() - HEADER_LEN);
    assert_eq!(&frame[HEADER_LEN..], serde_json::to_vec(value).unwrap());
    assert_eq!(&decode_message::<T>(&frame[HEADER_LEN..]).unwrap(), value);
    assert_eq!(&read_frame::<T>(&mut &frame[..]).unwrap().unwrap(), value);
}

/// A reader handing out the stream in the given chunk sizes, with `Interrupted` between.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.i += 1;
        if self.i % 3 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.sizes[self.i % self.sizes.len()]
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Bytes that are mostly well-formed frames with damage here and there: the interesting
/// inputs for the decoder (pure random bytes nearly always start with an oversize header).
fn framed_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        // A frame with a plausible length and arbitrary payload.
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|p| {
            let mut f = (p.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&p);
            f
        }),
        // A real message.
        supervisor_message().prop_map(|m| encode_frame(&m).unwrap()),
        supervisor_response().prop_map(|m| encode_frame(&m).unwrap()),
        // Raw noise (a lying header, a cut frame, an oversize header).
        prop::collection::vec(any::<u8>(), 0..8),
        Just(vec![0xff, 0xff, 0xff, 0xff]),
        Just(vec![0x00, 0x01, 0x00, 0x01]),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn supervisor_message_round_trips(m in supervisor_message()) {
        json_round_trip(&m);
        frame_round_trip(&m);
    }

    #[test]
    fn supervisor_response_round_trips(r in supervisor_response()) {
        json_round_trip(&r);
        frame_round_trip(&r);
    }

    #[test]
    fn payload_types_round_trip(
        req in capability_request(),
        url in url_open_request(),
        decision in approval_decision(),
        access in access(),
        ts in timestamp(),
    ) {
        json_round_trip(&req);
        json_round_trip(&url);
        json_round_trip(&decision);
        json_round_trip(&access);
        json_round_trip(&ts);
        // Byte-compatible with how serde writes a SystemTime (0.58's AuditEntry field).
        if let Ok(st) = std::time::SystemTime::try_from(ts) {
            prop_assert_eq!(serde_json::to_string(&st).unwrap(), serde_json::to_string(&ts).unwrap());
            prop_assert_eq!(Timestamp::try_from(st).unwrap(), ts);
        }
    }

    #[test]
    fn audit_entry_round_trips(e in audit_entry()) {
        json_round_trip(&e);
        // One JSON line: no raw newline inside (the audit log is JSONL).
        let line = serde_json::to_string(&e).unwrap();
        prop_assert!(!line.contains('\n'));
        let back: AuditEntry = serde_json::from_str(&line).unwrap();
        prop_assert_eq!(back, e);
    }

    #[test]
    fn a_stream_decodes_the_same_however_it_is_cut(
        msgs in prop::collection::vec(supervisor_message(), 0..12),
        sizes in chunking(),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            nono_wire::encode_frame_into(m, &mut stream).unwrap();
        }
        // Sans-IO decoder, drained after every chunk.
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for chunk in chunks(&stream, &sizes) {
            d.feed(chunk);
            while let Some(m) = d.next_message::<SupervisorMessage>().unwrap() {
                got.push(m);
            }
        }
        d.finish().unwrap();
        prop_assert_eq!(d.buffered_len(), 0);
        prop_assert_eq!(&got, &msgs);

        // Blocking reader over the same cuts, with interruptions.
        let mut r = Chunked { data: &stream, sizes: &sizes, i: 0 };
        let mut got = Vec::new();
        while let Some(m) = read_frame::<SupervisorMessage>(&mut r).unwrap() {
            got.push(m);
        }
        prop_assert_eq!(&got, &msgs);
    }

    #[test]
    fn a_truncated_stream_yields_the_whole_frames_then_eof(
        msgs in prop::collection::vec(supervisor_response(), 1..6),
        cut_seed in any::<prop::sample::Index>(),
        sizes in chunking(),
    ) {
        let frames: Vec<Vec<u8>> = msgs.iter().map(|m| encode_frame(m).unwrap()).collect();
        let stream = frames.concat();
        let cut = cut_seed.index(stream.len() + 1);
        let mut boundaries = vec![0];
        for f in &frames {
            boundaries.push(boundaries.last().unwrap() + f.len());
        }
        let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
        let at_boundary = boundaries.contains(&cut);

        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for chunk in chunks(&stream[..cut], &sizes) {
            d.feed(chunk);
            while let Some(m) = d.next_message::<SupervisorResponse>().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(&got[..], &msgs[..whole]);
        match d.finish() {
            Ok(()) => prop_assert!(at_boundary),
            Err(WireError::UnexpectedEof { expected, read }) => {
                prop_assert!(!at_boundary);
                let start = boundaries[whole];
                prop_assert_eq!(read, cut - start);
                let next_len = frames[whole].len();
                prop_assert_eq!(expected, if read < HEADER_LEN { HEADER_LEN } else { next_len });
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }

        // The blocking reader agrees.
        let mut r = Chunked { data: &stream[..cut], sizes: &sizes, i: 0 };
        let mut got = Vec::new();
        let end = loop {
            match read_frame::<SupervisorResponse>(&mut r) {
                Ok(Some(m)) => got.push(m),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        prop_assert_eq!(&got[..], &msgs[..whole]);
        prop_assert_eq!(end.is_none(), at_boundary);
    }

    /// The CI twin of the `frame_decoder` fuzz target, on random bytes.
    #[test]
    fn fuzz_equivalent_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), sizes in chunking()) {
        check_stream(&bytes, &sizes);
    }

    /// The CI twin of the `frame_decoder` fuzz target, on damaged streams of real frames.
    #[test]
    fn fuzz_equivalent_framed_noise(bytes in framed_noise(), sizes in chunking()) {
        check_stream(&bytes, &sizes);
    }

    /// The CI twin of the `message_parser` fuzz target.
    #[test]
    fn any_payload_parses_or_errors_cleanly(payload in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        supervisor_message().prop_map(|m| serde_json::to_vec(&m).unwrap()),
        supervisor_response().prop_map(|m| serde_json::to_vec(&m).unwrap()),
        "\\{\"[A-Za-z]{1,10}\":\\{\\}\\}".prop_map(String::into_bytes),
    ]) {
        crate::stream_check::check_payload(&payload);
        if let Err(e) = decode_message::<SupervisorMessage>(&payload) {
            prop_assert!(e.is_recoverable(), "{}", e);
        }
        let _ = serde_json::from_slice::<AuditEntry>(&payload);
    }
}

//! The frame codec: length-prefixed JSON, as a sans-IO [`FrameDecoder`] and as blocking
//! [`read_frame`] / [`write_frame`] helpers over `Read` / `Write`.
//!
//! # Frame layout
//!
//! ```text
//!  0        1        2        3        4                                   4 + len
//! +--------+--------+--------+--------+--------------- ... ----------------+
//! |  len (u32, big-endian, bytes)     |  payload: one JSON value, UTF-8     |
//! +--------+--------+--------+--------+--------------- ... ----------------+
//!  \______________ header ___________/ \_____ len bytes, len <= 65536 ____/
//! ```
//!
//! Frames follow each other with nothing in between. The declared `len` is compared with
//! [`MAX_FRAME_LEN`] as soon as the four header bytes are in, *before* any buffer for the
//! payload exists, so a hostile header (say `ff ff ff ff`, 4 GiB) costs nothing. A length
//! of zero is a well-formed frame whose payload is not a valid message.
//!
//! Errors split in two: broken framing (oversize header, EOF inside a frame, I/O) ends the
//! stream; a bad payload (not JSON, wrong shape, unknown kind) is one bad message and the
//! next frame can still be read ([`WireError::is_recoverable`]).

use std::io::{self, Read, Write};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::{WireError, WireMessage};

/// Bytes in a frame header (the big-endian `u32` payload length).
pub const HEADER_LEN: usize = 4;

/// The largest payload a frame may carry, in bytes (64 KiB, as in nono 0.58).
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// `MAX_FRAME_LEN` as the header's integer type, for comparing before any conversion.
const MAX_FRAME_LEN_U32: u32 = 64 * 1024;
const _: () = assert!(MAX_FRAME_LEN_U32 as usize == MAX_FRAME_LEN);

/// The declared payload length in `header`, checked against [`MAX_FRAME_LEN`].
fn checked_len(header: [u8; HEADER_LEN]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header);
    if len > MAX_FRAME_LEN_U32 {
        return Err(WireError::Oversize {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: MAX_FRAME_LEN,
        });
    }
    // At most 65536: fits every usize Rust supports.
    Ok(usize::try_from(len).unwrap_or(MAX_FRAME_LEN))
}

/// Serialise `msg` as one frame (header + JSON payload) appended to `out`.
///
/// On error `out` is left as it was.
///
/// # Errors
/// [`WireError::Json`] if `msg` cannot be serialised (e.g. a non-UTF-8 path),
/// [`WireError::Oversize`] if the payload would exceed [`MAX_FRAME_LEN`].
pub fn encode_frame_into<T: Serialize + ?Sized>(
    msg: &T,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    if let Err(source) = serde_json::to_writer(&mut *out, msg) {
        out.truncate(start);
        return Err(WireError::Json { source });
    }
    let len = out.len() - start - HEADER_LEN;
    let header = match u32::try_from(len) {
        Ok(n) if n <= MAX_FRAME_LEN_U32 => n.to_be_bytes(),
        _ => {
            out.truncate(start);
            return Err(WireError::Oversize {
                len,
                max: MAX_FRAME_LEN,
            });
        }
    };
    out[start..start + HEADER_LEN].copy_from_slice(&header);
    Ok(())
}

/// Serialise `msg` as one frame: the bytes to put on the wire.
///
/// # Errors
/// As [`encode_frame_into`].
pub fn encode_frame<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_frame_into(msg, &mut out)?;
    Ok(out)
}

/// The shape of any externally tagged enum value: a bare tag (unit variant) or an object
/// with one key. Only used to name the tag of a message that failed to parse.
#[derive(Deserialize)]
#[serde(untagged)]
enum Envelope {
    Unit(String),
    Tagged(std::collections::BTreeMap<String, IgnoredAny>),
}

/// Parse one frame's payload as a `T`.
///
/// Unknown fields are ignored. A well-formed envelope whose tag is not one of `T::KINDS`
/// is reported as [`WireError::UnknownKind`], so a newer peer's additions can be told
/// apart from garbage.
///
/// # Errors
/// [`WireError::UnknownKind`] or [`WireError::Json`] (bad JSON, wrong shape, trailing
/// bytes after the value).
pub fn decode_message<T: WireMessage>(payload: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(payload).map_err(|source| {
        if source.is_data() {
            let kind = match serde_json::from_slice::<Envelope>(payload) {
                Ok(Envelope::Unit(tag)) => Some(tag),
                Ok(Envelope::Tagged(map)) if map.len() == 1 => map.into_keys().next(),
                _ => None,
            };
            if let Some(kind) = kind.filter(|k| !T::KINDS.contains(&k.as_str())) {
                return WireError::UnknownKind { kind };
            }
        }
        WireError::Json { source }
    })
}

/// Fill `buf` from `reader`, retrying on `Interrupted`. Returns how many bytes arrived
/// before EOF (`buf.len()` when there was no EOF).
fn read_full(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> Result<usize, WireError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(WireError::Io { source }),
        }
    }
    Ok(filled)
}

/// Read one frame's payload from a blocking reader.
///
/// Returns `Ok(None)` on a clean EOF — the stream ended exactly between two frames.
/// The payload buffer is allocated only after the header has passed the length check.
///
/// # Errors
/// [`WireError::UnexpectedEof`] if the stream ends inside a header or a payload,
/// [`WireError::Oversize`] for a header over [`MAX_FRAME_LEN`] (nothing more is read),
/// [`WireError::Io`] if the reader fails.
pub fn read_frame_bytes(reader: &mut (impl Read + ?Sized)) -> Result<Option<Vec<u8>>, WireError> {
    let mut header = [0; HEADER_LEN];
    match read_full(reader, &mut header)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        read => {
            return Err(WireError::UnexpectedEof {
                expected: HEADER_LEN,
                read,
            })
        }
    }
    let len = checked_len(header)?;
    let mut payload = vec![0; len];
    let read = read_full(reader, &mut payload)?;
    if read < len {
        return Err(WireError::UnexpectedEof {
            expected: HEADER_LEN + len,
            read: HEADER_LEN + read,
        });
    }
    Ok(Some(payload))
}

/// Read and parse one message from a blocking reader; `Ok(None)` on a clean EOF between
/// frames.
///
/// # Errors
/// As [`read_frame_bytes`], plus [`decode_message`]'s errors for the payload.
pub fn read_frame<T: WireMessage>(
    reader: &mut (impl Read + ?Sized),
) -> Result<Option<T>, WireError> {
    read_frame_bytes(reader)?
        .map(|payload| decode_message(&payload))
        .transpose()
}

/// Serialise `msg` and write it as one frame (a single `write_all` of header + payload).
///
/// # Errors
/// As [`encode_frame`], plus [`WireError::Io`] if the writer fails.
pub fn write_frame<T: Serialize + ?Sized>(
    writer: &mut (impl Write + ?Sized),
    msg: &T,
) -> Result<(), WireError> {
    let frame = encode_frame(msg)?;
    writer.write_all(&frame)?;
    Ok(())
}

/// A sans-IO incremental frame decoder: feed it bytes as they arrive, in pieces of any
/// size, and take out complete frames.
///
/// * A header split across reads, one frame spread over many reads and many frames in
///   one read all work; the frames that come out do not depend on how the bytes were cut.
/// * Each header is checked against [`MAX_FRAME_LEN`] as soon as its four bytes are in.
///   An oversize header *poisons* the decoder: the frames before it can still be taken
///   out, then [`next_frame`](FrameDecoder::next_frame) returns that
///   [`WireError::Oversize`] on every call, later input is discarded unbuffered, and
///   [`is_poisoned`](FrameDecoder::is_poisoned) says so.
/// * A payload that does not parse (from [`next_message`](FrameDecoder::next_message)) does
///   not poison: the frame is consumed and the next one is intact.
/// * At end of input, [`finish`](FrameDecoder::finish) tells a clean end from a truncated
///   frame.
///
/// Memory: the decoder holds at most the bytes fed and not yet taken out; drain it with
/// `next_frame` after each `feed`.
///
/// ```
/// use nono_wire::{encode_frame, FrameDecoder, SupervisorResponse, ApprovalDecision};
///
/// let frame = encode_frame(&SupervisorResponse::Decision {
///     request_id: "1".into(),
///     decision: ApprovalDecision::Timeout,
/// })?;
/// let mut decoder = FrameDecoder::new();
/// decoder.feed(&frame[..3]); // a partial header
/// assert!(decoder.next_frame()?.is_none());
/// decoder.feed(&frame[3..]);
/// let msg: SupervisorResponse = decoder.next_message()?.expect("one whole frame");
/// assert_eq!(msg.request_id(), "1");
/// decoder.finish()?; // nothing left over
/// # Ok::<(), nono_wire::WireError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct FrameDecoder {
    /// Bytes fed and not yet compacted away.
    buf: Vec<u8>,
    /// Start of the first frame not yet taken out.
    head: usize,
    /// Start of the first frame whose header has not been checked yet. Frames in
    /// `head..scan` have checked headers; `scan` may lie past `buf.len()` while the
    /// payload of the last checked frame is still arriving.
    scan: usize,
    /// The oversize length found at `scan` (the buffer is cut there), if any.
    poison: Option<usize>,
}

impl FrameDecoder {
    /// An empty decoder.
    #[must_use]
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Append bytes from the stream. Headers are checked as they complete; after an
    /// oversize header the decoder is poisoned and `bytes` is dropped.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.poison.is_some() || bytes.is_empty() {
            return;
        }
        // Drop taken-out frames once they are at least half the buffer: each byte is
        // moved at most once on average.
        if self.head > 0 && self.head >= self.buf.len() - self.head {
            self.buf.drain(..self.head);
            self.scan -= self.head;
            self.head = 0;
        }
        self.buf.extend_from_slice(bytes);
        while let Some(header) = self
            .buf
            .get(self.scan..)
            .and_then(|rest| rest.first_chunk::<HEADER_LEN>())
        {
            let next = checked_len(*header).map(|len| {
                self.scan
                    .checked_add(HEADER_LEN)
                    .and_then(|n| n.checked_add(len))
            });
            match next {
                Ok(Some(next)) => self.scan = next,
                Ok(None) | Err(_) => {
                    let len = u32::from_be_bytes(*header);
                    self.poison = Some(usize::try_from(len).unwrap_or(usize::MAX));
                    self.buf.truncate(self.scan);
                    break;
                }
            }
        }
    }

    /// Take out the next complete frame's payload, if one is buffered.
    ///
    /// # Errors
    /// [`WireError::Oversize`] once every frame before an oversize header has been taken
    /// out, and on every call after that.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, WireError> {
        let Some(header) = self
            .buf
            .get(self.head..)
            .and_then(|rest| rest.first_chunk::<HEADER_LEN>())
        else {
            return match self.poison {
                Some(len) => Err(WireError::Oversize {
                    len,
                    max: MAX_FRAME_LEN,
                }),
                None => Ok(None),
            };
        };
        // Already checked by `feed`; checking again is cheap and keeps this local.
        let len = checked_len(*header)?;
        let start = self.head + HEADER_LEN;
        let Some(end) = start.checked_add(len).filter(|&end| end <= self.buf.len()) else {
            return Ok(None);
        };
        self.head = end;
        Ok(Some(&self.buf[start..end]))
    }

    /// Take out and parse the next complete frame, if one is buffered.
    ///
    /// # Errors
    /// As [`next_frame`](FrameDecoder::next_frame) and [`decode_message`]; a payload error
    /// consumes that frame only.
    pub fn next_message<T: WireMessage>(&mut self) -> Result<Option<T>, WireError> {
        self.next_frame()?.map(decode_message).transpose()
    }

    /// Check the state at end of input: `Ok` if the stream ended cleanly between frames
    /// (frames not yet taken out are fine and can still be taken out).
    ///
    /// # Errors
    /// [`WireError::UnexpectedEof`] if the last frame is incomplete,
    /// [`WireError::Oversize`] if the decoder is poisoned.
    pub fn finish(&self) -> Result<(), WireError> {
        if let Some(len) = self.poison {
            return Err(WireError::Oversize {
                len,
                max: MAX_FRAME_LEN,
            });
        }
        let mut pos = self.head;
        loop {
            let rest = &self.buf[pos..];
            if rest.is_empty() {
                return Ok(());
            }
            let Some(header) = rest.first_chunk::<HEADER_LEN>() else {
                return Err(WireError::UnexpectedEof {
                    expected: HEADER_LEN,
                    read: rest.len(),
                });
            };
            let frame_len = HEADER_LEN + checked_len(*header)?;
            if rest.len() < frame_len {
                return Err(WireError::UnexpectedEof {
                    expected: frame_len,
                    read: rest.len(),
                });
            }
            pos += frame_len;
        }
    }

    /// Whether an oversize header has poisoned the decoder.
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_some()
    }

    /// Bytes buffered and not yet taken out (complete frames and a partial one).
    #[must_use]
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApprovalDecision, SupervisorMessage, SupervisorResponse};

    fn frame_of(payload: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn timeout(id: &str) -> SupervisorResponse {
        SupervisorResponse::Decision {
            request_id: id.into(),
            decision: ApprovalDecision::Timeout,
        }
    }

    fn drain(d: &mut FrameDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f.to_vec());
        }
        out
    }

    #[test]
    fn header_split_at_every_point() {
        let frame = frame_of(b"\"x\"");
        for cut in 1..HEADER_LEN {
            let mut d = FrameDecoder::new();
            d.feed(&frame[..cut]);
            assert_eq!(d.next_frame().unwrap(), None, "cut at {cut}");
            assert!(matches!(
                d.finish(),
                Err(WireError::UnexpectedEof { expected: 4, read }) if read == cut
            ));
            d.feed(&frame[cut..]);
            assert_eq!(d.next_frame().unwrap(), Some(&b"\"x\""[..]));
            d.finish().unwrap();
        }
    }

    #[test]
    fn header_one_byte_at_a_time_then_payload_one_byte_at_a_time() {
        let frame = encode_frame(&timeout("many-chunks")).unwrap();
        let mut d = FrameDecoder::new();
        for (i, b) in frame.iter().enumerate() {
            assert_eq!(
                d.next_frame().unwrap(),
                None,
                "frame complete early at byte {i}"
            );
            d.feed(std::slice::from_ref(b));
        }
        let got: SupervisorResponse = d.next_message().unwrap().unwrap();
        assert_eq!(got, timeout("many-chunks"));
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn many_frames_in_one_chunk_with_a_partial_tail() {
        let mut stream = Vec::new();
        for i in 0..5 {
            encode_frame_into(&timeout(&i.to_string()), &mut stream).unwrap();
        }
        let tail = encode_frame(&timeout("tail")).unwrap();
        stream.extend_from_slice(&tail[..6]);
        let mut d = FrameDecoder::new();
        d.feed(&stream);
        for i in 0..5 {
            let got: SupervisorResponse = d.next_message().unwrap().unwrap();
            assert_eq!(got.request_id(), i.to_string());
        }
        assert_eq!(d.next_frame().unwrap(), None);
        assert!(matches!(
            d.finish(),
            Err(WireError::UnexpectedEof { expected, read: 6 }) if expected == tail.len()
        ));
        d.feed(&tail[6..]);
        let got: SupervisorResponse = d.next_message().unwrap().unwrap();
        assert_eq!(got.request_id(), "tail");
        d.finish().unwrap();
    }

    #[test]
    fn finish_allows_untaken_whole_frames() {
        let mut d = FrameDecoder::new();
        d.feed(&frame_of(b"1"));
        d.feed(&frame_of(b"2"));
        d.finish().unwrap();
        assert_eq!(drain(&mut d), vec![b"1".to_vec(), b"2".to_vec()]);
    }

    #[test]
    fn zero_length_frame_is_a_bad_message_not_a_broken_stream() {
        let mut d = FrameDecoder::new();
        d.feed(&[0, 0, 0, 0]);
        d.feed(&encode_frame(&timeout("after")).unwrap());
        let err = d.next_message::<SupervisorResponse>().unwrap_err();
        assert!(matches!(err, WireError::Json { .. }), "{err}");
        assert!(err.is_recoverable());
        assert!(!d.is_poisoned());
        let got: SupervisorResponse = d.next_message().unwrap().unwrap();
        assert_eq!(got.request_id(), "after");
    }

    #[test]
    fn exactly_max_is_accepted_and_one_more_is_not() {
        let payload = vec![b' '; MAX_FRAME_LEN];
        let mut d = FrameDecoder::new();
        d.feed(&frame_of(&payload));
        assert_eq!(
            d.next_frame().unwrap().map(<[u8]>::len),
            Some(MAX_FRAME_LEN)
        );
        assert_eq!(
            read_frame_bytes(&mut &frame_of(&payload)[..]).unwrap(),
            Some(payload)
        );

        let over = u32::try_from(MAX_FRAME_LEN + 1).unwrap().to_be_bytes();
        let mut d = FrameDecoder::new();
        d.feed(&over);
        assert!(d.is_poisoned());
        assert!(matches!(
            d.next_frame(),
            Err(WireError::Oversize { len, max: MAX_FRAME_LEN }) if len == MAX_FRAME_LEN + 1
        ));
    }

    #[test]
    fn four_gib_header_poisons_without_buffering() {
        let mut d = FrameDecoder::new();
        d.feed(&[0xff, 0xff]);
        assert!(!d.is_poisoned());
        d.feed(&[0xff, 0xff, b'{', b'"']);
        assert!(d.is_poisoned());
        // Nothing of the hostile frame is kept, and later input is dropped unbuffered.
        assert_eq!(d.buffered_len(), 0);
        d.feed(&vec![0; 1 << 20]);
        assert_eq!(d.buffered_len(), 0);
        for _ in 0..3 {
            let err = d.next_frame().unwrap_err();
            assert!(
                matches!(
                    err,
                    WireError::Oversize {
                        len: 0xffff_ffff,
                        max: MAX_FRAME_LEN
                    }
                ),
                "{err}"
            );
            assert!(!err.is_recoverable());
        }
        assert!(matches!(d.finish(), Err(WireError::Oversize { .. })));
    }

    #[test]
    fn frames_before_an_oversize_header_still_come_out() {
        let mut stream = frame_of(b"\"a\"");
        stream.extend_from_slice(&frame_of(b"\"b\""));
        stream.extend_from_slice(&[0x00, 0x01, 0x00, 0x01]); // 65537
        stream.extend_from_slice(&frame_of(b"\"never\""));
        let mut d = FrameDecoder::new();
        d.feed(&stream);
        assert!(d.is_poisoned());
        assert_eq!(d.next_frame().unwrap(), Some(&b"\"a\""[..]));
        assert_eq!(d.next_frame().unwrap(), Some(&b"\"b\""[..]));
        assert!(matches!(
            d.next_frame(),
            Err(WireError::Oversize { len: 65537, .. })
        ));
        assert!(matches!(
            d.next_frame(),
            Err(WireError::Oversize { len: 65537, .. })
        ));
    }

    #[test]
    fn buffer_is_compacted_as_frames_are_taken() {
        let frame = encode_frame(&timeout("compact")).unwrap();
        let mut d = FrameDecoder::new();
        for _ in 0..10_000 {
            d.feed(&frame);
            assert!(d.next_frame().unwrap().is_some());
        }
        assert!(d.buf.capacity() <= 4 * frame.len(), "{}", d.buf.capacity());
    }

    /// A reader that hands out at most `step` bytes per call, with an `Interrupted` before
    /// each, and counts what it handed out.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        interrupt: bool,
        handed_out: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.handed_out += n;
            Ok(n)
        }
    }

    fn trickle(data: &[u8], step: usize) -> Trickle<'_> {
        Trickle {
            data,
            step,
            interrupt: false,
            handed_out: 0,
        }
    }

    #[test]
    fn read_frame_clean_eof_between_frames() {
        let mut stream = Vec::new();
        write_frame(&mut stream, &timeout("1")).unwrap();
        write_frame(&mut stream, &timeout("2")).unwrap();
        for step in [1, 2, 3, 5, 64] {
            let mut r = trickle(&stream, step);
            assert_eq!(read_frame(&mut r).unwrap(), Some(timeout("1")));
            assert_eq!(read_frame(&mut r).unwrap(), Some(timeout("2")));
            assert_eq!(read_frame::<SupervisorResponse>(&mut r).unwrap(), None);
        }
    }

    #[test]
    fn read_frame_eof_mid_header_and_mid_payload() {
        let frame = encode_frame(&timeout("cut")).unwrap();
        for cut in 1..frame.len() {
            let err = read_frame::<SupervisorResponse>(&mut trickle(&frame[..cut], 2)).unwrap_err();
            let (expected, read) = match err {
                WireError::UnexpectedEof { expected, read } => (expected, read),
                other => panic!("cut at {cut}: {other}"),
            };
            assert_eq!(read, cut);
            assert_eq!(
                expected,
                if cut < HEADER_LEN {
                    HEADER_LEN
                } else {
                    frame.len()
                }
            );
        }
    }

    #[test]
    fn read_frame_oversize_reads_only_the_header() {
        let mut hostile = vec![0xff, 0xff, 0xff, 0xff];
        hostile.extend_from_slice(&[b'x'; 4096]);
        let mut r = trickle(&hostile, 4096);
        let err = read_frame_bytes(&mut r).unwrap_err();
        assert!(
            matches!(
                err,
                WireError::Oversize {
                    len: 0xffff_ffff,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(r.handed_out, HEADER_LEN);
    }

    #[test]
    fn io_errors_are_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = read_frame_bytes(&mut Broken).unwrap_err();
        assert!(
            matches!(&err, WireError::Io { source } if source.kind() == io::ErrorKind::ConnectionReset)
        );
        let err = write_frame(&mut Broken, &timeout("x")).unwrap_err();
        assert!(
            matches!(&err, WireError::Io { source } if source.kind() == io::ErrorKind::BrokenPipe)
        );
        assert!(err.to_string().contains("frame I/O failed"), "{err}");
    }

    #[test]
    fn encoding_an_oversize_message_fails_and_leaves_the_buffer_alone() {
        let msg = SupervisorResponse::Decision {
            request_id: "big".into(),
            decision: ApprovalDecision::Denied {
                reason: "x".repeat(MAX_FRAME_LEN),
            },
        };
        let mut out = b"kept".to_vec();
        let err = encode_frame_into(&msg, &mut out).unwrap_err();
        assert!(
            matches!(err, WireError::Oversize { len, max: MAX_FRAME_LEN } if len > MAX_FRAME_LEN),
            "{err}"
        );
        assert_eq!(out, b"kept");
        assert!(write_frame(&mut Vec::new(), &msg).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn encoding_a_non_utf8_path_is_a_json_error() {
        use std::os::unix::ffi::OsStrExt;
        let msg = SupervisorMessage::Request(crate::CapabilityRequest {
            request_id: "1".into(),
            path: std::ffi::OsStr::from_bytes(b"/tmp/\xff").into(),
            access: crate::AccessMode::Read,
            reason: None,
            child_pid: 1,
            session_id: "s".into(),
        });
        let mut out = Vec::new();
        assert!(matches!(
            encode_frame_into(&msg, &mut out),
            Err(WireError::Json { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn malformed_payloads() {
        let cases: &[(&str, &str)] = &[
            ("not json", "Json"),
            ("", "Json"),
            ("null", "Json"),
            (
                "{\"Decision\":{\"request_id\":\"1\",\"decision\":\"Granted\"}} x",
                "Json",
            ),
            (
                "{\"Decision\":{\"request_id\":\"1\",\"decision\":\"Granted\"}}{}",
                "Json",
            ),
            (
                "{\"Decision\":{\"request_id\":1,\"decision\":\"Granted\"}}",
                "Json",
            ),
            ("{\"Decision\":{\"request_id\":\"1\"}}", "Json"),
            (
                "{\"Decision\":{\"request_id\":\"1\",\"decision\":\"Maybe\"}}",
                "Json",
            ),
            ("{\"Decision\":{},\"UrlOpened\":{}}", "Json"),
            ("{\"Request\":{}}", "UnknownKind"), // a child→supervisor kind on this side
            ("{\"Credential\":{\"request_id\":\"1\"}}", "UnknownKind"),
            ("\"Ping\"", "UnknownKind"),
        ];
        for (payload, want) in cases {
            let err = decode_message::<SupervisorResponse>(payload.as_bytes()).unwrap_err();
            let got = match &err {
                WireError::Json { .. } => "Json",
                WireError::UnknownKind { .. } => "UnknownKind",
                _ => "other",
            };
            assert_eq!(got, *want, "{payload:?}: {err}");
            assert!(err.is_recoverable());
        }
        let ok = "{\"Decision\":{\"request_id\":\"1\",\"decision\":\"Granted\"}} \n";
        assert!(
            decode_message::<SupervisorResponse>(ok.as_bytes()).is_ok(),
            "trailing whitespace is fine"
        );
        let err = decode_message::<SupervisorMessage>(b"{\"Credential\":{}}").unwrap_err();
        assert!(matches!(&err, WireError::UnknownKind { kind } if kind == "Credential"));
        assert!(err.to_string().contains("newer protocol"), "{err}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let json = br#"{"UrlOpened":{"request_id":"9","success":false,"error":"no browser","extra":[1,2]}}"#;
        let got: SupervisorResponse = decode_message(json).unwrap();
        assert_eq!(
            got,
            SupervisorResponse::UrlOpened {
                request_id: "9".into(),
                success: false,
                error: Some("no browser".into()),
            }
        );
    }
}

//! `WireError`: everything that can go wrong while framing, reading or parsing a message.

use std::io;

/// An error from the frame codec or from parsing a message.
///
/// Framing errors (`Oversize`, `UnexpectedEof`, `Io`) mean the byte stream can no longer be
/// trusted: drop the connection. Message errors (`Json`, `UnknownKind`) concern one frame only;
/// the framing is intact and the next frame can still be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A frame's payload is longer than the protocol allows. When decoding, this is detected
    /// from the 4-byte header alone, before any buffer for the payload is allocated.
    #[error(
        "frame payload of {len} bytes exceeds the {max}-byte limit; the peer is not speaking \
         the nono protocol (or is hostile) and the connection should be dropped"
    )]
    Oversize {
        /// The payload length the header declared (or the encoder produced).
        len: usize,
        /// The limit, [`crate::MAX_FRAME_LEN`].
        max: usize,
    },

    /// A frame's payload is not valid JSON for the expected message type (bad syntax, wrong
    /// shape, a missing field, trailing bytes after the value), or a value could not be
    /// serialised (for example a path that is not UTF-8).
    #[error("frame payload is not a valid nono message: {source}")]
    Json {
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },

    /// The payload is a well-formed `{"Kind": {...}}` envelope whose kind this version does
    /// not know. New kinds are additive, so a peer may be newer than us: answer or skip the
    /// message, the connection itself is fine.
    #[error("unknown message kind `{kind}` (the peer may speak a newer protocol version)")]
    UnknownKind {
        /// The envelope's tag.
        kind: String,
    },

    /// The stream ended inside a frame: the peer closed the connection (or crashed) after
    /// `read` of the `expected` bytes of the frame, 4-byte header included.
    #[error(
        "connection closed mid-frame after {read} of {expected} bytes (header included); \
         the peer exited or crashed while sending"
    )]
    UnexpectedEof {
        /// Bytes of the frame (header included) that are needed to finish it; while the
        /// header itself is incomplete this is the header length, 4.
        expected: usize,
        /// Bytes of the frame that arrived.
        read: usize,
    },

    /// Reading or writing the underlying stream failed.
    #[error("frame I/O failed: {source}")]
    Io {
        /// The error from the `Read` or `Write` implementation.
        #[source]
        source: io::Error,
    },
}

impl WireError {
    /// Whether the connection can still be used after this error: `true` for errors about
    /// one message's content (`Json`, `UnknownKind`), `false` for broken framing or I/O.
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        matches!(self, WireError::Json { .. } | WireError::UnknownKind { .. })
    }
}

impl From<io::Error> for WireError {
    fn from(source: io::Error) -> Self {
        WireError::Io { source }
    }
}

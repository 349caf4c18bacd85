//! nono-wire: the supervisor protocol's message types and frame codec. Pure: no sockets, no syscalls.
//!
//! A sandboxed child and its supervisor exchange [frames](frame): a big-endian `u32`
//! length, then that many bytes of JSON. The child sends [`SupervisorMessage`]s, the
//! supervisor answers with [`SupervisorResponse`]s; on a grant the opened file descriptor
//! travels just before the answer (see `docs/PROTOCOL.md`). The JSON shapes are those of
//! nono 0.58, so its SDK clients keep working.
//!
//! This crate only turns values into bytes and back: [`FrameDecoder`] for event loops
//! (sans-IO), [`read_frame`] / [`write_frame`] for blocking `Read` / `Write` streams.
//! Sockets and fd passing live in `nono-transport`.

mod access;
mod error;
pub mod frame;
mod message;

pub use access::AccessMode;
pub use error::WireError;
pub use frame::{
    decode_message, encode_frame, encode_frame_into, read_frame, read_frame_bytes, write_frame,
    FrameDecoder, HEADER_LEN, MAX_FRAME_LEN,
};
pub use message::{
    ApprovalDecision, AuditEntry, CapabilityRequest, SupervisorMessage, SupervisorResponse,
    Timestamp, UrlOpenRequest, WireMessage,
};

/// The protocol version this crate speaks.
///
/// Version 1 is nono 0.58's protocol. It is not sent on the wire (0.58 has no handshake);
/// it names the revision of `docs/PROTOCOL.md`. Adding a message kind or an optional field
/// keeps the version; anything an old peer would misread needs a new one.
pub const PROTOCOL_VERSION: u32 = 1;

/// The environment variable through which a supervised child learns the number of its
/// inherited supervisor socket fd (explicit-request channel).
pub const SUPERVISOR_FD_ENV: &str = "NONO_SUPERVISOR_FD";

//! nono-wire: the supervisor protocol's message types and frame codec. Pure: no sockets, no syscalls.

mod access;

pub use access::AccessMode;

//! nono-transport: a Unix-socket channel for nono-wire frames, with fd passing and peer credentials.

#![forbid(unsafe_code)]

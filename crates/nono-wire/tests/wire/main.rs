//! Integration tests for nono-wire: golden vectors (shared with docs/PROTOCOL.md) and
//! property tests of the codec over whole byte streams.

mod golden;
mod props;
mod strategies;
mod stream_check;

//! Supervisor benchmarks (filled in below).
fn main() {}

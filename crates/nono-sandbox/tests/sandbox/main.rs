//! nono-sandbox integration tests: one binary, one module per backend area.

mod seatbelt;

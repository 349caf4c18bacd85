//! Seatbelt profile generation: golden files and the string-escaping property test.

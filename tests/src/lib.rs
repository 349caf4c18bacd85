//! Empty library so the end-to-end test crate is a normal workspace member; the tests live in `e2e/`.

//! End-to-end tests: drive the built `nono` binary as a user would.

mod harness;

#[test]
fn nono_binary_was_built() {
    let bin = harness::nono_bin();
    assert!(bin.is_file(), "nono binary missing at {}", bin.display());
}

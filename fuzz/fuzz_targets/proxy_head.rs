//! Fuzz target: arbitrary bytes into the proxy's request-head parser
//! (`nono_proxy::parse_request_head`) with small limits.
//!
//! Checks: no panic; a complete head consumed at most `max_bytes` and at most the input;
//! parsing exactly the consumed bytes gives the same head (nothing after the head changes
//! it); every shorter prefix is either incomplete or the same head (a head split across reads
//! parses the same); a CONNECT target has a non-zero port; an absolute target's path starts
//! with '/'.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nono_proxy::{parse_request_head, Target};

const MAX_BYTES: usize = 2048;
const MAX_HEADERS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let full = parse_request_head(data, MAX_BYTES, MAX_HEADERS);
    let Ok(Some((head, n))) = full else {
        return;
    };
    assert!(n <= data.len() && n <= MAX_BYTES);
    let again = parse_request_head(&data[..n], MAX_BYTES, MAX_HEADERS)
        .expect("the consumed bytes parse alone")
        .expect("and are complete");
    assert_eq!(again, (head.clone(), n));
    for cut in [n / 2, n.saturating_sub(1), n.saturating_sub(2)] {
        if let Ok(Some(h)) = parse_request_head(&data[..cut], MAX_BYTES, MAX_HEADERS) {
            assert_eq!(
                h,
                (head.clone(), n),
                "a prefix of {cut} bytes parsed differently"
            );
        }
    }
    assert!(head.headers.len() <= MAX_HEADERS);
    match &head.target {
        Target::Authority { port, .. } => assert_ne!(*port, 0),
        Target::Absolute {
            path_and_query,
            port,
            ..
        } => {
            assert!(path_and_query.starts_with('/'));
            assert_ne!(*port, 0);
        }
        Target::Origin(p) => assert!(p.starts_with('/')),
    }
});

//! Fuzz target: arbitrary bytes as a profile's JSON text into `nono_supervisor::profile::parse`.
//!
//! Checks: no panic (including the error locator that names the field of a parse error);
//! a failure is always `ProfileError::Parse` naming the given file with a 1-based line;
//! a profile that parses re-serialises (`to_json_pretty`) and parses back to the same value;
//! `validate`, the pure accessors and variable expansion of every path never panic. Nothing
//! here touches the filesystem (`load`, `to_caps` and `policy` do, and are left out).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nono_supervisor::profile::{self, ProfileError, Vars};

const FILE: &str = "fuzz.json";

fuzz_target!(|data: &[u8]| {
    // Lossy: non-UTF-8 bytes still reach the parser as U+FFFD, keeping the rest of the input.
    let text = String::from_utf8_lossy(data);
    let p = match profile::parse(&text, FILE) {
        Ok(p) => p,
        Err(e) => {
            match &e {
                ProfileError::Parse {
                    file, line, field, ..
                } => {
                    assert_eq!(file, FILE);
                    assert!(*line >= 1, "line numbers are 1-based: {e}");
                    assert!(!field.is_empty(), "the field is named: {e}");
                }
                other => panic!("parse returned a non-parse error: {other}"),
            }
            let _ = e.to_string();
            return;
        }
    };

    let json = p.to_json_pretty();
    let again = profile::parse(&json, "round trip").unwrap_or_else(|e| {
        panic!("a parsed profile re-serialises to unparsable JSON: {e}\n{json}")
    });
    assert_eq!(again, p, "round trip through\n{json}");

    if let Err(e) = p.validate() {
        let _ = e.to_string();
    }
    let _ = p.enabled_groups();
    let _ = p.env_policy();
    let _ = p.capability_elevation();
    let _ = p.prompt_timeout();
    let _ = p.rate_limit();
    let _ = p.allowed_origins();

    let vars = Vars::for_home("/home/fuzz").with_workdir("/work/fuzz");
    let fs = &p.filesystem;
    let entries = fs
        .allow
        .iter()
        .chain(&fs.read)
        .chain(&fs.write)
        .map(|e| e.path.as_str());
    let others = fs
        .deny
        .iter()
        .chain(p.supervisor.approve.iter().map(|a| &a.path));
    for raw in entries.chain(others.map(String::as_str)) {
        if let Ok(path) = vars.expand(raw) {
            assert!(path.is_absolute(), "{raw:?} expanded to relative {path:?}");
        }
    }
});

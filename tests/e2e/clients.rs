//! The shipped clients inside `nono run`: `clients/python/nono_client.py` (imported by a
//! script, and run as a script) and the `nono-client` crate (its `sdk_request` example) each
//! get a file under `--approve` through the passed fd, and are refused one outside it. The
//! same programs without nono are the control: they find no supervisor.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use crate::harness::{nono, nono_bin, output, sandbox_available, Scratch};

/// `clients/python` in this checkout.
fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("clients/python")
}

/// A script that imports nono_client, reads argv[1] through a granted fd, and asks for
/// argv[2], which must be denied.
const SCRIPT: &str = r#"
import sys
sys.path.insert(0, sys.argv[1])
import nono_client
try:
    f = nono_client.open_path(sys.argv[2], "Read", reason="e2e", mode="r")
except nono_client.NotSupervised as e:
    print("not-supervised: " + str(e))
    sys.exit(0)
with f:
    print("granted: " + f.read())
try:
    fd = nono_client.request_fd(sys.argv[3], "Read", reason="e2e")
    import os
    print("second granted: " + os.read(fd, 100).decode())
except nono_client.Denied as e:
    print("second denied: " + e.reason)
"#;

fn approved_and_other(s: &Scratch) -> (PathBuf, PathBuf, PathBuf) {
    let approved = s.mkdir("approved");
    let data = s.write("approved/data.txt", "through-the-passed-fd");
    let other = s.write("other.txt", "must-not-leak");
    (approved, data, other)
}

#[test]
fn python_client_module_gets_a_granted_fd_and_a_clear_denial() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("py-client");
    let (approved, data, other) = approved_and_other(&s);
    let dir = python_dir().display().to_string();
    let (data, other) = (data.display().to_string(), other.display().to_string());
    let args = ["-c", SCRIPT, &dir, &data, &other];

    // Control: without nono there is no supervisor socket.
    let mut bare = Command::new("/usr/bin/python3");
    bare.args(args).env_remove("NONO_SUPERVISOR_FD");
    let bare = output(&mut bare);
    assert!(bare.stdout.contains("not-supervised: "), "{bare}");

    let approve = approved.display().to_string();
    let out = nono(
        &s.path,
        ["run", "-s", "--approve", &approve, "--read", &dir, "--", "/usr/bin/python3"]
            .iter()
            .chain(&args),
    );
    out.expect_code(0)
        .stdout_has("granted: through-the-passed-fd")
        .stdout_has("second denied: ");
    assert!(!out.stdout.contains("must-not-leak"), "{out}");
}

#[test]
fn python_client_as_a_script_cats_a_granted_file_and_exits_3_when_denied() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("py-client-cat");
    let (approved, data, other) = approved_and_other(&s);
    let dir = python_dir().display().to_string();
    let module = python_dir().join("nono_client.py").display().to_string();
    let approve = approved.display().to_string();
    let cat = |path: &Path| {
        let path = path.display().to_string();
        nono(
            &s.path,
            [
                "run", "-s", "--approve", &approve, "--read", &dir, "--",
                "/usr/bin/python3", &module, "cat", &path,
            ],
        )
    };
    let granted = cat(&data);
    granted.expect_code(0);
    assert_eq!(granted.stdout, "through-the-passed-fd", "{granted}");
    let denied = cat(&other);
    denied.expect_code(3).stderr_has("denied the request");
    assert!(!denied.stdout.contains("must-not-leak"), "{denied}");
}

/// `target/<profile>/examples/sdk_request`, built once (same profile as this test binary).
fn sdk_request_example() -> PathBuf {
    static BUILD: Once = Once::new();
    let nono = nono_bin();
    let profile_dir = nono.parent().expect("nono lives in target/<profile>");
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "nono-client", "--example", "sdk_request"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd.status().expect("run cargo build -p nono-client");
        assert!(status.success(), "cargo build -p nono-client --example sdk_request failed");
    });
    profile_dir.join("examples/sdk_request")
}

#[test]
fn rust_client_crate_gets_a_granted_fd_and_a_clear_denial() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rs-client");
    let (approved, data, other) = approved_and_other(&s);
    let outdir = s.mkdir("out");
    let bin = sdk_request_example();
    let bin_s = bin.display().to_string();
    let out_file = outdir.join("copy").display().to_string();

    // Control: without nono there is no supervisor socket (exit 4, NotSupervised).
    let mut bare = Command::new(&bin);
    bare.arg(&data).arg(&out_file).env_remove("NONO_SUPERVISOR_FD");
    output(&mut bare)
        .expect_code(4)
        .stderr_has("NONO_SUPERVISOR_FD is not set");

    let approve = approved.display().to_string();
    let allow_out = outdir.display().to_string();
    let run = |target: &Path| {
        let target = target.display().to_string();
        nono(
            &s.path,
            [
                "run", "-s", "--approve", &approve, "--read-file", &bin_s, "--allow",
                &allow_out, "--", &bin_s, &target, &out_file,
            ],
        )
    };
    run(&data).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "through-the-passed-fd"
    );
    std::fs::remove_file(&out_file).unwrap();
    run(&other).expect_code(3).stderr_has("denied: ");
    assert!(!Path::new(&out_file).exists());
}

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

/// A script that imports nono_client (from argv[1]), reads argv[2] through a granted fd, asks
/// for argv[3], which must be denied, and for a URL, which must be refused.
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
try:
    nono_client.open_url("https://example.com/")
    print("url opened")
except nono_client.UrlNotOpened as e:
    print("url refused: " + e.error)
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
    bare.args(args)
        .env_remove("NONO_SUPERVISOR_FD")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let bare = output(&mut bare);
    assert!(bare.stdout.contains("not-supervised: "), "{bare}");

    let approve = approved.display().to_string();
    let out = nono(
        &s.path,
        [
            "run",
            "-s",
            "--approve",
            &approve,
            "--read",
            &dir,
            "--",
            "/usr/bin/python3",
        ]
        .iter()
        .chain(&args),
    );
    out.expect_code(0)
        .stdout_has("granted: through-the-passed-fd")
        .stdout_has("second denied: ")
        // The default profile allows no URL origins.
        .stdout_has("url refused: ");
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
                "run",
                "-s",
                "--approve",
                &approve,
                "--read",
                &dir,
                "--",
                "/usr/bin/python3",
                &module,
                "cat",
                &path,
            ],
        )
    };
    let granted = cat(&data);
    granted.expect_code(0);
    assert_eq!(granted.stdout, "through-the-passed-fd", "{granted}");
    let denied = cat(&other);
    denied.expect_code(3).stderr_has("denied the request");
    assert!(!denied.stdout.contains("must-not-leak"), "{denied}");

    // A relative path from a process whose working directory differs from the command's
    // (a subshell that changed directory): the module sends it joined to its own working
    // directory, which the supervisor, resolving against the command's, could not know.
    let script = format!(
        "(cd '{}' && exec /usr/bin/python3 '{module}' cat data.txt); true",
        approved.display()
    );
    let relative = nono(
        &s.path,
        [
            "run",
            "-s",
            "--approve",
            &approve,
            "--read",
            &dir,
            "--",
            "/bin/sh",
            "-c",
            &script,
        ],
    );
    relative.expect_code(0);
    assert_eq!(relative.stdout, "through-the-passed-fd", "{relative}");
}

/// `target/<profile>/examples/sdk_request`, built once (same profile as this test binary).
fn sdk_request_example() -> PathBuf {
    static BUILD: Once = Once::new();
    let nono = nono_bin();
    let profile_dir = nono.parent().expect("nono lives in target/<profile>");
    BUILD.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "nono-client",
            "--example",
            "sdk_request",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd.status().expect("run cargo build -p nono-client");
        assert!(
            status.success(),
            "cargo build -p nono-client --example sdk_request failed"
        );
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
    bare.arg(&data)
        .arg(&out_file)
        .env_remove("NONO_SUPERVISOR_FD");
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
                "run",
                "-s",
                "--approve",
                &approve,
                "--read-file",
                &bin_s,
                "--allow",
                &allow_out,
                "--",
                &bin_s,
                &target,
                &out_file,
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

    // A relative path from a subshell that changed directory is sent joined to the client's
    // own working directory (see the Python test above).
    let script = format!("(cd '{approve}' && exec '{bin_s}' data.txt '{out_file}'); true");
    nono(
        &s.path,
        [
            "run",
            "-s",
            "--approve",
            &approve,
            "--read-file",
            &bin_s,
            "--allow",
            &allow_out,
            "--",
            "/bin/sh",
            "-c",
            &script,
        ],
    )
    .expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap_or_default(),
        "through-the-passed-fd"
    );
}

/// `NAME → (json, hex)` for every `<!-- vector: NAME -->` in docs/PROTOCOL.md.
fn protocol_md_vectors() -> serde_json::Map<String, serde_json::Value> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md"))
            .expect("read docs/PROTOCOL.md");
    let mut out = serde_json::Map::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("<!-- vector:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let mut block = |fence: &str| -> String {
            let mut text = Vec::new();
            let mut inside = false;
            for l in lines.by_ref() {
                if inside && l == "```" {
                    break;
                }
                if inside {
                    text.push(l);
                } else if l == fence {
                    inside = true;
                }
            }
            text.join("\n")
        };
        let json = block("```json");
        let hex = block("```hex").split_whitespace().collect::<String>();
        out.insert(name.trim().to_owned(), serde_json::json!([json, hex]));
    }
    out
}

/// The module checked against the document's vectors, over a socketpair (no sandbox): each
/// child → supervisor vector is what `encode_frame` writes and what the client sends for
/// the same request; each supervisor → child vector, fed to the client, gives the documented
/// outcome — a granted fd (sent first, as the supervisor does), a `Denied` with its reason, a
/// `Timeout`, an opened or refused URL.
const VECTOR_CHECK: &str = r#"
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import nono_client as nc
v = {k: (j, bytes.fromhex(h)) for k, (j, h) in json.load(sys.stdin).items()}
for name in ["request-read", "request-write-no-reason", "request-readwrite", "open-url"]:
    j, frame = v[name]
    assert nc.encode_frame(json.loads(j)) == frame, name

def client(rid, pid=4242):
    a, b = socket.socketpair()
    c = nc.Client(a)
    c._pid = pid
    c._request_id = lambda: rid
    return c, b

def sent(b):
    (n,) = nc._HEADER.unpack(b.recv(4))
    return json.loads(b.recv(n))

# What request_fd / open_url send, with the vector's ids.
for name, call in [
    ("request-read", lambda c: c.request_fd("/home/alice/.config/app/settings.json", "Read", "read the app settings")),
    ("request-write-no-reason", lambda c: c.request_fd("/tmp/build/out.log", "w")),
    ("request-readwrite", lambda c: c.request_fd("/home/alice/project/.git/index", "ReadWrite", "git add")),
    ("open-url", lambda c: c.open_url("https://login.example.com/oauth/authorize?client_id=nono")),
]:
    expected = json.loads(v[name][0])
    kind = next(iter(expected))
    c, b = client(expected[kind]["request_id"], expected[kind]["child_pid"])
    b.shutdown(socket.SHUT_WR)  # no answer: the call ends with a ProtocolError
    try:
        call(c)
        raise AssertionError(name + ": no error without an answer")
    except nc.ProtocolError:
        pass
    got = sent(b)
    got[kind]["session_id"] = expected[kind]["session_id"]
    assert got == expected, (name, got, expected)
    assert list(got[kind]) == list(expected[kind]), (name, "field order")

# Answers.
c, b = client("1")
r, w = os.pipe()
os.write(w, b"granted-bytes"); os.close(w)
socket.send_fds(b, [b"\0"], [r]); os.close(r)
b.sendall(v["decision-granted"][1])
fd = c.request_fd("/x")
assert os.read(fd, 100) == b"granted-bytes"
for name, rid, exc, attr, value in [
    ("decision-denied", "2", nc.Denied, "reason", "denied by the user"),
    ("decision-timeout", "3", nc.Timeout, None, None),
]:
    c, b = client(rid)
    b.sendall(v[name][1])
    try:
        c.request_fd("/x")
        raise AssertionError(name + ": no exception")
    except exc as e:
        assert attr is None or getattr(e, attr) == value, (name, e)
c, b = client("4")
b.sendall(v["url-opened"][1])
assert c.open_url("https://login.example.com/") is None
c, b = client("5")
b.sendall(v["url-open-failed"][1])
try:
    c.open_url("https://evil.example/")
    raise AssertionError("url-open-failed: no exception")
except nc.UrlNotOpened as e:
    assert e.error == "origin https://evil.example is not allowed", e
# An fd attached to a frame's bytes is a protocol error, and the fd is closed.
c, b = client("1")
r, w = os.pipe()
frame = v["decision-granted"][1]
b.sendall(frame[:1])
socket.send_fds(b, [frame[1:2]], [r])
b.sendall(frame[2:])
try:
    c.request_fd("/x")
    raise AssertionError("fd on frame bytes: no exception")
except nc.ProtocolError:
    pass
print("vectors: ok")
"#;

#[test]
fn python_client_matches_the_protocol_md_vectors() {
    let vectors = protocol_md_vectors();
    assert!(vectors.len() >= 9, "found only {vectors:?} in PROTOCOL.md");
    let dir = python_dir().display().to_string();
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", VECTOR_CHECK, &dir])
        // No __pycache__ in the checkout.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    let input = serde_json::to_vec(&vectors).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("vectors: ok"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

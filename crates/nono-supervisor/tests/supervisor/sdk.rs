//! The SDK socket with real children: a Python client speaking the frames itself (fd via
//! `socket.recv_fds`), the Rust `Client`, replayed ids, and hostile peers that must cost only
//! their channel.

use std::path::Path;

use nono_sandbox::AccessMode;
use nono_supervisor::policy::Policy;
use nono_supervisor::{run, Call, ExitStatusKind, SpawnConfig};

use crate::harness::{approve_all, example, run_ok, scratch, sh, shared, system_caps, PYTHON};

/// A framing helper shared by the Python scripts below.
const PY_PRELUDE: &str = r#"
import json, os, socket, struct, sys
sock = socket.socket(fileno=int(os.environ["NONO_SUPERVISOR_FD"]))
def send(msg):
    body = json.dumps(msg).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("supervisor closed the channel")
        buf += chunk
    return buf
def recv_answer():
    # An fd unit (one byte + SCM_RIGHTS) may precede the Decision frame.
    first, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if not first:
        raise EOFError("supervisor closed the channel")
    fd = fds[0] if fds else None
    header = recv_exact(4) if fds else first + recv_exact(3)
    (n,) = struct.unpack(">I", header)
    return json.loads(recv_exact(n)), fd
def dropped():
    # The supervisor closed its end: EOF, or a reset if our bytes were still unread there.
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
def request(rid, path, access="Read"):
    send({"Request": {"request_id": rid, "path": path, "access": access,
                      "reason": "python test", "child_pid": os.getpid(), "session_id": ""}})
    return recv_answer()
"#;

fn python(body: &str, out: &Path) -> SpawnConfig {
    let mut caps = system_caps();
    caps.allow_dir(out, AccessMode::ReadWrite, "test output")
        .unwrap();
    let mut config = sh("", caps);
    config.argv = vec![
        PYTHON.into(),
        "-c".into(),
        format!("{PY_PRELUDE}\n{body}").into(),
    ];
    config.sdk = true;
    config
}

#[test]
fn python_client_gets_an_fd_then_the_decision() {
    let _g = shared();
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("data"), "via-sdk").unwrap();
    let body = format!(
        r#"
answer, fd = request("py-1", "{o}/data")
assert answer == {{"Decision": {{"request_id": "py-1", "decision": "Granted"}}}}, answer
assert fd is not None
open("{out}/copy", "w").write(os.read(fd, 100).decode())
# The same id again is refused.
answer, fd = request("py-1", "{o}/data")
assert fd is None
assert "Denied" in answer["Decision"]["decision"], answer
open("{out}/replay", "w").write(answer["Decision"]["decision"]["Denied"]["reason"])
"#,
        o = outside.display(),
        out = out.display()
    );
    let mut config = python(&body, &out);
    config.engine = Some(approve_all(Policy::default()));
    let outcome = run_ok(config);
    assert_eq!(
        std::fs::read_to_string(out.join("copy")).unwrap(),
        "via-sdk"
    );
    assert!(std::fs::read_to_string(out.join("replay"))
        .unwrap()
        .contains("already used"));
    assert!(
        outcome.denials.iter().any(|d| d.call == Call::Sdk),
        "{:?}",
        outcome.denials
    );
}

/// A granted SDK request is opened with the child's credentials, never the supervisor's: as
/// root without capabilities the child gets no fd for another user's 0600 file (the
/// supervisor's `CAP_DAC_OVERRIDE` used to open it), while its own file is served.
#[test]
fn an_sdk_grant_is_opened_with_the_childs_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let _g = shared();
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (a file owned by another user)");
        return;
    }
    let out = scratch("out");
    let outside = scratch("outside");
    let theirs = outside.join("theirs");
    std::fs::write(&theirs, "not-yours").unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(1234), Some(1234)).unwrap();
    std::fs::write(outside.join("mine"), "yours").unwrap();
    let body = format!(
        r#"
answer, fd = request("theirs", "{o}/theirs")
assert fd is None, answer
open("{out}/theirs", "w").write(json.dumps(answer))
answer, fd = request("mine", "{o}/mine")
open("{out}/mine", "w").write(os.read(fd, 100).decode())
"#,
        o = outside.display(),
        out = out.display()
    );
    let mut config = python(&body, &out);
    config.engine = Some(approve_all(Policy::default()));
    run_ok(config);
    let answer = std::fs::read_to_string(out.join("theirs")).unwrap();
    assert!(
        answer.contains("Denied") && answer.contains("Permission denied"),
        "{answer}"
    );
    assert_eq!(std::fs::read_to_string(out.join("mine")).unwrap(), "yours");
}

#[test]
fn without_an_engine_sdk_requests_are_denied() {
    let _g = shared();
    let out = scratch("out");
    let body = format!(
        r#"
answer, fd = request("a", "/etc/hostname")
assert fd is None
open("{out}/answer", "w").write(json.dumps(answer))
"#,
        out = out.display()
    );
    run_ok(python(&body, &out));
    let answer = std::fs::read_to_string(out.join("answer")).unwrap();
    assert!(
        answer.contains("Denied") && answer.contains("runtime elevation is off"),
        "{answer}"
    );
}

#[test]
fn rust_client_from_env() {
    let _g = shared();
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("data"), "rust-client").unwrap();
    let bin = example("sdk_request");
    let mut caps = system_caps();
    caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
        .unwrap();
    caps.allow_file(&bin, AccessMode::Read, "example").unwrap();
    let mut config = sh("", caps);
    config.argv = vec![
        bin.into(),
        outside.join("data").into(),
        out.join("copy").into(),
    ];
    config.sdk = true;
    config.engine = Some(approve_all(Policy::default()));
    run_ok(config);
    assert_eq!(
        std::fs::read_to_string(out.join("copy")).unwrap(),
        "rust-client"
    );
}

/// Run a hostile Python child: it does `attack`, then checks it still runs (and, where the
/// supervisor dropped the channel, that it sees EOF), and exits 7.
fn hostile(attack: &str) {
    let out = scratch("out");
    let body = format!(
        r#"
{attack}
open("{out}/alive", "w").write("yes")
sys.exit(7)
"#,
        out = out.display()
    );
    let mut config = python(&body, &out);
    config.engine = Some(approve_all(Policy::default()));
    let outcome = run(config).unwrap();
    assert_eq!(outcome.exit, ExitStatusKind::Code(7));
    assert_eq!(std::fs::read_to_string(out.join("alive")).unwrap(), "yes");
}

#[test]
fn huge_length_costs_only_the_channel() {
    let _g = shared();
    hostile(
        r#"
sock.sendall(b"\xff\xff\xff\xff" + b"x" * 64)
assert dropped(), "expected the supervisor to drop the channel"
"#,
    );
}

#[test]
fn bad_json_costs_only_the_channel() {
    let _g = shared();
    hostile(
        r#"
body = b"{not json at all"
sock.sendall(struct.pack(">I", len(body)) + body)
assert dropped(), "expected the supervisor to drop the channel"
"#,
    );
}

#[test]
fn close_mid_frame_costs_only_the_channel() {
    let _g = shared();
    hostile(
        r#"
sock.sendall(struct.pack(">I", 100) + b"0123456789")
sock.close()
"#,
    );
}

#[test]
fn fds_sent_by_the_child_cost_only_the_channel() {
    let _g = shared();
    hostile(
        r#"
socket.send_fds(sock, [b"\x00"], [0])
assert dropped(), "expected the supervisor to drop the channel"
"#,
    );
}

/// An SDK request for a hard link (made outside the sandbox) to a file in a deny group is
/// refused after the supervisor opened it: no fd is sent.
#[test]
fn a_hard_link_to_a_deny_group_file_is_refused_over_the_sdk() {
    let _g = shared();
    let out = scratch("out");
    let creds = scratch("creds");
    let project = scratch("project");
    std::fs::write(creds.join("id_rsa"), "private-key").unwrap();
    std::fs::hard_link(creds.join("id_rsa"), project.join("innocent")).unwrap();
    let body = format!(
        r#"
answer, fd = request("hl", "{p}/innocent")
assert fd is None, "an fd was sent"
open("{out}/answer", "w").write(json.dumps(answer))
"#,
        p = project.display(),
        out = out.display()
    );
    let mut policy = Policy::default();
    policy.deny.add(&creds, "credentials").unwrap();
    let mut config = python(&body, &out);
    config.engine = Some(approve_all(policy));
    let outcome = run_ok(config);
    let answer = std::fs::read_to_string(out.join("answer")).unwrap();
    assert!(
        answer.contains("Denied") && answer.contains("hard link"),
        "{answer}"
    );
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.call == Call::Sdk && d.reason.contains("credentials")),
        "{:?}",
        outcome.denials
    );
}

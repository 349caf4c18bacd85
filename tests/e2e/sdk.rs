//! Explicit requests through the binary: with runtime grants on, `nono run` hands the child
//! `NONO_SUPERVISOR_FD`, and a client in another language (Python) gets the fd, then the
//! `Decision` frame; without runtime grants no channel is offered.

use std::path::Path;

use crate::harness::{nono, sandbox_available, Run, Scratch};

const CLIENT: &str = r#"
import json, os, socket, struct, sys
fd_var = os.environ.get("NONO_SUPERVISOR_FD")
if fd_var is None:
    print("no-channel"); sys.exit(0)
sock = socket.socket(fileno=int(fd_var))
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
def request(rid, path):
    body = json.dumps({"Request": {"request_id": rid, "path": path, "access": "Read",
        "reason": "e2e", "child_pid": os.getpid(), "session_id": ""}}).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)
    first, fds, _, _ = socket.recv_fds(sock, 1, 1)
    header = recv_exact(4) if fds else first + recv_exact(3)
    (n,) = struct.unpack(">I", header)
    return json.loads(recv_exact(n)), (fds[0] if fds else None)
target = sys.argv[1]
try:
    open(target).read()
    print("direct-open-worked")
except PermissionError:
    print("direct-open-denied")
answer, fd = request("e2e-1", target)
print(json.dumps(answer))
print("content:" + (os.read(fd, 100).decode() if fd is not None else "none"))
"#;

/// `nono run -s NONO_FLAGS -- python3 -c CLIENT TARGET`: the client opens `target`, then asks
/// for it over the supervisor channel.
fn run_client(s: &Scratch, nono_flags: &[&str], target: &Path) -> Run {
    let target = target.display().to_string();
    nono(
        &s.path,
        ["run", "-s"].iter().chain(nono_flags).chain(&[
            "--",
            "/usr/bin/python3",
            "-c",
            CLIENT,
            &target,
        ]),
    )
}

#[test]
fn sdk_request_through_nono_run_gets_the_fd_then_the_decision() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("sdk-grant");
    let approved = s.mkdir("approved");
    let secret = s.write("approved/data.txt", "granted-by-supervisor");
    let out = run_client(&s, &["--approve", &approved.display().to_string()], &secret);
    // The plain open is trapped and granted by the same --approve rule; the SDK request
    // then gets its own fd.
    out.expect_code(0)
        .stdout_has("direct-open-worked")
        .stdout_has(r#"{"Decision": {"request_id": "e2e-1", "decision": "Granted"}}"#)
        .stdout_has("content:granted-by-supervisor");
}

#[test]
fn sdk_request_outside_the_rules_is_denied_without_an_fd() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("sdk-deny");
    let approved = s.mkdir("approved");
    let other = s.write("other.txt", "must-not-leak");
    let out = run_client(&s, &["--approve", &approved.display().to_string()], &other);
    out.expect_code(0)
        .stdout_has("content:none")
        .stdout_has("Denied");
    assert!(!out.stdout.contains("must-not-leak"), "{out}");
}

#[test]
fn no_channel_without_runtime_grants() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("sdk-none");
    let f = s.write("f.txt", "x");
    run_client(&s, &[], &f)
        .expect_code(0)
        .stdout_has("no-channel");
}

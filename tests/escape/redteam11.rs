//! Red team 11: the URL opener (`OpenUrl` on the SDK socket → `xdg-open` outside the
//! sandbox). It ran in nono's working directory — the command's own, writable under
//! `--allow-cwd` —, so with an empty or `.` entry in the user's `PATH` (`PATH=":$PATH"` from
//! an unset variable is enough) the command planted `./xdg-open`, asked for an allowed URL,
//! and its script ran outside the sandbox. The opener now runs in `/`.

use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Scratch};

/// The sandboxed command: plant `./xdg-open` (writing `escaped` when it runs), check it
/// cannot write beside `escaped` itself, then ask for an allowed URL.
const CLIENT: &str = r##"
import json, os, socket, struct, sys
escaped = sys.argv[1]
open("xdg-open", "w").write("#!/bin/sh\necho outside > '%s'\n" % escaped)
os.chmod("xdg-open", 0o755)
try:
    open(escaped, "w").write("inside")
    print("direct-write-worked")
except PermissionError:
    print("direct-write-denied")
sock = socket.socket(fileno=int(os.environ["NONO_SUPERVISOR_FD"]))
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
body = json.dumps({"OpenUrl": {"request_id": "rt11", "url": "https://github.com/",
                               "child_pid": os.getpid(), "session_id": ""}}).encode()
sock.sendall(struct.pack(">I", len(body)) + body)
(n,) = struct.unpack(">I", recv_exact(4))
print(json.dumps(json.loads(recv_exact(n))))
"##;

/// A command with `--allow-cwd` and URL opens allowed plants `./xdg-open` in its working
/// directory; with `.` first in nono's `PATH` it must still not run outside the sandbox
/// (before the fix it wrote the marker the command itself cannot). Control: unsandboxed,
/// `xdg-open` with that `PATH` in that directory is the planted script.
#[test]
fn redteam11_a_planted_xdg_open_in_the_working_directory_does_not_run_outside() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt11-opener-cwd");
    let work = s.mkdir("work");
    s.mkdir("outside");
    let escaped = s.join("outside/escaped");
    let profile = s.write(
        "p.json",
        &format!(
            r#"{{"extends": "default", "supervisor": {{"allowed_origins": ["https://github.com"], "approve": [{{"path": "{}/**", "access": "read"}}]}}}}"#,
            s.join("approved").display()
        ),
    );
    let path = format!(".:{}", std::env::var("PATH").unwrap_or_default());
    let mut cmd = nono_cmd(&work);
    cmd.env("PATH", &path).args([
        "run",
        "-s",
        "-p",
        &profile.display().to_string(),
        "--allow-cwd",
        "--",
        "/usr/bin/python3",
        "-c",
        CLIENT,
        &escaped.display().to_string(),
    ]);
    let out = output(&mut cmd);
    assert!(out.stdout.contains("direct-write-denied"), "{out}");
    assert!(out.stdout.contains(r#""request_id": "rt11""#), "{out}");
    assert!(
        !escaped.exists(),
        "the command's ./xdg-open ran outside the sandbox: {out}"
    );
    // Control: the planted script is what `xdg-open` means there, and it can write the
    // marker when it runs unsandboxed.
    assert!(work.join("xdg-open").exists(), "{out}");
    let control = Command::new("sh")
        .args(["-c", "xdg-open https://github.com/"])
        .env("PATH", &path)
        .current_dir(&work)
        .status()
        .unwrap();
    assert!(control.success());
    assert_eq!(
        std::fs::read_to_string(&escaped).unwrap().trim(),
        "outside",
        "control: the planted opener did not run"
    );
}

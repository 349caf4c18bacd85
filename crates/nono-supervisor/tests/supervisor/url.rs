//! URL open requests (`OpenUrl` on the SDK socket) with real children: an allowed origin is
//! opened by the supervisor outside the sandbox (a recording opener writes where the child
//! cannot), disallowed origins and `javascript:`/`file:` URLs are refused unopened, replayed
//! ids are refused, every decision is recorded (outcome + audit log), and the Rust `Client`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nono_sandbox::AccessMode;
use nono_supervisor::audit::AuditLog;
use nono_supervisor::policy::{Engine, Policy};
use nono_supervisor::{run, RunOutcome, SpawnConfig, SupervisorError};

use crate::harness::{example, run_ok, scratch, sh, shared, system_caps, Scratch, PYTHON};

/// Frames over the inherited SDK socket; `open_url` returns the `UrlOpened` body.
const PY_PRELUDE: &str = r#"
import json, os, socket, struct, sys
sock = socket.socket(fileno=int(os.environ["NONO_SUPERVISOR_FD"]))
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("supervisor closed the channel")
        buf += chunk
    return buf
def open_url(rid, url):
    body = json.dumps({"OpenUrl": {"request_id": rid, "url": url,
                                   "child_pid": os.getpid(), "session_id": ""}}).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)
    (n,) = struct.unpack(">I", recv_exact(4))
    answer = json.loads(recv_exact(n))
    assert list(answer) == ["UrlOpened"], answer
    assert answer["UrlOpened"]["request_id"] == rid, answer
    return answer["UrlOpened"]
"#;

/// A recording opener: appends its argument to `record/urls`. It lives in (and writes to) a
/// directory outside every grant, so only the unconfined supervisor can have run it.
struct Recorder {
    dir: Scratch,
    program: PathBuf,
}

impl Recorder {
    fn new() -> Recorder {
        let dir = scratch("record");
        let program = dir.join("opener.sh");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{d}/urls'\ngrep '^Cap' /proc/self/status > '{d}/caps'\nls -l /proc/$$/fd > '{d}/fds'\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Recorder { dir, program }
    }

    /// The capability sets of the last opener run (`/proc/self/status`'s `Cap*` lines:
    /// name → hex mask).
    fn caps(&self) -> Vec<(String, u64)> {
        std::fs::read_to_string(self.dir.join("caps"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (name, hex) = l.split_once(':')?;
                Some((name.to_owned(), u64::from_str_radix(hex.trim(), 16).ok()?))
            })
            .collect()
    }

    /// Every URL opened so far, in order.
    fn opened(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("urls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn python(body: &str, out: &Path, rec: &Recorder, allowed: &[&str]) -> SpawnConfig {
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
    config.allowed_origins = allowed.iter().map(|s| (*s).to_owned()).collect();
    config.url_opener = Some(rec.program.clone());
    config
}

/// Run a child that opens the allowed `https://github.com/` once and must succeed; the
/// recorder holds what the opener saw.
#[track_caller]
fn opened_once() -> Recorder {
    let out = scratch("out");
    let rec = Recorder::new();
    let body = format!(
        r#"
answer = open_url("c-1", "https://github.com/")
assert answer["success"] is True, answer
open("{out}/done", "w").write("yes")
"#,
        out = out.display()
    );
    run_ok(python(&body, &out, &rec, &["https://github.com"]));
    assert_eq!(std::fs::read_to_string(out.join("done")).unwrap(), "yes");
    rec
}

/// A child that asks to open `https://github.com/` once, expects a refusal and writes its
/// error to `out/error`: the config (with `allowed` origins) and `out`.
fn python_opening_one(rec: &Recorder, allowed: &[&str]) -> (SpawnConfig, Scratch) {
    let out = scratch("out");
    let body = format!(
        r#"
answer = open_url("a", "https://github.com/")
assert answer["success"] is False, answer
open("{out}/error", "w").write(answer["error"])
"#,
        out = out.display()
    );
    (python(&body, &out, rec, allowed), out)
}

/// Run [`python_opening_one`]'s child (it must exit 0): the outcome and the refusal's error.
#[track_caller]
fn refused_open((config, out): (SpawnConfig, Scratch)) -> (RunOutcome, String) {
    let outcome = run_ok(config);
    let error = std::fs::read_to_string(out.join("error")).unwrap();
    (outcome, error)
}

#[test]
fn allowed_origin_is_opened_outside_the_sandbox() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let url = "https://github.com/login/oauth/authorize?client_id=x&state=y";
    let body = format!(
        r#"
answer = open_url("u-1", "{url}")
assert answer == {{"request_id": "u-1", "success": True, "error": None}}, answer
# The child itself cannot write where the opener recorded the URL (Landlock, not modes:
# the tests run as root).
try:
    open("{rec}/urls", "a").write("forged\n")
    sys.exit(9)
except PermissionError:
    pass
open("{out}/done", "w").write("yes")
"#,
        rec = rec.dir.display(),
        out = out.display()
    );
    let outcome = run_ok(python(&body, &out, &rec, &["https://github.com"]));
    assert_eq!(std::fs::read_to_string(out.join("done")).unwrap(), "yes");
    assert_eq!(rec.opened(), [url]);
    assert_eq!(outcome.url_opens.len(), 1, "{:?}", outcome.url_opens);
    let u = &outcome.url_opens[0];
    assert!(u.opened && u.error.is_none(), "{u:?}");
    assert_eq!(u.url, url);
}

/// The opener acts for the sandboxed child: a supervisor with capabilities (the tests run as
/// root) must not lend them to it. Before the fix the opener ran with root's full sets.
#[test]
fn the_opener_gets_none_of_the_supervisors_capabilities() {
    let _g = shared();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own_eff = own
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap();
    let rec = opened_once();
    let caps = rec.caps();
    let names: Vec<&str> = caps.iter().map(|(n, _)| n.as_str()).collect();
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert!(names.contains(&set), "{set} missing from {caps:?}");
    }
    for (name, mask) in &caps {
        // Without CAP_SETPCAP (an ordinary user) the bounding set is left as it is, like the
        // sandbox's own drop; every other set is empty either way.
        if name == "CapBnd" && own_eff & (1 << 8) == 0 {
            continue;
        }
        assert_eq!(
            *mask, 0,
            "the opener's {name} is {mask:#x}, not empty: {caps:?}"
        );
    }
}

/// Run the test `name` again in a new process of this test binary (made by `wrap` from the
/// plain command, `None` to skip), with `NONO_RT11_INNER` set, and assert it passed. Returns
/// whether this call is the inner run (which then does the test).
fn rerun_self(
    name: &str,
    wrap: impl FnOnce(std::process::Command) -> Option<std::process::Command>,
) -> bool {
    const INNER: &str = "NONO_RT11_INNER";
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    let mut plain = std::process::Command::new(std::env::current_exe().unwrap());
    plain
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(INNER, "1");
    let Some(mut cmd) = wrap(plain) else {
        return false;
    };
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner run failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "inner run did not run the test:\n{text}"
    );
    false
}

/// Red team 11: a root nono whose bounding set lacks `CAP_SETPCAP` (a service or container
/// started with a reduced bounding set) cannot empty the bounding set nor lock
/// `SECBIT_NOROOT`, so `capset(0, 0, 0)` before the exec is undone by the exec itself: uid 0
/// execing the opener gets its bounding set back as permitted and effective. The test re-runs
/// itself under `setpriv --bounding-set -setpcap` (the inner run does the open and checks the
/// opener's sets). Before the fix the opener ran with every capability but `CAP_SETPCAP`.
#[test]
fn the_opener_regains_no_capability_when_root_lacks_setpcap() {
    let inner = rerun_self(
        "url::the_opener_regains_no_capability_when_root_lacks_setpcap",
        |cmd| {
            if !rustix::process::geteuid().is_root() {
                eprintln!("skipped: needs root (the bounding set is dropped through setpriv)");
                return None;
            }
            let mut outer = std::process::Command::new("setpriv");
            outer
                .args(["--bounding-set", "-setpcap", "--"])
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
            Some(outer)
        },
    );
    if !inner {
        return;
    }
    let _g = shared();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        own.lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .is_some_and(|bnd| bnd & (1 << 8) == 0 && bnd != 0),
        "the inner run should have a bounding set without CAP_SETPCAP: {own}"
    );
    let rec = opened_once();
    let caps = rec.caps();
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        let mask = caps.iter().find(|(n, _)| n == set).map(|(_, m)| *m);
        assert_eq!(mask, Some(0), "the opener's {set} is not empty: {caps:?}");
    }
}

/// Red team 11: a descriptor nono itself inherited without close-on-exec (its parent's
/// pipe, socket or file) is withheld from the sandboxed command (`cloexec_inherited_fds`)
/// but reached the opener. The test leaves a pipe without `FD_CLOEXEC` open in the
/// supervisor while the opener runs; the opener lists its fds. Before the fix the pipe was
/// among them.
#[test]
fn the_opener_inherits_none_of_the_supervisors_descriptors() {
    // Exclusive: an fd without FD_CLOEXEC would leak into other tests' children too.
    let _g = crate::harness::exclusive();
    let (r, w) = rustix::pipe::pipe().unwrap();
    let ino = |fd: &std::os::fd::OwnedFd| rustix::fs::fstat(fd).unwrap().st_ino;
    let (ri, wi) = (ino(&r), ino(&w));
    let rec = opened_once();
    drop((r, w));
    let fds = std::fs::read_to_string(rec.dir.join("fds")).unwrap();
    assert!(fds.contains("/dev/null"), "no fd listing: {fds}");
    for i in [ri, wi] {
        assert!(
            !fds.contains(&format!("pipe:[{i}]")),
            "the opener inherited the supervisor's pipe {i}:\n{fds}"
        );
    }
}

/// The command runs `plant` (Python, with `plant(path)` writing there a program that would
/// note it ran in `rec`'s `escaped`, and `WORK` the command's directory), then asks nono's
/// own opener (`url_opener` unset) for `https://github.com/`. None of the planted programs
/// may have run outside the sandbox (`what` says which); with `reaches`, the URL must have
/// reached `rec` too.
fn plant_then_open(work: &Path, rec: &Recorder, plant: &str, reaches: bool, what: &str) {
    let escaped = rec.dir.join("escaped");
    let check = if reaches {
        "assert answer[\"success\"] is True, answer"
    } else {
        ""
    };
    let body = format!(
        r##"
WORK = {work:?}
def plant(path):
    open(path, "w").write("#!/bin/sh\necho outside >> '{escaped}'\n")
    os.chmod(path, 0o755)
{plant}
answer = open_url("p-1", "https://github.com/")
{check}
open(WORK + "/done", "w").write("yes")
"##,
        work = work.display().to_string(),
        escaped = escaped.display()
    );
    let mut config = python(&body, work, rec, &["https://github.com"]);
    config.url_opener = None;
    run_ok(config);
    assert_eq!(std::fs::read_to_string(work.join("done")).unwrap(), "yes");
    assert!(!escaped.exists(), "{what} ran outside the sandbox");
    if reaches {
        assert_eq!(rec.opened(), ["https://github.com/"]);
    }
}

/// Red team 11: the opener ran in the supervisor's working directory, which is the
/// command's own and writable by it under `--allow-cwd`. With an empty or `.` entry in the
/// user's `PATH` (`PATH=":$PATH"` from an unset variable is enough), `xdg-open` (and every
/// program the `xdg-open` script runs) was looked up there: the command plants `./xdg-open`
/// and asks for an allowed URL, and its script runs outside the sandbox. The test re-runs
/// itself with `PATH=.:$PATH` in a directory the command may write; the planted opener
/// would write where the command cannot. Before the fix it did.
#[test]
fn the_opener_is_not_looked_up_in_the_commands_working_directory() {
    let work = scratch("cwd");
    let inner = rerun_self(
        "url::the_opener_is_not_looked_up_in_the_commands_working_directory",
        |mut cmd| {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!(".:{path}"))
                .env("NONO_RT11_WORK", &work)
                .current_dir(&work);
            Some(cmd)
        },
    );
    if !inner {
        return;
    }
    let _g = shared();
    let work = std::env::current_dir().unwrap();
    assert_eq!(
        work,
        std::fs::canonicalize(std::env::var_os("NONO_RT11_WORK").unwrap()).unwrap()
    );
    let rec = Recorder::new();
    plant_then_open(
        &work,
        &rec,
        r#"plant(WORK + "/xdg-open")"#,
        false,
        "the command's ./xdg-open",
    );
}

/// Session 10: the opener (and every program the `xdg-open` script looks up) was found in
/// nono's `PATH` as it was, so a `PATH` directory the command may write (a project's `bin/`
/// outside the home, where no deny group protects it) supplied it: the command plants
/// `bin/xdg-open` there and asks for an allowed URL, and the planted script runs outside the
/// sandbox at once. The test re-runs itself with `PATH=<granted>/bin:<other>:$PATH`, `other`
/// holding a recording `xdg-open` outside every grant: the URL must reach that one, and the
/// planted one must not run. Before the fix it did (and the recorder saw nothing).
#[test]
fn the_opener_is_not_looked_up_where_the_command_may_write() {
    const NAME: &str = "url::the_opener_is_not_looked_up_where_the_command_may_write";
    let work = scratch("path-work");
    let other = scratch("path-other");
    let inner = rerun_self(NAME, |mut cmd| {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env(
            "PATH",
            format!("{}/bin:{}:{path}", work.display(), other.display()),
        )
        .env("NONO_S10_WORK", &work)
        .env("NONO_S10_OTHER", &other);
        Some(cmd)
    });
    if !inner {
        return;
    }
    let _g = shared();
    let work = PathBuf::from(std::env::var_os("NONO_S10_WORK").unwrap());
    let other = PathBuf::from(std::env::var_os("NONO_S10_OTHER").unwrap());
    let rec = Recorder::new();
    std::os::unix::fs::symlink(&rec.program, other.join("xdg-open")).unwrap();
    let plant = r#"
os.makedirs(WORK + "/bin", exist_ok=True)
plant(WORK + "/bin/xdg-open")"#;
    plant_then_open(&work, &rec, plant, true, "the command's bin/xdg-open");
}

/// Red team 15: nono's `BROWSER` was passed to the opener as it was, and `xdg-open` runs each
/// of its `:`-separated entries (`$browser "$URL"`). An entry given by path inside a
/// directory the command may write (a project's `bin/browser`) ran the program the command
/// planted there, outside the sandbox. The test re-runs itself with
/// `BROWSER=<granted>/bin/browser:<other>/browser`, `other` (outside every grant) holding the
/// recorder as `browser` and an `xdg-open` that runs `$BROWSER` entries as the real one does.
/// The URL must reach the recorder, and the planted browser must not run. Before the fix it
/// did (the first entry ran).
#[test]
fn redteam15_a_browser_the_command_may_write_is_not_run() {
    const NAME: &str = "url::redteam15_a_browser_the_command_may_write_is_not_run";
    let work = scratch("browser-work");
    let other = scratch("browser-other");
    let inner = rerun_self(NAME, |mut cmd| {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", other.display()))
            .env(
                "BROWSER",
                format!(
                    "{w}/bin/browser:{w}/bin/missing:{o}/browser",
                    w = work.display(),
                    o = other.display()
                ),
            )
            .env("NONO_RT15_WORK", &work)
            .env("NONO_RT15_OTHER", &other);
        Some(cmd)
    });
    if !inner {
        return;
    }
    let _g = shared();
    let work = PathBuf::from(std::env::var_os("NONO_RT15_WORK").unwrap());
    let other = PathBuf::from(std::env::var_os("NONO_RT15_OTHER").unwrap());
    let rec = Recorder::new();
    std::os::unix::fs::symlink(&rec.program, other.join("browser")).unwrap();
    let opener = other.join("xdg-open");
    std::fs::write(
        &opener,
        "#!/bin/sh\nIFS=:\nfor b in $BROWSER; do \"$b\" \"$1\" && exit 0; done\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plant = r#"
os.makedirs(WORK + "/bin", exist_ok=True)
for name in ("browser", "missing"):
    plant(WORK + "/bin/" + name)"#;
    plant_then_open(
        &work,
        &rec,
        plant,
        true,
        "a BROWSER entry the command wrote",
    );
}

/// Red team 15: an opener given by path was checked where it resolved to, then started by
/// the name it was given. Given through a symlink in a directory the command may write, the
/// command re-points the link between the check (the recorder, outside every grant) and the
/// start (its own script): flipping it in a loop while asking for opens, its script ran
/// outside the sandbox. The opener is now run by the path the check resolved.
#[test]
fn redteam15_an_opener_reached_through_a_link_the_command_may_repoint_is_run_as_checked() {
    let _g = shared();
    let rec = Recorder::new();
    let out = scratch("out");
    let link = out.join("opener");
    std::os::unix::fs::symlink(&rec.program, &link).unwrap();
    let escaped = rec.dir.join("escaped");
    let body = format!(
        r##"
import threading, time
planted = "{out}/planted.sh"
open(planted, "w").write("#!/bin/sh\necho outside >> '{escaped}'\n")
os.chmod(planted, 0o755)
stop = False
def flip():
    i = 0
    while not stop:
        tmp = "{out}/tmp-link"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(planted if i % 2 else "{good}", tmp)
        os.rename(tmp, "{link}")
        i += 1
t = threading.Thread(target=flip)
t.start()
ok = 0
for n in range(150):
    answer = open_url("f-%d" % n, "https://github.com/")
    ok += answer["success"]
stop = True
t.join()
os.symlink("{good}", "{out}/tmp-final")
os.rename("{out}/tmp-final", "{link}")
open("{out}/done", "w").write(str(ok))
"##,
        out = out.display(),
        escaped = escaped.display(),
        good = rec.program.display(),
        link = link.display()
    );
    let mut config = python(&body, &out, &rec, &["https://github.com"]);
    config.url_opener = Some(link);
    run_ok(config);
    let ok: usize = std::fs::read_to_string(out.join("done"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !escaped.exists(),
        "the command's script ran as the opener ({} times)",
        std::fs::read_to_string(&escaped)
            .unwrap_or_default()
            .lines()
            .count()
    );
    assert_eq!(
        rec.opened().len(),
        ok,
        "every open answered as a success ran the recorder"
    );
}

/// Red team 15: the opener looks the default application of a URL type up in the data and
/// config directories (`$XDG_DATA_DIRS/applications/mimeapps.list`, `mimeinfo.cache`, the
/// desktop entries there; `$XDG_CONFIG_DIRS/mimeapps.list`) and runs its `Exec=` line. It got
/// neither variable, so it used `/usr/local/share:/usr/share` and `/etc/xdg` — with
/// `/usr/local/share` granted (installing under `/usr/local`) the command could name its own
/// handler there. Now both are passed without the directories the command may write into.
#[test]
fn redteam15_the_openers_data_dirs_leave_out_what_the_command_may_write() {
    let _g = shared();
    let local = Path::new("/usr/local/share");
    if !local.is_dir() || !Path::new("/usr/share").is_dir() {
        eprintln!("skipped: needs /usr/local/share and /usr/share");
        return;
    }
    let rec = Recorder::new();
    let out = scratch("out");
    let opener = rec.dir.join("dirs.sh");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s|%s|%s\\n' \"${{XDG_DATA_DIRS-unset}}\" \"${{XDG_CONFIG_DIRS-unset}}\" \"$1\" > '{}/dirs'\n",
            rec.dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let body = format!(
        r#"
answer = open_url("d-1", "https://github.com/")
assert answer["success"] is True, answer
open("{out}/done", "w").write("yes")
"#,
        out = out.display()
    );
    let mut config = python(&body, &out, &rec, &["https://github.com"]);
    config
        .caps
        .allow_dir(local, AccessMode::ReadWrite, "test: installing")
        .unwrap();
    config.url_opener = Some(opener);
    run_ok(config);
    let seen = std::fs::read_to_string(rec.dir.join("dirs")).unwrap();
    let mut parts = seen.trim_end().split('|');
    let (data, conf) = (parts.next().unwrap(), parts.next().unwrap());
    assert_ne!(
        data, "unset",
        "unset means /usr/local/share:/usr/share: {seen}"
    );
    let data: Vec<&str> = data.split(':').collect();
    assert!(!data.contains(&"/usr/local/share"), "{seen}");
    assert!(data.contains(&"/usr/share"), "{seen}");
    assert_ne!(conf, "unset", "{seen}");
}

/// Red team 15: a `PATH` directory outside every grant (`/usr/local/bin`) holding a symlink to
/// a program inside one (`firefox` → `~/apps/firefox/firefox`, a tarball install, under
/// `--allow ~`) was kept in the opener's `PATH`: the command rewrites the program, asks for
/// an allowed URL, and the opener runs it by name outside the sandbox. The test re-runs
/// itself with `PATH=<other>:<links>:$PATH`: `links` (outside every grant) holds `browser` →
/// `<granted>/browser`, `other` an `xdg-open` that runs `browser` when it finds one and
/// records the URL otherwise. Now `links` is left out. Before the fix the command's
/// `browser` ran.
#[test]
fn redteam15_a_path_link_to_a_program_the_command_may_write_is_not_followed() {
    const NAME: &str =
        "url::redteam15_a_path_link_to_a_program_the_command_may_write_is_not_followed";
    let work = scratch("link-work");
    let links = scratch("link-links");
    let other = scratch("link-other");
    let inner = rerun_self(NAME, |mut cmd| {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env(
            "PATH",
            format!("{}:{}:{path}", other.display(), links.display()),
        )
        .env("NONO_RT15_WORK", &work)
        .env("NONO_RT15_LINKS", &links)
        .env("NONO_RT15_OTHER", &other);
        Some(cmd)
    });
    if !inner {
        return;
    }
    let _g = shared();
    let work = PathBuf::from(std::env::var_os("NONO_RT15_WORK").unwrap());
    let links = PathBuf::from(std::env::var_os("NONO_RT15_LINKS").unwrap());
    let other = PathBuf::from(std::env::var_os("NONO_RT15_OTHER").unwrap());
    let rec = Recorder::new();
    let program = work.join("browser");
    std::fs::write(&program, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&program, links.join("browser")).unwrap();
    let opener = other.join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nif command -v browser >/dev/null; then exec browser \"$1\"; fi\nexec '{}' \"$1\"\n",
            rec.program.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plant = format!("plant({:?})", program.display().to_string());
    plant_then_open(
        &work,
        &rec,
        &plant,
        true,
        "the program the command rewrote through a PATH link",
    );
}

/// An opener given by path that lies where the command may write is refused, not run.
#[test]
fn an_opener_the_command_may_write_is_refused() {
    let _g = shared();
    let rec = Recorder::new();
    let out = scratch("out");
    let escaped = rec.dir.join("escaped");
    let planted = out.join("opener.sh");
    std::fs::write(
        &planted,
        format!("#!/bin/sh\necho ran > '{}'\n", escaped.display()),
    )
    .unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let body = format!(
        r#"
answer = open_url("a", "https://github.com/")
assert answer["success"] is False, answer
open("{out}/error", "w").write(answer["error"])
"#,
        out = out.display()
    );
    let mut config = python(&body, &out, &rec, &["https://github.com"]);
    config.url_opener = Some(planted);
    run_ok(config);
    let error = std::fs::read_to_string(out.join("error")).unwrap();
    assert!(
        error.contains("where the sandboxed command may write"),
        "{error}"
    );
    assert!(!escaped.exists(), "the opener in the grant ran");
}

#[test]
fn disallowed_and_dangerous_urls_are_refused_unopened() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let body = format!(
        r#"
errors = {{}}
for rid, url in [("evil", "https://evil.example.net/login"),
                 ("scheme", "http://github.com/login"),
                 ("sub", "https://gist.github.com/"),
                 ("js", "javascript:alert(1)"),
                 ("file", "file:///etc/passwd"),
                 ("opt", "--help"),
                 ("userinfo", "https://github.com@evil.net/")]:
    answer = open_url(rid, url)
    assert answer["success"] is False, answer
    errors[rid] = answer["error"]
open("{out}/errors", "w").write(json.dumps(errors))
"#,
        out = out.display()
    );
    let outcome = run_ok(python(&body, &out, &rec, &["https://github.com"]));
    assert!(rec.opened().is_empty(), "opened: {:?}", rec.opened());
    let errors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("errors")).unwrap()).unwrap();
    let e = |k: &str| errors[k].as_str().unwrap().to_owned();
    assert!(
        e("evil").contains("https://evil.example.net:443") && e("evil").contains("allowed_origins"),
        "{errors}"
    );
    assert!(e("scheme").contains("http://github.com:80"), "{errors}");
    assert!(e("js").contains("javascript"), "{errors}");
    assert!(e("file").contains("file"), "{errors}");
    assert!(e("userinfo").contains("user"), "{errors}");
    assert_eq!(outcome.url_opens.len(), 7, "{:?}", outcome.url_opens);
    assert!(outcome
        .url_opens
        .iter()
        .all(|u| !u.opened && u.error.is_some()));
}

#[test]
fn without_allowed_origins_every_url_is_refused() {
    let _g = shared();
    let rec = Recorder::new();
    let (_, error) = refused_open(python_opening_one(&rec, &[]));
    assert!(rec.opened().is_empty());
    assert!(
        error.contains("allows no URL origins") && error.contains("allowed_origins"),
        "{error}"
    );
}

#[test]
fn replayed_request_id_is_refused_and_not_reopened() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let body = format!(
        r#"
assert open_url("same", "https://github.com/a")["success"] is True
again = open_url("same", "https://github.com/b")
assert again["success"] is False, again
open("{out}/error", "w").write(again["error"])
"#,
        out = out.display()
    );
    run_ok(python(&body, &out, &rec, &["https://github.com"]));
    assert_eq!(rec.opened(), ["https://github.com/a"]);
    assert!(std::fs::read_to_string(out.join("error"))
        .unwrap()
        .contains("already used"));
}

#[test]
fn a_failing_opener_is_reported() {
    let _g = shared();
    let rec = Recorder::new();
    let (mut config, out) = python_opening_one(&rec, &["https://github.com"]);
    config.url_opener = Some("/bin/false".into());
    let (outcome, error) = refused_open((config, out));
    assert!(error.contains("/bin/false"), "{error}");
    assert!(!outcome.url_opens[0].opened);
}

#[test]
fn url_decisions_are_audited() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let logs = scratch("audit");
    let log = logs.join("audit.jsonl");
    let body = r#"
assert open_url("yes", "https://github.com/x")["success"] is True
assert open_url("no", "https://evil.net/x")["success"] is False
"#;
    let mut config = python(body, &out, &rec, &["https://github.com"]);
    config.engine = Some(std::sync::Arc::new(
        Engine::new(Policy::default(), nono_supervisor::approval::DenyAll)
            .with_audit(AuditLog::open(&log).unwrap()),
    ));
    run_ok(config);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["request"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no audit line for {id}: {lines:?}"))
    };
    let yes = by_id("yes");
    assert_eq!(yes["decision"], "Granted");
    assert_eq!(yes["backend"], "allowed-origins");
    assert_eq!(yes["request"]["path"], "https://github.com/x");
    assert_eq!(yes["request"]["reason"], "open URL");
    let no = by_id("no");
    assert!(no["decision"]["Denied"]["reason"]
        .as_str()
        .unwrap()
        .contains("evil.net"));
}

#[test]
fn rust_client_open_url() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let bin = example("sdk_open_url");
    let mut caps = system_caps();
    caps.allow_dir(&out, AccessMode::ReadWrite, "test output")
        .unwrap();
    caps.allow_file(&bin, AccessMode::Read, "example").unwrap();
    let mut config = sh("", caps);
    config.argv = vec![
        bin.into(),
        out.join("result").into(),
        "https://auth.example.com/cb?code=1".into(),
        "https://example.com/".into(),
        "javascript:alert(1)".into(),
    ];
    config.sdk = true;
    config.allowed_origins = vec!["https://*.example.com".into()];
    config.url_opener = Some(rec.program.clone());
    run_ok(config);
    let result = std::fs::read_to_string(out.join("result")).unwrap();
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(lines.len(), 3, "{result}");
    assert_eq!(lines[0], "opened");
    assert!(
        lines[1].starts_with("refused: ") && lines[1].contains("https://example.com:443"),
        "{result}"
    );
    assert!(
        lines[2].starts_with("refused: ") && lines[2].contains("javascript"),
        "{result}"
    );
    assert_eq!(rec.opened(), ["https://auth.example.com/cb?code=1"]);
}

#[test]
fn a_malformed_allowed_origin_fails_before_spawning() {
    let _g = shared();
    let mut config = sh("exit 0", system_caps());
    config.allowed_origins = vec!["github.com".into()];
    let err = run(config).unwrap_err();
    assert!(
        matches!(err, SupervisorError::AllowedOrigins { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("github.com"), "{err}");
}

/// An opener that stays (`sleep 120`), noting its pid: the openers still running when a run
/// ends, and this test's own processes to end.
struct SlowOpener {
    program: PathBuf,
    pids: PathBuf,
}

impl SlowOpener {
    fn new(rec: &Recorder) -> SlowOpener {
        let program = rec.dir.join("slow.sh");
        let pids = rec.dir.join("pids");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho $$ >> '{}'\nexec sleep 120\n",
                pids.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        SlowOpener { program, pids }
    }

    /// The openers started so far.
    fn started(&self) -> Vec<rustix::process::Pid> {
        std::fs::read_to_string(&self.pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|p| p.trim().parse::<i32>().ok())
            .filter_map(rustix::process::Pid::from_raw)
            .collect()
    }

    /// End them (this test's own processes).
    fn kill(&self) {
        for pid in self.started() {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Red team 11: the supervisor waited for the opener to exit, and an opener that runs the
/// browser in the foreground (`xdg-open` with `$BROWSER` and no desktop detected) exits when
/// the browser does: the run did not end when the command did, and each such open held one
/// of the SDK lane's workers. The opener is now waited for 5 seconds, then left to run (and
/// the URL counts as opened) — at most 4 at once, so the fifth open here is refused. The run
/// ends with its 4 openers still running; before the fix it lasted as long as they did
/// (120 s), and they had all exited by its end.
#[test]
fn a_long_running_opener_does_not_hold_the_run() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let slow = SlowOpener::new(&rec);
    let body = format!(
        r#"
for i in range(5):
    body = json.dumps({{"OpenUrl": {{"request_id": "slow-%d" % i, "url": "https://github.com/",
                                    "child_pid": os.getpid(), "session_id": ""}}}}).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)
answers = []
for i in range(5):
    (n,) = struct.unpack(">I", recv_exact(4))
    answers.append(json.loads(recv_exact(n))["UrlOpened"])
opened = [a for a in answers if a["success"]]
refused = [a for a in answers if not a["success"]]
assert len(opened) == 4 and len(refused) == 1, answers
assert "still running" in refused[0]["error"], refused
open("{out}/done", "w").write("yes")
"#,
        out = out.display()
    );
    let mut config = python(&body, &out, &rec, &["https://github.com"]);
    config.url_opener = Some(slow.program.clone());
    let outcome = nono_supervisor::run(config);
    // Still running when the run has ended: it did not wait for them (signal 0 only checks
    // that the process exists).
    let started = slow.started();
    let alive = started
        .iter()
        .filter(|pid| rustix::process::test_kill_process(**pid).is_ok())
        .count();
    slow.kill();
    crate::harness::assert_exit(&outcome.unwrap(), 0);
    assert_eq!(std::fs::read_to_string(out.join("done")).unwrap(), "yes");
    assert_eq!(started.len(), 4, "openers started");
    assert_eq!(alive, 4, "the run ended only after its openers had");
}

/// Red team 12: the bound on openers left running was a check then an add around the spawn,
/// so opens handled at once by the SDK lane's 4 workers all passed the check: with 3 openers
/// left running, 4 opens sent together started 4 more — 7 processes outside the sandbox's
/// cgroup where the bound says 4. A slot is now taken before the spawn (and given back if
/// the spawn fails): of the 4, exactly one is opened, 3 are refused, and 4 openers ran in all.
#[test]
fn concurrent_opens_do_not_pass_the_bound_together() {
    let _g = shared();
    let out = scratch("out");
    let rec = Recorder::new();
    let slow = SlowOpener::new(&rec);
    let body = format!(
        r#"
def burst(tag, n):
    for i in range(n):
        body = json.dumps({{"OpenUrl": {{"request_id": "%s-%d" % (tag, i), "url": "https://github.com/",
                                        "child_pid": os.getpid(), "session_id": ""}}}}).encode()
        sock.sendall(struct.pack(">I", len(body)) + body)
    answers = []
    for i in range(n):
        (n_,) = struct.unpack(">I", recv_exact(4))
        answers.append(json.loads(recv_exact(n_))["UrlOpened"])
    return [a for a in answers if a["success"]]
first = burst("first", 3)
assert len(first) == 3, first
second = burst("second", 4)
open("{out}/second", "w").write(str(len(second)))
"#,
        out = out.display()
    );
    let mut config = python(&body, &out, &rec, &["https://github.com"]);
    config.url_opener = Some(slow.program.clone());
    let outcome = nono_supervisor::run(config);
    let started = slow.started();
    slow.kill();
    crate::harness::assert_exit(&outcome.unwrap(), 0);
    let second = std::fs::read_to_string(out.join("second")).unwrap();
    assert!(
        started.len() <= 4,
        "{} openers ran at once (the bound is 4); {second} of the 4 concurrent opens were opened",
        started.len()
    );
    assert_eq!(second, "1", "of 4 concurrent opens with 3 running");
}

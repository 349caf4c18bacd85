//! Locating (and if needed building) the `nono` binary, running it, scratch directories, and
//! a pseudo-terminal to answer nono's prompt from.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

static BUILD: Once = Once::new();

/// The `nono` binary for this test run (`target/<profile>/nono`), built once with
/// `cargo build -p nono-cli` if `cargo test -p nono-e2e` alone did not build it.
pub fn nono_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NONO_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/e2e-<hash>  →  target/<profile>/nono
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf();
    let bin = profile_dir.join("nono");
    BUILD.call_once(|| {
        // Always rebuild (cheap when fresh): a stale binary from an earlier build would test old code.
        let release = profile_dir.file_name() == Some(OsStr::new("release"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "nono-cli", "--bin", "nono"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd.status().expect("run cargo build -p nono-cli");
        assert!(status.success(), "cargo build -p nono-cli failed");
    });
    bin
}

/// The result of one nono invocation.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    /// The signal that killed nono itself (only `wrap`, where nono *is* the command).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panic with everything printed unless the exit status is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit status\n{self}");
        self
    }

    /// Panic unless stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{self}"
        );
        self
    }

    /// Panic unless stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status: {:?} signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// A `nono` command with a clean logging environment, stdin from /dev/null, run in `cwd`.
pub fn nono_cmd(cwd: &Path) -> Command {
    let mut cmd = Command::new(nono_bin());
    if let Some(state) = state_home_for(cwd) {
        cmd.env("XDG_STATE_HOME", state);
    }
    cmd.current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run `nono ARGS` in `cwd` and collect everything.
pub fn nono<I, S>(cwd: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Run::from(nono_cmd(cwd).args(args).output().expect("spawn nono"))
}

/// `nono ARGS --allow <scratch>/work -- cat FILE`, with `work` created and `file` outside it:
/// a read for the sandbox to refuse.
pub fn cat_outside_work(s: &Scratch, args: &[&str], file: &Path) -> Run {
    let work = s.mkdir("work").display().to_string();
    let file = file.display().to_string();
    nono(
        &s.path,
        args.iter().chain(&["--allow", &work, "--", "cat", &file]),
    )
}

/// Run a prepared command and collect everything.
pub fn output(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("spawn"))
}

/// Where scratch directories go: the first candidate that the default profile does not
/// grant (asked of `nono why`), so a denial test really tests a denial. Cargo's target tmp
/// dir comes first; it is rejected when the checkout itself lives under a granted temp dir
/// (for example a CI clone under /tmp).
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let candidates = [
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            PathBuf::from("/var/lib/nono-e2e"),
            PathBuf::from("/srv/nono-e2e"),
            PathBuf::from("/mnt/nono-e2e"),
        ];
        for c in &candidates {
            if std::fs::create_dir_all(c).is_err() {
                continue;
            }
            let Ok(c) = std::fs::canonicalize(c) else {
                continue;
            };
            let why = Command::new(nono_bin())
                .args(["why", "--op", "read", "--path"])
                .arg(&c)
                .output()
                .expect("run nono why");
            if why.status.code() == Some(1) {
                return c;
            }
        }
        panic!("no scratch directory outside the default profile's grants among {candidates:?}");
    })
}

/// A fresh scratch directory (canonical path), removed on drop. It lives where the default
/// profile grants nothing (see [`scratch_root`]), not under /tmp, which it grants.
#[derive(Debug)]
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let base = scratch_root().join(format!("nono-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("create scratch dir");
        Scratch {
            path: std::fs::canonicalize(&base).expect("canonical scratch"),
        }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// The path as a `String` (for argv).
    pub fn s(&self, p: &str) -> String {
        if p.is_empty() {
            self.path.display().to_string()
        } else {
            self.path.join(p).display().to_string()
        }
    }

    pub fn write(&self, p: &str, contents: &str) -> PathBuf {
        let path = self.path.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write");
        path
    }

    pub fn mkdir(&self, p: &str) -> PathBuf {
        let path = self.path.join(p);
        std::fs::create_dir_all(&path).expect("mkdir");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Never remove through a live mount: `remove_dir_all` would empty the source of a
        // bind mount beneath the scratch dir. A test's own guard (redteam23's `Mounts`)
        // unmounts first; a mount left behind (a test that panicked before it guarded its
        // mount) is detached here, and if that fails the tree is left in place.
        if !unmount_beneath(&self.path) {
            eprintln!(
                "{} still has mounts beneath it; not removed",
                self.path.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(self.path.with_extension("state"));
    }
}

/// Detach (`umount -l`, deepest first) the mounts at or beneath `dir` in this process's mount
/// namespace (`/proc/self/mountinfo`); whether none is left.
fn unmount_beneath(dir: &Path) -> bool {
    let mounts = || -> Vec<PathBuf> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(dir))
            .collect()
    };
    let mut points = mounts();
    if points.is_empty() {
        return true;
    }
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&p)
            .stderr(std::process::Stdio::null())
            .status();
    }
    mounts().is_empty()
}

/// `/tmp/nono-e2e-<pid>-<tag>`, a path directly under `/tmp` (which the default profile
/// grants read+write) for a test that needs one there on purpose; nothing is made at it.
/// Whatever is at it (a file, a symlink, a tree) is removed first and on drop, also when the
/// test panics; a symlink is removed, never followed.
#[derive(Debug)]
pub struct InTmp(pub PathBuf);

impl InTmp {
    pub fn new(tag: &str) -> InTmp {
        let p = PathBuf::from(format!("/tmp/nono-e2e-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_dir_all(&p);
        InTmp(p)
    }
}

impl Drop for InTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// nono's state directory (`XDG_STATE_HOME`) for runs in `cwd` when `cwd` lies in a
/// [`Scratch`] directory: `<scratch>.state`, beside it (not in it: the `nono` deny group
/// would carve it out of grants on the scratch directory). Each test so starts with no
/// record of earlier runs' write grants or trusted profiles — with the machine's own record,
/// a profile file a test writes after any earlier run that could write there is refused until
/// trusted (`nono profile trust`). A test that sets `HOME` or `XDG_STATE_HOME` itself
/// overrides it (`env_remove("XDG_STATE_HOME")` to use `HOME`'s).
pub fn state_home_for(cwd: &Path) -> Option<PathBuf> {
    let rest = cwd.strip_prefix(scratch_root()).ok()?;
    let first = rest.components().next()?;
    let name = first.as_os_str().to_str()?;
    name.starts_with("nono-e2e-")
        .then(|| scratch_root().join(format!("{name}.state")))
}

/// Whether the kernel can enforce what these tests check (Landlock filesystem rules and
/// seccomp user notification), as `nono setup --json` reports it; probed once. With
/// `NONO_REQUIRE_SANDBOX=1` a missing feature is a failure instead of a skip.
pub fn sandbox_available() -> bool {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = AVAILABLE.get_or_init(|| {
        let out = Command::new(nono_bin())
            .args(["setup", "--json"])
            .output()
            .map_err(|e| format!("cannot run nono setup: {e}"))?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("nono setup --json printed no JSON: {e}"))?;
        let support = &v["support"];
        if support["landlock"]["fs"] != true {
            return Err("Landlock is not available on this kernel".into());
        }
        if support["seccomp"]["user_notif"] != "yes" {
            return Err("seccomp user notification is not available".into());
        }
        Ok(())
    });
    match result {
        Ok(()) => true,
        Err(reason) => {
            assert!(
                std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
                "NONO_REQUIRE_SANDBOX=1 but {reason}"
            );
            eprintln!("skipping: {reason}");
            false
        }
    }
}

/// A fresh pseudo-terminal, `(master, slave)`: the slave is to become a child's controlling
/// terminal (`setsid -c`); the test, at the master, is the person at that terminal.
pub fn open_pty() -> (File, File) {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    (File::from(master), File::from(slave))
}

/// What is written to the terminal of `master`, read on a thread; chunks arrive on the
/// channel until the terminal is closed.
pub fn read_on_a_thread(master: &File) -> mpsc::Receiver<Vec<u8>> {
    let mut master = master.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Add what arrives on `rx` to `seen` until `seen` contains `needle`. `timeout` (for each
/// chunk) is a guard against a hang only; it fails showing the terminal so far.
#[track_caller]
pub fn wait_for_output(
    rx: &mpsc::Receiver<Vec<u8>>,
    seen: &mut String,
    needle: &str,
    timeout: Duration,
) {
    while !seen.contains(needle) {
        match rx.recv_timeout(timeout) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(e) => panic!("waiting for {needle:?}: {e}; terminal so far:\n{seen}"),
        }
    }
}

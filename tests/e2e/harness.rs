//! Locating (and if needed building) the `nono` binary, running it, and scratch directories.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Once, OnceLock};

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
        let _ = std::fs::remove_dir_all(&self.path);
    }
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

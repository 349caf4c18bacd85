//! The C attack programs (`c/*.c`): compiled with gcc once per test binary, run inside nono
//! (`nono run` or `nono wrap`) or bare as the control, and their `NAME=RESULT` lines parsed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::{nono_bin, nono_cmd, output, sandbox_available, Run, Scratch};

/// The two ways nono confines a command: under a supervisor, or by exec'ing into the sandbox.
pub const MODES: [Mode; 2] = [Mode::Run, Mode::Wrap];

/// `nono run` (supervised) or `nono wrap` (sandbox applied to nono, then exec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Wrap,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Wrap => "wrap",
        }
    }
}

/// Where the compiled programs live: a directory no default grant covers; every sandboxed
/// invocation adds `--read` for it, so the programs (and `libevil.so`) are loadable.
#[derive(Debug)]
pub struct Bins {
    pub dir: PathBuf,
    /// `dir/lock`, flock'd for the life of this test binary (see [`remove_finished`]).
    _lock: std::fs::File,
}

impl Bins {
    /// `probe`: one attack step per `OP NAME ARGS...`, one `NAME=ok|ERRNO` line each.
    pub fn probe(&self) -> PathBuf {
        self.dir.join("probe")
    }
    /// `race`: a racing thread against the supervisor's runtime grants.
    pub fn race(&self) -> PathBuf {
        self.dir.join("race")
    }
    /// `memo`: red team 21's attempts to poison the deny groups' ancestor memo.
    pub fn memo(&self) -> PathBuf {
        self.dir.join("memo")
    }
    /// `walk RACE OP W A B NAME ATTEMPTS`: red team 23's races against the identity walk.
    pub fn walk(&self) -> PathBuf {
        self.dir.join("walk")
    }
    /// `ptyrun CMD...`: CMD on a fresh pseudo-terminal; prints what the terminal showed.
    pub fn ptyrun(&self) -> PathBuf {
        self.dir.join("ptyrun")
    }
    /// `ttyjob shell [-o FILE] -- CMD...`: CMD as a job of a shell on a fresh terminal, then
    /// two lines typed at that shell; `ttyjob steal-fg|daemon LOOT`: the attacks on them.
    pub fn ttyjob(&self) -> PathBuf {
        self.dir.join("ttyjob")
    }
    /// `fdrun N SPEC ... -- CMD...`: CMD with leaked descriptors.
    pub fn fdrun(&self) -> PathBuf {
        self.dir.join("fdrun")
    }
    /// A preload library whose constructor prints `INJECTED exe=<program>` on stderr.
    pub fn libevil(&self) -> PathBuf {
        self.dir.join("libevil.so")
    }
    pub fn dir_s(&self) -> String {
        self.dir.display().to_string()
    }
}

/// The programs, built once (`None`: no sandbox or no gcc, and the test is skipped — a
/// failure instead under `NONO_REQUIRE_SANDBOX=1`).
pub fn bins() -> Option<&'static Bins> {
    if !sandbox_available() {
        return None;
    }
    static BUILT: OnceLock<Result<Bins, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(b) => Some(b),
        Err(reason) => {
            assert!(
                std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
                "NONO_REQUIRE_SANDBOX=1 but {reason}"
            );
            eprintln!("skipping: {reason}");
            None
        }
    }
}

fn build() -> Result<Bins, String> {
    // The scratch root is chosen by the harness to lie outside the default grants.
    let root = Scratch::new("escape-probe-root")
        .path
        .parent()
        .expect("scratch dirs have a parent")
        .to_path_buf();
    remove_finished(&root);
    let dir = root.join(format!("nono-escape-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("lock"))
        .map_err(|e| format!("cannot create {}/lock: {e}", dir.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}/lock: {e}", dir.display()))?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("escape/c");
    let jobs: [(&str, &[&str], &str); 8] = [
        ("probe.c", &["-pthread"], "probe"),
        ("race.c", &["-pthread"], "race"),
        ("memo.c", &["-pthread"], "memo"),
        ("walk.c", &["-pthread"], "walk"),
        ("ptyrun.c", &[], "ptyrun"),
        ("ttyjob.c", &[], "ttyjob"),
        ("fdrun.c", &[], "fdrun"),
        ("evil.c", &["-shared", "-fPIC"], "libevil.so"),
    ];
    let children: Vec<_> = jobs
        .iter()
        .map(|(file, extra, out)| {
            let child = Command::new("gcc")
                .args(["-O1", "-Wall", "-Werror"])
                .args(*extra)
                .arg("-o")
                .arg(dir.join(out))
                .arg(src.join(file))
                .spawn();
            (file, child)
        })
        .collect();
    for (file, child) in children {
        let mut child = child.map_err(|e| format!("gcc is not available ({e})"))?;
        let status = child.wait().map_err(|e| format!("gcc: {e}"))?;
        assert!(status.success(), "gcc failed on c/{file}: {status}");
    }
    Ok(Bins { dir, _lock: lock })
}

/// Remove the programs of earlier runs that have finished: a run holds an exclusive `flock`
/// on its directory's `lock` file while it lives, so a directory whose lock can be taken is
/// done with. Process ids are no guide (a run in another PID namespace has a pid that names
/// nothing, or something else, here). A directory without a lock file is another run between
/// `mkdir` and locking, or one of an older layout: removed only once it is an hour old.
fn remove_finished(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .starts_with("nono-escape-bin-")
        {
            continue;
        }
        let finished = match std::fs::File::open(e.path().join("lock")) {
            Ok(lock) => {
                rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                    .is_ok()
            }
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600)),
        };
        if finished {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// One program run: its `NAME=RESULT` lines, and everything it printed.
#[derive(Debug)]
pub struct Outcome {
    pub results: BTreeMap<String, String>,
    pub run: Run,
}

impl Outcome {
    pub fn parse(run: Run) -> Outcome {
        let mut results = BTreeMap::new();
        for line in run.stdout.lines() {
            let line = line.trim_end_matches('\r');
            if let Some((k, v)) = line.split_once(".data=") {
                results.insert(format!("{k}.data"), v.to_owned());
                continue;
            }
            for token in line.split_whitespace() {
                if let Some((k, v)) = token.split_once('=') {
                    results.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Outcome { results, run }
    }

    /// The result of step `name`; panics (showing the whole run) if the step did not report.
    #[track_caller]
    pub fn get(&self, name: &str) -> &str {
        match self.results.get(name) {
            Some(v) => v,
            None => panic!("no result for {name:?}\n{}", self.run),
        }
    }

    /// What step `name` read, if it read anything.
    pub fn data(&self, name: &str) -> Option<&str> {
        self.results
            .get(&format!("{name}.data"))
            .map(String::as_str)
    }

    /// A counter printed by `race` (`leaks=0`).
    #[track_caller]
    pub fn count(&self, name: &str) -> u64 {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number\n{}", self.run))
    }

    /// Panic unless every `(step, result)` pair matches.
    #[track_caller]
    pub fn expect(&self, pairs: &[(&str, &str)]) -> &Self {
        let wrong: Vec<String> = pairs
            .iter()
            .filter(|(k, v)| self.results.get(*k).map(String::as_str) != Some(*v))
            .map(|(k, v)| format!("{k}: want {v}, got {:?}", self.results.get(*k)))
            .collect();
        assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), self.run);
        self
    }

    /// Panic unless step `name` ended with one of `allowed`.
    #[track_caller]
    pub fn expect_one_of(&self, name: &str, allowed: &[&str]) -> &Self {
        let got = self.get(name);
        assert!(
            allowed.contains(&got),
            "{name}: want one of {allowed:?}, got {got}\n{}",
            self.run
        );
        self
    }

    /// Panic if `needle` appears anywhere in what the program printed.
    #[track_caller]
    pub fn never_printed(&self, needle: &str) -> &Self {
        assert!(
            !self.run.stdout.contains(needle) && !self.run.stderr.contains(needle),
            "{needle:?} leaked\n{}",
            self.run
        );
        self
    }
}

/// `nono MODE --read BINS NONO_ARGS... -- PROGRAM ARGS...` in `cwd`, with `env` added.
pub fn in_nono<S: AsRef<OsStr>>(
    mode: Mode,
    cwd: &Path,
    env: &[(&str, &str)],
    nono_args: &[&str],
    program: &Path,
    args: &[S],
) -> Outcome {
    let b = bins().expect("bins() was checked by the test");
    let mut cmd = nono_cmd(cwd);
    cmd.envs(env.iter().copied())
        .arg(mode.as_str())
        .args(["--read", &b.dir_s()])
        .args(nono_args)
        .arg("--")
        .arg(program)
        .args(args);
    Outcome::parse(output(&mut cmd))
}

/// The probe inside nono (`nono MODE --read BINS NONO_ARGS... -- probe ARGS...`).
pub fn probe_in<S: AsRef<OsStr>>(
    mode: Mode,
    cwd: &Path,
    nono_args: &[&str],
    args: &[S],
) -> Outcome {
    let b = bins().expect("bins() was checked by the test");
    in_nono(mode, cwd, &[], nono_args, &b.probe(), args)
}

/// The control: the same probe steps with no sandbox at all.
pub fn probe_bare<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Outcome {
    let b = bins().expect("bins() was checked by the test");
    let mut cmd = Command::new(b.probe());
    cmd.current_dir(cwd).args(args);
    Outcome::parse(output(&mut cmd))
}

/// A finished child's output as a harness [`Run`] (for commands spawned by hand).
pub fn run_of(out: std::process::Output) -> Run {
    use std::os::unix::process::ExitStatusExt;
    Run {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The nono binary as a string (for argv of the helper programs).
pub fn nono_s() -> String {
    nono_bin().display().to_string()
}

/// A unique marker for a secret, so a leak is recognisable in any output.
pub fn marker(what: &str) -> String {
    format!("TOPSECRET-{what}-{}", std::process::id())
}

/// A system user created for one test and removed on drop, for the
/// cases where nono run by an unprivileged user behaves differently. `None` when the machine
/// cannot create one (not root, no `useradd`).
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    pub fn create(tag: &str) -> Option<TestUser> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let name = format!("nono-{tag}-{}", std::process::id() % 100_000);
        let _ = Command::new("userdel").arg(&name).output();
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/usr/sbin/nologin", &name])
            .output()
            .ok()?;
        if !made.status.success() {
            eprintln!(
                "useradd {name} failed: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, &name]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        let (uid, gid) = (id("-u")?, id("-g")?);
        Some(TestUser { name, uid, gid })
    }

    /// `nono MODE --read BINS NONO_ARGS... -- probe ARGS...` run as this user, with `home` as
    /// its `HOME`.
    pub fn probe_in<S: AsRef<OsStr>>(
        &self,
        mode: Mode,
        cwd: &Path,
        home: &Path,
        nono_args: &[&str],
        args: &[S],
    ) -> Outcome {
        use std::os::unix::process::CommandExt;
        let b = bins().expect("bins() was checked by the test");
        let mut cmd = nono_cmd(cwd);
        cmd.uid(self.uid)
            .gid(self.gid)
            .env_remove("XDG_STATE_HOME")
            .env("HOME", home)
            .env("USER", &self.name)
            .env_remove("XDG_RUNTIME_DIR")
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(nono_args)
            .arg("--")
            .arg(b.probe())
            .args(args);
        Outcome::parse(output(&mut cmd))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Its processes were the test's nono runs, all waited for.
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

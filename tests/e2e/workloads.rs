//! First-run workloads (issue 11, point 1): common developer tools run to exit 0 in a granted
//! project directory under the default profile (or the built-in profile for the language), as
//! root and as an unprivileged user created by the test, with at most one denial line each —
//! and only one the test expects (a credentials file the tool looks for, a shell start-up file).
//!
//! A tool that is not installed skips its workload with a message (`.ci/run` installs them, so
//! in CI every workload runs); with `NONO_REQUIRE_TOOLS=1` a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Run};

/// One workload: what it needs on PATH, the profile, the script run with `sh -c` in the
/// project directory, and the denial lines it may print (substrings; at most one line).
struct Workload {
    name: &'static str,
    needs: &'static [&'static str],
    profile: &'static str,
    script: &'static str,
    expected_denial: &'static [&'static str],
    /// Runs only as root (the toolchain lives in root's home, e.g. rustup in /root/.cargo).
    root_only_if_home_tool: bool,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "git",
        needs: &["git"],
        profile: "default",
        script: "git init -q && echo x > f && git add . \
                 && git -c user.name=t -c user.email=t@example.invalid commit -qm x \
                 && git log --oneline && echo y >> f && git diff --stat && git status --short",
        expected_denial: &[],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "make",
        needs: &["make"],
        profile: "default",
        script: "printf 'all:\\n\\techo built > out\\n' > Makefile && make -s && cat out",
        expected_denial: &[],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "bash -lc",
        needs: &["bash"],
        profile: "default",
        script: "bash -lc 'echo login shell'",
        // A login shell reads ~/.profile, which the `shell` deny group protects.
        expected_denial: &["deny group `shell`"],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "ls /etc",
        needs: &["ls"],
        profile: "default",
        script: "ls /etc >/dev/null && ls /etc/ssl >/dev/null",
        expected_denial: &[],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "python venv",
        needs: &["python3"],
        profile: "python",
        script: "python3 -m venv .venv && .venv/bin/pip --version",
        // pip runs `rustc --version` for its user agent: with rustup on PATH (root's
        // ~/.cargo/bin, outside -p python) that exec is refused, and reported once.
        expected_denial: &["rustup (execve)", "rustc (execve)"],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "node",
        needs: &["node", "npm"],
        profile: "node",
        script: "node --version && npm --version",
        // npm looks for ~/.npmrc, which the `credentials` deny group protects.
        expected_denial: &["deny group `credentials`"],
        root_only_if_home_tool: false,
    },
    Workload {
        name: "cargo",
        needs: &["cargo"],
        profile: "rust",
        script:
            "cargo new -q hello && cd hello && cargo build --offline -q && ./target/debug/hello",
        expected_denial: &[],
        root_only_if_home_tool: true,
    },
];

/// Where `tool` is on PATH, if anywhere.
fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn missing(w: &Workload) -> Option<&'static str> {
    w.needs.iter().copied().find(|t| which(t).is_none())
}

fn skip(w: &Workload, why: &str) {
    assert!(
        std::env::var_os("NONO_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
        "NONO_REQUIRE_TOOLS=1 but workload `{}`: {why}",
        w.name
    );
    eprintln!("skipping workload `{}`: {why}", w.name);
}

/// The `nono: denied` lines of a run.
fn denials(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied"))
        .collect()
}

/// Exit 0, and at most one denial line, which must be an expected one.
#[track_caller]
fn check(w: &Workload, who: &str, run: &Run) {
    assert_eq!(
        run.code,
        Some(0),
        "workload `{}` as {who} failed\n{run}",
        w.name
    );
    let lines = denials(run);
    assert!(
        lines.len() <= 1,
        "workload `{}` as {who}: more than one denial line\n{run}",
        w.name
    );
    for l in lines {
        assert!(
            w.expected_denial.iter().any(|e| l.contains(e)),
            "workload `{}` as {who}: unexpected denial `{l}`\n{run}",
            w.name
        );
    }
}

/// A fresh project directory outside every default grant, owned by `owner`.
struct Project(PathBuf);

impl Project {
    fn new(tag: &str, owner: Option<(u32, u32)>) -> Project {
        let p = PathBuf::from(format!("/var/lib/nono-e2e-wl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("project")).expect("mkdir project");
        std::fs::create_dir_all(p.join("home")).expect("mkdir home");
        std::fs::write(
            p.join("home/.gitconfig"),
            "[user]\n\tname = t\n\temail = t@example.invalid\n[init]\n\tdefaultBranch = main\n",
        )
        .expect("write .gitconfig");
        if let Some((uid, gid)) = owner {
            let st = Command::new("chown")
                .args(["-R", &format!("{uid}:{gid}")])
                .arg(&p)
                .status()
                .expect("chown");
            assert!(st.success());
        }
        Project(p)
    }
    fn dir(&self) -> PathBuf {
        self.0.join("project")
    }
    fn home(&self) -> PathBuf {
        self.0.join("home")
    }
    fn reset(&self, owner: Option<(u32, u32)>) {
        let d = self.dir();
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir project");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).expect("chown project");
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nono_run(w: &Workload, cwd: &Path) -> Command {
    let mut cmd = nono_cmd(cwd);
    cmd.args(["run", "-p", w.profile, "--allow", "."])
        .args(["--", "sh", "-c", w.script]);
    cmd
}

#[test]
fn workloads_run_as_root_with_at_most_one_expected_denial() {
    if !sandbox_available() {
        return;
    }
    let project = Project::new("root", None);
    for w in WORKLOADS {
        if let Some(tool) = missing(w) {
            skip(w, &format!("`{tool}` is not installed"));
            continue;
        }
        project.reset(None);
        // Root's own HOME: the toolchains (rustup, pyenv) live there.
        let run = output(&mut nono_run(w, &project.dir()));
        check(w, "root", &run);
    }
}

/// A system user for the test (removed on drop); `None` when not root or no `useradd`.
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl User {
    fn create() -> Option<User> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let name = format!("nono-wl-{}", std::process::id() % 100_000);
        let _ = Command::new("userdel").arg(&name).output();
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/bin/sh", &name])
            .output()
            .ok()?;
        if !made.status.success() {
            eprintln!("useradd failed: {}", String::from_utf8_lossy(&made.stderr));
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, &name]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        Some(User {
            uid: id("-u")?,
            gid: id("-g")?,
            name,
        })
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

#[test]
fn workloads_run_as_an_unprivileged_user() {
    use std::os::unix::process::CommandExt;
    if !sandbox_available() {
        return;
    }
    let Some(user) = User::create() else {
        eprintln!("skipping: cannot create a test user (not root, or no useradd)");
        return;
    };
    let owner = Some((user.uid, user.gid));
    let project = Project::new("user", owner);
    // The user's PATH: system directories only (root's toolchains are not theirs).
    let path = "/usr/local/bin:/usr/bin:/bin";
    for w in WORKLOADS {
        if let Some(tool) = missing(w) {
            skip(w, &format!("`{tool}` is not installed"));
            continue;
        }
        project.reset(owner);
        // Control: the tools must work for this user without nono, or the workload says
        // nothing about nono (rustup in /root, a pyenv shim in root's home).
        let mut control = Command::new("sh");
        control
            .args([
                "-c",
                &format!(
                    "cd {} && {}",
                    project.dir().display(),
                    w.needs
                        .iter()
                        .map(|t| format!("command -v {t} >/dev/null && {t} --version >/dev/null"))
                        .collect::<Vec<_>>()
                        .join(" && ")
                ),
            ])
            .uid(user.uid)
            .gid(user.gid)
            .env_clear()
            .env("PATH", path)
            .env("HOME", project.home());
        let ok = control.status().is_ok_and(|s| s.success());
        if !ok {
            if w.root_only_if_home_tool {
                eprintln!(
                    "skipping workload `{}` as {}: its toolchain is not usable by that user outside nono either",
                    w.name, user.name
                );
                continue;
            }
            skip(w, &format!("not usable by {} outside nono", user.name));
            continue;
        }
        let mut cmd = nono_run(w, &project.dir());
        cmd.uid(user.uid)
            .gid(user.gid)
            .env_clear()
            .env("PATH", path)
            .env("HOME", project.home())
            .env("USER", &user.name);
        let run = output(&mut cmd);
        check(w, &user.name, &run);
    }
}

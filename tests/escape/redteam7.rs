//! Red team 7: the start-up prefetch of the deny groups (`nono_policy::deny_prefetch`: every
//! built-in group resolved on a second thread before the command line and the profile are
//! read, used only when the guessed groups and variables are the final ones). See
//! docs/THREAT_MODEL.md, "Red team 7 (start-up prefetch)".
//!
//! `nono run|wrap|shell` starts the prefetch only when the subcommand is the first argument,
//! so `nono -s MODE ...` is the same command without it: the serial control of every test.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::{nono_bin, output, state_home_for, Run, Scratch};
use crate::programs::{Mode, MODES};

/// `timeout -k 2 SECS nono MODE -s` (prefetched: the subcommand first) or `... nono -s MODE`
/// (serial), run in `cwd` with `HOME` the scratch home, its XDG directories beneath it
/// (state beside the scratch directory), `PATH` as given: a hang is a failure (`timeout`
/// exits 124), not a stuck test. The caller adds the arguments. Shared with red team 8.
pub(crate) fn timed_nono(
    s: &Scratch,
    cwd: &Path,
    path: &str,
    secs: u32,
    mode: Mode,
    prefetch: bool,
) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "TMPDIR",
    ] {
        cmd.env_remove(var);
    }
    if let Some(state) = state_home_for(&s.path) {
        cmd.env("XDG_STATE_HOME", state);
    }
    cmd.env("HOME", s.join("home"))
        .env("PATH", path)
        .args(["-k", "2", &secs.to_string()])
        .arg(nono_bin());
    if prefetch {
        cmd.args([mode.as_str(), "-s"]);
    } else {
        cmd.args(["-s", mode.as_str()]);
    }
    cmd
}

/// [`timed_nono`] in `<scratch>/home/proj` with the scratch's `home/bin` first on `PATH`,
/// extra variables `env`: `nono MODE ARGS -- /bin/true`.
fn nono_in(s: &Scratch, mode: Mode, prefetch: bool, env: &[(&str, &str)], args: &[&str]) -> Run {
    let path = format!("{}:/usr/bin:/bin", s.s("home/bin"));
    let mut cmd = timed_nono(s, &s.join("home/proj"), &path, HANG_SECS, mode, prefetch);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).args(["--", "/bin/true"]);
    output(&mut cmd)
}

/// Seconds after which a `nono --dry-run` counts as hung (`timeout` then exits with 124).
const HANG_SECS: u32 = 10;

/// A private temporary directory's random name, made comparable.
fn normalize(text: &str) -> String {
    const MARK: &str = "nono-private-tmp-";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let n = rest.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
        out.push('X');
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// A home with something for every group to resolve: a deny entry that is a symlink chain
/// into the project (`~/.ssh/config` → `~/dots/cur/ssh_config`, `cur` → `v1`), a `$PATH`
/// entry inside the home (autorun), a browser profile, a file for a profile deny list.
fn populate(s: &Scratch) {
    use std::os::unix::fs::symlink;
    s.mkdir("home/proj");
    s.mkdir("home/bin");
    s.mkdir("home/.ssh");
    s.mkdir("home/.mozilla/firefox/abc.default");
    s.write("home/dots/v1/ssh_config", "Host *\n");
    symlink("v1", s.join("home/dots/cur")).unwrap();
    symlink(
        s.join("home/dots/cur/ssh_config"),
        s.join("home/.ssh/config"),
    )
    .unwrap();
    s.write("home/proj/secret.txt", "s\n");
    for i in 0..10 {
        s.mkdir(&format!("home/.cargo/registry/d{i}"));
    }
    symlink("/usr/bin/env", s.join("home/.cargo/registry/d3/link")).unwrap();
}

/// One differential case: a name, extra environment, extra flags.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// Held (attack 1): the deny set a run uses is the one a serial resolution of the final
/// inputs gives, whether the prefetch's guess is used (plain run) or dropped (a profile that
/// switches optional groups off and has its own deny list and `extends`, `--workdir`
/// elsewhere, a refused `$TMPDIR` replaced by a private directory, `--private-tmp`). The whole
/// dry-run plan (grants, carve-outs, links, unwalked entries, environment) is compared.
#[test]
fn redteam7_the_prefetched_plan_is_the_serial_plan() {
    let s = Scratch::new("rt7-differential");
    populate(&s);
    let base = s.write(
        "home/proj/base.json",
        &serde_json::json!({
            "name": "base",
            "extends": "default",
            "filesystem": {"deny": ["$WORKDIR/secret.txt"]}
        })
        .to_string(),
    );
    let profile = s.write(
        "home/proj/p.json",
        &serde_json::json!({
            "name": "p",
            "extends": base.display().to_string(),
            "groups": {"browsers": false, "autorun": false},
            "filesystem": {"allow": ["$WORKDIR"], "deny": ["~/dots/v1"]}
        })
        .to_string(),
    );
    std::os::unix::fs::symlink("/tmp", s.join("tmplink")).unwrap();
    let tmplink = s.s("tmplink");
    let profile = profile.display().to_string();
    let other = s.s("home/dots");
    let cases: Vec<Case> = vec![
        ("plain", vec![], vec!["--allow-cwd"]),
        ("profile", vec![], vec!["-p", &profile]),
        ("workdir", vec![], vec!["--workdir", &other, "--allow-cwd"]),
        ("tmpdir", vec![("TMPDIR", &tmplink)], vec!["--allow-cwd"]),
        ("private-tmp", vec![], vec!["--private-tmp"]),
    ];
    for mode in MODES {
        for (name, env, args) in &cases {
            if mode == Mode::Wrap && (*name == "private-tmp" || *name == "tmpdir") {
                // Refused by wrap before any plan is made (nothing would remove a private
                // directory at exit; a refused $TMPDIR is an error under wrap since session 16).
                continue;
            }
            let mut args = args.clone();
            args.extend(["--dry-run", "--json"]);
            let plans: Vec<String> = [true, false, true]
                .into_iter()
                .map(|prefetch| {
                    let run = nono_in(&s, mode, prefetch, env, &args);
                    assert_eq!(
                        run.code,
                        Some(0),
                        "{mode:?} {name} prefetch={prefetch}: {run}"
                    );
                    normalize(&run.stdout)
                })
                .collect();
            assert!(
                plans[0].contains("\"denies\"") && plans[0].contains("ssh_config"),
                "{mode:?} {name}: the plan lists no deny set: {}",
                plans[0]
            );
            assert_eq!(
                plans[0], plans[1],
                "{mode:?} {name}: prefetched vs serial plan"
            );
            assert_eq!(
                plans[2], plans[1],
                "{mode:?} {name}: second prefetched vs serial"
            );
        }
    }
}

/// A FUSE file system whose server never answers: every `lstat` beneath (and of) its mount
/// point waits until the server goes (then fails with `ENOTCONN`). Unmounted on drop.
struct HungMount {
    holder: Child,
    at: PathBuf,
}

impl HungMount {
    /// Mount at `at` (an existing directory); `None` where FUSE cannot be mounted (not root,
    /// no `/dev/fuse`, no `mount`).
    fn new(at: &Path) -> Option<HungMount> {
        let script = format!(
            "exec 3<>/dev/fuse || exit 1; mount -i -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 nono-rt7-hung '{}' || exit 1; echo mounted; exec sleep 300",
            at.display()
        );
        let mut holder = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let read = std::io::BufReader::new(holder.stdout.take()?).read_line(&mut line);
        let mount = HungMount {
            holder,
            at: at.to_path_buf(),
        };
        (read.is_ok() && line.trim() == "mounted").then_some(mount)
    }
}

impl Drop for HungMount {
    fn drop(&mut self) {
        // The server's descriptor closes with the holder: waiting calls fail, then the lazy
        // unmount detaches it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// FINDING (attack 2, availability): a profile that switches an optional deny group off
/// (`"groups": {"browsers": false}`) still has that group's paths `lstat`ed and walked by the
/// prefetch thread (it guesses every group), and the plan joins the thread before the
/// sandbox is applied. A path of the switched-off group that hangs (here `~/.mozilla` on a
/// FUSE mount whose server does not answer, as a stale network mount or a stuck sshfs does)
/// hangs `nono run` and `nono wrap`, which before the prefetch never looked there. Control:
/// the same command without the prefetch (`nono -s MODE`) starts at once, and with the group
/// on it hangs too (the mount really hangs a look-up).
#[test]
fn redteam7_a_switched_off_group_is_not_looked_at() {
    if !rustix::process::geteuid().is_root() || !Path::new("/dev/fuse").exists() {
        skip("skipping: mounting FUSE needs root and /dev/fuse");
        return;
    }
    let s = Scratch::new("rt7-hung-group");
    populate(&s);
    let off = s.write(
        "home/proj/off.json",
        r#"{"name": "off", "extends": "default", "groups": {"browsers": false}}"#,
    );
    let off = off.display().to_string();
    let Some(_mount) = HungMount::new(&s.join("home/.mozilla")) else {
        skip("skipping: FUSE could not be mounted here");
        return;
    };
    // Control: with the group on, the look-up hangs (killed by `timeout`).
    let on = nono_in(&s, Mode::Wrap, false, &[], &["--dry-run"]);
    assert_eq!(
        on.code,
        Some(124),
        "the hung mount did not hang a look-up: {on}"
    );
    for mode in MODES {
        // Control: without the prefetch the switched-off group is not looked at.
        let serial = nono_in(&s, mode, false, &[], &["-p", &off, "--dry-run"]);
        assert_eq!(serial.code, Some(0), "{mode:?} serial control: {serial}");
        let prefetched = nono_in(&s, mode, true, &[], &["-p", &off, "--dry-run"]);
        assert_eq!(
            prefetched.code,
            Some(0),
            "{mode:?}: with the browsers group switched off, nono hung on ~/.mozilla (a FUSE mount that does not answer) — the prefetch resolved the group anyway and was joined: {prefetched}"
        );
    }
}

/// A filter that kills the process on `sched_setaffinity` (what systemd's
/// `SystemCallFilter=~@resources` installs when no `SystemCallErrorNumber=` is set), then
/// exec of the rest of the command line.
const KILL_AFFINITY_C: &str = r#"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sched_setaffinity, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = {sizeof(f) / sizeof(f[0]), f};
    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) {
        perror("killaff");
        return 126;
    }
    execvp(argv[1], argv + 1);
    perror("exec");
    return 127;
}
"#;

/// FINDING (attack 5, availability): the prefetch moves its thread to another CPU
/// (`pthread_setaffinity_np`) and the thread widens its set again (`sched_setaffinity`),
/// calls nono never made before. Under a seccomp policy that kills on `sched_setaffinity`
/// (systemd `SystemCallFilter=~@resources` without `SystemCallErrorNumber=`, a hardened
/// container), `nono run` and `nono wrap` now die with SIGSYS before reading their command
/// line. Control: the filter does kill `taskset`; `nono -s MODE` (no prefetch) runs under it.
#[test]
fn redteam7_start_up_survives_a_filter_that_kills_sched_setaffinity() {
    let s = Scratch::new("rt7-killaff");
    populate(&s);
    let src = s.write("killaff.c", KILL_AFFINITY_C);
    let bin = s.join("killaff");
    let built = Command::new("cc").arg("-o").arg(&bin).arg(&src).status();
    if !built.is_ok_and(|st| st.success()) {
        skip("skipping: no C compiler");
        return;
    }
    let under_filter = |mode: Mode, prefetch: bool| {
        let mut cmd = Command::new(&bin);
        cmd.current_dir(s.join("home/proj"))
            .stdin(Stdio::null())
            .env("HOME", s.join("home"))
            .env_remove("RUST_LOG");
        if let Some(state) = state_home_for(&s.path) {
            cmd.env("XDG_STATE_HOME", state);
        }
        cmd.arg(nono_bin());
        if prefetch {
            cmd.args([mode.as_str(), "-s"]);
        } else {
            cmd.args(["-s", mode.as_str()]);
        }
        cmd.args(["--dry-run", "--", "/bin/true"]);
        output(&mut cmd)
    };
    // Control: the filter kills a process that calls sched_setaffinity.
    if let Ok(taskset) = Command::new(&bin)
        .args(["taskset", "-c", "0", "/bin/true"])
        .status()
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(
            taskset.signal(),
            Some(31),
            "the filter did not kill taskset"
        );
    }
    for mode in MODES {
        let serial = under_filter(mode, false);
        assert_eq!(serial.code, Some(0), "{mode:?} serial control: {serial}");
        let prefetched = under_filter(mode, true);
        assert_eq!(
            prefetched.code,
            Some(0),
            "{mode:?}: nono died at start-up under a filter that kills sched_setaffinity (the prefetch thread's CPU move): {prefetched}"
        );
    }
}

/// The `Cpus_allowed_list` line of `/proc/self/status` in `text`.
fn cpus_allowed(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
}

/// FINDING (attack 5): `thread_cpu::move_off_this_cpu` calls `pthread_setaffinity_np` on a
/// thread that may already have ended (its resolution done while the creator was
/// descheduled right after `clone`). glibc then passes the thread's cleared id, 0, to
/// `sched_setaffinity`, which means the *calling* thread: nono's main thread is pinned to
/// every CPU but the one it ran on, and the command it starts (or execs) inherits that —
/// on a 2-CPU machine one CPU, so `nproc` says 1 and a build runs on half the machine. Seen
/// unprovoked in 2/30 to 10/30 runs on the 2-CPU test VM depending on its load (an
/// `LD_PRELOAD` shim around `pthread_setaffinity_np` showed the caller's own mask change).
/// Here made certain: `strace` (following no other thread) holds nono's main thread for
/// 300 ms on its way out of the first `clone3` — the prefetch thread's — as a busy machine
/// may. Control: without the prefetch (`nono -s MODE`, same delay on its first `clone3`)
/// the command gets nono's own CPU set.
#[test]
fn redteam7_the_command_keeps_every_cpu() {
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = cpus_allowed(&ours).expect("Cpus_allowed_list").to_owned();
    if !ours.contains(['-', ',']) {
        eprintln!("skipping: one CPU, nothing to move to");
        return;
    }
    if !Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
    {
        skip("skipping: no strace to hold the main thread");
        return;
    }
    let s = Scratch::new("rt7-affinity");
    populate(&s);
    let command = |mode: Mode, prefetch: bool| {
        let mut cmd = Command::new("strace");
        cmd.current_dir(s.join("home/proj"))
            .stdin(Stdio::null())
            .env_remove("RUST_LOG");
        if let Some(state) = state_home_for(&s.path) {
            cmd.env("XDG_STATE_HOME", state);
        }
        cmd.args([
            "-o",
            "/dev/null",
            "-e",
            "trace=clone3",
            "-e",
            "inject=clone3:delay_exit=300000:when=1",
        ])
        .arg(nono_bin());
        if prefetch {
            cmd.args([mode.as_str(), "-s"]);
        } else {
            cmd.args(["-s", mode.as_str()]);
        }
        cmd.args([
            "--allow-cwd",
            "--",
            "/bin/grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ]);
        output(&mut cmd)
    };
    for mode in MODES {
        let serial = command(mode, false);
        assert_eq!(
            cpus_allowed(&serial.stdout),
            Some(ours.as_str()),
            "{mode:?} serial control: {serial}"
        );
        let prefetched = command(mode, true);
        assert_eq!(
            cpus_allowed(&prefetched.stdout),
            Some(ours.as_str()),
            "{mode:?}: the command was started on fewer CPUs than nono had ({ours}): {prefetched}"
        );
    }
}

/// A test that cannot run here says why; under `NONO_REQUIRE_TOOLS=1` (CI, which installs
/// what the tests need) that is a failure, not a skip.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var_os("NONO_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
        "NONO_REQUIRE_TOOLS=1 but {why}"
    );
    eprintln!("{why}");
}

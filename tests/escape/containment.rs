//! Containment: nothing the command starts outlives nono — also after `kill -9` of nono,
//! when no code of the supervisor runs — as root and as an unprivileged user, without
//! namespaces. The attack: a double-forked daemon (re-parented away, in a session of its own)
//! and a `setsid` child, the classic ways to survive the end of a job. The control runs the
//! same script bare and kills its shell the same way: both survive there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{nono_bin, sandbox_available, Scratch};
use crate::users::TestUser;

/// Prints the pids of a double-forked daemon and a `setsid` child, then waits.
const SCRIPT: &str = r#"
daemon=$( (setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo $!) )
setsid sleep 300 < /dev/null > /dev/null 2>&1 &
echo "pids $daemon $!"
exec sleep 300 < /dev/null
"#;

/// `Some(state)` of a live or zombie process.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn alive(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn sigkill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

/// Start `cmd` (which runs [`SCRIPT`] somehow), wait until both leftovers run `sleep`, then
/// SIGKILL the top process and return the leftovers' pids and which of them are still alive
/// one second later.
fn kill_top_and_look(mut cmd: Command) -> (Vec<u32>, Vec<u32>, String) {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(listed) = line.strip_prefix("pids ") else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "no pids line: {line:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let pids: Vec<u32> = listed
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|p| comm(*p) != "sleep") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    sigkill(child.id());
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    while pids.iter().any(|p| alive(*p)) && killed.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    // Whatever failed, leave nothing running.
    for p in &left {
        sigkill(*p);
    }
    (pids, left, stderr)
}

/// The shell that runs [`SCRIPT`]: bash where there is one, so that this test does not keep
/// `/bin/sh` (dash) busy while `fs::fs_system_dirs_not_writable_as_root`, running in
/// parallel, opens it for writing (`ETXTBSY` would answer before Landlock's `EACCES`).
fn shell() -> &'static str {
    if std::path::Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "sh"
    }
}

fn nono_run(s: &Scratch, user: Option<&TestUser>, extra: &[&str]) -> Command {
    let mut cmd = match user {
        Some(u) => u.command(nono_bin()),
        None => {
            let mut c = Command::new(nono_bin());
            c.env_remove("RUST_LOG");
            c
        }
    };
    cmd.current_dir(&s.path)
        .args(["run", "-s"])
        .args(extra)
        .args(["--", shell(), "-c", SCRIPT]);
    cmd
}

fn bare(s: &Scratch) -> Command {
    let mut cmd = Command::new(shell());
    cmd.current_dir(&s.path).args(["-c", SCRIPT]);
    cmd
}

/// As root (the init kills its descendants; with a run cgroup, `cgroup.kill`), and as an
/// unprivileged user created for the test (no cgroup: the init's walk). Control: the same
/// script bare, its shell killed the same way: both leftovers survive.
#[test]
fn containment_daemon_and_setsid_child_die_with_nono_after_sigkill() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("containment-sigkill");
    let (pids, left, _) = kill_top_and_look(bare(&s));
    assert_eq!(
        left, pids,
        "control: without nono the daemon and the setsid child survive their parent's SIGKILL"
    );
    let user = TestUser::create("sigkill");
    let mut cases: Vec<(&str, Option<&TestUser>, &[&str])> = vec![
        ("as this user", None, &[]),
        // A run cgroup where one can be made: the init ends the tree with cgroup.kill.
        (
            "as this user, with a run cgroup",
            None,
            &["--best-effort", "--max-processes", "100000"],
        ),
    ];
    if let Some(u) = &user {
        cases.push(("as an unprivileged user", Some(u), &[]));
    }
    for (what, u, extra) in cases {
        let (pids, left, stderr) = kill_top_and_look(nono_run(&s, u, extra));
        assert_eq!(pids.len(), 2, "{what}");
        assert!(
            left.is_empty(),
            "{what}: {left:?} of {pids:?} outlived nono's SIGKILL by more than a second; nono said: {stderr}"
        );
    }
}

/// Normal exit: the command double-forks a daemon (in a session of its own — it prints its
/// pid after `setsid`, so the command exits only once it has left — ignoring `SIGTERM`) and
/// exits. The daemon is the init's child then, and the init ends it
/// (`SIGTERM`, the grace period, `SIGKILL`) before it exits with the command's status — so
/// nono returns with nothing left, without a run cgroup too. Control: run bare, it survives.
#[test]
fn containment_a_double_forked_daemon_ends_with_the_run() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("containment-daemon");
    let script = r#"
        daemon=$( (setsid sh -c 'trap "" TERM; echo $$; exec sleep 300 >&-' < /dev/null 2>/dev/null &) )
        echo "pid $daemon"
        exit 4
    "#;
    let pid_of = |stdout: &[u8]| -> u32 {
        let text = String::from_utf8_lossy(stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("pid "))
            .unwrap_or_else(|| panic!("no pid line: {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let bare = Command::new(shell())
        .current_dir(&s.path)
        .args(["-c", script])
        .output()
        .unwrap();
    let daemon = pid_of(&bare.stdout);
    std::thread::sleep(Duration::from_millis(200));
    let survived = alive(daemon);
    sigkill(daemon);
    assert!(
        survived,
        "control: a double-forked daemon outlives its shell"
    );
    let run = Command::new(nono_bin())
        .current_dir(&s.path)
        .env_remove("RUST_LOG")
        .args(["run", "-s", "--", shell(), "-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let daemon = pid_of(&run.stdout);
    let left = alive(daemon);
    sigkill(daemon);
    assert_eq!(run.status.code(), Some(4), "the command's status is kept");
    assert!(!left, "the daemon {daemon} outlived `nono run`");
}

/// The cgroup v2 mount point, if any.
fn cgroup2_mount() -> Option<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next()? == "cgroup2")
            .then(|| pre.split_whitespace().nth(4).map(str::to_owned))?
    })
}

/// The command cannot leave its run cgroup (and with it the limits and `cgroup.kill`): as
/// root, it writes its pid to the hierarchy root's `cgroup.procs` and to its own cgroup's
/// `pids.max`. Landlock refuses both writes (the default profile grants `/sys/fs/cgroup`
/// read-only) and it stays in `run-*`. Control: bare, the same move works.
#[test]
fn containment_the_command_cannot_leave_its_run_cgroup() {
    if !sandbox_available() {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: needs root (a run cgroup and cgroup files writable by DAC)");
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipping: no cgroup v2");
        return;
    };
    let s = Scratch::new("containment-cgroup");
    let script = format!(
        "cg=$(sed -n 's/^0:://p' /proc/self/cgroup); \
         echo $$ > {mount}/cgroup.procs 2>/dev/null && echo moved; \
         echo max > {mount}$cg/pids.max 2>/dev/null && echo raised; \
         sed -n 's/^0::/now /p' /proc/self/cgroup"
    );
    let run = Command::new(nono_bin())
        .current_dir(&s.path)
        .env_remove("RUST_LOG")
        .args([
            "run",
            "-s",
            "--best-effort",
            "--max-processes",
            "1000",
            "--",
        ])
        .args([shell(), "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("now /") && out.contains("/run-"),
        "the command runs in a run cgroup: {out}"
    );
    assert!(!out.contains("moved") && !out.contains("raised"), "{out}");
    // Control: a bare shell moves itself into a scratch cgroup.
    let scratch = format!("{mount}/nono-e2e-ctl-{}", std::process::id());
    if std::fs::create_dir(&scratch).is_ok() {
        let bare = Command::new(shell())
            .args([
                "-c",
                &format!("echo $$ > {scratch}/cgroup.procs && echo moved"),
            ])
            .output()
            .unwrap();
        for _ in 0..100 {
            if std::fs::remove_dir(&scratch).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            String::from_utf8_lossy(&bare.stdout).contains("moved"),
            "control: the move works bare"
        );
    }
}

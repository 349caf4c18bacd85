//! The procfs broker with real sandboxed children: another process's `/proc` entries (an
//! outside process holding a secret, the supervisor itself) are refused and reported, the
//! child's own and its descendants' entries and system-wide files keep working, and a path
//! flipped in memory by a second thread never reaches another process's entries.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use nono_sandbox::AccessMode;
use nono_supervisor::ExitStatusKind;

use crate::cprog::{answer, gaps, run_probe};
use crate::harness::{
    assert_exit, denial_of, run_ok, sandbox_ready, scratch, system_caps, trapped,
};

const SECRET: &str = "NONO_GAPS_SECRET=hunter2-procfs";

/// A process outside the sandbox with a secret in its environment; killed on drop.
struct Outsider(Child);

impl Outsider {
    fn start() -> Outsider {
        let child = Command::new("sleep")
            .arg("300")
            .env("NONO_GAPS_SECRET", "hunter2-procfs")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has exec'd (its environ is sleep's, not the fork's copy of ours).
        for _ in 0..200 {
            let cmdline =
                std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
            if cmdline.starts_with(b"sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Outsider(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn another_processs_environ_is_refused_and_reported() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let outsider = Outsider::start();
    // The premise: unsandboxed, the secret is readable.
    let environ = format!("/proc/{}/environ", outsider.pid());
    assert!(String::from_utf8_lossy(&std::fs::read(&environ).unwrap()).contains(SECRET));
    let out = scratch("procfs-environ");
    let (outcome, text) = run_probe(&probe, &["read", &environ], system_caps(), &out);
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    assert_eq!(answer(&text, "open"), "EACCES", "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let d = denial_of(&outcome, &environ);
    assert_eq!(d.access, AccessMode::Read);
    assert!(d.call.name().starts_with("open"), "{d:?}");
    // cmdline and status are refused as well (the kernel's ptrace check does not cover them).
    for entry in ["cmdline", "status", "auxv"] {
        let path = format!("/proc/{}/{entry}", outsider.pid());
        let (_, text) = run_probe(&probe, &["read", &path], system_caps(), &out);
        assert_eq!(answer(&text, "open"), "EACCES", "{entry}: {text}");
    }
}

#[test]
fn the_supervisors_environ_is_refused() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("procfs-supervisor");
    let me = std::process::id();
    // This process is the supervisor; $PPID of the sandboxed shell is the run's init (a
    // copy of the supervisor, outside the sandbox): both are refused.
    let script = format!(
        "test \"$PPID\" != {me} || exit 3; \
         if cat /proc/{me}/environ > {o}/env; then exit 4; fi; \
         if cat /proc/self/../{me}/cmdline > {o}/cmd; then exit 5; fi; \
         cd /proc && if cat ./{me}/environ > {o}/env2; then exit 6; fi; \
         if cat /proc/$PPID/environ > {o}/init-env; then exit 7; fi; exit 0",
        o = out.display()
    );
    let outcome = run_ok(trapped(&script, &out));
    for f in ["env", "cmd", "env2", "init-env"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap_or_default(), b"", "{f}");
    }
    let environ = format!("/proc/{me}/environ");
    assert!(
        outcome
            .denials
            .iter()
            .filter(|d| d.path().and_then(Path::to_str) == Some(environ.as_str()))
            .count()
            >= 2,
        "{:?}",
        outcome.denials
    );
}

#[test]
fn own_and_descendant_entries_and_system_files_work() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("procfs-own");
    let o = out.display();
    // `sleep 5 &` may not have exec'd yet when its cmdline is first read (then it is the
    // shell's): read it until it is `sleep`'s, for at most ~3 s.
    let script = format!(
        "set -e; \
         grep -q '^Name:' /proc/self/status; \
         grep -q '^processor' /proc/cpuinfo; \
         grep -q '^MemTotal' /proc/meminfo; \
         cat /proc/sys/kernel/ostype > {o}/ostype; \
         ls /proc/self/fd > {o}/fds; \
         cat /proc/thread-self/comm > {o}/comm; \
         readlink /proc/self/exe > {o}/exe; \
         cat /proc/self/fd/0 < /dev/null; \
         sleep 5 & kid=$!; \
         grep '^PPid:' /proc/$kid/status > {o}/kid; \
         for i in $(seq 300); do \
           tr '\\0' ' ' < /proc/$kid/cmdline > {o}/kidcmd; \
           grep -q '^sleep' {o}/kidcmd && break; sleep 0.01; \
         done; \
         kill $kid; \
         ls /proc | grep -qx self; \
         echo done > {o}/done"
    );
    let outcome = run_ok(trapped(&script, &out));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
    assert_eq!(read("done"), "done\n");
    assert_eq!(read("ostype"), "Linux\n");
    assert!(read("fds").lines().any(|l| l == "0"), "{}", read("fds"));
    assert_eq!(read("comm"), "cat\n");
    assert!(read("kid").starts_with("PPid:"), "{}", read("kid"));
    assert_eq!(read("kidcmd"), "sleep 5 ");
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn sensitive_system_entries_and_writes_are_refused() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("procfs-system");
    let o = out.display();
    // As root, a /proc read grant alone would let these through.
    let script = format!(
        "if head -c 1 /proc/kcore > {o}/kcore; then exit 3; fi; \
         if cat /proc/kallsyms > {o}/kallsyms; then exit 4; fi; \
         if echo 1 > /proc/sys/vm/drop_caches; then exit 5; fi; \
         if echo x > /proc/sysrq-trigger; then exit 6; fi; \
         echo nono-test > /proc/self/comm; \
         exit 0"
    );
    let outcome = run_ok(trapped(&script, &out));
    for p in [
        "/proc/kcore",
        "/proc/kallsyms",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
    ] {
        assert!(
            outcome
                .denials
                .iter()
                .any(|d| d.path().and_then(Path::to_str) == Some(p)),
            "{p}: {:?}",
            outcome.denials
        );
    }
}

#[test]
fn a_path_flipped_by_another_thread_never_reads_another_processs_environ() {
    let Some(_g) = sandbox_ready() else { return };
    let Some(probe) = gaps() else { return };
    let outsider = Outsider::start();
    let out = scratch("procfs-race");
    let bad = format!("/proc/{}/environ", outsider.pid());
    let (outcome, text) = run_probe(
        &probe,
        &["race-open", "/proc/self/status", &bad, "3000", "hunter2"],
        system_caps(),
        &out,
    );
    assert_eq!(outcome.exit, ExitStatusKind::Code(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("opened="))
        .unwrap_or_else(|| panic!("{text}"));
    let field = |name: &str| -> u32 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    eprintln!("race: {line}");
    assert_eq!(field("leaked="), 0, "{line}");
    // The race was real: both sides were seen (some opens served, some refused).
    assert!(field("opened=") > 0, "{line}");
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path().and_then(Path::to_str) == Some(bad.as_str())),
        "the flipped path was never even seen: {line}"
    );
}

#[test]
fn a_second_thread_sees_its_own_process() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("procfs-thread");
    let script = format!(
        "{py} -c '
import os, threading
res = {{}}
def t():
    res[\"pid\"] = open(\"/proc/self/status\").read().split(\"Tgid:\")[1].split()[0]
    res[\"tid\"] = open(\"/proc/thread-self/stat\").read().split()[0]
    res[\"native\"] = str(threading.get_native_id())
th = threading.Thread(target=t); th.start(); th.join()
assert res[\"pid\"] == str(os.getpid()), res
assert res[\"tid\"] == res[\"native\"] != res[\"pid\"], res
open(\"{o}/ok\", \"w\").write(\"ok\")
'",
        py = crate::harness::PYTHON,
        o = out.display()
    );
    let mut config = trapped(&script, &out);
    config.workdir = Some(out.clone());
    let outcome = run_ok(config);
    assert_eq!(std::fs::read_to_string(out.join("ok")).unwrap(), "ok");
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn an_sdk_request_for_another_processs_proc_entry_is_never_granted() {
    let Some(_g) = sandbox_ready() else { return };
    let outsider = Outsider::start();
    let out = scratch("procfs-sdk");
    let bin = crate::harness::example("sdk_request");
    let mut config = trapped("", &out);
    config
        .caps
        .allow_file(&bin, AccessMode::Read, "example")
        .unwrap();
    config.argv = vec![
        bin.into(),
        format!("/proc/{}/environ", outsider.pid()).into(),
        out.join("copy").into(),
    ];
    config.sdk = true;
    // Even an engine that approves everything.
    config.engine = Some(crate::harness::approve_all(
        nono_supervisor::policy::Policy::default(),
    ));
    assert_exit(&nono_supervisor::run(config).unwrap(), 3);
    assert!(!out.join("copy").exists());
}

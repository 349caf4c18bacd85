//! A throwaway unprivileged user for tests that must see what a user without root sees
//! (created with `useradd`, removed with `userdel` on drop). Root only: without root the
//! tests already run unprivileged and use the current user.

use std::ffi::OsStr;
use std::process::Command;

/// A system user without a home directory or login shell, removed on drop.
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    /// Create `nono-<tag>-<pid>` (names are unique per test binary and tag). `None` when not
    /// root (then the caller's user is unprivileged already).
    pub fn create(tag: &str) -> Option<TestUser> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let name = format!("nono-{tag}-{}", std::process::id());
        assert!(name.len() <= 32, "user name too long: {name}");
        let _ = Command::new("userdel").arg(&name).output();
        // /etc/passwd is locked while another test adds or removes its user: retry.
        let mut last = String::new();
        for _ in 0..50 {
            let out = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ])
                .arg(&name)
                .output()
                .expect("useradd (shadow-utils) is needed for the unprivileged tests");
            if out.status.success() {
                let id = |flag: &str| -> u32 {
                    let out = Command::new("id").arg(flag).arg(&name).output().unwrap();
                    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
                };
                let (uid, gid) = (id("-u"), id("-g"));
                return Some(TestUser { name, uid, gid });
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("useradd {name} failed: {last}");
    }

    /// `PROGRAM ARGS...` as this user (`setpriv`: real and effective ids, no supplementary
    /// groups), with `HOME=/` (nono needs an absolute one) and the rest of our environment.
    pub fn command<S: AsRef<OsStr>>(&self, program: S) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(program)
            .env("HOME", "/")
            .env("USER", &self.name)
            .env_remove("RUST_LOG");
        cmd
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for _ in 0..50 {
            let ok = Command::new("userdel")
                .arg(&self.name)
                .output()
                .is_ok_and(|o| o.status.success() || o.status.code() == Some(6));
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

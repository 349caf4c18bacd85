//! Policy integration: the embedded default profile and the deny groups, enforced by the
//! real kernel on a sandboxed child (denials must come from Landlock — the tests run as root,
//! so file permissions would never refuse).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nono_sandbox::{AccessMode, CommandExt};
use nono_supervisor::profile::{self, Vars};

/// Landlock filesystem rules available; otherwise skip (or fail under NONO_REQUIRE_SANDBOX=1).
fn landlock_available() -> bool {
    let ok = nono_sandbox::support().landlock.fs;
    if !ok {
        assert!(
            std::env::var_os("NONO_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
            "NONO_REQUIRE_SANDBOX=1 but Landlock is not available"
        );
        eprintln!("skipping: Landlock is not available on this kernel");
    }
    ok
}

#[test]
fn default_profile_denies_groups_and_system_secrets_inside_granted_trees() {
    // Shared with other tests; excludes the fd-counting test while this one opens fds.
    let _g = crate::harness::shared();
    if !landlock_available() {
        return;
    }
    // A fake home the command grants as a whole (like `--allow ~`), with credentials in it.
    // It lives outside /tmp: carve-outs inside a granted tree are enforced by granting the
    // tree's other entries one by one, so a fake home under /tmp would take the right to
    // create files directly in /tmp away (the real home is never under /tmp).
    let home = crate::harness::Scratch::new_in(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &format!("nono-policy-{}", std::process::id()),
    );
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(home.join(".sshfoo")).unwrap();
    std::fs::create_dir_all(home.join("proj")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), b"secret").unwrap();
    std::fs::write(home.join(".sshfoo/notes"), b"fine").unwrap();
    std::fs::write(home.join(".bashrc"), b"alias x=y").unwrap();
    for f in [".ssh/id_ed25519", ".sshfoo/notes", ".bashrc"] {
        std::fs::set_permissions(home.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let vars = Vars::for_home(&home).with_workdir(home.join("proj"));
    let p = profile::load("default").unwrap();
    let mut caps = p.to_caps(&vars).unwrap();
    caps.allow_dir(&home, AccessMode::ReadWrite, "--allow ~")
        .unwrap();

    let shadow = Path::new("/etc/shadow").exists();
    // The temp dir stays writable. Probe a directory made inside it before the sandbox:
    // when this checkout itself lives under /tmp, the fake home's carve-outs make /tmp a
    // spine directory (no new entries directly in it), but its existing entries keep the grant.
    let tmp_probe = std::env::temp_dir().join(format!("nono-policy-tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp_probe).unwrap();
    let _cleanup = scopeguard_dir(&tmp_probe);
    let script = format!(
        r#"set -u
cat /etc/hostname >/dev/null || {{ echo "hostname unreadable"; exit 10; }}
cat {h}/.sshfoo/notes >/dev/null || {{ echo ".sshfoo unreadable"; exit 11; }}
if cat {h}/.ssh/id_ed25519 2>/dev/null; then echo "read .ssh"; exit 12; fi
if cat {h}/.bashrc 2>/dev/null; then echo "read .bashrc"; exit 13; fi
if echo x 2>/dev/null > {h}/.ssh/planted; then echo "wrote .ssh"; exit 14; fi
if [ {shadow} = true ] && cat /etc/shadow >/dev/null 2>&1; then echo "read shadow"; exit 15; fi
echo ok > {h}/proj/out || {{ echo "proj unwritable"; exit 16; }}
echo ok > {t}/probe && rm {t}/probe || {{ echo "tmp unwritable"; exit 17; }}
"#,
        h = home.display(),
        t = tmp_probe.display()
    );
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .sandboxed(&caps)
        .unwrap()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(home.join("proj/out")).unwrap(), b"ok\n");
    assert!(!home.join(".ssh/planted").exists());

    // Control: with every group switched off, the same grant reads the key, so the refusal
    // above came from the deny group and nothing else.
    let mut open = p.clone();
    for g in nono_supervisor::deny_groups::group_names() {
        open.deny_groups.insert(g.to_owned(), false);
    }
    let mut caps = open.to_caps(&vars).unwrap();
    caps.allow_dir(&home, AccessMode::ReadWrite, "--allow ~")
        .unwrap();
    let out = Command::new("/bin/cat")
        .arg(home.join(".ssh/id_ed25519"))
        .sandboxed(&caps)
        .unwrap()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"secret");
}

/// Removes a directory when dropped.
fn scopeguard_dir(path: &Path) -> impl Drop + '_ {
    struct Guard<'a>(&'a Path);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    Guard(path)
}

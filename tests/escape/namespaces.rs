//! User and mount namespaces: unshare, clone with CLONE_NEW* flags, clone3 (whose flags
//! seccomp cannot read, so it is refused with ENOSYS and libc falls back to clone), setns.

use crate::harness::Scratch;
use crate::programs::{bins, probe_bare, probe_in, MODES};

#[test]
fn userns_unshare_clone_setns_refused() {
    let Some(_) = bins() else { return };
    for mode in MODES {
        let s = Scratch::new(&format!("ns-{}", mode.as_str()));
        let out = probe_in(
            mode,
            &s.path,
            &[],
            &[
                "unshare",
                "unshare_user",
                "user",
                "unshare",
                "unshare_mnt",
                "mnt",
                "unshare",
                "unshare_user_mnt",
                "user,mnt",
                "unshare",
                "unshare_net",
                "net",
                "clone",
                "clone_user",
                "user",
                "clone",
                "clone_mnt",
                "mnt",
                "clone",
                "clone_plain",
                "",
                "clone3",
                "clone3_user",
                "user",
                "clone3",
                "clone3_plain",
                "",
                "setns",
                "setns_mnt",
                "/proc/self/ns/mnt",
                "setns",
                "setns_user",
                "/proc/self/ns/user",
                "setns_pidfd",
                "setns_pidfd",
                "ppid",
            ],
        );
        out.expect(&[
            ("unshare_user", "EPERM"),
            ("unshare_mnt", "EPERM"),
            ("unshare_user_mnt", "EPERM"),
            ("unshare_net", "EPERM"),
            ("clone_user", "EPERM"),
            ("clone_mnt", "EPERM"),
            // A plain fork still works: only namespace flags are refused.
            ("clone_plain", "ok"),
            ("clone3_user", "ENOSYS"),
            ("clone3_plain", "ENOSYS"),
            ("setns_mnt.open", "ok"),
            ("setns_mnt", "EPERM"),
            ("setns_user.open", "ok"),
            ("setns_user", "EPERM"),
            ("setns_pidfd.pidfd", "ok"),
            ("setns_pidfd", "EPERM"),
        ]);

        // Controls, one process each (a successful unshare changes the rest): as root all
        // of these succeed.
        probe_bare(&s.path, &["unshare", "unshare_user", "user"]).expect(&[("unshare_user", "ok")]);
        probe_bare(&s.path, &["unshare", "unshare_mnt", "mnt"]).expect(&[("unshare_mnt", "ok")]);
        probe_bare(&s.path, &["clone", "clone_user", "user"]).expect(&[("clone_user", "ok")]);
        probe_bare(&s.path, &["clone3", "clone3_user", "user"]).expect(&[("clone3_user", "ok")]);
        probe_bare(&s.path, &["setns", "setns_mnt", "/proc/self/ns/mnt"])
            .expect(&[("setns_mnt", "ok")]);
    }
}

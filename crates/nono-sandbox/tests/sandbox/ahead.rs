//! A sandbox prepared ahead of its last deny entries (`PreparedSandbox::prepare_ahead`,
//! issue 14): taken only where the final capability set asks for exactly the sandbox it was
//! prepared for, and then it builds the same rules and status, and refuses the same opens, as
//! a sandbox prepared from the final set. Every deny that could change the sandbox makes the
//! preparation run again.

use std::path::Path;

use proptest::prelude::*;

use nono_sandbox::linux::landlock::plan_fs_rules;
use nono_sandbox::linux::seccomp::NotifySet;
use nono_sandbox::{
    AccessMode, CapabilitySet, CommandExt as _, DenyKind, NetworkMode, Origin, PreparedSandbox,
    SandboxOptions, Seen,
};

use crate::harness::{self, base_caps, TempTree};

/// A tree: `work/` (granted read-write), `docs/` (granted read), `outside/` (not granted),
/// with a file in each, and `work/keys/` carved out of the read-write grant by the base set.
fn tree() -> TempTree {
    let t = TempTree::new("ahead");
    t.file("work/a.txt", "a");
    t.file("work/keys/id", "k");
    t.file("docs/readme", "r");
    t.file("outside/cred", "c");
    t.file("outside/other", "o");
    t
}

/// The base set of [`tree`]: the harness's grants, `work` read-write, `docs` read, `work/keys`
/// denied (the profile's own deny list, known before the deny groups).
fn base(t: &TempTree) -> CapabilitySet {
    let mut caps = base_caps();
    caps.allow_dir(t.join("work"), AccessMode::ReadWrite, "--allow")
        .unwrap();
    caps.allow_dir(t.join("docs"), AccessMode::Read, "--read")
        .unwrap();
    caps.deny(t.join("work/keys"), Origin::ProfileDeny("p".into()))
        .unwrap();
    caps
}

/// `caps` with `path` denied (`kind`) as a deny group adds it, its resolution having seen
/// what an `lstat` sees now.
fn with_group_deny(caps: &CapabilitySet, path: &Path, kind: DenyKind) -> CapabilitySet {
    let mut caps = caps.clone();
    let seen = match std::fs::symlink_metadata(path) {
        Ok(m) => Seen::Object {
            dir: m.is_dir(),
            nlink: std::os::unix::fs::MetadataExt::nlink(&m),
        },
        Err(_) => Seen::Missing,
    };
    caps.deny_many_kind_known([(path, Origin::Group("credentials".into()), kind)], |p| {
        (p == path).then_some(seen)
    })
    .unwrap();
    caps
}

fn ahead(caps: &CapabilitySet, opts: &SandboxOptions) -> nono_sandbox::PreparedAhead {
    PreparedSandbox::prepare_ahead(caps.clone(), opts.clone()).expect("prepare ahead")
}

/// `prepare_reusing` with an ahead of `base`: whether it was taken, and the sandbox.
fn reuse(
    base: &CapabilitySet,
    caps: &CapabilitySet,
    opts: &SandboxOptions,
) -> (PreparedSandbox, bool) {
    PreparedSandbox::prepare_reusing(caps, opts, Some(ahead(base, opts))).expect("prepare")
}

#[test]
fn denies_outside_every_grant_keep_the_sandbox_prepared_ahead() {
    let t = tree();
    let base = base(&t);
    // Outside every grant (a file and a directory), missing, and read-only on a read grant.
    let mut caps = with_group_deny(&base, &t.join("outside/cred"), DenyKind::All);
    caps = with_group_deny(&caps, &t.join("outside"), DenyKind::All);
    caps = with_group_deny(&caps, &t.join("nowhere/x"), DenyKind::All);
    caps = with_group_deny(&caps, &t.join("docs/readme"), DenyKind::Write);
    assert!(caps.adds_only_inert_denies(&base));
    let opts = SandboxOptions::default();
    let (reused, taken) = reuse(&base, &caps, &opts);
    assert!(taken, "the preparation ahead was not taken");
    let fresh = PreparedSandbox::prepare(&caps, &opts).unwrap();
    assert_eq!(reused.path_rules(), fresh.path_rules());
    assert_eq!(reused.status(), fresh.status());
    assert_eq!(
        plan_fs_rules(&caps).unwrap(),
        plan_fs_rules(&base).unwrap(),
        "an inert deny changed the plan"
    );
    // And it enforces as the fresh one does: the base's carve-out holds, the grants work.
    if !harness::landlock_abi_at_least(1) {
        return;
    }
    for (path, allowed) in [
        (t.join("work/a.txt"), true),
        (t.join("docs/readme"), true),
        (t.join("work/keys/id"), false),
        (t.join("outside/cred"), false),
    ] {
        let (p, taken) = reuse(&base, &caps, &opts);
        assert!(taken);
        let mut cmd = std::process::Command::new("/usr/bin/cat");
        cmd.arg(&path).stdin(std::process::Stdio::null());
        cmd.sandboxed_with(p);
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.success(),
            allowed,
            "cat {} under the sandbox prepared ahead: {out:?}",
            path.display()
        );
    }
}

#[test]
fn a_deny_that_touches_a_grant_prepares_again_and_is_enforced() {
    let t = tree();
    let base = base(&t);
    let opts = SandboxOptions::default();
    // Each deny, and an access to the tree it must refuse although the sandbox prepared
    // ahead allows it.
    let narrowing = [
        // Inside the read-write grant (a carve-out: the grant is expanded around it).
        (
            t.join("work/a.txt"),
            DenyKind::All,
            t.join("work/a.txt"),
            false,
        ),
        // Read-only inside the read-write grant (its write rights go).
        (
            t.join("work/a.txt"),
            DenyKind::Write,
            t.join("work/a.txt"),
            true,
        ),
        // Inside the read grant.
        (
            t.join("docs/readme"),
            DenyKind::All,
            t.join("docs/readme"),
            false,
        ),
        // Around a grant (it is dropped).
        (t.join("docs"), DenyKind::All, t.join("docs/readme"), false),
        // Around every grant of the tree, read-only (the read-write grant loses its writes).
        (
            t.path().to_path_buf(),
            DenyKind::Write,
            t.join("work/a.txt"),
            true,
        ),
    ];
    for (path, kind, probe, write) in narrowing {
        let caps = with_group_deny(&base, &path, kind);
        assert!(
            !caps.adds_only_inert_denies(&base),
            "{} ({kind:?}) was taken as inert",
            path.display()
        );
        let (p, taken) = reuse(&base, &caps, &opts);
        assert!(!taken, "{} ({kind:?}): the ahead was taken", path.display());
        assert_eq!(
            p.path_rules(),
            PreparedSandbox::prepare(&caps, &opts).unwrap().path_rules()
        );
        if !harness::landlock_abi_at_least(1) {
            continue;
        }
        let script = if write {
            "echo x >> \"$0\""
        } else {
            "cat \"$0\""
        };
        let probe_under = |p: PreparedSandbox| {
            let mut cmd = std::process::Command::new("/usr/bin/sh");
            cmd.args(["-c", script])
                .arg(&probe)
                .stdin(std::process::Stdio::null());
            cmd.sandboxed_with(p);
            cmd.output().unwrap()
        };
        let refused = probe_under(p);
        assert!(
            !refused.status.success(),
            "{script} {} after the deny ({kind:?}) of {}: {refused:?}",
            probe.display(),
            path.display()
        );
        // What the preparation ahead alone would have allowed (so the probe means something).
        let allowed = probe_under(reuse(&base, &base, &opts).0);
        assert!(
            allowed.status.success(),
            "{script} {}: {allowed:?}",
            probe.display()
        );
    }
}

#[test]
fn a_deny_the_planner_would_note_or_did_not_look_at_is_not_inert() {
    let t = tree();
    let base = base(&t);
    // A file with two links: the plan notes it (a link elsewhere is not covered).
    std::fs::hard_link(t.join("outside/cred"), t.join("outside/cred2")).unwrap();
    let linked = with_group_deny(&base, &t.join("outside/cred"), DenyKind::All);
    assert!(!linked.adds_only_inert_denies(&base));
    assert_ne!(
        plan_fs_rules(&linked).unwrap().notes,
        plan_fs_rules(&base).unwrap().notes
    );
    // A deny nothing looked at (`deny`: the planner would `lstat` it).
    let mut unknown = base.clone();
    unknown
        .deny(t.join("outside/other"), Origin::Group("credentials".into()))
        .unwrap();
    assert!(!unknown.adds_only_inert_denies(&base));
}

#[test]
fn other_settings_options_or_a_lost_base_deny_prepare_again() {
    let t = tree();
    let base = base(&t);
    let opts = SandboxOptions::default();
    let mut grant = base.clone();
    grant
        .allow_dir(t.join("outside"), AccessMode::Read, "--read")
        .unwrap();
    let mut net = base.clone();
    net.set_network(NetworkMode::Block);
    let mut datagram = base.clone();
    datagram.allow_unix_datagram(true);
    let mut lost = base.clone();
    lost.retain_denies(|d| !d.path.ends_with("keys"));
    for (what, caps) in [
        ("a grant", &grant),
        ("the network", &net),
        ("unix datagram", &datagram),
        ("a base deny", &lost),
    ] {
        assert!(!caps.adds_only_inert_denies(&base), "{what}");
        assert!(!reuse(&base, caps, &opts).1, "{what}: the ahead was taken");
    }
    let trapped = SandboxOptions::new().with_notify(NotifySet::open_family());
    let a = ahead(&base, &opts);
    assert!(a.covers(&base, &opts));
    assert!(!a.covers(&base, &trapped), "other options");
}

/// One of a small set of paths in [`tree`] (granted, inside grants, around them, outside).
fn any_path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        "work",
        "work/a.txt",
        "work/keys",
        "work/keys/id",
        "docs",
        "docs/readme",
        "outside",
        "outside/cred",
        "outside/other",
        "missing",
        "work/missing",
    ])
}

fn any_kind() -> impl Strategy<Value = DenyKind> {
    prop::sample::select(vec![DenyKind::All, DenyKind::Write])
}

fn any_access() -> impl Strategy<Value = AccessMode> {
    prop::sample::select(vec![
        AccessMode::Read,
        AccessMode::Write,
        AccessMode::ReadWrite,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whenever the check says the added denies are inert, planning the final set gives the
    /// rules, notes and hints of planning the base set: the preparation ahead is exactly the
    /// one the final set would get.
    #[test]
    fn inert_denies_never_change_the_plan(
        grants in prop::collection::vec((any_path(), any_access()), 1..4),
        base_denies in prop::collection::vec((any_path(), any_kind()), 0..3),
        added in prop::collection::vec((any_path(), any_kind()), 1..4),
    ) {
        let t = tree();
        let at = |p: &str| if p.is_empty() { t.path().to_path_buf() } else { t.join(p) };
        let mut base = CapabilitySet::new();
        for (p, access) in &grants {
            let path = at(p);
            if path.is_dir() {
                base.allow_dir(&path, *access, "--allow").unwrap();
            } else if path.exists() {
                base.allow_file(&path, *access, "--allow").unwrap();
            }
        }
        for (p, kind) in &base_denies {
            base = with_group_deny(&base, &at(p), *kind);
        }
        let mut caps = base.clone();
        for (p, kind) in &added {
            caps = with_group_deny(&caps, &at(p), *kind);
        }
        if caps.adds_only_inert_denies(&base) {
            prop_assert_eq!(plan_fs_rules(&caps).unwrap(), plan_fs_rules(&base).unwrap());
        }
    }
}

/// A tree with the shapes the planner treats apart: nested directories, a file with two
/// links, a symlink to a directory and one to a file (denied as links or through), a
/// directory reached only through a symlinked parent.
fn linked_tree() -> TempTree {
    let t = TempTree::new("ahead-links");
    t.file("a/b/c/f", "f");
    t.file("a/b/g", "g");
    t.file("a/h", "h");
    t.file("d/e/x", "x");
    t.file("d/y", "y");
    t.file("o/z", "z");
    std::fs::hard_link(t.join("o/z"), t.join("o/z2")).unwrap();
    std::os::unix::fs::symlink(t.join("d/e"), t.join("a/ln_dir")).unwrap();
    std::os::unix::fs::symlink(t.join("o/z"), t.join("d/ln_file")).unwrap();
    std::os::unix::fs::symlink(t.join("a/b"), t.join("via")).unwrap();
    t
}

fn any_linked_path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "",
        "a",
        "a/b",
        "a/b/c",
        "a/b/c/f",
        "a/b/g",
        "a/h",
        "a/ln_dir",
        "a/missing/deeper",
        "d",
        "d/e",
        "d/e/x",
        "d/y",
        "d/ln_file",
        "o",
        "o/z",
        "o/z2",
        "via/c",
        "via/g",
        "nowhere",
    ])
}

/// How a deny entry is added: as a group's (its `lstat` known), by `deny_kind` (not looked
/// at), or as a link (`deny_link_kind`: the link itself, its directory resolved).
#[derive(Debug, Clone, Copy)]
enum AddDeny {
    Group,
    Plain,
    Link,
}

fn any_add() -> impl Strategy<Value = AddDeny> {
    prop::sample::select(vec![AddDeny::Group, AddDeny::Plain, AddDeny::Link])
}

fn add_deny(caps: &CapabilitySet, path: &Path, kind: DenyKind, how: AddDeny) -> CapabilitySet {
    match how {
        AddDeny::Group => with_group_deny(caps, path, kind),
        AddDeny::Plain => {
            let mut caps = caps.clone();
            let _ = caps.deny_kind(path, Origin::Group("credentials".into()), kind);
            caps
        }
        AddDeny::Link => {
            let mut caps = caps.clone();
            let _ = caps.deny_link_kind(path, Origin::Group("credentials".into()), kind);
            caps
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Red team 14: the differential over whole preparations. Base: grants (through symlinks
    /// too) and the profile's own denies; final: the group denies first, then the base's (the
    /// order `resolve_prefetched` gives), each added as a group, a plain or a link deny, and
    /// `run`'s `/proc`-like carve-out (not looked at) appended to both. Whenever the
    /// preparation ahead is taken, it has the rules and the status of preparing the final
    /// set afresh.
    #[test]
    fn a_preparation_taken_ahead_is_the_fresh_preparation(
        grants in prop::collection::vec((any_linked_path(), any_access()), 1..4),
        own in prop::collection::vec((any_linked_path(), any_kind(), any_add()), 0..3),
        groups in prop::collection::vec((any_linked_path(), any_kind(), any_add()), 1..4),
        tail in any::<bool>(),
        opts_trap in any::<bool>(),
    ) {
        let t = linked_tree();
        let at = |p: &str| if p.is_empty() { t.path().to_path_buf() } else { t.join(p) };
        let mut grants_only = CapabilitySet::new();
        for (p, access) in &grants {
            let _ = grants_only.allow_path(at(p), *access, "--allow");
        }
        let mut base = grants_only.clone();
        for (p, kind, how) in &own {
            base = add_deny(&base, &at(p), *kind, *how);
        }
        let mut fin = grants_only.clone();
        for (p, kind, how) in groups.iter().chain(&own) {
            fin = add_deny(&fin, &at(p), *kind, *how);
        }
        if tail {
            for caps in [&mut base, &mut fin] {
                caps.deny(t.join("o"), "served by the supervisor").unwrap();
            }
        }
        let opts = if opts_trap {
            SandboxOptions::new().with_notify(NotifySet::open_family())
        } else {
            SandboxOptions::default()
        };
        let (reused, taken) = reuse(&base, &fin, &opts);
        let fresh = PreparedSandbox::prepare(&fin, &opts).unwrap();
        if taken {
            prop_assert_eq!(reused.path_rules(), fresh.path_rules());
            prop_assert_eq!(reused.status(), fresh.status());
        }
        prop_assert_eq!(taken, fin.adds_only_inert_denies(&base));
    }
}

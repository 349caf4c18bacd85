//! The notify broker with real children: trapped opens inside the grants run, opens outside
//! are recorded, granted at runtime as fds the supervisor opens, or refused (deny groups win,
//! symlinks out of the approved tree do not work).

use nono_sandbox::AccessMode;
use nono_supervisor::approval::DenyAll;
use nono_supervisor::policy::{ApproveRule, Engine, Policy};
use nono_supervisor::{run, ExitStatusKind};

use crate::harness::{
    approve_all, denial_of, exclusive, fd_count, notify_supported, run_ok, sandbox_ready, scratch,
    trapped,
};

#[test]
fn opens_inside_the_grants_run_and_outside_are_recorded() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("secret"), "s3cret").unwrap();
    let script = format!(
        "cat /etc/passwd > /dev/null && ! cat {o}/secret 2>/dev/null && echo ok > {out}/result",
        o = outside.display(),
        out = out.display()
    );
    let outcome = run_ok(trapped(&script, &out));
    assert_eq!(std::fs::read_to_string(out.join("result")).unwrap(), "ok\n");
    let denial = denial_of(&outcome, outside.join("secret"));
    assert_eq!(denial.access, AccessMode::Read);
    assert!(denial.call.name().starts_with("open"), "{denial:?}");
    assert!(denial.pid > 0);
    // Nothing inside the grants is reported.
    assert!(
        outcome
            .denials
            .iter()
            .all(|d| !d.path().is_some_and(|p| p.starts_with("/etc"))),
        "{:?}",
        outcome.denials
    );
}

#[test]
fn runtime_grant_reads_an_outside_file() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("data"), "granted-content").unwrap();
    let script = format!(
        "cat {o}/data > {out}/copy",
        o = outside.display(),
        out = out.display()
    );
    let mut config = trapped(&script, &out);
    config.engine = Some(approve_all(Policy::default()));
    let outcome = run_ok(config);
    assert_eq!(
        std::fs::read_to_string(out.join("copy")).unwrap(),
        "granted-content"
    );
    assert!(outcome.denials.is_empty(), "{:?}", outcome.denials);
}

#[test]
fn runtime_grant_creates_a_new_file_in_an_approved_dir() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let approved = scratch("approved");
    let mut policy = Policy::default();
    policy.approve.push(ApproveRule::new(
        &format!("{}/**", approved.display()),
        AccessMode::ReadWrite,
        "test",
    ));
    let script = format!("echo created > {a}/new.txt", a = approved.display());
    let mut config = trapped(&script, &out);
    config.engine = Some(std::sync::Arc::new(Engine::new(policy, DenyAll)));
    run_ok(config);
    assert_eq!(
        std::fs::read_to_string(approved.join("new.txt")).unwrap(),
        "created\n"
    );
}

#[test]
fn deny_group_wins_over_an_approving_backend() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let creds = scratch("creds");
    std::fs::write(creds.join("token"), "do-not-leak").unwrap();
    let mut policy = Policy::default();
    policy.deny.add(&creds, "credentials").unwrap();
    let script = format!(
        "cat {c}/token > {out}/leak; echo $? > {out}/status",
        c = creds.display(),
        out = out.display()
    );
    let mut config = trapped(&script, &out);
    config.engine = Some(approve_all(policy));
    let outcome = run_ok(config);
    assert_eq!(std::fs::read_to_string(out.join("leak")).unwrap(), "");
    assert_ne!(
        std::fs::read_to_string(out.join("status")).unwrap().trim(),
        "0"
    );
    let denial = denial_of(&outcome, creds.join("token"));
    assert!(denial.reason.contains("credentials"), "{denial:?}");
}

#[test]
fn symlink_out_of_the_approved_tree_is_refused() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let approved = scratch("approved");
    let outside = scratch("outside");
    std::fs::write(outside.join("secret"), "outside-secret").unwrap();
    std::fs::write(approved.join("fine"), "inside").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), approved.join("link")).unwrap();
    let mut policy = Policy::default();
    policy.approve.push(ApproveRule::new(
        &format!("{}/**", approved.display()),
        AccessMode::Read,
        "test",
    ));
    let script = format!(
        "cat {a}/fine > {out}/fine; cat {a}/link > {out}/link; echo $? > {out}/status",
        a = approved.display(),
        out = out.display()
    );
    let mut config = trapped(&script, &out);
    config.engine = Some(std::sync::Arc::new(Engine::new(policy, DenyAll)));
    let outcome = run_ok(config);
    assert_eq!(std::fs::read_to_string(out.join("fine")).unwrap(), "inside");
    assert_eq!(std::fs::read_to_string(out.join("link")).unwrap(), "");
    assert_ne!(
        std::fs::read_to_string(out.join("status")).unwrap().trim(),
        "0"
    );
    assert!(
        outcome
            .denials
            .iter()
            .any(|d| d.path() == Some(outside.join("secret").as_path())),
        "{:?}",
        outcome.denials
    );
}

#[test]
fn five_hundred_grants_leak_no_fds() {
    let _g = exclusive();
    if !notify_supported() {
        return;
    }
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("f"), "x").unwrap();
    let script = format!(
        "import os\nfor i in range(500):\n    fd = os.open('{o}/f', os.O_RDONLY)\n    assert os.read(fd, 1) == b'x'\n    os.close(fd)\nopen('{out}/done', 'w').write('500')\n",
        o = outside.display(),
        out = out.display()
    );
    let mut config = trapped("", &out);
    config.argv = vec![crate::harness::PYTHON.into(), "-c".into(), script.into()];
    config.engine = Some(approve_all(Policy::default()));
    // One warm-up run, so lazily opened process-wide fds are already there.
    let warm = run(trapped("true", &out)).unwrap();
    assert_eq!(warm.exit, ExitStatusKind::Code(0));
    let before = fd_count();
    let outcome = run(config).unwrap();
    let after = fd_count();
    assert_eq!(
        outcome.exit,
        ExitStatusKind::Code(0),
        "{:?}",
        outcome.denials
    );
    assert_eq!(std::fs::read_to_string(out.join("done")).unwrap(), "500");
    assert_eq!(before, after, "the supervisor leaked fds");
}

#[test]
fn multithreaded_child_with_a_slow_decision_does_not_deadlock() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("slow"), "slow").unwrap();
    // One thread waits for a decision that takes a while; the others keep opening files
    // inside the grants meanwhile (answered on the loop, not behind the decision).
    let script = format!(
        "import threading\n\
         def slow():\n    open('{o}/slow').read()\n\
         def fast():\n    [open('/etc/passwd').read() for _ in range(200)]\n\
         ts = [threading.Thread(target=slow)] + [threading.Thread(target=fast) for _ in range(4)]\n\
         [t.start() for t in ts]\n[t.join() for t in ts]\n\
         open('{out}/done', 'w').write('ok')\n",
        o = outside.display(),
        out = out.display()
    );
    let mut config = trapped("", &out);
    config.argv = vec![crate::harness::PYTHON.into(), "-c".into(), script.into()];
    config.engine = Some(std::sync::Arc::new(Engine::new(
        Policy::default(),
        nono_supervisor::approval::Callback::new(|_| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            nono_supervisor::policy::Decision::Granted {
                scope: nono_supervisor::policy::GrantScope::Once,
                rule: "slow test approval".into(),
            }
        }),
    )));
    run_ok(config);
    assert_eq!(std::fs::read_to_string(out.join("done")).unwrap(), "ok");
}

#[test]
fn cwd_and_dirfd_relative_opens_are_resolved() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("a"), "by-cwd").unwrap();
    std::fs::write(outside.join("b"), "by-dirfd").unwrap();
    // chdir is not a Landlock access; the opens relative to the new cwd and to a granted
    // directory fd must be resolved by the broker to the outside paths.
    let script = format!(
        "import os\n\
         os.chdir('{o}')\n\
         a = open('a').read()\n\
         d = os.open('.', os.O_RDONLY | os.O_DIRECTORY)\n\
         b = os.read(os.open('b', os.O_RDONLY, dir_fd=d), 100).decode()\n\
         open('{out}/result', 'w').write(a + ' ' + b)\n",
        o = outside.display(),
        out = out.display()
    );
    let mut config = trapped("", &out);
    config.argv = vec![crate::harness::PYTHON.into(), "-c".into(), script.into()];
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    config.engine = Some(std::sync::Arc::new(Engine::new(
        Policy::default(),
        nono_supervisor::approval::Callback::new(move |req| {
            log.lock().unwrap().push(req.path.clone());
            nono_supervisor::policy::Decision::Granted {
                scope: nono_supervisor::policy::GrantScope::Once,
                rule: "test".into(),
            }
        }),
    )));
    run_ok(config);
    assert_eq!(
        std::fs::read_to_string(out.join("result")).unwrap(),
        "by-cwd by-dirfd"
    );
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&outside.join("a")), "{seen:?}");
    assert!(seen.contains(&outside.join("b")), "{seen:?}");
}

#[test]
fn o_excl_on_an_existing_file_fails_with_eexist() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let outside = scratch("outside");
    std::fs::write(outside.join("exists"), "old").unwrap();
    let script = format!(
        "import os, errno\n\
         try:\n    os.open('{o}/exists', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n    r = 'opened'\n\
         except FileExistsError:\n    r = 'EEXIST'\n\
         fd = os.open('{o}/new', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)\n\
         os.write(fd, b'n')\n\
         open('{out}/result', 'w').write(r)\n",
        o = outside.display(),
        out = out.display()
    );
    let mut config = trapped("", &out);
    config.argv = vec![crate::harness::PYTHON.into(), "-c".into(), script.into()];
    config.engine = Some(approve_all(Policy::default()));
    run_ok(config);
    assert_eq!(
        std::fs::read_to_string(out.join("result")).unwrap(),
        "EEXIST"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("exists")).unwrap(),
        "old"
    );
    assert_eq!(std::fs::read_to_string(outside.join("new")).unwrap(), "n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(outside.join("new"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o640 & !0o022 & 0o777,
        "mode honoured (umask 022 applied)"
    );
}

/// A hard link, made outside the sandbox, from an approved directory to a file in a deny
/// group is that file under another name: the supervisor checks the object it opened
/// (`fstat` against the deny entries' files) and refuses it — for a read, and for an
/// `O_TRUNC` write, which must not truncate the key before the refusal.
#[test]
fn a_hard_link_to_a_deny_group_file_is_refused_at_runtime() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let creds = scratch("creds");
    let project = scratch("project");
    std::fs::write(creds.join("id_rsa"), "private-key").unwrap();
    std::fs::create_dir(creds.join("sub")).unwrap();
    std::fs::write(creds.join("sub/token"), "deep-token").unwrap();
    std::fs::hard_link(creds.join("id_rsa"), project.join("innocent")).unwrap();
    std::fs::hard_link(creds.join("sub/token"), project.join("notes")).unwrap();
    std::fs::write(project.join("plain"), "plain").unwrap();
    std::fs::hard_link(project.join("plain"), project.join("plain2")).unwrap();
    let mut policy = Policy::default();
    policy.deny.add(&creds, "credentials").unwrap();
    policy.approve.push(ApproveRule::new(
        &project.display().to_string(),
        AccessMode::ReadWrite,
        "test",
    ));
    let p = project.display();
    let script = format!(
        "cat {p}/innocent > {out}/leak; echo $? > {out}/read; \
         true > {p}/innocent; echo $? > {out}/trunc; \
         cat {p}/notes >> {out}/leak; \
         cat {p}/plain2 > {out}/plain",
        out = out.display()
    );
    let mut config = trapped(&script, &out);
    config.engine = Some(std::sync::Arc::new(Engine::new(policy, DenyAll)));
    let outcome = run_ok(config);
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert_eq!(read("leak"), "");
    assert_ne!(read("read").trim(), "0");
    assert_ne!(read("trunc").trim(), "0");
    assert_eq!(
        std::fs::read_to_string(creds.join("id_rsa")).unwrap(),
        "private-key",
        "the O_TRUNC open truncated the key"
    );
    // A multiply-linked file that is not a deny-group file is granted as before.
    assert_eq!(read("plain"), "plain");
    for name in ["innocent", "notes"] {
        let denial = denial_of(&outcome, project.join(name));
        assert!(
            denial.reason.contains("hard link") && denial.reason.contains("`credentials`"),
            "{denial:?}"
        );
    }
}

/// With a deny entry too large to walk at start-up (cut at `START_ENTRIES`), checking a
/// granted multiply-linked file on its device means walking that entry: that part of the
/// grant is handed from the notify thread to a worker, and it still ends right — a hard link
/// to a file of the entry refused, one to an unrelated file granted.
#[test]
fn a_grant_that_must_walk_a_cut_deny_entry_still_ends_right() {
    let Some(_g) = sandbox_ready() else { return };
    let out = scratch("out");
    let creds = scratch("creds");
    let project = scratch("project");
    let over = nono_supervisor::policy::deny_inodes::START_ENTRIES + 50;
    for i in 0..over {
        std::fs::write(creds.join(format!("f{i:05}")), "secret").unwrap();
    }
    // Whichever files the start-up walk reached, the last of each name order is linked.
    std::fs::hard_link(
        creds.join(format!("f{:05}", over - 1)),
        project.join("late"),
    )
    .unwrap();
    std::fs::write(project.join("plain"), "plain").unwrap();
    std::fs::hard_link(project.join("plain"), project.join("plain2")).unwrap();
    let mut policy = Policy::default();
    policy.deny.add(&creds, "credentials").unwrap();
    policy.approve.push(ApproveRule::new(
        &project.display().to_string(),
        AccessMode::Read,
        "test",
    ));
    let p = project.display();
    let script = format!(
        "cat {p}/plain2 > {out}/plain; cat {p}/late > {out}/leak; echo $? > {out}/read",
        out = out.display()
    );
    let mut config = trapped(&script, &out);
    config.engine = Some(std::sync::Arc::new(Engine::new(policy, DenyAll)));
    let outcome = run_ok(config);
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert_eq!(read("plain"), "plain");
    assert_eq!(read("leak"), "");
    assert_ne!(read("read").trim(), "0");
    let denial = denial_of(&outcome, project.join("late"));
    assert!(denial.reason.contains("`credentials`"), "{denial:?}");
}

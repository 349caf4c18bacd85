//! Advice that fixes (issue 11, point 3): for each class of denial-report line, the test takes
//! the flags the line suggests, adds them to the same command and runs it again — it must then
//! succeed with no denial of that path left. Lines for what no flag grants say so and suggest
//! nothing; repeated advice is folded into one line with a count.

use crate::harness::{nono, nono_cmd, output, sandbox_available, Run, Scratch};

/// The one `nono: denied` line of a run that mentions `needle`.
#[track_caller]
fn line_for<'a>(run: &'a Run, needle: &str) -> &'a str {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied") && l.contains(needle))
        .collect();
    assert_eq!(lines.len(), 1, "one denial line for {needle}\n{run}");
    lines[0]
}

/// The flags after `→ add ` (up to ` (or` or the end): `--read /x` → `["--read", "/x"]`;
/// for a deny group, the words after `--bypass-protection:`.
#[track_caller]
fn suggested(line: &str) -> Vec<String> {
    let advice = line.split_once(" → ").expect("an arrow").1;
    let flags = if let Some(rest) = advice.strip_prefix("add ") {
        rest.split(" (").next().unwrap_or(rest)
    } else if let Some((_, rest)) = advice.split_once("--bypass-protection: ") {
        rest
    } else {
        panic!("no flag suggested: {line}");
    };
    flags.split_whitespace().map(str::to_owned).collect()
}

/// Run `nono run ARGS... --allow WORK -- CMD...`, then again with the suggestion for the
/// denial line mentioning `needle`: the second run exits 0 and no longer reports it.
#[track_caller]
fn apply_and_rerun(s: &Scratch, extra: &[&str], cmd: &[&str], needle: &str) {
    let work = s.mkdir("work");
    let work = work.display().to_string();
    let base: Vec<String> = ["run", "--allow", &work]
        .iter()
        .chain(extra)
        .map(|x| (*x).to_owned())
        .collect();
    let mut args = base.clone();
    args.push("--".into());
    args.extend(cmd.iter().map(|x| (*x).to_owned()));
    let first = nono(&s.path, &args);
    assert_ne!(
        first.code,
        Some(0),
        "the first run must be refused\n{first}"
    );
    let line = line_for(&first, needle).to_owned();
    let mut args = base;
    args.extend(suggested(&line));
    args.push("--".into());
    args.extend(cmd.iter().map(|x| (*x).to_owned()));
    let second = nono(&s.path, &args);
    assert_eq!(
        second.code,
        Some(0),
        "the suggestion of `{line}` did not fix it\n{second}"
    );
    assert!(
        !second.stderr.contains(needle) || !second.stderr.contains("nono: denied"),
        "still denied after `{line}`\n{second}"
    );
}

#[test]
fn a_read_outside_the_grants_is_fixed_by_its_suggestion() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-read");
    let f = s.write("data/x.txt", "x");
    apply_and_rerun(&s, &[], &["cat", &f.display().to_string()], "data/x.txt");
}

#[test]
fn a_new_file_and_a_mkdir_outside_the_grants_are_fixed_by_their_suggestions() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-write");
    s.mkdir("out");
    let f = s.join("out/new.txt").display().to_string();
    apply_and_rerun(
        &s,
        &[],
        &["sh", "-c", &format!("echo x > {f}")],
        "out/new.txt",
    );
    let d = s.join("out/newdir").display().to_string();
    apply_and_rerun(&s, &[], &["mkdir", &d], "out/newdir");
}

#[test]
fn an_executable_outside_the_grants_names_the_read_flag_that_fixes_it() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-exec");
    let tool = s.write("bin/tool", "#!/bin/sh\necho tool ran\n");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let work = s.mkdir("work").display().to_string();
    let tool = tool.display().to_string();
    let first = nono(&s.path, ["run", "--allow", &work, "--", &tool]);
    first.expect_code(126);
    let advice = first
        .stderr
        .lines()
        .find(|l| l.contains("lies outside the sandbox's grants"))
        .unwrap_or_else(|| panic!("no advice for the executable\n{first}"));
    let flag = advice
        .split("add ")
        .nth(1)
        .and_then(|r| r.split(" (").next())
        .expect("a flag");
    let mut args = vec!["run".to_owned(), "--allow".into(), work];
    args.extend(flag.split_whitespace().map(str::to_owned));
    args.extend(["--".into(), tool]);
    nono(&s.path, &args).expect_code(0).stdout_has("tool ran");
}

#[test]
fn a_deny_group_file_is_fixed_by_grant_plus_bypass() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-group");
    let home = s.mkdir("home");
    s.write("home/.ssh/config", "Host x\n");
    let cfg = s.join("home/.ssh/config").display().to_string();
    let work = s.mkdir("work").display().to_string();
    let run = |extra: &[String]| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home)
            .args(["run", "--allow", &work])
            .args(extra)
            .args(["--", "cat", &cfg]);
        output(&mut cmd)
    };
    let first = run(&[]);
    assert_ne!(first.code, Some(0), "{first}");
    let line = line_for(&first, ".ssh/config").to_owned();
    assert!(line.contains("deny group `credentials`"), "{line}");
    let second = run(&suggested(&line));
    second.expect_code(0).stdout_has("Host x");
}

#[test]
fn a_tcp_port_the_rules_do_not_list_is_fixed_by_allow_connect_port() {
    if !sandbox_available() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    // Accept in the background so the allowed connect completes.
    std::thread::spawn(move || for _ in listener.incoming() {});
    let s = Scratch::new("advice-port");
    let other = if port == 1 { 2 } else { port - 1 };
    let other = other.to_string();
    apply_and_rerun(
        &s,
        &["--allow-connect-port", &other],
        &["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")],
        &format!("port {port}"),
    );
}

#[test]
fn other_processes_proc_and_carve_out_spines_say_no_flag_grants_them() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-none");
    let work = s.mkdir("work").display().to_string();
    // Another process's /proc entry: the advice `--read /proc/1` used to be printed, and
    // did not work.
    let run = nono(
        &s.path,
        ["run", "--allow", &work, "--", "cat", "/proc/1/environ"],
    );
    assert_ne!(run.code, Some(0), "{run}");
    let line = line_for(&run, "/proc/1/environ");
    assert!(line.contains("no flag grants it"), "{line}");
    assert!(!line.contains("add --"), "{line}");
    // `why` agrees: denied under run, whatever --read says.
    nono(
        &s.path,
        [
            "why",
            "--path",
            "/proc/1/environ",
            "--op",
            "read",
            "--read",
            "/proc/1",
        ],
    )
    .expect_code(1)
    .stdout_has("denied under run");
    // Creating a file in a directory that holds a carve-out: `--write /etc/ssl` would be
    // expanded around /etc/ssl/private again.
    let run = nono(
        &s.path,
        ["run", "--allow", &work, "--", "touch", "/etc/ssl/nono-x"],
    );
    assert_ne!(run.code, Some(0), "{run}");
    let line = line_for(&run, "/etc/ssl/nono-x");
    assert!(line.contains("no flag grants it"), "{line}");
    assert!(line.contains("/etc/ssl/private"), "{line}");
}

/// A project whose virtualenv's `bin/` is on `PATH` (an activated venv): `autorun` makes
/// `.venv/bin` read-only, so the project directory is a carve-out spine in which nothing
/// new can be created. The report and the start-up note used to say "no flag grants it"
/// and "not granted; add --allow-cwd" (which changed nothing); both now name the bypass that
/// lifts the carve-out, and following it works. The lift is exactly that: `~/.bashrc`, in
/// the same group, stays read-only under a grant on the home.
#[test]
fn a_new_file_beside_a_path_dir_carve_out_is_fixed_by_its_suggestion() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-venv");
    let home = s.mkdir("home");
    let proj = s.mkdir("home/proj");
    s.mkdir("home/proj/.venv/bin");
    let bin = proj.join(".venv/bin");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let (proj_s, home_s) = (proj.display().to_string(), home.display().to_string());
    let run = |extra: &[String], script: &str| {
        let mut cmd = nono_cmd(&proj);
        cmd.env("HOME", &home)
            .env("PATH", &path)
            .args(["run", "--allow", &proj_s])
            .args(extra)
            .args(["--", "/bin/sh", "-c", script]);
        output(&mut cmd)
    };
    let first = run(&[], "echo ok > new && cat new");
    assert_ne!(first.code, Some(0), "{first}");
    let line = line_for(&first, "proj/new").to_owned();
    assert!(!line.contains("no flag grants it"), "{line}");
    assert!(
        first.stderr.contains("is granted, but holds the carve-out"),
        "{first}"
    );
    assert!(!first.stderr.contains("--allow-cwd"), "{first}");
    let flags: Vec<String> = line
        .rsplit_once("then follows your grant): ")
        .expect("a lift clause")
        .1
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        flags,
        [
            "--read".to_owned(),
            bin.display().to_string(),
            "--bypass-protection".to_owned(),
            bin.display().to_string()
        ]
    );
    // `why` names the same lift.
    let mut cmd = nono_cmd(&proj);
    cmd.env("HOME", &home).env("PATH", &path).args([
        "why",
        "--path",
        &proj.join("new").display().to_string(),
        "--op",
        "write",
        "--allow",
        &proj_s,
    ]);
    let why = output(&mut cmd);
    assert!(why.stdout.contains(&flags.join(" ")), "{why}");
    let second = run(&flags, "echo ok > new && cat new && mv new renamed");
    assert_eq!(second.code, Some(0), "{second}");
    assert!(second.stdout.contains("ok"), "{second}");
    assert!(proj.join("renamed").exists());
    // Only that carve-out: with the home granted, `~/.bashrc` stays read-only.
    std::fs::write(home.join(".bashrc"), "# rc\n").unwrap();
    let mut extra = flags.clone();
    extra.extend(["--allow".to_owned(), home_s.clone()]);
    let third = run(&extra, &format!("echo evil >> {home_s}/.bashrc"));
    assert_ne!(third.code, Some(0), "{third}");
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        "# rc\n"
    );
}

#[test]
fn listing_a_carve_outs_parent_shows_names_not_the_carve_out() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-spine");
    let work = s.mkdir("work").display().to_string();
    // Control: the names are there.
    assert!(
        std::path::Path::new("/etc/ssl/private").exists()
            || !std::path::Path::new("/etc/ssl").exists()
    );
    let run = nono(&s.path, ["run", "--allow", &work, "--", "ls", "/etc/ssl"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("nono: denied"), "{run}");
    // The carve-out itself stays closed, also through the listed directory's fd.
    let run = nono(
        &s.path,
        [
            "run",
            "--allow",
            &work,
            "--",
            "/usr/bin/python3",
            "-c",
            "import os,sys\nfd=os.open('/etc/ssl',os.O_RDONLY|os.O_DIRECTORY)\nprint(sorted(os.listdir(fd))[:1])\ntry:\n    os.listdir(os.open('private',os.O_RDONLY|os.O_DIRECTORY,dir_fd=fd)); sys.exit(3)\nexcept PermissionError: pass",
        ],
    );
    if run.stderr.contains("cannot execute") || run.stderr.contains("command not found") {
        eprintln!("skipping the fd check: no /usr/bin/python3");
        return;
    }
    run.expect_code(0);
    // Under wrap there is no supervisor: the spine cannot be listed (documented).
    let run = nono(&s.path, ["wrap", "--allow", &work, "--", "ls", "/etc/ssl"]);
    assert_ne!(run.code, Some(0), "{run}");
}

#[test]
fn repeated_denials_of_one_kind_are_folded_with_a_count() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-fold");
    let work = s.mkdir("work").display().to_string();
    // Two processes outside the sandbox: pid 1 and one of the test's own (in a fresh PID
    // namespace, as in CI, pid 2 need not exist).
    let mut outside = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let p = outside.id();
    let script = format!(
        "cat /proc/1/stat /proc/{p}/stat /proc/1/environ /proc/{p}/cmdline /proc/1/status /proc/{p}/status >/dev/null 2>&1; true"
    );
    let run = nono(
        &s.path,
        ["run", "--allow", &work, "--", "sh", "-c", &script],
    );
    let _ = outside.kill();
    let _ = outside.wait();
    run.expect_code(0);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("nono: denied"))
        .collect();
    assert_eq!(lines.len(), 1, "{run}");
    assert!(lines[0].contains("and 5 more like it"), "{run}");
}

#[test]
fn listing_a_home_with_credentials_is_fixed_by_read_home() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("advice-home");
    let home = s.mkdir("home");
    s.write("home/.ssh/id_rsa", "k");
    s.write("home/notes.txt", "n");
    let work = s.mkdir("work").display().to_string();
    let h = home.display().to_string();
    let run = |extra: &[String]| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home)
            .args(["run", "--allow", &work])
            .args(extra)
            .args(["--", "ls", "-a", &h]);
        output(&mut cmd)
    };
    let first = run(&[]);
    assert_ne!(first.code, Some(0), "{first}");
    let line = line_for(&first, &h).to_owned();
    // `--read HOME` is expanded around ~/.ssh: HOME becomes a spine directory, which `run`
    // lists for the command — so the advice holds.
    let second = run(&suggested(&line));
    second
        .expect_code(0)
        .stdout_has("notes.txt")
        .stdout_has(".ssh");
    let third = {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home)
            .args(["run", "--allow", &work, "--read", &h, "--", "cat"])
            .arg(home.join(".ssh/id_rsa"));
        output(&mut cmd)
    };
    assert_ne!(third.code, Some(0), "the carve-out stays closed\n{third}");
}

#[test]
fn a_tcp_bind_the_rules_do_not_list_is_fixed_by_allow_bind_port() {
    if !sandbox_available() {
        return;
    }
    // A free port: bound and released by the test (a race with another process taking it
    // meanwhile would fail the second run with EADDRINUSE, not pass it wrongly).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("addr")
        .port();
    let other = if port == 1 { 2 } else { port - 1 }.to_string();
    let s = Scratch::new("advice-bind");
    let script =
        format!("import socket; s=socket.socket(); s.bind(('127.0.0.1', {port})); print('bound')");
    apply_and_rerun(
        &s,
        &["--allow-bind-port", &other],
        &["/usr/bin/python3", "-c", &script],
        &format!("bind to port {port}"),
    );
}

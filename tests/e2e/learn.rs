//! `nono learn`: the learned profile makes `nono run -p FILE -- CMD` succeed, collapses many
//! files into a directory grant, and never grants a deny-group path.

use crate::harness::{nono, nono_cmd, output, sandbox_available, Scratch};

fn workload(s: &Scratch) -> String {
    for i in 0..10 {
        s.write(&format!("data/f{i}.txt"), &format!("{i}\n"));
    }
    s.write("single/one.txt", "one\n");
    s.mkdir("out");
    format!(
        "cat {d}/data/* {d}/single/one.txt && ls {d}/data > /dev/null && echo made > {d}/out/new.txt",
        d = s.path.display()
    )
}

#[test]
fn learn_then_run_round_trip() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-roundtrip");
    let script = workload(&s);
    let profile = s.join("learned.json");
    let p = profile.display().to_string();

    // Without the profile the command fails.
    let out = nono(&s.path, ["run", "-s", "--", "sh", "-c", &script]);
    assert_ne!(out.code, Some(0), "{out}");

    let out = nono(&s.path, ["learn", "-o", &p, "--", "sh", "-c", &script]);
    out.expect_code(0).stderr_has("wrote");
    assert!(out.stdout.contains("9\n"), "the command really ran: {out}");
    let text = std::fs::read_to_string(&profile).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["extends"], "default", "{text}");
    let read: Vec<&str> = v["filesystem"]["read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    // 10 files in data/ (past the default threshold of 8) → one directory grant; one file in
    // single/ → a file grant; out/new.txt was created → a write grant on out/. All of them
    // lie in the working directory, so they are written relative to it.
    assert!(read.contains(&"$WORKDIR/data"), "{text}");
    assert!(read.contains(&"$WORKDIR/single/one.txt"), "{text}");
    assert!(
        !read.iter().any(|r| r.starts_with("$WORKDIR/data/")),
        "{text}"
    );
    assert_eq!(v["filesystem"]["write"][0], "$WORKDIR/out", "{text}");
    nono(&s.path, ["profile", "validate", &p]).expect_code(0);

    std::fs::remove_file(s.join("out/new.txt")).unwrap();
    let out = nono(&s.path, ["run", "-s", "-p", &p, "--", "sh", "-c", &script]);
    out.expect_code(0);
    assert!(out.stdout.contains("one\n"), "{out}");
    assert!(s.join("out/new.txt").exists());
    // The learned profile is minimal: it does not grant a sibling it never saw.
    s.write("other/x.txt", "x");
    let out = nono(
        &s.path,
        ["run", "-s", "-p", &p, "--", "cat", &s.s("other/x.txt")],
    );
    assert_ne!(out.code, Some(0), "{out}");

    // The same project in another directory: the profile still fits it.
    let moved = Scratch::new("learn-roundtrip-moved");
    let script = workload(&moved);
    let out = nono(
        &moved.path,
        ["run", "-s", "-p", &p, "--", "sh", "-c", &script],
    );
    out.expect_code(0);
    assert!(moved.join("out/new.txt").exists());
}

#[test]
fn collapse_threshold_flag() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-threshold");
    workload(&s);
    // No `ls data` and no glob here: listing a directory is learned as a grant on it.
    let files: Vec<String> = (0..10).map(|i| s.s(&format!("data/f{i}.txt"))).collect();
    let script = format!("cat {}", files.join(" "));
    let p = s.s("p.json");
    nono(
        &s.path,
        [
            "learn",
            "-s",
            "--collapse-threshold",
            "100",
            "-o",
            &p,
            "--",
            "sh",
            "-c",
            &script,
        ],
    )
    .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let read = v["filesystem"]["read"].as_array().unwrap();
    assert!(read.iter().any(|r| r == "$WORKDIR/data/f3.txt"), "{v}");
}

#[test]
fn learn_never_grants_a_deny_group_path() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-deny");
    s.write("home/.ssh/id_rsa", "PRIVATE KEY");
    s.write("home/notes.txt", "notes");
    let home = s.join("home");
    let p = s.s("p.json");
    let script = format!("cat {h}/.ssh/id_rsa; cat {h}/notes.txt", h = home.display());
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home)
        .args(["learn", "-o", &p, "--", "sh", "-c", &script]);
    let out = output(&mut cmd);
    assert!(!out.stdout.contains("PRIVATE"), "{out}");
    out.stdout_has("notes")
        .stderr_has("Permission denied")
        .stderr_has("credentials");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let grants = v["filesystem"].to_string();
    assert!(!grants.contains(".ssh"), "{text}");
    assert!(grants.contains("notes.txt"), "{text}");

    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home).args([
        "learn",
        "-o",
        &p,
        "--read-file",
        &home.join(".ssh/id_rsa").display().to_string(),
        "--bypass-protection",
        &home.join(".ssh/id_rsa").display().to_string(),
        "--",
        "true",
    ]);
    output(&mut cmd)
        .expect_code(125)
        .stderr_has("--bypass-protection");
}

#[test]
fn learn_grants_the_executable_itself() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-exe");
    let tool = s.write("bin/tool.sh", "#!/bin/sh\necho tool-ran\n");
    let mut perms = std::fs::metadata(&tool).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&tool, perms).unwrap();
    let t = tool.display().to_string();
    nono(&s.path, ["run", "-s", "--", &t]).expect_code(126);
    let p = s.s("p.json");
    nono(&s.path, ["learn", "-s", "-o", &p, "--", &t])
        .expect_code(0)
        .stdout_has("tool-ran");
    nono(&s.path, ["run", "-s", "-p", &p, "--", &t])
        .expect_code(0)
        .stdout_has("tool-ran");
}

/// A file created directly in a directory that holds deny-group entries (the home directory
/// holds `~/.ssh`) is learned as that file, never widened to the directory: `echo x > ~/f`
/// must not learn `"write": ["~"]` (issue 16 finding 7). The learned profile still lets the
/// command rewrite the file, and does not fail to load once the file is gone.
#[test]
fn a_created_file_next_to_deny_entries_is_not_widened_to_its_directory() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-created-in-home");
    s.write("home/.ssh/id_rsa", "PRIVATE KEY");
    let home = s.join("home");
    let p = s.s("p.json");
    let script = format!("echo x > {h}/f", h = home.display());
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home)
        .args(["learn", "-s", "-o", &p, "--", "sh", "-c", &script]);
    output(&mut cmd).expect_code(0);
    assert_eq!(std::fs::read_to_string(home.join("f")).unwrap(), "x\n");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fs = &v["filesystem"];
    for kind in ["read", "write", "allow"] {
        for g in fs[kind].as_array().into_iter().flatten() {
            let path = g.as_str().or_else(|| g["path"].as_str()).unwrap_or("");
            assert!(
                !["~", "$WORKDIR/home", home.to_str().unwrap()].contains(&path),
                "{kind}: {text}"
            );
        }
    }
    assert!(fs.to_string().contains("home/f"), "{text}");

    // The learned profile is enough to rewrite the file, and nothing else in the home.
    let other = format!("echo y > {h}/g", h = home.display());
    for (script, ok) in [(&script, true), (&other, false)] {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("HOME", &home)
            .args(["run", "-s", "-p", &p, "--", "sh", "-c", script]);
        let out = output(&mut cmd);
        assert_eq!(out.code == Some(0), ok, "{script}: {out}");
    }
    assert!(!home.join("g").exists());
    // With the file gone the profile still loads.
    std::fs::remove_file(home.join("f")).unwrap();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", &home)
        .args(["run", "-s", "-p", &p, "--", "true"]);
    output(&mut cmd).expect_code(0);
}

/// Issue 11 point 5: one `learn` run is enough for a workload that executes a program outside
/// the grants and creates, renames and removes directories outside them (before, `execve`,
/// `mkdir` and `rename` were refused while learning and each run found one more denial), and
/// the learned profile makes `nono run -p` succeed on it.
#[test]
fn one_learn_run_learns_exec_mkdir_and_rename() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-one-run");
    let tool = s.write("tools/bin/tool.sh", "#!/bin/sh\necho tool-ran\n");
    let mut perms = std::fs::metadata(&tool).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&tool, perms).unwrap();
    s.mkdir("work");
    let script = format!(
        "{t} && mkdir {w}/a {w}/a/b && mv {w}/a {w}/c && mkdir {w}/d && rmdir {w}/d && \
         ln -s c {w}/link && touch {w}/c/f && chmod 600 {w}/c/f && echo all-done",
        t = tool.display(),
        w = s.join("work").display()
    );
    let clean = || {
        let _ = std::fs::remove_dir_all(s.join("work"));
        s.mkdir("work");
    };
    // Without a profile the very first step is refused.
    nono(&s.path, ["run", "-s", "--", "sh", "-c", &script]).expect_code(126);
    clean();
    let p = s.s("learned.json");
    let out = nono(&s.path, ["learn", "-o", &p, "--", "sh", "-c", &script]);
    out.expect_code(0)
        .stdout_has("tool-ran")
        .stdout_has("all-done");
    assert!(
        !out.stderr.contains("denied"),
        "nothing refused while learning: {out}"
    );
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("tools/bin/tool.sh"), "{text}");
    clean();
    nono(&s.path, ["run", "-s", "-p", &p, "--", "sh", "-c", &script])
        .expect_code(0)
        .stdout_has("all-done");
}

/// `learn -p FILE` writes `extends` as a path relative to the learned profile (a bare name
/// would be looked up as a built-in and fail to load), and entries the base already grants
/// are not repeated.
#[test]
fn a_file_base_profile_is_extended_by_relative_path() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("learn-extends-file");
    s.write("data/a.txt", "a\n");
    s.write("more/b.txt", "b\n");
    s.write(
        "profiles/base.json",
        &format!(
            r#"{{"extends": "default", "filesystem": {{"read": ["{}"]}}}}"#,
            s.join("data").display()
        ),
    );
    s.mkdir("out");
    let script = format!("cat {} {}", s.s("data/a.txt"), s.s("more/b.txt"));
    let base = s.s("profiles/base.json");
    let p = s.s("out/new.json");
    nono(
        &s.path,
        ["learn", "-p", &base, "-o", &p, "--", "sh", "-c", &script],
    )
    .expect_code(0);
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["extends"], "../profiles/base.json", "{text}");
    let fs = v["filesystem"].to_string();
    assert!(!fs.contains("data"), "covered by the base: {text}");
    assert!(text.contains("more/b.txt"), "{text}");
    nono(&s.path, ["run", "-s", "-p", &p, "--", "sh", "-c", &script])
        .expect_code(0)
        .stdout_has("b");
}

/// Ports are learned: a TCP connect (and bind) under a base that blocks the network is
/// recorded as `network.connect`/`bind`, and the learned profile lets `run` do it.
#[test]
fn ports_are_learned_as_network_rules() {
    // The system's python (a pyenv shim in $HOME would need its own grants).
    let py = "/usr/bin/python3";
    if !sandbox_available() || !std::path::Path::new(py).exists() {
        return;
    }
    let s = Scratch::new("learn-ports");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind_port = free.local_addr().unwrap().port();
    drop(free);
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            drop(c);
        }
    });
    let script = format!(
        "import socket\nc = socket.create_connection(('127.0.0.1', {port}))\nc.close()\n\
         b = socket.socket()\nb.bind(('127.0.0.1', {bind_port}))\nb.close()\nprint('connected')\n"
    );
    nono(
        &s.path,
        ["run", "-s", "--block-net", "--", py, "-c", &script],
    )
    .expect_code(1);
    let p = s.s("net.json");
    nono(
        &s.path,
        ["learn", "--block-net", "-o", &p, "--", py, "-c", &script],
    )
    .expect_code(0)
    .stdout_has("connected");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["network"]["connect"][0], port, "{text}");
    assert_eq!(v["network"]["bind"][0], bind_port, "{text}");
    assert_eq!(v["network"]["block"], false, "{text}");
    nono(&s.path, ["run", "-s", "-p", &p, "--", py, "-c", &script])
        .expect_code(0)
        .stdout_has("connected");
}

/// A Unix socket served outside the sandbox (a database, an agent) is connected while
/// learning and written as the file grant `run` needs for it (optional: its server may not
/// be running next time).
#[test]
fn unix_sockets_are_learned_as_file_grants() {
    let py = "/usr/bin/python3";
    if !sandbox_available() || !std::path::Path::new(py).exists() {
        return;
    }
    let s = Scratch::new("learn-unix");
    s.mkdir("sock");
    let path = s.join("sock/server.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            drop(c);
        }
    });
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('{}')\nprint('connected')\n",
        path.display()
    );
    let p = s.s("unix.json");
    nono(&s.path, ["run", "-s", "--", py, "-c", &script]).expect_code(1);
    nono(&s.path, ["learn", "-o", &p, "--", py, "-c", &script])
        .expect_code(0)
        .stdout_has("connected");
    let text = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let allow = v["filesystem"]["allow"].to_string();
    assert!(
        allow.contains("sock/server.sock") && allow.contains("optional"),
        "{text}"
    );
    nono(&s.path, ["run", "-s", "-p", &p, "--", py, "-c", &script])
        .expect_code(0)
        .stdout_has("connected");
}

/// A Unix datagram socket (refused by default) is allowed while learning and written as
/// `network.allow_unix_datagram`.
#[test]
fn unix_datagram_sockets_are_learned() {
    let py = "/usr/bin/python3";
    if !sandbox_available() || !std::path::Path::new(py).exists() {
        return;
    }
    let s = Scratch::new("learn-dgram");
    let script =
        "import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nprint('dgram')\n";
    nono(&s.path, ["run", "-s", "--", py, "-c", script]).expect_code(1);
    let p = s.s("dgram.json");
    nono(&s.path, ["learn", "-o", &p, "--", py, "-c", script])
        .expect_code(0)
        .stdout_has("dgram");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(v["network"]["allow_unix_datagram"], true, "{v}");
    nono(&s.path, ["run", "-s", "-p", &p, "--", py, "-c", script])
        .expect_code(0)
        .stdout_has("dgram");
}

//! Red team 11: the URL opener (`OpenUrl` on the SDK socket → `xdg-open` outside the
//! sandbox). It ran in nono's working directory — the command's own, writable under
//! `--allow-cwd` —, so with an empty or `.` entry in the user's `PATH` (`PATH=":$PATH"` from
//! an unset variable is enough) the command planted `./xdg-open`, asked for an allowed URL,
//! and its script ran outside the sandbox. The opener now runs in `/`.

use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Scratch};
use crate::redteam5::{give, nono_as, run_writes, NOBODY};

/// The sandboxed command: plant `./xdg-open` (writing `escaped` when it runs), check it
/// cannot write beside `escaped` itself, then ask for an allowed URL.
const CLIENT: &str = r##"
import json, os, socket, struct, sys
REQUEST_ID = "rt11"
escaped = sys.argv[1]
open("xdg-open", "w").write("#!/bin/sh\necho outside > '%s'\n" % escaped)
os.chmod("xdg-open", 0o755)
try:
    open(escaped, "w").write("inside")
    print("direct-write-worked")
except PermissionError:
    print("direct-write-denied")
"##;

/// The end of a sandboxed Python command that asks nono's supervisor to open
/// `https://github.com/` (`OpenUrl`, request id `REQUEST_ID`, set before) and prints the answer.
pub(crate) const OPEN_GITHUB: &str = r##"
sock = socket.socket(fileno=int(os.environ["NONO_SUPERVISOR_FD"]))
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
body = json.dumps({"OpenUrl": {"request_id": REQUEST_ID, "url": "https://github.com/",
                               "child_pid": os.getpid(), "session_id": ""}}).encode()
sock.sendall(struct.pack(">I", len(body)) + body)
(n,) = struct.unpack(">I", recv_exact(4))
print(json.dumps(json.loads(recv_exact(n))))
"##;

/// A command with `--allow-cwd` and URL opens allowed plants `./xdg-open` in its working
/// directory; with `.` first in nono's `PATH` it must still not run outside the sandbox
/// (before the fix it wrote the marker the command itself cannot). Control: unsandboxed,
/// `xdg-open` with that `PATH` in that directory is the planted script.
#[test]
fn redteam11_a_planted_xdg_open_in_the_working_directory_does_not_run_outside() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt11-opener-cwd");
    let work = s.mkdir("work");
    s.mkdir("outside");
    let escaped = s.join("outside/escaped");
    let profile = s.write(
        "p.json",
        &format!(
            r#"{{"extends": "default", "supervisor": {{"allowed_origins": ["https://github.com"], "approve": [{{"path": "{}/**", "access": "read"}}]}}}}"#,
            s.join("approved").display()
        ),
    );
    let path = format!(".:{}", std::env::var("PATH").unwrap_or_default());
    let mut cmd = nono_cmd(&work);
    cmd.env("PATH", &path).args([
        "run",
        "-s",
        "-p",
        &profile.display().to_string(),
        "--allow-cwd",
        "--",
        "/usr/bin/python3",
        "-c",
        &format!("{CLIENT}{OPEN_GITHUB}"),
        &escaped.display().to_string(),
    ]);
    let out = output(&mut cmd);
    assert!(out.stdout.contains("direct-write-denied"), "{out}");
    assert!(out.stdout.contains(r#""request_id": "rt11""#), "{out}");
    assert!(
        !escaped.exists(),
        "the command's ./xdg-open ran outside the sandbox: {out}"
    );
    // Control: the planted script is what `xdg-open` means there, and it can write the
    // marker when it runs unsandboxed.
    assert!(work.join("xdg-open").exists(), "{out}");
    let control = Command::new("sh")
        .args(["-c", "xdg-open https://github.com/"])
        .env("PATH", &path)
        .current_dir(&work)
        .status()
        .unwrap();
    assert!(control.success());
    assert_eq!(
        std::fs::read_to_string(&escaped).unwrap().trim(),
        "outside",
        "control: the planted opener did not run"
    );
}

/// `nono profile trust --sha256` matched each hash against every file of the profile, not
/// against the file it was printed for. A profile `main.json` (read `outside`, but deny
/// `outside/secret`) extends `base.json` (read `outside`), both rewritten by a run, so both
/// need trust; the user reads both and gives both hashes (the refusal of `trust main.json
/// --sha256 Hm` asks for base's as well). A run still going then rewrites `main.json` to
/// base's content: the chain is that one file, whose hash is among those given, so it was
/// trusted — a `main.json` the user never read, without its deny — and the next run read the
/// secret. Every hash given must now be the content of a file of the profile, so a file that
/// changed into another's content leaves its own hash unused: nothing is trusted. Control: the
/// contents shown, put back, are trusted with the same hashes and grant `outside/other` but
/// not the secret; trusted without `--sha256`, main.json with base's content reads it. As root
/// and as an unprivileged user, run and wrap.
#[test]
fn redteam11_trust_by_sha256_refuses_a_file_rewritten_to_another_files_shown_content() {
    if !sandbox_available() {
        return;
    }
    use nono_supervisor::profile_trust::sha256_hex;
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt11-trustswap-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/secret", "the-secret\n");
            s.write("outside/other", "the-other\n");
            let (main, base) = (s.join("proj/main.json"), s.join("proj/base.json"));
            s.write("proj/main.json", "{}");
            s.write("proj/base.json", "{}");
            give(uid, &[&home, &s.join("proj"), &s.join("outside")]);
            let (main_s, base_s) = (main.display().to_string(), base.display().to_string());
            let (secret, other) = (s.s("outside/secret"), s.s("outside/other"));
            let proj = s.s("proj");
            let base_shown = format!(
                r#"{{"extends": "default", "filesystem": {{"read": ["{}"]}}}}"#,
                s.s("outside")
            );
            let main_shown =
                format!(r#"{{"extends": "./base.json", "filesystem": {{"deny": ["{secret}"]}}}}"#);
            // A run in the project writes both files (so both need trust).
            let rewrite = |file: &str, content: &str| {
                run_writes(
                    uid,
                    &s.path,
                    &home,
                    &[mode, "--allow", &proj],
                    content,
                    file,
                )
                .expect_code(0);
            };
            rewrite(&base_s, &base_shown);
            rewrite(&main_s, &main_shown);
            let victim = |what: &str| {
                nono_as(
                    uid,
                    &s.path,
                    &home,
                    &[mode, "-p", &main_s, "--", "cat", what],
                )
            };
            let r = victim(&secret);
            assert!(!r.stdout.contains("the-secret"), "{mode} as {uid:?}:\n{r}");
            r.expect_code(125).stderr_has("--sha256");
            let (hm, hb) = (
                sha256_hex(main_shown.as_bytes()),
                sha256_hex(base_shown.as_bytes()),
            );
            // While the user reads them, the run makes main.json base's content.
            rewrite(&main_s, &base_shown);
            // The hashes as the user gives them: main.json's own (the file `trust` names) and
            // base.json's bound to it (`FILE=HEX`).
            let base_bound = format!("{base_s}={hb}");
            let trust = [
                "profile",
                "trust",
                &main_s,
                "--sha256",
                &hm,
                "--sha256",
                &base_bound,
            ];
            let t = nono_as(uid, &s.path, &home, &trust);
            t.expect_code(125)
                .stderr_has("nothing trusted")
                .stderr_has(&hm);
            let r = victim(&secret);
            assert!(
                !r.stdout.contains("the-secret"),
                "{mode} as {uid:?}: main.json with base's content was trusted:\n{r}"
            );
            r.expect_code(125);
            // Control 1: the contents shown, put back, are trusted with those hashes; the
            // profile reads outside/other but not the secret.
            std::fs::write(&main, &main_shown).unwrap();
            give(uid, &[&main]);
            nono_as(uid, &s.path, &home, &trust).expect_code(0);
            victim(&other).expect_code(0).stdout_has("the-other");
            let r = victim(&secret);
            assert!(!r.stdout.contains("the-secret"), "{mode} as {uid:?}:\n{r}");
            // Control 2: main.json with base's content, once trusted, reads the secret (so
            // the refusal above is what kept it).
            std::fs::write(&main, &base_shown).unwrap();
            give(uid, &[&main]);
            nono_as(uid, &s.path, &home, &["profile", "trust", &main_s]).expect_code(0);
            victim(&secret).expect_code(0).stdout_has("the-secret");
        }
    }
}

/// The refusal's hint, `nono profile trust PATH --sha256 HASH`, printed the path as it is,
/// and the path of a file reached through `extends` is chosen by the profile's content —
/// which a run that may write the profile chooses. A run writes `proj/nono.json` extending
/// `./$(touch pwned).json`, and that file: the refusal (the parent is checked first) told the
/// user to run `nono profile trust /…/proj/$(touch pwned).json --sha256 …`, which, pasted into
/// a shell, ran the run's command outside the sandbox (and trusted nothing). The path is now
/// one shell word. The hint, run by `sh`, must work (exit 0, the file trusted) and run
/// nothing else; control: the same file name, unquoted, does run it. Run and wrap.
#[test]
fn redteam11_the_trust_hint_is_one_shell_word_whatever_the_file_is_named() {
    if !sandbox_available() {
        return;
    }
    for mode in ["run", "wrap"] {
        let s = Scratch::new(&format!("rt11-trusthint-{mode}"));
        let home = s.mkdir("home");
        s.write("outside/secret", "the-secret\n");
        let prof = s.write("proj/nono.json", "{}");
        let name = "$(touch pwned).json";
        s.write(&format!("proj/{name}"), "{}");
        let (prof_s, proj) = (prof.display().to_string(), s.s("proj"));
        let write = |file: &str, content: &str| {
            run_writes(
                None,
                &s.path,
                &home,
                &[mode, "--allow", &proj],
                content,
                file,
            )
            .expect_code(0);
        };
        write(
            &s.s(&format!("proj/{name}")),
            &format!(
                r#"{{"extends": "default", "filesystem": {{"read": ["{}"]}}}}"#,
                s.s("outside")
            ),
        );
        write(&prof_s, &format!(r#"{{"extends": "./{name}"}}"#));
        let r = nono_as(
            None,
            &s.path,
            &home,
            &[mode, "-p", &prof_s, "--", "cat", &s.s("outside/secret")],
        );
        assert!(!r.stdout.contains("the-secret"), "{mode}:\n{r}");
        r.expect_code(125);
        let start = r
            .stderr
            .find("`nono profile trust ")
            .unwrap_or_else(|| panic!("{mode}: no trust hint:\n{r}"));
        let hint = &r.stderr[start + 1..];
        let hint = &hint[..hint.find('`').expect("closing backtick")];
        assert!(
            hint.contains("touch pwned"),
            "{mode}: the hint names another file: {hint}"
        );
        // The user pastes the hint into a shell (nono from the build, nono's state in HOME).
        let pasted = hint.replacen("nono", &crate::harness::nono_bin().display().to_string(), 1);
        let sh = pasted_into_sh(&s, &home, &[&pasted]);
        assert!(
            !s.join("pwned").exists(),
            "{mode}: pasting the hint ran the run's command: {hint}"
        );
        assert!(
            sh.status.success(),
            "{mode}: the hint did not work: {hint}\n{}",
            String::from_utf8_lossy(&sh.stderr)
        );
        unquoted_runs_the_name(&s, &s.s(&format!("proj/{name}")));
    }
}

/// The hint printed when a profile was rewritten by a run must work as printed when that
/// profile extends a file no run could write (`../shared/base.json`, never granted): `trust
/// --sha256` asked for a hash for every file of the chain not yet in the trust store, also
/// for one the run-time check accepts without trust, so the printed `nono profile trust
/// proj/nono.json --sha256 H` was refused ("nothing trusted: …/shared/base.json … which no
/// --sha256 names"). Now a file that needs no trust needs no hash. The hint, run by `sh`,
/// exits 0, and the profile is then used. As root and as an unprivileged user, run and wrap.
#[test]
fn redteam11_the_trust_hint_works_for_a_profile_extending_a_file_no_run_could_write() {
    if !sandbox_available() {
        return;
    }
    for uid in [None, Some(NOBODY)] {
        for mode in ["run", "wrap"] {
            let s = Scratch::new(&format!("rt11-trustext-{}-{mode}", uid.unwrap_or(0)));
            let home = s.mkdir("home");
            s.write("outside/other", "the-other\n");
            s.write(
                "shared/base.json",
                &format!(
                    r#"{{"extends": "default", "filesystem": {{"read": ["{}"]}}}}"#,
                    s.s("outside")
                ),
            );
            let prof = s.write("proj/nono.json", "{}");
            give(
                uid,
                &[
                    &home,
                    &s.join("proj"),
                    &s.join("outside"),
                    &s.join("shared"),
                ],
            );
            let (prof_s, proj) = (prof.display().to_string(), s.s("proj"));
            nono_as(
                uid,
                &s.path,
                &home,
                &[
                    mode,
                    "--allow",
                    &proj,
                    "--",
                    "bash",
                    "-c",
                    r#"printf '%s' '{"extends": "../shared/base.json"}' > "$1""#,
                    "sh",
                    &prof_s,
                ],
            )
            .expect_code(0);
            let victim = || {
                nono_as(
                    uid,
                    &s.path,
                    &home,
                    &[mode, "-p", &prof_s, "--", "cat", &s.s("outside/other")],
                )
            };
            let r = victim();
            r.expect_code(125);
            let start = r
                .stderr
                .find("`nono profile trust ")
                .unwrap_or_else(|| panic!("{mode} as {uid:?}: no trust hint:\n{r}"));
            let hint = &r.stderr[start + 1..];
            let hint = &hint[..hint.find('`').expect("closing backtick")];
            assert!(hint.contains("proj/nono.json"), "{mode} as {uid:?}: {hint}");
            let mut argv: Vec<String> = hint.split(' ').skip(1).map(str::to_owned).collect();
            argv.retain(|a| !a.is_empty());
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let t = nono_as(uid, &s.path, &home, &argv);
            assert_eq!(
                t.code,
                Some(0),
                "{mode} as {uid:?}: the printed hint `{hint}` did not work:\n{t}"
            );
            victim().expect_code(0).stdout_has("the-other");
        }
    }
}

/// What a user gets pasting a printed line into `sh -c` (`argv`: the script, then `$0`, `$1`
/// ...), in the scratch directory, with nono's state in `home`.
fn pasted_into_sh(s: &Scratch, home: &std::path::Path, argv: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .args(argv)
        .current_dir(&s.path)
        .env("HOME", home)
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

/// The control of a quoting test: the same `path`, unquoted, runs the `touch pwned` in it.
#[track_caller]
fn unquoted_runs_the_name(s: &Scratch, path: &str) {
    let control = Command::new("sh")
        .args(["-c", &format!("true {path}")])
        .current_dir(&s.path)
        .status()
        .unwrap();
    assert!(control.success() && s.join("pwned").exists());
}

/// The flags a denial report line suggests: what follows `→ add ` up to its alternative
/// (` (or …`), as the user would paste it.
pub(crate) fn suggested_flags(r: &crate::harness::Run) -> String {
    let start = r
        .stderr
        .find("→ add ")
        .unwrap_or_else(|| panic!("no suggestion:\n{r}"));
    r.stderr[start + "→ add ".len()..]
        .lines()
        .next()
        .unwrap_or_default()
        .split(" (or ")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Red team 11's open note, closed: the denial report's `→ add --read PATH` printed the
/// path as it is, and the command chooses the names it is denied (a directory it makes in
/// its own grant, or one it finds). Pasted into a shell, `/srv/x $(touch pwned)/f` ran
/// `touch pwned` outside the sandbox (and a space split the path). The suggestion is now one
/// shell word: pasted, it runs nothing and grants exactly the directory, and the command then
/// reads the file. Under run (wrap has no supervisor to report denials), with an unquoted
/// control.
#[test]
fn redteam11_a_denial_suggestion_is_one_shell_word_whatever_the_path_is_named() {
    if !sandbox_available() {
        return;
    }
    {
        let mode = "run";
        let s = Scratch::new(&format!("rt11-denyhint-{mode}"));
        let home = s.mkdir("home");
        let dir = "data $(touch pwned)";
        s.write(&format!("{dir}/f"), "the-data\n");
        let file = s.s(&format!("{dir}/f"));
        let r = nono_as(None, &s.path, &home, &[mode, "--", "cat", &file]);
        assert!(!r.stdout.contains("the-data"), "{mode}:\n{r}");
        let flags = suggested_flags(&r);
        assert!(flags.starts_with("--read "), "{mode}: {flags}");
        // The user pastes the suggestion into the next command line.
        let pasted = format!(
            "{} {mode} {flags} -- cat \"$1\"",
            crate::harness::nono_bin().display()
        );
        let sh = pasted_into_sh(&s, &home, &[&pasted, "sh", &file]);
        assert!(
            !s.join("pwned").exists(),
            "{mode}: pasting the suggestion ran the command in the name: {flags}"
        );
        assert!(
            sh.status.success() && String::from_utf8_lossy(&sh.stdout).contains("the-data"),
            "{mode}: the suggestion did not work: {flags}\n{}",
            String::from_utf8_lossy(&sh.stderr)
        );
        unquoted_runs_the_name(&s, &s.s(dir));
    }
}

/// Red team 11's residual, closed: the hashes given to `trust --sha256` were a set, so the
/// files of one chain could trade the contents the user read, every hash still used. The
/// user reads `a.json` (A: extends ./b.json), `b.json` (B: extends ./c.json, network
/// blocked) and `c.json` (C: extends default). A run still going rotates them so that the
/// chain still covers the three files: `a.json` gets B (→ ./c.json), `c.json` gets A
/// (→ ./b.json), `b.json` gets C: `a(B) → c(A) → b(C)`. As a set, the three hashes matched:
/// trusted, a profile the user never read (and merged in another order). Each hash is now
/// bound to one file — `HEX` to the profile `trust` names, `FILE=HEX` to another file of its
/// chain —: refused, nothing recorded. Two bare hashes are a usage error; a `FILE=` naming no
/// file of the chain is refused. Control: the texts put back are trusted with the same
/// bindings.
#[test]
fn redteam11_sha256_is_bound_to_the_file_it_names() {
    if !sandbox_available() {
        return;
    }
    use nono_supervisor::profile_trust::sha256_hex;
    let s = Scratch::new("rt11-trustbind");
    let home = s.mkdir("home");
    let proj = s.s("proj");
    let (a, b, c) = (s.s("proj/a.json"), s.s("proj/b.json"), s.s("proj/c.json"));
    for f in ["a", "b", "c"] {
        s.write(&format!("proj/{f}.json"), "{}");
    }
    let text_a = r#"{"extends": "./b.json"}"#.to_owned();
    let text_b = r#"{"extends": "./c.json", "network": {"block": true}}"#.to_owned();
    let text_c = r#"{"extends": "default"}"#.to_owned();
    let write = |file: &str, content: &str| {
        run_writes(
            None,
            &s.path,
            &home,
            &["run", "--allow", &proj],
            content,
            file,
        )
        .expect_code(0);
    };
    write(&a, &text_a);
    write(&b, &text_b);
    write(&c, &text_c);
    let (ha, hb, hc) = (
        sha256_hex(text_a.as_bytes()),
        sha256_hex(text_b.as_bytes()),
        sha256_hex(text_c.as_bytes()),
    );
    let (b_bound, c_bound) = (format!("{b}={hb}"), format!("{c}={hc}"));
    // Two bare hashes: which file each is for is not said.
    nono_as(
        None,
        &s.path,
        &home,
        &["profile", "trust", &a, "--sha256", &ha, "--sha256", &hb],
    )
    .expect_code(2)
    .stderr_has("FILE=HEX");
    // A FILE that is not in the chain.
    let stray = format!("{}={hb}", s.s("proj/other.json"));
    nono_as(
        None,
        &s.path,
        &home,
        &["profile", "trust", &a, "--sha256", &ha, "--sha256", &stray],
    )
    .expect_code(125)
    .stderr_has("no file of the profile is");
    // The run rotates the texts: a(B) → c(A) → b(C), every text the user read still in use.
    write(&a, &text_b);
    write(&c, &text_a);
    write(&b, &text_c);
    let trust_bound = || {
        nono_as(
            None,
            &s.path,
            &home,
            &[
                "profile", "trust", &a, "--sha256", &ha, "--sha256", &b_bound, "--sha256", &c_bound,
            ],
        )
    };
    trust_bound()
        .expect_code(125)
        .stderr_has("nothing trusted")
        .stderr_has(&format!(
            "{a} is now sha256 {hb}, not the {ha} given for it"
        ));
    // Nothing recorded: the rotated profile is still refused.
    nono_as(None, &s.path, &home, &["run", "-p", &a, "--", "true"]).expect_code(125);
    // Control: the texts shown, put back, are trusted with the hashes bound to their files.
    std::fs::write(&a, &text_a).unwrap();
    std::fs::write(&b, &text_b).unwrap();
    std::fs::write(&c, &text_c).unwrap();
    trust_bound()
        .expect_code(0)
        .stdout_has(&format!("trusted {a}"));
    nono_as(None, &s.path, &home, &["run", "-p", &a, "--", "true"]).expect_code(0);
}

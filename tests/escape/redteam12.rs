//! Red team 12: the suggestions nono prints as one shell word (red team 11's `shell_path`),
//! and the URL opener's bound.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::harness::{nono_bin, nono_cmd, output, sandbox_available, Scratch};

/// A name with a control character or a byte that is not UTF-8 was suggested as
/// `'/…/data\u{a}\xff'` — `escape::path`'s display form in single quotes: pasted, that
/// names another path (nono: no such directory), so the denial's flag did not work. The
/// command chooses such names (a directory it makes in its own write grant, for a later run
/// with less). The suggestion is now `$'…\x0a…\xff'`: pasted into bash it grants exactly the
/// directory and the command reads the file; pasted into dash (no `$'…'`) it names another
/// path but runs nothing (the `'` in the name does not end the quote). Under run; control:
/// the file is readable unsandboxed.
#[test]
fn redteam12_a_denial_suggestion_names_a_path_with_control_or_non_utf8_bytes() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt12-denyhint-bytes");
    let home = s.mkdir("home");
    let mut dir = s.path.as_os_str().as_bytes().to_vec();
    dir.extend_from_slice(b"/data\n'$(touch pwned)'\xff\x1b[2K");
    let dir = std::path::PathBuf::from(OsStr::from_bytes(&dir));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f");
    std::fs::write(&file, "the-data\n").unwrap();
    // Control: unsandboxed, the file is there to read.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "the-data\n");
    let r = output(
        nono_cmd(&s.path)
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .args(["run", "--", "cat"])
            .arg(&file),
    );
    assert!(!r.stdout.contains("the-data"), "{r}");
    let flags = crate::redteam11::suggested_flags(&r);
    assert!(flags.starts_with("--read "), "{flags}");
    assert!(
        !flags.contains('\u{1b}'),
        "a terminal control reached the report: {flags:?}"
    );
    let paste = |shell: &str| {
        let pasted = format!("{} run {flags} -- cat \"$1\"", nono_bin().display());
        Command::new(shell)
            .args(["-c", &pasted, shell])
            .arg(&file)
            .current_dir(&s.path)
            .env("HOME", &home)
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    let bash = paste("bash");
    assert!(
        !s.join("pwned").exists(),
        "pasting into bash ran the command in the name: {flags}"
    );
    assert!(
        bash.status.success() && String::from_utf8_lossy(&bash.stdout).contains("the-data"),
        "the suggestion did not work in bash: {flags}\n{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let _ = paste("dash");
    assert!(
        !s.join("pwned").exists(),
        "pasting into dash ran the command in the name: {flags}"
    );
}

/// Every kind of name the command can choose, through `escape::shell_path` as the report
/// prints it, pasted: in bash (`-c`, and interactive with history expansion: `!!`, `!$`) the
/// word is the name's exact bytes; in dash it runs nothing (and, but for the `$'…'` form,
/// which dash lacks, is the name too). Control: the marker is made when a name is pasted
/// unquoted.
#[test]
fn redteam12_a_suggested_word_is_the_name_in_bash_and_runs_nothing_in_dash() {
    use nono_supervisor::escape::shell_path;
    let s = Scratch::new("rt12-words");
    let names: &[&[u8]] = &[
        b"/p/plain-1.txt",
        b"/p/a b",
        b"/p/$(touch pwned)",
        b"/p/`touch pwned`",
        b"/p/x;touch pwned",
        b"/p/x|touch pwned",
        b"/p/x&&touch pwned",
        b"/p/it's",
        b"/p/'$(touch pwned)'",
        b"/p/back\\slash",
        b"/p/\\'$(touch pwned)",
        b"/p/!!",
        b"/p/x!$",
        b"/p/!-1",
        b"/p/~root",
        b"~",
        b"/p/{a,b}",
        b"/p/*",
        b"/p/?",
        b"/p/[ab]",
        b"/p/=x",
        b"/p/a=b",
        b"/p/#x",
        b"/p/%1",
        b"/p/\"x\"",
        b"/p/$HOME",
        b"/p/${x:-y}",
        b"/p/a\nb",
        b"/p/a\n'$(touch pwned)'",
        b"/p/a\t\r",
        b"/p/\x1b[2K\x07",
        b"/p/\xff\xfe",
        b"/p/\xc2\x9b\xe2\x80\xae",
        b"/p/$'\\x41'",
        b"/p/x\\",
    ];
    for name in names {
        let word = shell_path(std::path::Path::new(OsStr::from_bytes(name)));
        assert!(
            !word.chars().any(|c| c.is_control()),
            "a control character in {word:?}"
        );
        let script = format!("printf '%s' {word} > out");
        let run = |shell: &str, interactive: bool| {
            let _ = std::fs::remove_file(s.join("out"));
            let mut cmd = Command::new(shell);
            cmd.current_dir(&s.path).env("HOME", "/nonexistent");
            let out = if interactive {
                use std::io::Write;
                use std::process::Stdio;
                let mut child = cmd
                    .args(["--norc", "--noprofile", "-i"])
                    .env("HISTFILE", "/dev/null")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                // A line in the history first, for `!!`, `!$` and `!-1` to find.
                let lines = format!("set -H\necho earlier-line\n{script}\nexit\n");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(lines.as_bytes())
                    .unwrap();
                child.wait().unwrap();
                std::fs::read(s.join("out")).ok()
            } else {
                cmd.args(["-c", &script]).status().unwrap();
                std::fs::read(s.join("out")).ok()
            };
            assert!(
                !s.join("pwned").exists(),
                "{shell} (interactive: {interactive}) ran a command in {word}"
            );
            out
        };
        for interactive in [false, true] {
            assert_eq!(
                run("bash", interactive).as_deref(),
                Some(*name),
                "bash (interactive: {interactive}): {word} is another name"
            );
        }
        let dash = run("dash", false);
        if !word.starts_with("$'") {
            assert_eq!(dash.as_deref(), Some(*name), "dash: {word} is another name");
        }
    }
    // Control: unquoted, a name runs the command in it.
    Command::new("sh")
        .current_dir(&s.path)
        .args(["-c", "printf '%s' /p/$(touch pwned) > out"])
        .status()
        .unwrap();
    assert!(s.join("pwned").exists());
}

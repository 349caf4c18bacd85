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
    let start = r
        .stderr
        .find("→ add ")
        .unwrap_or_else(|| panic!("no suggestion:\n{r}"));
    let flags = r.stderr[start + "→ add ".len()..]
        .lines()
        .next()
        .unwrap()
        .split(" (or ")
        .next()
        .unwrap()
        .to_owned();
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

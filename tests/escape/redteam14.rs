//! Red team 14: the sandbox prepared ahead (issue 14, session 9). See the section "Red team
//! 14: the sandbox prepared ahead" of docs/THREAT_MODEL.md.
//!
//! While the deny-group thread resolves the groups, `run` and `wrap` build the Landlock
//! ruleset on the main thread, holding up to `HELD_RULE_FDS` rule descriptors at once. With a
//! low `RLIMIT_NOFILE` the two threads shared too few descriptors: the build retried after
//! `EMFILE`, but the deny thread's link walk skipped every directory it could not open as if
//! it were empty, so the targets of the symlinks inside it were not protected — and the walk
//! was recorded in the start-up cache, so later runs with any limit reused it.

use std::process::{Command, Stdio};

use crate::harness::{nono_bin, output, state_home_for, Run, Scratch};
use crate::programs::{bins, Mode};

/// `autorun` entries (read-only deny group: programs on `PATH`, toolchains) the tree fills.
const ENTRIES: [&str; 16] = [
    ".local/bin",
    "bin",
    ".cargo/bin",
    "go/bin",
    ".npm-global/bin",
    ".rustup",
    ".pyenv",
    ".nvm",
    ".volta",
    ".asdf",
    ".sdkman",
    ".bun/bin",
    ".deno/bin",
    "miniconda3",
    "anaconda3",
    ".conda",
];
/// Directories per entry, each holding one symlink to its own target in `~/dotfiles`.
const DIRS: usize = 300;
/// Entries of the directory the profile's own deny expands its read grant around (the
/// preparation ahead holds a descriptor for each).
const WIDE: usize = 2000;
/// Fresh starts per mode (the race is won on a fraction of them before the fix).
const ATTEMPTS: usize = 12;

/// The home: every entry full of directories with a symlink into `~/dotfiles` (granted
/// read-write on the command line), and a profile `wide` whose own deny makes the ruleset
/// built ahead large. Returns the home.
fn tree(s: &Scratch) -> std::path::PathBuf {
    let home = s.mkdir("home");
    let dots = s.mkdir("home/dotfiles");
    let mut n = 0;
    for entry in ENTRIES {
        for i in 0..DIRS {
            let dir = s.mkdir(&format!("home/{entry}/d{i}"));
            let target = dots.join(format!("t{n}"));
            std::fs::write(&target, "").unwrap();
            std::os::unix::fs::symlink(&target, dir.join("tool")).unwrap();
            n += 1;
        }
    }
    let wide = s.mkdir("wide");
    for i in 0..WIDE {
        std::fs::write(wide.join(format!("f{i}")), "").unwrap();
    }
    s.write(
        "home/.config/nono/profiles/wide.json",
        &format!(
            "{{\"extends\": \"default\", \"filesystem\": {{\"read\": [\"{w}\"], \"deny\": [\"{w}/none\"]}}}}\n",
            w = wide.display()
        ),
    );
    home
}

/// The shell loop the command runs: how many targets it could append to.
fn probe(home: &std::path::Path) -> String {
    format!(
        "c=0; for f in {}/dotfiles/t*; do true >> \"$f\" 2>/dev/null && c=$((c+1)); done; echo writable=$c",
        home.display()
    )
}

/// `nono MODE -p wide --allow ~/dotfiles -- sh -c PROBE` with `ulimit -n 64`, from a fresh
/// state directory (no walk cache).
fn attempt(mode: Mode, s: &Scratch, home: &std::path::Path) -> Run {
    let state = state_home_for(&s.path).expect("scratch state directory");
    let _ = std::fs::remove_dir_all(&state);
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "ulimit -n 64 && exec \"$@\"", "sh"])
        .arg(nono_bin())
        .arg(mode.as_str())
        .args(["-p", "wide", "--allow"])
        .arg(home.join("dotfiles"));
    if mode == Mode::Wrap {
        cmd.arg("--accept-wrap-gaps");
    }
    cmd.args(["--", "/bin/sh", "-c", &probe(home)])
        .env("HOME", home)
        .env("XDG_STATE_HOME", &state)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RUST_LOG")
        .current_dir(&s.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    output(&mut cmd)
}

/// Under `ulimit -n 64`, with the deny thread's walk and the ruleset built ahead running at
/// the same time, no symlink target inside a deny entry is left writable: each start either
/// runs with every target read-only, or refuses to start saying which directory it could not
/// look through. The control shows the targets are writable without nono.
#[test]
fn a_low_descriptor_limit_never_leaves_link_targets_in_deny_entries_unprotected() {
    if bins().is_none() {
        return;
    }
    let s = Scratch::new("rt14-fdlimit");
    let home = tree(&s);
    let control = Command::new("/bin/sh")
        .args(["-c", &probe(&home)])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&control.stdout).trim(),
        format!("writable={}", ENTRIES.len() * DIRS),
        "control"
    );
    // `wrap` only: `run` prepares ahead and walks the same way (`nono_supervisor::prepare_ahead`,
    // the same deny thread), but its supervisor reports each of the 4800 refused writes,
    // which takes minutes with this many deny entries.
    for mode in [Mode::Wrap] {
        let mut ran = 0;
        for _ in 0..ATTEMPTS {
            let out = attempt(mode, &s, &home);
            if out.stdout.contains("writable=") {
                assert!(
                    out.stdout.contains("writable=0"),
                    "{mode:?}: symlink targets inside deny entries were writable\n{out}"
                );
                ran += 1;
            } else {
                assert!(
                    out.stderr
                        .contains("looking for symlinks inside the protected path"),
                    "{mode:?}: neither ran nor refused as expected\n{out}"
                );
            }
        }
        assert!(ran > 0, "{mode:?}: no attempt ran the command");
    }
}

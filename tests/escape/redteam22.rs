//! Red team 22: a9cba95 (coding agents' configuration in `autorun`), 4736ee8 (runtime
//! denials keep the engine's deny-group verdict) and 854a54c (`PathIndex`). See the section
//! "Red team 22 (session 13)" of docs/THREAT_MODEL.md.

use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

/// A scratch home with Claude Code's and Gemini CLI's configuration (`~/.gemini` exists,
/// empty: its `settings.json` is an entry that does not exist yet) and a project.
fn home(s: &Scratch) {
    s.write("home/.claude/settings.json", "{}\n");
    s.mkdir("home/.claude/projects/p");
    s.mkdir("home/.gemini");
    s.mkdir("home/.config/autostart");
    s.mkdir("home/evil");
    s.mkdir("home/proj");
}

/// `nono run --allow PROJ ARGS -- /bin/sh -c SCRIPT` with `HOME` the scratch home.
fn sh_in_nono(s: &Scratch, args: &[&str], script: &str) -> Run {
    let mut cmd = nono_cmd(&s.join("home/proj"));
    cmd.env("HOME", s.join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .args(["run", "--allow", &s.s("home/proj")])
        .args(args)
        .args(["--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

fn sh_bare(s: &Scratch, script: &str) -> String {
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .env("HOME", s.join("home"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces a protected file by renaming the directory above it: `~/.claude` moved aside and
/// a directory of the sandbox's own holding another `settings.json` moved into its name;
/// `~/.gemini` (empty, removable) replaced the same way; a symlink to a directory of its own
/// put at `~/.gemini`'s name; `~/.config` replaced by a directory holding `autostart/`.
const REPLACE: &str = r#"
h="$HOME"
mkdir -p "$h/c2" && echo '{"hooks":"pwned"}' > "$h/c2/settings.json"
mv -T "$h/.claude" "$h/claude.old" && mv -T "$h/c2" "$h/.claude" && echo replaced-claude
mkdir -p "$h/g2" && echo '{"mcpServers":"pwned"}' > "$h/g2/settings.json"
rmdir "$h/.gemini" && mv -T "$h/g2" "$h/.gemini" && echo replaced-gemini
rmdir "$h/.gemini" 2>/dev/null; ln -s "$h/evil" "$h/.gemini" && echo linked-gemini &&
  echo '{"mcpServers":"pwned"}' > "$h/.gemini/settings.json" && echo wrote-through-link
mkdir -p "$h/cfg/autostart" && echo pwned > "$h/cfg/autostart/x.desktop"
mv -T "$h/.config" "$h/config.old" && mv -T "$h/cfg" "$h/.config" && echo replaced-config
mv "$h/.claude/projects" "$h/.claude/projects2" && echo ordinary-rename
mkdir "$h/d" && mv "$h/d" "$h/d2" && echo plain-rename
true
"#;

/// Finding 1 (pre-existing since runtime grants of path operations; fixed). Under
/// `--approve ~` the supervisor performed a rename or a symlink for the child when each
/// *name* was approved and not itself under a deny entry — but a name *above* one: renaming
/// `~/.claude` aside and a directory holding another `settings.json` into its name put the
/// sandbox's hooks where Claude Code reads them outside the sandbox (the same for
/// `~/.config/autostart`, `~/.gemini`, and a symlink at `~/.gemini` to the sandbox's own
/// directory). Now a rename (either name) or a symlink at a name above a deny entry is
/// refused and reported as that entry's protection. Control: unsandboxed everything is
/// replaced; the ordinary renames still work under nono.
#[test]
fn redteam22_approve_home_cannot_replace_the_directory_above_a_deny_entry() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt22-replace");
    home(&s);
    let control = sh_bare(&s, REPLACE);
    for line in [
        "replaced-claude",
        "replaced-gemini",
        "wrote-through-link",
        "replaced-config",
    ] {
        assert!(control.contains(line), "control: {control}");
    }
    assert!(
        std::fs::read_to_string(s.join("home/.claude/settings.json"))
            .unwrap()
            .contains("pwned")
    );
    drop(s);
    let s = Scratch::new("rt22-replace");
    home(&s);
    let r = sh_in_nono(&s, &["--approve", &s.s("home")], REPLACE);
    for line in [
        "replaced-claude",
        "replaced-gemini",
        "linked-gemini",
        "wrote-through-link",
        "replaced-config",
    ] {
        assert!(!r.stdout.contains(line), "{line}: {r}");
    }
    assert!(r.stdout.contains("ordinary-rename"), "{r}");
    assert!(r.stdout.contains("plain-rename"), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert!(!s.join("home/.gemini/settings.json").exists(), "{r}");
    assert!(!s.join("home/.config/autostart/x.desktop").exists(), "{r}");
    assert!(!s.join("home/evil/settings.json").exists(), "{r}");
    // Reported as the entry's protection, never with a flag on the renamed directory.
    assert!(
        r.stderr.contains(&format!(
            "denied write of {} (renameat2",
            s.s("home/.claude/settings.json")
        )),
        "{r}"
    );
    assert!(r.stderr.contains("deny group `autorun`"), "{r}");
    assert!(!r.stderr.contains("--allow"), "{r}");
    for dir in ["home/.claude ", "home/.gemini ", "home/.config "] {
        assert!(!r.stderr.contains(&format!("--write {}", s.s(dir))), "{r}");
    }
}

/// The same replacements under the static grants of the agent's directory and the whole
/// home (`--allow ~/.claude --allow-file ~/.claude.json`, `--allow ~`), plus a rename over
/// the file, a hard link to it written through, `O_TRUNC`, and a write through
/// `/proc/self/fd` of a descriptor opened for reading: Landlock's carve-out spines refuse
/// every one. Control: unsandboxed they all work (checked by the finding's test and here for
/// the file-level ones).
#[test]
fn redteam22_granted_agent_directory_and_home_keep_the_hooks_read_only() {
    if !sandbox_available() {
        return;
    }
    const FILE_LEVEL: &str = r#"
h="$HOME"
echo '{"hooks":"pwned"}' > "$h/.claude/projects/p/t" &&
  mv "$h/.claude/projects/p/t" "$h/.claude/settings.json" && echo renamed-over
ln "$h/.claude/settings.json" "$h/proj/hl" && echo '{"hooks":"pwned"}' >> "$h/proj/hl" && echo hard-linked
: > "$h/.claude/settings.json" && echo truncated
exec 3< "$h/.claude/settings.json"; echo pwned >> /proc/self/fd/3 && echo proc-fd
echo '{"mcpServers":"pwned"}' > "$h/.gemini/settings.json" && echo created-gemini
mkdir "$h/.claude/hooks" && echo made-hooks
true
"#;
    let s = Scratch::new("rt22-static");
    home(&s);
    s.write("home/.claude.json", "{}\n");
    let control = sh_bare(&s, FILE_LEVEL);
    for line in [
        "renamed-over",
        "hard-linked",
        "truncated",
        "proc-fd",
        "made-hooks",
    ] {
        assert!(control.contains(line), "control: {control}");
    }
    let script = format!("{FILE_LEVEL}\n{REPLACE}");
    let (claude, claude_json, h) = (s.s("home/.claude"), s.s("home/.claude.json"), s.s("home"));
    let grants: [&[&str]; 3] = [
        &["--allow", &claude, "--allow-file", &claude_json],
        &["--allow", &h],
        &["--allow", &h, "--approve", &h],
    ];
    for args in grants {
        drop(std::fs::remove_dir_all(s.join("home")));
        home(&s);
        s.write("home/.claude.json", "{}\n");
        let r = sh_in_nono(&s, args, &script);
        for line in [
            "renamed-over",
            "hard-linked",
            "truncated",
            "proc-fd",
            "created-gemini",
            "made-hooks",
            "replaced-claude",
            "replaced-gemini",
            "wrote-through-link",
            "replaced-config",
        ] {
            assert!(!r.stdout.contains(line), "{args:?} {line}: {r}");
        }
        assert_eq!(
            std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
            "{}\n",
            "{args:?}: {r}"
        );
        assert!(!s.join("home/.gemini/settings.json").exists(), "{args:?}");
        assert!(!s.join("home/evil/settings.json").exists(), "{args:?}");
        assert!(!r.stderr.contains("→ add --"), "{args:?}: {r}");
    }
}

/// The recipe (docs/guide/recipes.md): with `--allow ~/.claude-sandbox` the sandbox cannot
/// reach the real `~/.claude` or `~/.claude.json` through that grant — a symlink it makes
/// there is followed by Landlock to where it leads, a hard link across is `EXDEV`, and the
/// home stays a spine. Control: unsandboxed each write lands.
#[test]
fn redteam22_the_recipes_own_directory_does_not_reach_the_real_configuration() {
    if !sandbox_available() {
        return;
    }
    const REACH: &str = r#"
h="$HOME"; d="$h/.claude-sandbox"
ln -s "$h/.claude" "$d/real" && echo '{"hooks":"pwned"}' > "$d/real/settings.json" && echo via-symlink
ln -s "$h/.claude.json" "$d/.claude.json" 2>/dev/null; echo '{"mcpServers":"pwned"}' > "$d/.claude.json" && echo via-file-link
ln "$h/.claude/settings.json" "$d/hl" && echo pwned >> "$d/hl" && echo via-hard-link
mv "$d" "$h/.claude" 2>/dev/null && echo moved-sandbox-dir
true
"#;
    let s = Scratch::new("rt22-recipe");
    home(&s);
    s.write("home/.claude.json", "{}\n");
    s.mkdir("home/.claude-sandbox");
    let control = sh_bare(&s, REACH);
    for line in ["via-symlink", "via-file-link", "via-hard-link"] {
        assert!(control.contains(line), "control: {control}");
    }
    drop(std::fs::remove_dir_all(s.join("home")));
    home(&s);
    s.write("home/.claude.json", "{}\n");
    let d = s.mkdir("home/.claude-sandbox").display().to_string();
    let set = format!("CLAUDE_CONFIG_DIR={d}");
    let r = sh_in_nono(&s, &["--allow", &d, "--setenv", &set], REACH);
    for line in [
        "via-symlink",
        "via-file-link",
        "via-hard-link",
        "moved-sandbox-dir",
    ] {
        assert!(!r.stdout.contains(line), "{line}: {r}");
    }
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude.json")).unwrap(),
        "{}\n"
    );
}

/// Finding 3 (fixed: entries added). Common code-running configuration the commit left out:
/// the extension directories of the VS Code forks it names (`~/.cursor/extensions`,
/// `~/.windsurf/extensions`, `~/.vscode-oss/extensions`, as `~/.vscode/extensions` is),
/// Cursor's user hooks (`~/.cursor/hooks.json`) and Gemini CLI's extensions (each declares
/// MCP servers). Granted the agent's directory, the sandbox changes none of them; control:
/// unsandboxed every write lands.
#[test]
fn redteam22_forks_extensions_cursor_hooks_and_gemini_extensions_stay_read_only() {
    if !sandbox_available() {
        return;
    }
    const TAMPER: &str = r#"
h="$HOME"
for f in .cursor/extensions/ext/main.js .windsurf/extensions/ext/main.js \
         .vscode-oss/extensions/ext/main.js .cursor/hooks.json \
         .gemini/extensions/ext/gemini-extension.json; do
    echo pwned >> "$h/$f" && echo "changed $f"
done
mkdir "$h/.cursor/extensions/new" && echo made-extension
true
"#;
    let files = [
        "home/.cursor/extensions/ext/main.js",
        "home/.windsurf/extensions/ext/main.js",
        "home/.vscode-oss/extensions/ext/main.js",
        "home/.cursor/hooks.json",
        "home/.gemini/extensions/ext/gemini-extension.json",
    ];
    let s = Scratch::new("rt22-more-agents");
    let setup = |s: &Scratch| {
        home(s);
        for f in files {
            s.write(f, "{}\n");
        }
    };
    setup(&s);
    let control = sh_bare(&s, TAMPER);
    assert_eq!(control.matches("changed ").count(), 5, "control: {control}");
    drop(std::fs::remove_dir_all(s.join("home")));
    setup(&s);
    let (cursor, windsurf, oss, gemini) = (
        s.s("home/.cursor"),
        s.s("home/.windsurf"),
        s.s("home/.vscode-oss"),
        s.s("home/.gemini"),
    );
    let r = sh_in_nono(
        &s,
        &[
            "--allow", &cursor, "--allow", &windsurf, "--allow", &oss, "--allow", &gemini,
        ],
        TAMPER,
    );
    assert!(!r.stdout.contains("changed "), "{r}");
    assert!(!r.stdout.contains("made-extension"), "{r}");
    for f in files {
        assert_eq!(std::fs::read_to_string(s.join(f)).unwrap(), "{}\n", "{f}");
    }
    assert!(r.stderr.contains("deny group `autorun`"), "{r}");
}

/// Finding 2 (low: a report line missing, nothing granted; fixed in session 14). A write
/// refused by a deny entry reached through a symlink inside a granted directory (`proj/s` →
/// `~/.claude`, the command writes `proj/s/settings.json`) was not reported at all: the
/// trapped open's fast path judged the lexical path, which the grant of `proj` covers, and
/// answered `CONTINUE`; Landlock refused it with no trace. The same write spelled
/// `~/.claude/settings.json` was reported as the `autorun` entry's protection. Now a write on
/// the fast path is canonicalised first: with and without `--approve ~` it is refused and
/// reported as the entry's; a write through a symlink to an unprotected file outside the
/// grants is reported with a flag (and under `--approve ~` granted, as if spelled directly);
/// one through a symlink that stays inside the grants is untouched.
#[test]
fn redteam22_a_write_through_a_symlink_in_a_grant_is_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt22-report-link");
    home(&s);
    std::os::unix::fs::symlink(s.join("home/.claude"), s.join("home/proj/s")).unwrap();
    std::fs::write(s.join("home/notes.txt"), "").unwrap();
    std::os::unix::fs::symlink(s.join("home/notes.txt"), s.join("home/proj/n")).unwrap();
    std::fs::create_dir(s.join("home/proj/sub")).unwrap();
    std::os::unix::fs::symlink(s.join("home/proj/sub"), s.join("home/proj/in")).unwrap();
    let script = "echo '{\"hooks\":1}' >> ./s/settings.json; echo n >> ./n; \
                  echo i >> ./in/f; true";
    // Control: unsandboxed, every write lands (checked on a copy of the tree).
    let c = Scratch::new("rt22-report-link-bare");
    home(&c);
    std::os::unix::fs::symlink(c.join("home/.claude"), c.join("home/proj/s")).unwrap();
    std::fs::write(c.join("home/notes.txt"), "").unwrap();
    std::os::unix::fs::symlink(c.join("home/notes.txt"), c.join("home/proj/n")).unwrap();
    std::fs::create_dir(c.join("home/proj/sub")).unwrap();
    std::os::unix::fs::symlink(c.join("home/proj/sub"), c.join("home/proj/in")).unwrap();
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(c.join("home/proj"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_ne!(
        std::fs::read_to_string(c.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(
        std::fs::read_to_string(c.join("home/notes.txt")).unwrap(),
        "n\n"
    );

    let protected = format!(
        "denied write of {}: read-only in deny group `autorun`",
        s.s("home/.claude/settings.json")
    );
    // Only the grant of `proj`.
    let r = sh_in_nono(&s, &[], script);
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.join("home/notes.txt")).unwrap(),
        ""
    );
    assert_eq!(
        std::fs::read_to_string(s.join("home/proj/sub/f")).unwrap(),
        "i\n"
    );
    assert!(r.stderr.contains(&protected), "{r}");
    let notes = s.s("home/notes.txt");
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("denied write of") && l.contains(&notes)),
        "{r}"
    );
    assert!(!r.stderr.contains("proj/sub"), "{r}");
    // `--approve ~`: the protected file is still refused (and reported as the entry's); the
    // unprotected one is granted, as `echo n >> ~/notes.txt` would be.
    let r = sh_in_nono(&s, &["--approve", &s.s("home")], script);
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude/settings.json")).unwrap(),
        "{}\n"
    );
    assert!(r.stderr.contains(&protected), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/notes.txt")).unwrap(),
        "n\n"
    );
}

/// The read half of finding 2 (session 16; a report line missing, nothing granted). A read
/// refused through a symlink inside a granted directory (`proj/k` → `~/.ssh/id_ed25519`,
/// `proj/o` → `OUT`, the command reads `proj/k` and `proj/o/x`) was Landlock's alone: the
/// fast path answered `CONTINUE` on the lexical path and nothing was reported, where the same
/// reads spelled directly are (the writes were fixed in session 14). Now a read on the fast
/// path is shown symlink-free first, as a write is: refused through the link, it is reported
/// under the path it leads to — the deny entry's line, or `--read OUT` — and that flag works;
/// under `--approve OUT` the read is granted as `cat OUT/x` would be, and the protected key is
/// still refused. A link that stays inside the grants is untouched.
#[test]
fn redteam22_a_read_through_a_symlink_in_a_grant_is_reported() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("rt22-report-read-link");
    home(&s);
    s.write("home/.ssh/id_ed25519", "KEY\n");
    s.write("out/x", "OUTSIDE\n");
    s.write("home/proj/sub/f", "INSIDE\n");
    let link = |to: &str, at: &str| std::os::unix::fs::symlink(s.join(to), s.join(at)).unwrap();
    link("home/.ssh/id_ed25519", "home/proj/k");
    link("out", "home/proj/o");
    link("home/proj/sub", "home/proj/in");
    let script = "cat ./k; cat ./o/x; ls ./o; cat ./in/f; true";
    // Control: unsandboxed, every read works.
    let bare = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(s.join("home/proj"))
        .output()
        .unwrap();
    let bare = String::from_utf8_lossy(&bare.stdout);
    assert!(bare.contains("KEY") && bare.contains("OUTSIDE") && bare.contains("INSIDE"));

    let key = s.s("home/.ssh/id_ed25519");
    let protected = format!("denied read of {key}: protected by deny group `credentials`");
    let out = s.s("out");
    let r = sh_in_nono(&s, &[], script);
    assert!(
        !r.stdout.contains("KEY") && !r.stdout.contains("OUTSIDE"),
        "{r}"
    );
    assert!(r.stdout.contains("INSIDE"), "{r}");
    assert!(r.stderr.contains(&protected), "{r}");
    let fix = format!("denied read of {out}/x → add --read {out}");
    assert!(r.stderr.contains(&fix), "{r}");
    assert!(
        r.stderr
            .contains(&format!("denied read of {out} → add --read {out}")),
        "the listing of `o` (`ls`): {r}"
    );
    assert!(!r.stderr.contains("proj/sub"), "{r}");
    // The flag the report names works.
    let r = sh_in_nono(&s, &["--read", &out], script);
    assert!(r.stdout.contains("OUTSIDE"), "{r}");
    assert!(!r.stdout.contains("KEY"), "{r}");
    assert!(!r.stderr.contains(&fix), "{r}");
    // `--approve OUT`: granted at run time as if spelled directly; the key stays refused.
    let r = sh_in_nono(&s, &["--approve", &out, "--approve", &s.s("home")], script);
    assert!(
        r.stdout.contains("OUTSIDE") && r.stdout.contains("INSIDE"),
        "{r}"
    );
    assert!(!r.stdout.contains("KEY"), "{r}");
    assert!(r.stderr.contains(&protected), "{r}");
}

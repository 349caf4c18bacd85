//! Coding agents' own configuration: the hooks, MCP servers and commands named in
//! `~/.claude/settings.json`, `~/.claude.json`, `~/.codex/config.toml` and the like run when
//! the user next starts the agent *outside* the sandbox, so they stay read-only (group
//! `autorun`) even when the agent's directory is granted; and the recipe that gives the agent
//! a configuration directory of its own (`CLAUDE_CONFIG_DIR`) lets it keep its state.

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

fn run(s: &Scratch, args: &[&str], script: &str) -> Run {
    let work = s.mkdir("work").display().to_string();
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .arg("run")
        .args(["--allow", &work])
        .args(args)
        .args(["--", "/bin/sh", "-c", script]);
    output(&mut cmd)
}

/// Appends to each code-running file, then writes the agent's ordinary state; prints which
/// appends worked.
const TAMPER: &str = r#"
for f in "$HOME/.claude/settings.json" "$HOME/.claude.json" "$HOME/.codex/config.toml" \
         "$HOME/.claude/commands/deploy.md"; do
    if echo '{"hooks": "pwned"}' >> "$f" 2>/dev/null; then echo "changed $f"; fi
done
echo '{}' > "$HOME/.claude/projects/p/session.jsonl" && echo state-saved
"#;

fn home(s: &Scratch) {
    s.write("home/.claude/settings.json", "{}\n");
    s.write("home/.claude/commands/deploy.md", "deploy\n");
    s.mkdir("home/.claude/projects/p");
    s.write("home/.claude.json", "{}\n");
    s.write("home/.codex/config.toml", "\n");
}

#[test]
fn an_agents_hooks_and_mcp_servers_stay_read_only_in_its_granted_directory() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("agent-config");
    home(&s);
    // Control: unsandboxed (and as root, so no file permission is in the way) every file
    // can be changed.
    let control = std::process::Command::new("/bin/sh")
        .args(["-c", TAMPER])
        .env("HOME", s.join("home"))
        .output()
        .unwrap();
    let control = String::from_utf8_lossy(&control.stdout).to_string();
    assert_eq!(control.matches("changed ").count(), 4, "{control}");
    home(&s);
    let (claude, codex, claude_json) = (
        s.s("home/.claude"),
        s.s("home/.codex"),
        s.s("home/.claude.json"),
    );
    let r = run(
        &s,
        &[
            "--allow",
            &claude,
            "--allow",
            &codex,
            "--allow-file",
            &claude_json,
        ],
        TAMPER,
    );
    assert!(!r.stdout.contains("changed "), "{r}");
    // The agent's ordinary state is still written.
    assert!(r.stdout.contains("state-saved"), "{r}");
    for f in [
        "home/.claude/settings.json",
        "home/.claude.json",
        "home/.codex/config.toml",
        "home/.claude/commands/deploy.md",
    ] {
        assert!(
            !std::fs::read_to_string(s.join(f))
                .unwrap()
                .contains("pwned"),
            "{f}"
        );
        assert!(
            r.stderr.contains(&format!(
                "denied write of {}: read-only in deny group `autorun`",
                s.s(f)
            )),
            "{f}: {r}"
        );
    }
}

/// The recipe (docs/guide/recipes.md): a configuration directory of the agent's own, granted
/// and named by `CLAUDE_CONFIG_DIR`, where it saves as Claude Code does (a lock directory,
/// a temporary file renamed over `.claude.json`, its backups and projects). Without the
/// recipe the same save fails (the home directory is a carve-out spine).
#[test]
fn an_agent_config_directory_of_its_own_keeps_its_state() {
    if !sandbox_available() {
        return;
    }
    const SAVE: &str = r#"
        dir="${CLAUDE_CONFIG_DIR:-$HOME}"
        mkdir -p "$HOME/.claude-sandbox/backups" "$dir/projects/p" 2>/dev/null
        mkdir "$dir/.claude.json.lock" &&
        echo '{"numStartups": 1}' > "$dir/.claude.json.tmp.1" &&
        mv "$dir/.claude.json.tmp.1" "$dir/.claude.json" &&
        rmdir "$dir/.claude.json.lock" &&
        echo '{}' > "$dir/projects/p/s.jsonl" && echo saved
    "#;
    let s = Scratch::new("agent-own-config");
    s.mkdir("home");
    // Control: in the home directory itself, the save fails.
    let r = run(&s, &[], SAVE);
    assert!(!r.stdout.contains("saved"), "{r}");
    assert!(!s.join("home/.claude.json").exists());
    let dir = s.mkdir("home/.claude-sandbox").display().to_string();
    let set = format!("CLAUDE_CONFIG_DIR={dir}");
    let r = run(&s, &["--allow", &dir, "--setenv", &set], SAVE);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("saved"), "{r}");
    assert_eq!(
        std::fs::read_to_string(s.join("home/.claude-sandbox/.claude.json")).unwrap(),
        "{\"numStartups\": 1}\n"
    );
    assert!(s.join("home/.claude-sandbox/projects/p/s.jsonl").exists());
}

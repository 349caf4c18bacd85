//! Red team 15: the URL opener's `PATH` and the cut-walk note. See the section "Red team 15:
//! the URL opener's PATH and the cut-walk note" of docs/THREAT_MODEL.md. (The opener's own
//! attacks — `BROWSER`, a re-pointed link to the opener, a write granted once — are
//! supervisor and unit tests: `url::redteam15_*`, `policy::tests::redteam15_*`,
//! `url_open::tests::redteam15_*`.)

use crate::harness::{nono_cmd, output, Run, Scratch};
use crate::programs::{bins, probe_bare, Mode, Outcome, MODES};

/// Under `--allow ~`, the user's MIME associations (`~/.config/mimeapps.list` and the
/// desktop-specific ones) could be rewritten. `xdg-open` — the URL opener nono runs outside
/// the sandbox for `OpenUrl`, and every later click on a link — runs the `Exec=` line of the
/// desktop entry a `x-scheme-handler/https=` line names, looked up as `$dir/$name` without
/// any check, so `../../../../home/u/proj/evil.desktop` reaches a desktop entry the command
/// wrote anywhere it may write. Under Xfce, `exo-open` runs the command of the helper
/// `~/.config/xfce4/helpers.rc` names, from `~/.local/share/xfce4/helpers`. They are now
/// read-only in the `autorun` group: read works,
/// rewriting, creating and removing do not, in `run` and `wrap`. The control does each step
/// unsandboxed.
#[test]
fn redteam15_mime_associations_are_read_only_under_a_home_grant() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt15-mimeapps");
    let home = s.mkdir("home");
    let list = s.write(
        "home/.config/mimeapps.list",
        "[Default Applications]\nx-scheme-handler/https=firefox.desktop\n",
    );
    let gnome = home.join(".config/gnome-mimeapps.list");
    // Xfce's helpers: `exo-open` runs the command of the helper `helpers.rc` names.
    let helper = s
        .mkdir("home/.local/share/xfce4/helpers")
        .join("custom-WebBrowser.desktop");
    let (list_s, gnome_s) = (list.display().to_string(), gnome.display().to_string());
    let helper_s = helper.display().to_string();
    let steps = [
        "read", "read", &list_s, "write", "write", &list_s, "create", "create", &gnome_s, "unlink",
        "unlink", &list_s, "create", "helper", &helper_s,
    ];
    for mode in MODES {
        let mut cmd = nono_cmd(&s.path);
        for var in ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &home)
            .arg(mode.as_str())
            .args(["--read", &b.dir_s()])
            .args(["--allow", &home.display().to_string()]);
        if mode == Mode::Wrap {
            cmd.arg("--accept-wrap-gaps");
        }
        cmd.arg("--").arg(b.probe()).args(steps);
        let out = Outcome::parse(output(&mut cmd));
        out.expect(&[
            ("read", "ok"),
            ("write", "EACCES"),
            ("create", "EACCES"),
            ("unlink", "EACCES"),
            ("helper", "EACCES"),
        ]);
        assert!(
            std::fs::read_to_string(&list)
                .unwrap()
                .ends_with("=firefox.desktop\n"),
            "{mode:?}: mimeapps.list changed"
        );
        assert!(!gnome.exists(), "{mode:?}: gnome-mimeapps.list created");
        assert!(!helper.exists(), "{mode:?}: an Xfce helper created");
    }
    // Control: unsandboxed, each step works.
    let control = probe_bare(&s.path, &steps);
    for name in ["read", "write", "create", "unlink", "helper"] {
        assert_eq!(control.get(name), "ok", "control {name}");
    }
}

/// Note of a cut link walk (`LINK_WALK_ENTRIES`), as `tests/e2e/unwalked.rs` names it.
const NOTE: &str = "too large to look through for symlinks";

/// A fresh scratch whose `~/.local/bin` (`autorun`: read-only) holds more entries than the
/// walk looks at, with a profile `ro.json` that grants only a read of `proj`. Returns the
/// scratch and the profile's path.
fn cut_home(name: &str) -> (Scratch, String) {
    let s = Scratch::new(name);
    let bin = s.mkdir("home/.local/bin");
    for i in 0..1100 {
        std::fs::write(bin.join(format!("tool{i}")), "").unwrap();
    }
    let proj = s.mkdir("proj").display().to_string();
    let ro = s.write(
        "ro.json",
        &serde_json::json!({"name": "ro", "filesystem": {"read": [proj]}}).to_string(),
    );
    (s, ro.display().to_string())
}

/// `nono ARGS -- true` with `$HOME` at the scratch's `home`, stdin on `/dev/null`.
fn start(s: &Scratch, args: &[&str]) -> Run {
    let mut cmd = nono_cmd(&s.path);
    cmd.env("HOME", s.join("home"))
        .env_remove("XDG_STATE_HOME")
        .args(args)
        .args(["--", "true"])
        .stdin(std::process::Stdio::null());
    output(&mut cmd)
}

/// The note of a deny entry whose walk for symlinks was cut was printed only to runs with a
/// static grant its kind reduces (a write grant, for the read-only `~/.local/bin`). A run
/// without one but with runtime grants — `--approve DIR`, `learn`'s domain that may write
/// everywhere outside the deny groups — may be granted a write to a target of a link the
/// walk missed just as well (it is not denied at runtime either), and was told nothing: a
/// silent downgrade. Now runtime grants count. The control: the same profile without them
/// stays silent.
#[test]
fn redteam15_a_cut_link_walk_is_said_to_runs_with_runtime_grants() {
    if bins().is_none() {
        return;
    }
    // Control: nothing may write, nothing to say.
    let (s, ro) = cut_home("rt15-cut-none");
    let out = start(&s, &["run", "-p", &ro]);
    assert!(!out.stderr.contains(NOTE), "{out}");
    let (s, ro) = cut_home("rt15-cut-approve");
    let proj = s.join("proj").display().to_string();
    let out = start(&s, &["run", "-p", &ro, "--approve", &proj]);
    assert!(out.stderr.contains(NOTE), "--approve: {out}");
    let (s, _) = cut_home("rt15-cut-rules");
    let rules = s.write(
        "rules.json",
        &serde_json::json!({"name": "rules",
            "filesystem": {"read": [s.join("proj").display().to_string()]},
            "supervisor": {"approve": [
                {"path": format!("{}/**", s.join("proj").display()), "access": "readwrite"}]}})
        .to_string(),
    );
    let out = start(&s, &["run", "-p", &rules.display().to_string()]);
    assert!(out.stderr.contains(NOTE), "profile approve rule: {out}");
    let (s, ro) = cut_home("rt15-cut-learn");
    let profile = s.join("learned.json").display().to_string();
    let out = start(&s, &["learn", "-p", &ro, "-o", &profile]);
    assert!(out.stderr.contains(NOTE), "learn: {out}");
}

/// The sandboxed command for the opener tests: create `PLANTED` (mode 0755, through the
/// supervisor when only a rule grants it) as a script writing `ESCAPED`, then ask for an
/// allowed URL and print the answer.
const PLANT_AND_OPEN: &str = r##"
import json, os, socket, struct, sys
REQUEST_ID = "rt15"
planted, escaped = sys.argv[1], sys.argv[2]
fd = os.open(planted, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
os.write(fd, ("#!/bin/sh\necho outside > '%s'\n" % escaped).encode())
os.close(fd)
print("planted")
"##;

/// End to end through `nono run`: a `PATH` directory (`proj/bin`, outside the home) that no
/// static grant reaches, but a profile approve rule with a wildcard in the middle
/// (`S/*/bin/**`, write) does — the command writes `proj/bin/xdg-open` through the
/// supervisor, then asks for an allowed URL. The opener must be the recording `xdg-open`
/// later in `PATH`, never the planted one. Held (716736f: `ApproveRule::may_write_in`
/// takes the literal prefix `S`). Control: unsandboxed, `xdg-open` in that `PATH` is the
/// planted script.
#[test]
fn redteam15_the_opener_skips_a_path_dir_a_wildcard_rule_may_write() {
    if bins().is_none() {
        return;
    }
    let s = Scratch::new("rt15-opener-rule");
    let bin = s.mkdir("proj/bin");
    // Outside the rule's literal prefix (everything beneath `S` may be written by it).
    let o = Scratch::new("rt15-opener-rule-other");
    let other = o.mkdir("other");
    o.mkdir("outside");
    let (escaped, opened) = (o.join("outside/escaped"), o.join("outside/opened"));
    let recorder = o.write(
        "other/xdg-open",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    );
    std::fs::set_permissions(
        &recorder,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let profile = s.write(
        "p.json",
        &serde_json::json!({"extends": "default", "supervisor": {
            "allowed_origins": ["https://github.com"],
            "approve": [{"path": format!("{}/*/bin/**", s.path.display()), "access": "readwrite"}]}})
        .to_string(),
    );
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        other.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let planted = bin.join("xdg-open");
    let mut cmd = nono_cmd(&s.path);
    cmd.env("PATH", &path).args([
        "run",
        "-p",
        &profile.display().to_string(),
        "--",
        "/usr/bin/python3",
        "-c",
        &format!("{PLANT_AND_OPEN}{}", crate::redteam11::OPEN_GITHUB),
        &planted.display().to_string(),
        &escaped.display().to_string(),
    ]);
    let out = output(&mut cmd);
    assert!(out.stdout.contains("planted"), "{out}");
    assert!(out.stdout.contains(r#""success": true"#), "{out}");
    assert!(
        !escaped.exists(),
        "the command's proj/bin/xdg-open ran outside the sandbox: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap_or_default(),
        "https://github.com/\n",
        "{out}"
    );
    // Control: in that PATH, `xdg-open` is the planted script.
    let control = std::process::Command::new("sh")
        .args(["-c", "xdg-open https://github.com/"])
        .env("PATH", &path)
        .status()
        .unwrap();
    assert!(control.success());
    assert!(escaped.exists(), "control: the planted opener did not run");
}

/// Red team 15 (fixed in session 11): a program linked into a `PATH` directory *outside* the
/// home from inside it (`/usr/local/bin/firefox` → `~/apps/firefox/firefox`, a tarball
/// install) was not protected under `--allow ~`: the `autorun` group covered the `PATH`
/// directories inside the home, and the targets of links inside its own entries, but not
/// links in `/usr/local/bin`. The command rewrote `~/apps/firefox/firefox`, and the user's
/// next `firefox` ran it outside the sandbox. Now the chains of the symlinks in `PATH`
/// directories outside the home that reach into it are protected read-only
/// (`DenySet::add_path_links`).
#[test]
fn redteam15_a_program_linked_from_a_path_dir_outside_the_home_is_read_only() {
    let Some(b) = bins() else { return };
    let s = Scratch::new("rt15-path-link");
    let home = s.mkdir("home");
    let bin = s.mkdir("bin");
    let program = s.write("home/apps/tool", "#!/bin/sh\necho real\n");
    std::os::unix::fs::symlink(&program, bin.join("tool")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program_s = program.display().to_string();
    let steps = ["write", "write", program_s.as_str()];
    for mode in MODES {
        let mut cmd = crate::redteam::probe_with_home_granted(&s, b, mode, &home, &path);
        cmd.args(steps);
        Outcome::parse(output(&mut cmd)).expect(&[("write", "EACCES")]);
        assert_eq!(
            std::fs::read_to_string(&program).unwrap(),
            "#!/bin/sh\necho real\n",
            "{mode:?}"
        );
    }
    assert_eq!(probe_bare(&s.path, &steps).get("write"), "ok", "control");
}

//! Opening an allowed URL outside the sandbox (`xdg-open`/`open` or a chosen program), for
//! the SDK's `OpenUrl`; the validation is `nono_policy::url`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::url::{origin_of, validate, UrlError};

/// The program that opens a URL in the user's browser on this OS.
#[must_use]
pub fn opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    }
}

/// Open an already validated URL with `xdg-open` (Linux) or `open` (macOS), outside the
/// sandbox, with a minimal environment (only the variables a desktop opener needs to find
/// the session: `PATH`, `HOME`, `DISPLAY`, `WAYLAND_DISPLAY`, `XDG_RUNTIME_DIR`,
/// `DBUS_SESSION_BUS_ADDRESS`, `XDG_CURRENT_DESKTOP`, `BROWSER`, `LANG`), stdin/stdout/stderr
/// on `/dev/null`, in the directory `/`, and waits for the opener to exit (they return once
/// the browser has it) — at most 5 seconds: one still running then (the browser itself, run
/// in the foreground) has the URL, and is left to run (reaped by a thread) so that it holds
/// neither a supervisor worker nor the end of the run. With 4 such openers still running, a
/// new open is refused.
///
/// Callers must [`validate`] first; this function refuses a URL that fails [`origin_of`]
/// anyway, so a bug upstream cannot pass a `file://` URL or an option (`-x`) to the opener.
///
/// The opener acts for the sandboxed command, so on Linux it runs with the user's ids but
/// without any capability (the same drop as the command's: bounding, ambient, effective,
/// permitted and inheritable sets emptied, `SECBIT_NOROOT` locked as root; root without
/// `CAP_SETPCAP` gets `no_new_privs` instead, see `opener_child_setup`): a nono started
/// as root does not lend its `CAP_*` to a program started on the sandbox's request. It runs
/// outside the sandbox's Landlock domain, which is what lets it reach the desktop session.
pub fn open_outside(url: &str) -> Result<(), UrlError> {
    open_outside_with(opener(), url)
}

/// [`open_outside`] with a chosen opener program instead of the OS default (an embedding
/// program's own browser launcher, or a test's recording script). The program gets the URL
/// as its only argument, the same minimal environment and `/dev/null` streams.
pub fn open_outside_with(program: impl AsRef<OsStr>, url: &str) -> Result<(), UrlError> {
    static SHARED: std::sync::LazyLock<Arc<AtomicUsize>> = std::sync::LazyLock::new(Arc::default);
    open_counted(program.as_ref(), url, &SHARED, None)
}

/// The environment of an opener started for a sandboxed command, in place of nono's
/// `PATH` and `BROWSER`.
#[derive(Debug)]
pub(crate) struct OpenerEnv {
    /// See [`opener_path`].
    pub(crate) path: OsString,
    /// See [`opener_browser`] (`None`: not set).
    pub(crate) browser: Option<OsString>,
    /// The opener's `argv[0]` when it is run by another name than the one configured (its
    /// canonical path).
    pub(crate) arg0: Option<OsString>,
    /// `XDG_DATA_DIRS` and `XDG_CONFIG_DIRS` (see [`opener_xdg_dirs`]).
    pub(crate) xdg_dirs: Vec<(&'static str, OsString)>,
}

/// `XDG_DATA_DIRS` and `XDG_CONFIG_DIRS` of an opener started for a sandboxed command (red
/// team 15): the opener finds the default application of a URL type in their
/// `applications/mimeapps.list`, `mimeapps.list`, `defaults.list` and `mimeinfo.cache`, and
/// runs the `Exec=` line of the desktop entry named there from their `applications/`. Unset,
/// they are `/usr/local/share:/usr/share` and `/etc/xdg` — and `/usr/local` is granted for
/// installing often enough. Each is nono's value (or that default) with its entries made
/// canonical, without relative or missing ones and without those the command may write
/// into (`writable`); when none is left, `/proc` (an empty value would mean the default
/// again, and nothing can be created in `/proc`).
pub(crate) fn opener_xdg_dirs(writable: impl Fn(&Path) -> bool) -> Vec<(&'static str, OsString)> {
    [
        ("XDG_DATA_DIRS", "/usr/local/share:/usr/share"),
        ("XDG_CONFIG_DIRS", "/etc/xdg"),
    ]
    .into_iter()
    .map(|(key, default)| {
        let value = std::env::var_os(key).filter(|v| !v.is_empty());
        let value = value.unwrap_or_else(|| OsString::from(default));
        let links = (key == "XDG_DATA_DIRS").then_some("applications");
        let (kept, _) = opener_path(Some(&value), &writable, links);
        let kept = if kept.is_empty() {
            OsString::from("/proc")
        } else {
            kept
        };
        (key, kept)
    })
    .collect()
}

/// The `BROWSER` of an opener started for a sandboxed command (red team 15): `xdg-open`
/// runs each `:`-separated entry of nono's `BROWSER` as a command line (`$browser "$URL"`,
/// or with `%s` replaced), so an entry whose program is given by path in a directory the
/// command may write (`writable`) — or whose path does not resolve, which the command could
/// create — would run a program the command wrote, outside the sandbox. Such entries are left
/// out; a program given by path is passed by its canonical path (a symlink on the way,
/// re-pointed later, cannot move it); a later word that is an absolute path into a writable
/// directory (`python3 /proj/browse.py`) leaves its entry out too. A bare name is looked up
/// in the opener's filtered `PATH`. Returns the `BROWSER` (`None` when nothing is left) and
/// the entries left out.
pub(crate) fn opener_browser(
    browser: Option<&OsStr>,
    writable: impl Fn(&Path) -> bool,
) -> (Option<OsString>, Vec<String>) {
    let Some(browser) = browser else {
        return (None, Vec::new());
    };
    // Where a path given by the entry really lies: its canonical form, and whether the
    // command may write where it lies (the file itself, or a file it could create there).
    let resolve = |word: &str| -> Option<(PathBuf, bool)> {
        let path = Path::new("/").join(word);
        if let Ok(real) = std::fs::canonicalize(&path) {
            let dir = real
                .parent()
                .map_or_else(|| real.clone(), Path::to_path_buf);
            let w = writable(&dir) || writable(&real);
            return Some((real, w));
        }
        let parent = std::fs::canonicalize(path.parent()?).ok()?;
        let w = writable(&parent);
        Some((parent, w))
    };
    let text = browser.to_string_lossy();
    let mut kept: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    for entry in text.split(':').filter(|e| !e.trim().is_empty()) {
        let mut words = entry.split_whitespace();
        let Some(first) = words.next() else { continue };
        let mut line = Vec::new();
        if first.contains('/') {
            match resolve(first) {
                Some((real, false))
                    if std::fs::canonicalize(Path::new("/").join(first)).is_ok()
                        && real
                            .to_str()
                            .is_some_and(|r| !r.contains([':', '%', ' ', '\t', '\n'])) =>
                {
                    line.push(real.to_string_lossy().into_owned());
                }
                _ => {
                    dropped.push(entry.to_owned());
                    continue;
                }
            }
        } else {
            line.push(first.to_owned());
        }
        let mut bad = false;
        for w in words {
            if w.starts_with('/') && resolve(w).is_some_and(|(_, writable)| writable) {
                bad = true;
            }
            line.push(w.to_owned());
        }
        if bad {
            dropped.push(entry.to_owned());
        } else {
            kept.push(line.join(" "));
        }
    }
    let kept = (!kept.is_empty()).then(|| OsString::from(kept.join(":")));
    (kept, dropped)
}

/// The `PATH` of an opener started for a sandboxed command: the entries of `path` (nono's
/// own), each made canonical (a symlink on the way, re-pointed later, cannot move it),
/// without relative or missing entries and without those `writable` says the command may
/// put a program in — it would run outside the sandbox at once, as `xdg-open` or as any
/// program the `xdg-open` script looks up (session 10). With `links_in` (`""`: the entry
/// itself, `"applications"`: that subdirectory), an entry is left out too when a symlink
/// there leads to a file the command may write or create (red team 15:
/// `/usr/local/bin/firefox` → `~/apps/firefox/firefox` under `--allow ~`; a program cannot
/// be left out alone). Returns the `PATH` and what was left out: the writable entries, and
/// for the others the link.
pub(crate) fn opener_path(
    path: Option<&OsStr>,
    writable: impl Fn(&Path) -> bool,
    links_in: Option<&str>,
) -> (OsString, Vec<PathBuf>) {
    let mut kept: Vec<PathBuf> = Vec::new();
    let mut dropped = Vec::new();
    for entry in std::env::split_paths(path.unwrap_or_default()) {
        if !entry.is_absolute() {
            continue;
        }
        let Ok(real) = std::fs::canonicalize(&entry) else {
            continue;
        };
        // A `:` in the canonical name would split it: not kept.
        if kept.contains(&real) || real.as_os_str().as_bytes().contains(&b':') {
            continue;
        }
        if writable(&real) {
            dropped.push(real);
            continue;
        }
        let link = links_in.and_then(|sub| writable_link_in(&real.join(sub), &writable));
        match link {
            Some(link) => dropped.push(link),
            None => kept.push(real),
        }
    }
    (std::env::join_paths(kept).unwrap_or_default(), dropped)
}

/// The first symlink directly in `dir` that leads to a file the command may write, or may
/// create (a dangling link into a directory it may write, or beneath one) — or whose way
/// there passes a symlink lying where the command may write (`tool` →
/// `/srv/proj/current/bin/tool`, `current` re-pointed once the check is done: the kernel
/// follows the link again when the opener runs the program).
fn writable_link_in(dir: &Path, writable: &impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().find_map(|e| {
        if !e.file_type().is_ok_and(|t| t.is_symlink()) {
            return None;
        }
        let link = e.path();
        let Ok(walk) = nono_policy::planted::walk(&link) else {
            // Unresolvable (a loop, more than 40 links): a link of the chain could be
            // re-pointed to make it resolve, and which one is not known — left out.
            return Some(link);
        };
        let end = &walk.end;
        let in_writable = |p: &Path| p.parent().is_some_and(|d| may_create_in(d, writable));
        let hit =
            writable(end) || in_writable(end) || walk.links.iter().any(|(l, _, _)| in_writable(l));
        hit.then_some(link)
    })
}

/// Whether the command may create, replace or re-point an entry directly in the directory
/// `dir`: `writable` (a write at, into or beneath a directory) asked about a name in `dir`
/// that no grant, rule or deny names, so that only a grant at or above `dir` answers yes — a
/// grant beneath `dir` (`/` holds the link `/bin`, and every grant lies beneath `/`) does
/// not let the command touch `dir`'s own entries.
fn may_create_in(dir: &Path, writable: &impl Fn(&Path) -> bool) -> bool {
    writable(&dir.join(".nono-opener-probe\u{1}"))
}

/// [`open_outside_with`], counting the openers still running in `running` (a run's own
/// count: one run's openers do not use up another's); with `env`, the opener gets its
/// `PATH` (see [`opener_path`]), `BROWSER` (see [`opener_browser`]), `XDG_DATA_DIRS` and
/// `XDG_CONFIG_DIRS` (see [`opener_xdg_dirs`]) instead of nono's, and the program is looked
/// up in that `PATH` (an empty one is refused: it would be the working directory).
pub(crate) fn open_counted(
    program: &OsStr,
    url: &str,
    running: &Arc<AtomicUsize>,
    env: Option<&OpenerEnv>,
) -> Result<(), UrlError> {
    origin_of(url)?;
    let name = || program.to_string_lossy().into_owned();
    let mut cmd = Command::new(program);
    // In `/`, not the supervisor's working directory (the command's own, often writable by
    // it): an empty or `.` entry in PATH would find a program the command planted there.
    cmd.arg(url)
        .current_dir("/")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        let caps = nono_sandbox::linux::CapDrop::prepare();
        crate::os::set_child_hook(&mut cmd, move || opener_child_setup(caps));
    }
    for key in [
        "PATH",
        "HOME",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "XDG_RUNTIME_DIR",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_CURRENT_DESKTOP",
        "BROWSER",
        "LANG",
    ] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    if let Some(env) = env {
        if env.path.is_empty() {
            // An empty `PATH` is the working directory (`execvp`, and `sh` for the programs
            // the opener runs by name): `/xdg-open` where the command may write `/` (red
            // team 15). Nothing is left to look the opener up in.
            return Err(UrlError::Spawn {
                program: name(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no directory of PATH is left to look it up in",
                ),
            });
        }
        // (`Command` looks a bare program name up in the child's `PATH` when it is set.)
        cmd.env("PATH", &env.path);
        for (key, value) in &env.xdg_dirs {
            cmd.env(key, value);
        }
        if let Some(arg0) = &env.arg0 {
            std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
        }
        match &env.browser {
            Some(b) => cmd.env("BROWSER", b),
            None => cmd.env_remove("BROWSER"),
        };
    }
    // Openers left running (below) are bounded, as waiting for them bounded them before: a
    // command cannot pile up processes outside its cgroup with one open every few seconds.
    // The slot is taken before the spawn (a check then an add let the SDK lane's workers,
    // handling opens at once, all pass the check: 3 running + 4 = 7) and given back if the
    // spawn fails.
    if let Err(now) = running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < MAX_RUNNING).then_some(n + 1)
    }) {
        return Err(UrlError::OpenerFailed {
            program: name(),
            status: format!(
                "not started: {now} openers started earlier are still running (close the \
                 browser windows they opened, or end them)"
            ),
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        running.fetch_sub(1, Ordering::AcqRel);
        UrlError::Spawn {
            program: name(),
            source: e,
        }
    })?;
    let waited = wait_at_most(&mut child, OPENER_WAIT);
    if !matches!(waited, Ok(None)) {
        running.fetch_sub(1, Ordering::AcqRel);
    }
    let waited = waited.map_err(|e| UrlError::OpenerFailed {
        program: name(),
        status: format!("cannot wait for it: {e}"),
    })?;
    let Some(status) = waited else {
        // Still running (an opener that runs the browser in the foreground, as `xdg-open`
        // does with `$BROWSER` when no desktop is detected): it has the URL. Waiting longer
        // would keep a worker, and the end of the run, hostage to the browser's lifetime;
        // a thread reaps it when it ends.
        let running = Arc::clone(running);
        let reaper = std::thread::Builder::new()
            .name("nono-url-opener".into())
            .spawn(move || {
                let _ = child.wait();
                running.fetch_sub(1, Ordering::AcqRel);
            });
        if reaper.is_err() {
            // Not reaped (a zombie until nono exits); it stays counted.
            tracing::debug!("no thread to reap a URL opener still running");
        }
        return Ok(());
    };
    if status.success() {
        Ok(())
    } else {
        Err(UrlError::OpenerFailed {
            program: name(),
            status: status.to_string(),
        })
    }
}

/// How long an opener is waited for before the URL counts as handed over (see
/// [`open_outside`]).
const OPENER_WAIT: Duration = Duration::from_secs(5);

/// Most openers running at once for one run (waited for, or left running); past it an open
/// is refused.
const MAX_RUNNING: usize = 4;

/// `child`'s exit status if it exits within `limit` (`None`: still running).
fn wait_at_most(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait()? {
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            done => return Ok(done),
        }
    }
}

/// The opener's setup between `fork` and `exec` (async-signal-safe: syscalls only, on values
/// read before the fork). A failure fails the open: the opener never runs with more.
///
/// 1. Every fd from 3 up close-on-exec: what nono itself inherited without `FD_CLOEXEC` is
///    withheld from the command (`cloexec_inherited_fds`), so from the opener too.
/// 2. The command's capability drop ([`CapDrop`](nono_sandbox::linux::CapDrop)).
/// 3. Root without `CAP_SETPCAP` (a bounding set without it: a service or container started
///    that way) can neither empty the bounding set nor lock `SECBIT_NOROOT`, and uid 0's
///    `exec` would hand the bounding set back as permitted and effective: there, and only
///    there, `PR_SET_NO_NEW_PRIVS`, under which the exec gains nothing. (It is not set
///    otherwise: an ordinary user's browser may need its set-user-ID sandbox helper, which
///    is the user's own authority, not nono's.)
#[cfg(target_os = "linux")]
fn opener_child_setup(caps: nono_sandbox::linux::CapDrop) -> std::io::Result<()> {
    use rustix::thread::CapabilitiesSecureBits as Secbits;
    crate::os::cloexec_from(3)?;
    caps.enforce().map_err(std::io::Error::from)?;
    let root = rustix::process::getuid().is_root() || rustix::process::geteuid().is_root();
    if root && !rustix::thread::capabilities_secure_bits()?.contains(Secbits::NO_ROOT) {
        rustix::thread::set_no_new_privs(true)?;
    }
    Ok(())
}

/// [`validate`] then [`open_outside`]: what a supervisor does with an `OpenUrl` request.
pub fn validate_and_open<S: AsRef<str>>(url: &str, allowed_origins: &[S]) -> Result<(), UrlError> {
    validate(url, allowed_origins)?;
    open_outside(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    const ALLOWED: &[&str] = &["https://github.com"];

    /// Red team 15: when the command may write every directory of `PATH` (a write grant on
    /// `/`, `--approve /`), the opener's `PATH` was empty — which `execvp` (and `sh`, for
    /// what the opener runs by name) takes as the working directory, `/`: a `/xdg-open` the
    /// command planted ran outside the sandbox. An empty `PATH` is now refused unrun.
    #[test]
    fn redteam15_an_empty_opener_path_is_not_the_working_directory() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (plants a program in /)");
            return;
        }
        let name = format!("nono-rt15-opener-{}", std::process::id());
        let planted = Path::new("/").join(&name);
        let marker = std::env::temp_dir().join(format!("{name}.ran"));
        let _ = std::fs::remove_file(&marker);
        std::fs::write(
            &planted,
            format!(
                "#!/bin/sh
echo ran > '{}'
",
                marker.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &planted,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let env = OpenerEnv {
            path: OsString::new(),
            browser: None,
            arg0: None,
            xdg_dirs: Vec::new(),
        };
        let running = Arc::new(AtomicUsize::new(0));
        let got = open_counted(
            OsStr::new(&name),
            "https://github.com/",
            &running,
            Some(&env),
        );
        let ran = marker.exists();
        let _ = std::fs::remove_file(&planted);
        let _ = std::fs::remove_file(&marker);
        assert!(!ran, "/{name} ran as the opener");
        assert!(
            matches!(&got, Err(UrlError::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound),
            "{got:?}"
        );
        assert_eq!(running.load(Ordering::Acquire), 0);
    }

    /// Red team 15: a `PATH` directory holding a symlink to a file the command may write, or
    /// a dangling one it may create the target of (also in a missing directory beneath a
    /// writable one), is left out of the opener's `PATH`, named by the link; links elsewhere
    /// keep it.
    #[test]
    fn redteam15_a_path_dir_with_a_link_into_a_write_grant_is_left_out() {
        let d = Scratch::new(&format!("nono-rt15-links-{}", std::process::id()));
        for sub in ["w", "r", "ok", "to-file", "dangling", "deep"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("w/prog"), "").unwrap();
        std::fs::write(d.join("r/prog"), "").unwrap();
        let link = |dir: &str, to: &str| {
            std::os::unix::fs::symlink(d.join(to), d.join(dir).join("l")).unwrap();
        };
        link("ok", "r/prog");
        link("to-file", "w/prog");
        link("dangling", "w/missing");
        link("deep", "w/a/b/missing");
        // A link on the way that the command may re-point once the check is done.
        std::fs::create_dir_all(d.join("via")).unwrap();
        std::os::unix::fs::symlink(d.join("r"), d.join("w/cur")).unwrap();
        std::os::unix::fs::symlink(d.join("w/cur/prog"), d.join("via/l")).unwrap();
        let w = d.join("w");
        let writable = |p: &Path| p.starts_with(&w);
        let path: Vec<PathBuf> = ["ok", "to-file", "dangling", "deep", "via"]
            .iter()
            .map(|s| d.join(s))
            .collect();
        let path = std::env::join_paths(&path).unwrap();
        let (kept, dropped) = opener_path(Some(&path), writable, Some(""));
        assert_eq!(kept, d.join("ok").into_os_string());
        assert_eq!(
            dropped,
            ["to-file/l", "dangling/l", "deep/l", "via/l"].map(|l| d.join(l))
        );
        let (kept, dropped) = opener_path(Some(&path), writable, None);
        assert_eq!(std::env::split_paths(&kept).count(), 5);
        assert!(dropped.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Red team 15: which `BROWSER` entries reach the opener — bare names kept (looked up in
    /// the filtered `PATH`), a program by path kept by its canonical path unless it lies
    /// where the command may write or does not exist, an entry whose later word is a path
    /// into such a directory left out.
    #[test]
    fn redteam15_the_openers_browser_leaves_out_what_the_command_may_write() {
        let d = Scratch::new(&format!("nono-rt15-browser-{}", std::process::id()));
        std::fs::create_dir_all(d.join("w")).unwrap();
        std::fs::create_dir_all(d.join("r")).unwrap();
        for f in ["w/b", "r/b", "w/s.py"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(d.join("r/b"), d.join("w/link")).unwrap();
        let w = d.join("w");
        let writable = |p: &Path| p.starts_with(&w);
        let browser = format!(
            "firefox %s:{d}/w/b:{d}/w/new:{d}/r/b --x:python3 {d}/w/s.py:{d}/w/link",
            d = d.display()
        );
        let (kept, dropped) = opener_browser(Some(OsStr::new(&browser)), writable);
        let r = d.join("r/b").display().to_string();
        assert_eq!(
            kept,
            Some(OsString::from(format!("firefox %s:{r} --x:{r}")))
        );
        assert_eq!(dropped.len(), 3, "{dropped:?}");
        let (kept, _) = opener_browser(Some(OsStr::new(&format!("{}/w/b", d.display()))), writable);
        assert_eq!(kept, None, "nothing left: not set");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn validate_and_open_checks_before_opening() {
        assert!(matches!(
            validate_and_open("https://evil.net/x", ALLOWED),
            Err(UrlError::NotAllowed { .. })
        ));
    }

    #[test]
    fn open_outside_refuses_an_unvalidated_shape() {
        assert!(matches!(
            open_outside("file:///etc/passwd"),
            Err(UrlError::Scheme { .. })
        ));
        assert!(matches!(
            open_outside("--help"),
            Err(UrlError::Scheme { .. })
        ));
    }
}

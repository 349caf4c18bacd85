//! Red team 23: does the deny groups' identity walk fail open on errors, and does what a
//! runtime grant acts on stay what the walk checked? See the section "Red team 23
//! (session 14)" of docs/THREAT_MODEL.md.
//!
//! The layout (as red team 21's): the user (root, outside the sandbox) has bind-mounted their
//! `~/.ssh` at `W/B/m` inside a directory `W` the sandbox is given with `--approve`; `W/A/m`
//! is a plain directory of the sandbox's own. A name under `W/B/m` is refused only by the
//! identity walk (its path names no deny entry) — and a *new* name only by it: the check of
//! the opened file's identity (`deny_inodes.rs`) knows the files that were there at start.
//! The attack program is `c/walk.c`: one thread changes the layout in a loop (exchanges
//! `W/A` and `W/B`, renames `W/B` away and back, or makes it unsearchable and searchable
//! again), the other makes a name (`open(O_CREAT)`, `symlink`) or reads a file under `m`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{nono_cmd, output, sandbox_available, Scratch};
use crate::programs::{bins, marker, Outcome, TestUser};

/// The scratch layout; the bind mount is undone (every mount beneath `W`, wherever the
/// sandbox moved it) before the scratch directory is removed.
pub(crate) struct Layout {
    home: PathBuf,
    ssh: PathBuf,
    w: PathBuf,
    mark: String,
    /// The names `~/.ssh` held at the start.
    before: Vec<String>,
    // Declared before `s`: dropped (unmounted) first.
    _mounts: Mounts,
    s: Scratch,
}

pub(crate) struct Mounts(pub(crate) PathBuf);

impl Drop for Mounts {
    fn drop(&mut self) {
        // Deepest first; lazily, so a busy mount cannot keep the scratch tree (and the
        // `remove_dir_all` of the scratch home through it) alive.
        let mut points = mounts_under(&self.0);
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

/// Mount points at or beneath `dir` (from `/proc/self/mountinfo`; names with spaces are
/// escaped there and never made here).
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// `mount --bind from to`; whether it worked (the tests that need it are skipped otherwise).
pub(crate) fn bind(from: &Path, to: &Path) -> bool {
    Command::new("mount")
        .arg("--bind")
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|st| st.success())
}

/// [`bind`] again after unmounting whatever is at `to` (a layout made anew for each round).
pub(crate) fn rebind(from: &Path, to: &Path) {
    let _ = Command::new("umount")
        .arg("-l")
        .arg(to)
        .stderr(std::process::Stdio::null())
        .status();
    assert!(bind(from, to), "mount --bind failed");
}

/// Whether a test with bind mounts can run: the sandbox is there and we are root (`mount
/// --bind`); says why not when it cannot.
pub(crate) fn can_mount() -> bool {
    if !sandbox_available() {
        return false;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: bind mounts need root");
        return false;
    }
    true
}

/// `~/.ssh` (`id` holding the marker, `fillers` more files) bind-mounted at `W/B/m`; a plain
/// `W/A/m` (holding a decoy `id`); `W/own`, a file of the sandbox's own. Owned by `user` when
/// given. `None` (the test is skipped) without root, `mount` or the sandbox.
pub(crate) fn layout(tag: &str, fillers: usize, user: Option<&TestUser>) -> Option<Layout> {
    bins()?;
    if !can_mount() {
        return None;
    }
    let s = Scratch::new(tag);
    let mark = marker(tag);
    let home = s.mkdir("home");
    let ssh = s.mkdir("home/.ssh");
    for i in 0..fillers {
        std::fs::write(ssh.join(format!("filler{i}")), "f\n").unwrap();
    }
    std::fs::write(ssh.join("id"), format!("{mark}\n")).unwrap();
    let w = s.mkdir("w");
    s.write("w/A/m/id", "decoy\n");
    s.write("w/own", "planted\n");
    let mountpoint = s.mkdir("w/B/m");
    if let Some(u) = user {
        let owner = format!("{}:{}", u.uid, u.gid);
        let ok = Command::new("chown")
            .args(["-R", &owner])
            .arg(&home)
            .arg(&w)
            .status()
            .is_ok_and(|st| st.success());
        assert!(ok, "chown failed");
    }
    let mounts = Mounts(w.clone());
    if !bind(&ssh, &mountpoint) {
        eprintln!("skipping: mount --bind failed");
        return None;
    }
    let mut l = Layout {
        home,
        ssh,
        w,
        mark,
        before: Vec::new(),
        _mounts: mounts,
        s,
    };
    l.before = l.names();
    Some(l)
}

impl Layout {
    pub(crate) fn w_s(&self) -> String {
        self.w.display().to_string()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.ssh)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The names made in `~/.ssh` since the start (what the sandbox planted).
    pub(crate) fn planted(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| !self.before.contains(n))
            .collect()
    }

    /// Remove what a run made (in `~/.ssh` and in `W/A/m`); the mount is back at `W/B/m`.
    pub(crate) fn clean(&self) {
        for n in self.planted() {
            std::fs::remove_file(self.ssh.join(n)).unwrap();
        }
        for e in std::fs::read_dir(self.w.join("A/m")).unwrap().flatten() {
            if e.file_name() != "id" {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        assert!(
            self.w.join("B/m/id").exists() && self.w.join("A/m/id").exists(),
            "the layout was not put back"
        );
    }

    /// `walk RACE OP W A B NAME ATTEMPTS` inside `nono run --approve W` (as `user` when
    /// given), `HOME` the scratch home.
    pub(crate) fn walk_in_nono(&self, user: Option<&TestUser>, args: &[&str]) -> Outcome {
        use std::os::unix::process::CommandExt;
        let b = bins().unwrap();
        let mut cmd = nono_cmd(&self.s.path);
        if let Some(u) = user {
            cmd.uid(u.uid)
                .gid(u.gid)
                .env_remove("XDG_STATE_HOME")
                .env("USER", &u.name)
                .env_remove("XDG_RUNTIME_DIR");
        }
        cmd.env("HOME", &self.home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .args(["run", "--read", &b.dir_s(), "--approve", &self.w_s(), "--"])
            .arg(b.walk())
            .args(args);
        Outcome::parse(output(&mut cmd))
    }

    /// The control: the same program with no sandbox (as `user` when given).
    fn walk_bare(&self, user: Option<&TestUser>, args: &[&str]) -> Outcome {
        use std::os::unix::process::CommandExt;
        let b = bins().unwrap();
        let mut cmd = Command::new(b.walk());
        if let Some(u) = user {
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd.current_dir(&self.s.path).args(args);
        Outcome::parse(output(&mut cmd))
    }

    /// [`walk_bare`](Self::walk_bare) until `won` says the race was won, at most
    /// [`CONTROL_ROUNDS`] times: the control shows that the attack works without nono, and an
    /// unsandboxed race on a loaded machine (the CI gate runs the suite in parallel) is
    /// sometimes lost in one run. The last run.
    fn control(
        &self,
        user: Option<&TestUser>,
        args: &[&str],
        won: impl Fn(&Outcome) -> bool,
    ) -> Outcome {
        let mut out = self.walk_bare(user, args);
        for _ in 1..CONTROL_ROUNDS {
            if won(&out) {
                break;
            }
            out = self.walk_bare(user, args);
        }
        out
    }

    /// `walk RACE OP W A B NAME ATTEMPTS` as argv.
    pub(crate) fn args(
        &self,
        race: &str,
        op: &str,
        a: &str,
        b: &str,
        attempts: u32,
    ) -> Vec<String> {
        [race, op, &self.w_s(), a, b, "key", &attempts.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// Up to `rounds` runs of `walk ARGS` in nono, until one plants a name in `~/.ssh`: the races
/// are won by chance (before the fixes, a few times in a thousand tries, seldom not at all in
/// one run). The last run, and what it planted.
fn rounds(
    l: &Layout,
    user: Option<&TestUser>,
    args: &[String],
    rounds: u32,
) -> (Outcome, Vec<String>) {
    let mut last = None;
    for _ in 0..rounds {
        let out = l.walk_in_nono(user, &strs(args));
        let planted = l.planted();
        let stop = !planted.is_empty();
        last = Some((out, planted));
        if stop {
            break;
        }
    }
    last.expect("at least one round")
}

/// How many times an unsandboxed control race may be run before it counts as lost.
const CONTROL_ROUNDS: u32 = 5;

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Finding 1 (open). `W/A` (a plain `m`) is exchanged with `W/B` (the mount point `m` of
/// `~/.ssh`) in a loop while the other thread creates `W/A/m/key-N` (`O_CREAT | O_EXCL`) and
/// writes to it. A create the identity walk checked while `W/A/m` was the plain directory,
/// and the supervisor then opened (as the child, by path) once `W/A/m` was the mount, made
/// `~/.ssh/key-N` with the sandbox's content: 12–88 files in 3 000–5 000 tries against
/// fd029a2 (`NONO_BIN=...`). The walk cannot see a new file; the check after the open knows
/// only the files that were there at start. Now a creating open is made in its directory
/// once that, opened as the child, lies in the mount and device the walk saw.
/// Control: unsandboxed the same loop puts files in `~/.ssh`.
#[test]
fn redteam23_an_exchange_during_a_grant_creates_nothing_in_a_mounted_deny_entry() {
    let Some(l) = layout("rt23-create", 0, None) else {
        return;
    };
    let control = l.control(
        None,
        &strs(&l.args("exchange", "create", "A", "B", 5000)),
        |_| !l.planted().is_empty(),
    );
    assert!(!l.planted().is_empty(), "control: {}", control.run);
    l.clean();
    let (out, planted) = rounds(&l, None, &l.args("exchange", "create", "A", "B", 6000), 4);
    assert_eq!(out.count("attempts"), 6000, "{}", out.run);
    assert_eq!(planted, Vec::<String>::new(), "{}", out.run);
    // The creates the walk and the open agree on are granted (in the plain `W/A/m`).
    assert!(out.count("done") > 0, "{}", out.run);
    l.clean();
}

/// Finding 1 (path operations). The same exchange while the other thread makes
/// `symlink("W/own", "W/A/m/key-N")`: a runtime-granted path operation is decided on a
/// worker and performed as the child in the name's parent, opened by path — `~/.ssh/key-N`
/// leading to a file of the sandbox's own (`authorized_keys` so made names the keys sshd
/// accepts): 49 in 3 000 tries against fd029a2. Now the parent the call is made in, opened
/// as the child, must lie in the mount the walk saw.
/// Control: unsandboxed the same loop puts symlinks in `~/.ssh`.
#[test]
fn redteam23_an_exchange_during_a_grant_makes_no_symlink_in_a_mounted_deny_entry() {
    let Some(l) = layout("rt23-symlink", 0, None) else {
        return;
    };
    let control = l.control(
        None,
        &strs(&l.args("exchange", "symlink", "A", "B", 5000)),
        |_| !l.planted().is_empty(),
    );
    assert!(!l.planted().is_empty(), "control: {}", control.run);
    l.clean();
    let (out, planted) = rounds(&l, None, &l.args("exchange", "symlink", "A", "B", 6000), 2);
    assert_eq!(out.count("attempts"), 6000, "{}", out.run);
    assert_eq!(planted, Vec::<String>::new(), "{}", out.run);
    assert!(out.count("done") > 0, "{}", out.run);
    l.clean();
}

/// Finding 2 (errors fail open; a root supervisor). `W/B` (holding the mount point `m` of
/// `~/.ssh`) is renamed to `W/C` and back in a loop while the other thread makes
/// `W/B/m/key-N` (a symlink; and, second run, a file). A walk made while `W/B` was gone could
/// read no identity (`ENOENT`: `openat2` of `W/B/m` failed, and the walk by name skipped
/// every missing ancestor), found nothing, and the call performed a moment later, with `W/B`
/// back, made `~/.ssh/key-N`: 1–2 symlinks in 5 000 tries against fd029a2. Now a walk that
/// cannot see the directory answers the kernel's errno of that moment, and acts on nothing.
/// Control: unsandboxed the symlinks land in `~/.ssh`.
#[test]
fn redteam23_a_directory_renamed_away_during_the_walk_is_not_walked_as_nothing() {
    let Some(l) = layout("rt23-vanish", 0, None) else {
        return;
    };
    let control = l.control(
        None,
        &strs(&l.args("vanish", "symlink", "B", "C", 5000)),
        |_| !l.planted().is_empty(),
    );
    assert!(!l.planted().is_empty(), "control: {}", control.run);
    l.clean();
    for op in ["symlink", "create"] {
        let out = l.walk_in_nono(None, &strs(&l.args("vanish", op, "B", "C", 40000)));
        assert_eq!(out.count("attempts"), 40000, "{op}: {}", out.run);
        assert_eq!(l.planted(), Vec::<String>::new(), "{op}: {}", out.run);
        l.clean();
    }
}

/// Finding 2 (an unprivileged supervisor). nono run by an ordinary user: the supervisor has
/// no `CAP_DAC_READ_SEARCH`, and the sandboxed command (same user) may `chmod` its own `W/B`
/// (the metadata broker performs it: `--approve W` covers metadata changes). It makes `W/B`
/// mode 0 and 0755 in a loop while the other thread makes `W/B/m/key-N` (a symlink). A walk
/// made while `W/B` was unsearchable read no identity (`EACCES`), found nothing, and the
/// symlink made as the child a moment later, with `W/B` searchable again, landed in `~/.ssh`:
/// 212 in 20 000 tries against fd029a2. Creating opens were not won: the `chmod` is
/// performed on the notify thread, which also walks and opens inline, so it never falls
/// between them (pinned here). Now a walk that cannot read the directory's identity answers
/// its errno (`EACCES`, as the kernel does the command) and nothing is made.
/// Control: unsandboxed, as that user, the symlinks land in `~/.ssh`.
#[test]
fn redteam23_a_directory_the_supervisor_cannot_search_is_not_walked_as_nothing() {
    let Some(user) = TestUser::create("rt23") else {
        eprintln!("skipping: cannot create a test user");
        return;
    };
    let Some(l) = layout("rt23-unsearch", 0, Some(&user)) else {
        return;
    };
    let control = l.control(
        Some(&user),
        &strs(&l.args("unsearch", "symlink", "B", "C", 5000)),
        |_| !l.planted().is_empty(),
    );
    assert!(!l.planted().is_empty(), "control: {}", control.run);
    l.clean();
    for (op, attempts) in [("symlink", 20000), ("create", 10000)] {
        let out = l.walk_in_nono(
            Some(&user),
            &strs(&l.args("unsearch", op, "B", "C", attempts)),
        );
        assert_eq!(
            out.count("attempts"),
            u64::from(attempts),
            "{op}: {}",
            out.run
        );
        assert_eq!(l.planted(), Vec::<String>::new(), "{op}: {}", out.run);
        l.clean();
    }
}

/// Target 2: reading an existing file of the mounted entry while `W/A` and `W/B` are
/// exchanged (`W/A/m/id` is a decoy, `W/B/m/id` is `~/.ssh/id`). `~/.ssh` holds more than
/// the 1 024 entries the start-up walk of `deny_inodes.rs` takes, so the check of the opened
/// file's identity does not know `id`: only the walk guards it. Not won in 185 000 tries
/// against fd029a2 (the open follows the walk on the notify thread within a few system
/// calls), but the same race as finding 1; the opened file must now be the one the walk saw,
/// or in the mount it walked. Held; pinned. Control: unsandboxed the key is read.
#[test]
fn redteam23_an_existing_file_of_a_mounted_deny_entry_stays_unreadable_during_exchanges() {
    let Some(l) = layout("rt23-read", 1100, None) else {
        return;
    };
    let mut args = l.args("exchange", "read", "A", "B", 20000);
    args[5] = "id".to_owned();
    let control = l.control(None, &strs(&args), |o| o.run.stdout.contains(&l.mark));
    assert!(
        control.run.stdout.contains(&l.mark),
        "control: {}",
        control.run
    );
    let out = l.walk_in_nono(None, &strs(&args));
    assert_eq!(out.count("attempts"), 20000, "{}", out.run);
    out.never_printed(&l.mark);
    assert!(out.run.stdout.contains("read=decoy"), "{}", out.run);
}

/// Finding 2's race under a root supervisor with a root command that kept no capabilities
/// (the default): the command may `chmod` `W/B` (it owns it), but the supervisor's walk runs
/// with `CAP_DAC_READ_SEARCH` and reads every identity whatever the mode, so it always meets
/// `~/.ssh` under `W/B/m`. Held before the fix as after; pinned.
#[test]
fn redteam23_a_root_supervisor_walks_what_its_capless_root_command_made_unsearchable() {
    let Some(l) = layout("rt23-root-unsearch", 0, None) else {
        return;
    };
    for op in ["symlink", "create"] {
        let out = l.walk_in_nono(None, &strs(&l.args("unsearch", op, "B", "C", 5000)));
        assert_eq!(out.count("attempts"), 5000, "{op}: {}", out.run);
        assert_eq!(l.planted(), Vec::<String>::new(), "{op}: {}", out.run);
        l.clean();
    }
}

/// Target 2 for metadata: `chmod W/A/m/id 0604` while `W/A` and `W/B` are exchanged, with
/// `~/.ssh` past the start-up walk's 1 024 entries (so `~/.ssh/id`, mode 0600, is guarded by
/// the walk alone). The metadata broker walks, opens as the child and changes on the notify
/// thread, while the renames run on workers. Not won in 200 000 tries against fd029a2; the
/// object opened must now be the one walked or lie in its mount, as for opens. Held; pinned.
/// Control: unsandboxed the mode changes.
#[test]
fn redteam23_a_metadata_change_during_exchanges_stays_off_a_mounted_deny_entry() {
    use std::os::unix::fs::PermissionsExt;
    let Some(l) = layout("rt23-chmod", 1100, None) else {
        return;
    };
    let id = l.ssh.join("id");
    let mode = || std::fs::metadata(&id).unwrap().permissions().mode() & 0o7777;
    let set = |m: u32| std::fs::set_permissions(&id, std::fs::Permissions::from_mode(m)).unwrap();
    set(0o600);
    let mut args = l.args("exchange", "chmod", "A", "B", 8000);
    args[5] = "id".to_owned();
    let control = l.control(None, &strs(&args), |_| mode() == 0o604);
    assert_eq!(mode(), 0o604, "control: {}", control.run);
    set(0o600);
    let out = l.walk_in_nono(None, &strs(&args));
    assert_eq!(out.count("attempts"), 8000, "{}", out.run);
    assert_eq!(mode(), 0o600, "{}", out.run);
    // The decoy's changes are granted.
    assert!(out.count("done") > 0, "{}", out.run);
}

//! The denial report printed after a run: each denied path, the access refused, and the flag
//! that would grant it (or the deny group that protects it). Deduplicated and sorted.
//!
//! Every path here was chosen by the sandboxed command: it is shown through
//! `nono_supervisor::escape` (no ESC, CR, LF, OSC or bidi override reaches the terminal as
//! itself), so a file name cannot erase or forge the report's lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nono_sandbox::{DenyKind, Origin};
use nono_supervisor::deny_groups::DenyVerdict;
use nono_supervisor::escape;
use nono_supervisor::walked::Unseen;
use nono_wire::AccessMode;

/// What is on disk at a denied path, which decides the flag to suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDisk {
    /// A directory: suggest a directory grant on it.
    Dir,
    /// A file (or other non-directory): suggest its directory, or the file alone.
    File,
    /// Nothing there (the command tried to create it): suggest a grant on its directory.
    Missing,
    /// A Unix socket: a directory grant reaches only sockets served inside the sandbox, so
    /// suggest granting the socket itself.
    Socket,
}

impl OnDisk {
    /// Look at the path (following symlinks, as the command's open would).
    #[must_use]
    pub fn of(path: &Path) -> OnDisk {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => OnDisk::Dir,
            Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => OnDisk::Socket,
            Ok(_) => OnDisk::File,
            Err(_) => OnDisk::Missing,
        }
    }
}

/// A carve-out that protects a denied path (so a plain grant would not help).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protected {
    /// A deny group: only an explicit grant plus `--bypass-protection` lifts it (never for
    /// the `nono` group). `why` is the entry's own reason, or empty.
    Group {
        /// The group.
        group: String,
        /// Why the path is protected (empty: the group's description says it).
        why: String,
        /// Whether the group only refuses writing.
        read_only: bool,
        /// For a path that does not exist: the nearest existing directory above it that the
        /// same group protects (what `--bypass-protection` can name), if any.
        holder: Option<PathBuf>,
    },
    /// The profile's own deny list (origin as the profile names it): only another profile helps.
    Profile(String),
    /// The path is a directory on the way from a grant down to a carve-out, or a new entry
    /// directly in one (see `nono_sandbox::explain`): even the grant the report would
    /// suggest is expanded around the carve-out, so no flag grants it.
    Spine {
        /// The spine directory.
        dir: PathBuf,
        /// The carve-out beneath it.
        deny: PathBuf,
        /// The carve-out's origin (`group credentials`, `group profile default`).
        origin: Origin,
        /// What lifts the carve-outs that make `dir` a spine, if the command line can.
        lift: Lift,
        /// The grant the access needs besides the lift (`--write DIR`, one shell word for the
        /// path), when no grant covers it yet: the spine was found with the grant the report
        /// would suggest added (red team 18: the lift alone was printed, and following it
        /// the access was still refused as not granted).
        grant: Option<String>,
    },
    /// Another name (a hard link made outside the sandbox) for a file under a deny entry,
    /// refused on the object a runtime grant opened: no flag grants it, and a static grant of
    /// its directory would reach the protected file through the link.
    HardLink,
    /// A metadata change the command's own credentials refuse (the kernel's answer; the
    /// supervisor's reason): no flag grants it.
    Credentials(String),
    /// A runtime grant refused because the path led into another mount when the supervisor
    /// acted than when the deny groups checked it (a directory holding a mount point renamed
    /// in between: red team 23): no flag grants it.
    Moved,
    /// A rename, unlink or symlink that would move, remove or replace, at the name `moved`
    /// (by the path's own name or another), the protected path's directory above it or a
    /// link kept in place: no flag grants it (red teams 22, 26 and 27).
    MovesEntry {
        /// The name the call would have moved or replaced.
        moved: PathBuf,
        /// The entry's deny group (or the profile's deny list), as a label.
        group: String,
    },
    /// A name that is, reached by another name, `own` — a missing deny entry or a directory
    /// on its path: no flag grants it under this name (red team 26).
    MakesEntry {
        /// The name on the entry's own path.
        own: PathBuf,
        /// The entry's deny group (or the profile's deny list), as a label.
        group: String,
    },
    /// A path that is, reached by another name, `own`, which a deny entry covers by name
    /// (the entry made or replaced during the run, so known by no identity: red team 29): no
    /// flag grants it under this name.
    OtherName {
        /// The name on the user's own paths.
        own: PathBuf,
        /// The entry's deny group (or the profile's deny list), as a label.
        group: String,
    },
    /// A runtime grant not acted on: the deny groups' identity walk could not see the path's
    /// directory when it checked (red team 26). No flag grants it.
    Unread(Unseen),
    /// No deny group covers the path by name, but the identity walk cannot see its directory
    /// now (not searchable by nono, a loop of symlinks): whether the path leads beneath a
    /// protected one by another name is unknown, so no flag is suggested (red team 26).
    Unchecked(Unseen),
    /// A `/proc` entry the procfs broker refuses (another process's, or outside its
    /// allow-list): no grant reaches `/proc` under `run`. The broker's reason.
    Procfs(String),
    /// A symlink a deny group keeps in place as a link (`DenySet::protected_link`), refused
    /// an entry operation (removed, renamed, replaced): no flag lifts it (a grant and
    /// `--bypass-protection` follow the link); a profile can switch the group off.
    Link {
        /// The group, or the profile's deny list (as [`Protected::Group`] names it).
        group: String,
        /// Whether a profile may switch the group off.
        optional: bool,
    },
}

/// What lifts the carve-outs that make a directory a carve-out spine (see [`spine_lift`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lift {
    /// `--read P --bypass-protection P` for each path (`--read-file` for a file): every
    /// carve-out beneath the directory lies at or beneath one of them and is a deny group's
    /// that a bypass lifts.
    Bypass(Vec<LiftPath>),
    /// A bypass of these would lift them, but a carve-out beneath the directory denies
    /// reading (`credentials`, `keyrings`, `browsers`, `shell`): the flags are not printed
    /// for the user to paste, only named with what they would expose. The access that led
    /// here (a new entry beside the carve-out) is the command's choice, so printing the
    /// flags let a command steer the user into handing it a secret (red team 18: a
    /// `touch ~/dotfiles/new` beside the stowed `~/.ssh` got `--read ~/dotfiles/ssh
    /// --bypass-protection ~/dotfiles/ssh` as its fix).
    Exposes(Vec<LiftPath>),
    /// No flag: a carve-out beneath the directory is the profile's own, the `nono` group's,
    /// a link kept in place, missing, nested in another group's, or there are more than
    /// [`LIFT_AT_MOST`] to name.
    NoFlag,
}

/// One carve-out a [`Lift::Bypass`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiftPath {
    /// The carve-out (canonical, existing, not a symlink).
    pub path: PathBuf,
    /// Whether it is a directory (`--read`) or not (`--read-file`).
    pub dir: bool,
    /// Its deny group.
    pub group: String,
}

/// At most this many `--bypass-protection` are suggested for one spine directory.
pub const LIFT_AT_MOST: usize = 3;

/// What lifts the carve-outs that make `dir` a carve-out spine of `caps` (a directory on the
/// way from a grant down to them, in which nothing can be created, removed or renamed). A
/// `--bypass-protection P` with an explicit grant on `P` lifts a deny group's carve-outs at
/// or beneath `P` (`nono_supervisor::bypass`), unless the group cannot be switched off; it
/// follows symlinks, so it cannot lift a link kept in place, nor name a missing path. So the
/// suggestion is made only when every carve-out beneath `dir` is a deny group's that a
/// bypass of the topmost ones lifts, and those are at most [`LIFT_AT_MOST`] existing paths
/// that are not symlinks; with all of them lifted, nothing beneath `dir` is carved out and
/// it is no longer a spine.
#[must_use]
pub fn spine_lift(caps: &nono_sandbox::CapabilitySet, dir: &Path) -> Lift {
    let mut beneath: Vec<&nono_sandbox::DenyRule> = caps
        .denies()
        .iter()
        .filter(|d| d.path.starts_with(dir) && d.path != dir)
        .collect();
    beneath.sort_by(|a, b| a.path.cmp(&b.path));
    let mut top: Vec<LiftPath> = Vec::new();
    let mut reads = false;
    for d in beneath {
        let Origin::Group(group) = &d.origin else {
            return Lift::NoFlag;
        };
        if !nono_supervisor::deny_groups::group(group).is_some_and(|g| g.optional) {
            return Lift::NoFlag;
        }
        reads |= d.kind == DenyKind::All;
        if let Some(t) = top.last().filter(|t| d.path.starts_with(&t.path)) {
            // Lifted with the one above it: a group the clause would not name is not
            // lifted unnamed.
            if t.group != *group {
                return Lift::NoFlag;
            }
            continue;
        }
        if top.len() == LIFT_AT_MOST {
            return Lift::NoFlag;
        }
        match std::fs::symlink_metadata(&d.path) {
            Ok(m) if !m.file_type().is_symlink() => top.push(LiftPath {
                path: d.path.clone(),
                dir: m.is_dir(),
                group: group.clone(),
            }),
            _ => return Lift::NoFlag,
        }
    }
    if top.is_empty() {
        Lift::NoFlag
    } else if reads {
        Lift::Exposes(top)
    } else {
        Lift::Bypass(top)
    }
}

/// The deny groups of `paths`, each once, as the clauses name them (`` `autorun` ``).
fn lift_groups(paths: &[LiftPath]) -> String {
    let mut groups: Vec<&str> = paths.iter().map(|p| p.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups
        .iter()
        .map(|g| format!("`{g}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The flags of a [`Lift::Bypass`]: `--read P --bypass-protection P …`, one shell word each.
fn lift_flags(paths: &[LiftPath]) -> String {
    let mut out = String::new();
    for p in paths {
        let arg = escape::shell_path(&p.path);
        let grant = if p.dir { "--read" } else { "--read-file" };
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{grant} {arg} --bypass-protection {arg}");
    }
    out
}

/// How the report and the working-directory note say a spine is lifted: `; to lift …: FLAGS`
/// or nothing.
#[must_use]
pub fn lift_clause(lift: &Lift) -> String {
    lift_clause_with(lift, None)
}

/// [`lift_clause`], with the grant the access needs besides the lift (`--write DIR`), which
/// then comes first among the flags: `; to grant it and lift …: GRANT FLAGS`.
#[must_use]
pub fn lift_clause_with(lift: &Lift, grant: Option<&str>) -> String {
    let (what, it, them) = match lift {
        Lift::Bypass(paths) | Lift::Exposes(paths) if paths.len() == 1 => {
            ("the carve-out", "it", "it")
        }
        _ => ("the carve-outs", "they", "them"),
    };
    match lift {
        Lift::Bypass(paths) => {
            let groups = lift_groups(paths);
            let (to, grant) = match grant {
                Some(g) => ("to grant it and lift", format!("{g} ")),
                None => ("to lift", String::new()),
            };
            format!(
                "; {to} {what} (what {it} protected for deny group {groups} then follows your grant): {grant}{}",
                lift_flags(paths)
            )
        }
        Lift::Exposes(paths) => {
            let names = paths
                .iter()
                .map(|p| escape::path(&p.path))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "; only --bypass-protection of {what} {names} would lift {them}, and the command could then read what {it} protected for deny group {}",
                lift_groups(paths)
            )
        }
        Lift::NoFlag => String::new(),
    }
}

/// One denied access, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Absolute path the command tried to use.
    pub path: PathBuf,
    /// The access that was refused.
    pub access: AccessMode,
    /// The carve-out that protects the path, if any.
    pub protected: Option<Protected>,
    /// What is on disk there.
    pub on_disk: OnDisk,
    /// The syscall(s) refused, shown after the path, when they are not opens (`mkdir`,
    /// `unlink`, `execve`, ...).
    pub via: Option<String>,
    /// The access was needed on the path's parent directory (the call created, removed or
    /// renamed a directory entry): suggest a grant on the parent, never on the file itself.
    pub on_parent: bool,
    /// The call made a directory (`mkdir`, `mkdirat`): a missing path is one, so the flag
    /// that would grant it once made is a directory's.
    pub makes_dir: bool,
    /// What was refused when it is not a path (see [`NotAPath`]); `None` for a path. `path`
    /// then only names it for sorting and showing (`@NAME`, `pid N`), built from the
    /// supervisor's typed [`nono_supervisor::Refused`], never read back.
    pub not_a_path: Option<NotAPath>,
}

/// A refusal that names no file: no grant applies, so the report line says what would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAPath {
    /// A Unix datagram socket (`socket`/`socketpair`): suggest `--allow-unix-datagram` and
    /// say what it costs.
    UnixDatagram,
    /// An abstract Unix socket (shown as `@NAME`): nothing grants it.
    AbstractSocket,
    /// The scheduling or I/O priority of a process outside the sandbox (shown as `pid N`):
    /// nothing grants it.
    OtherProcess,
    /// A TCP `bind` to a port the network rules do not list (shown as `tcp bind port N`).
    TcpBindPort(u16),
    /// A socket the network rules refuse (UDP, ICMP, raw, packet, ...; the path is the call,
    /// `socket(AF_INET, SOCK_DGRAM, 0)`): says what lifts the rule, or that nothing does.
    Socket(nono_supervisor::SocketRefusal),
    /// A `listen` on a TCP socket that was never bound (it would listen on a random port on
    /// every address): the command must bind first, to a port `--allow-bind-port` lists.
    TcpListenUnbound,
}

impl Denied {
    /// Note the call that was refused (see [`nono_supervisor::Denial`]): opens (and SDK
    /// requests) go unnamed, other calls are shown, and entry operations suggest the parent
    /// directory.
    #[must_use]
    pub fn with_call(mut self, call: nono_supervisor::Call, on_parent: bool) -> Denied {
        if !call.is_open() {
            self.via = Some(call.name().to_owned());
        }
        self.on_parent = on_parent;
        self.makes_dir = matches!(
            call,
            nono_supervisor::Call::Syscall(
                nono_sandbox::linux::seccomp::Syscall::Mkdir
                    | nono_sandbox::linux::seccomp::Syscall::MkdirAt
            )
        );
        self
    }
}

pub(crate) fn dir_flag(access: AccessMode) -> &'static str {
    match access {
        AccessMode::Read => "--read",
        AccessMode::Write => "--write",
        AccessMode::ReadWrite => "--allow",
    }
}

fn file_flag(access: AccessMode) -> &'static str {
    match access {
        AccessMode::Read => "--read-file",
        AccessMode::Write => "--write-file",
        AccessMode::ReadWrite => "--allow-file",
    }
}

/// Why a deny entry protects a path: its own reason, or (none of its own) its group's
/// description, so the line says why the access is refused ("shell start-up files ...").
fn why_or_group<'a>(origin: &Origin, why: &'a str) -> &'a str {
    match origin {
        Origin::Group(name) if why.is_empty() => {
            nono_supervisor::deny_groups::group(name).map_or("", |g| g.description)
        }
        _ => why,
    }
}

/// The carve-out of `origin` protecting `path`, as a report line names it. Deny-set entries
/// and the capability set's carve-outs carry the same typed origin: a built-in group, or the
/// profile's own deny list.
fn protected_by(
    deny: &nono_supervisor::deny_groups::DenySet,
    path: &Path,
    origin: &Origin,
    why: &str,
    read_only: bool,
) -> Protected {
    let group = match origin {
        Origin::ProfileDeny(name) => return Protected::Profile(format!("profile {name}")),
        Origin::Group(name) => name.clone(),
        // A carve-out of another origin (a library caller's): named as it is.
        other => other.to_string(),
    };
    let holder = path
        .ancestors()
        .skip(1)
        .find(|a| a.is_dir())
        .filter(|a| !path.exists() && deny.group_of(a) == Some(group.as_str()))
        .map(Path::to_path_buf);
    Protected::Group {
        holder,
        group,
        why: why.to_owned(),
        read_only,
    }
}

/// Describe one denial: which carve-out (if any) protects the path — the deny groups first,
/// then the model's verdict (`explain`) for the profile's own deny list — and what is on disk.
/// `model` is `caps`'s, worked out once for every path of a report: with thousands of
/// carve-outs (link targets), working it out again per refused path took a tenth of a second.
#[must_use]
pub fn describe(
    caps: &nono_sandbox::CapabilitySet,
    model: &nono_sandbox::Model,
    deny: &nono_supervisor::deny_groups::DenySet,
    path: &Path,
    access: AccessMode,
) -> Denied {
    let classify = |origin: &Origin, why: &str, read_only: bool| {
        protected_by(deny, path, origin, why, read_only)
    };
    let by_model = || match model.explain(caps, path, access).map(|e| e.rule) {
        Ok(nono_sandbox::Rule::DeniedBy { origin, .. }) => Some(classify(&origin, "", false)),
        Ok(nono_sandbox::Rule::ReadOnlyBy { origin, .. }) => Some(classify(&origin, "", true)),
        _ => None,
    };
    let protected = match deny.verdict(path, access) {
        DenyVerdict::Denied(m)
        | DenyVerdict::Unchecked {
            by_name: Some(m), ..
        } => Some(classify(
            m.origin,
            why_or_group(m.origin, m.why),
            m.kind == DenyKind::Write,
        )),
        // Nothing is there now (gone): no object to be a protected one by another name.
        DenyVerdict::Clear
        | DenyVerdict::Unchecked {
            why: Unseen::Gone,
            by_name: None,
        } => by_model(),
        // A flag for a path nono cannot see beneath might lead into a protected one (red team
        // 26): the model's own carve-outs first, then no flag.
        DenyVerdict::Unchecked { why, by_name: None } => {
            by_model().or(Some(Protected::Unchecked(why)))
        }
    };
    Denied {
        path: path.to_path_buf(),
        access,
        protected,
        on_disk: OnDisk::of(path),
        via: None,
        on_parent: false,
        makes_dir: false,
        not_a_path: None,
    }
}

/// [`describe`] for a denial the supervisor recorded, with the call that was refused
/// ([`Denied::with_call`]): what `run` and `learn` both report.
#[must_use]
pub fn describe_denial(
    caps: &nono_sandbox::CapabilitySet,
    model: &nono_sandbox::Model,
    deny: &nono_supervisor::deny_groups::DenySet,
    d: &nono_supervisor::Denial,
) -> Denied {
    use nono_supervisor::Refused;
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    // Exhaustive on purpose (`Refused` is not `non_exhaustive`): a new kind of refusal must
    // get its report line here before it compiles.
    let not_a_path = match &d.what {
        Refused::HardLinkToProtected(path) => {
            let mut out = describe(caps, model, deny, path, d.access).with_call(d.call, false);
            if out.protected.is_none() {
                out.protected = Some(Protected::HardLink);
            }
            return out;
        }
        Refused::Moved(path) => {
            let mut out = describe(caps, model, deny, path, d.access).with_call(d.call, false);
            // A deny group that covers the path as it is now still explains it first.
            if out.protected.is_none() {
                out.protected = Some(Protected::Moved);
            }
            return out;
        }
        Refused::MovesEntry(m) => {
            let mut out = describe(caps, model, deny, &m.path, d.access).with_call(d.call, false);
            out.protected = Some(Protected::MovesEntry {
                moved: m.moved.clone(),
                group: m.refusal.origin.deny_label(),
            });
            return out;
        }
        Refused::MakesEntry(m) => {
            let mut out =
                describe(caps, model, deny, &m.path, d.access).with_call(d.call, d.on_parent());
            out.protected = Some(Protected::MakesEntry {
                own: m.own.clone(),
                group: m.refusal.origin.deny_label(),
            });
            return out;
        }
        Refused::Unread { path, why } => {
            let mut out =
                describe(caps, model, deny, path, d.access).with_call(d.call, d.on_parent());
            // What happened when nono checked, whatever the layout is now.
            out.protected = Some(Protected::Unread(*why));
            return out;
        }
        Refused::Credentials(path) => {
            let mut out = describe(caps, model, deny, path, d.access).with_call(d.call, false);
            // A deny group (or the profile's list) still explains it first, as for any path.
            if out.protected.is_none() {
                out.protected = Some(Protected::Credentials(d.reason.clone()));
            }
            return out;
        }
        Refused::DenyEntry { path, refusal } => {
            // The entry the engine refused with, whatever the layout is now (red team 21
            // finding 2: a mount of `~/.ssh` moved away since would leave a plain directory
            // and a flag that reaches the key once the mount is back).
            let mut out =
                describe(caps, model, deny, path, d.access).with_call(d.call, d.on_parent());
            if let Some(own) = &refusal.own {
                out.protected = Some(Protected::OtherName {
                    own: own.clone(),
                    group: refusal.origin.deny_label(),
                });
                return out;
            }
            out.protected = Some(protected_by(
                deny,
                path,
                &refusal.origin,
                why_or_group(&refusal.origin, &refusal.why),
                refusal.kind == DenyKind::Write,
            ));
            return out;
        }
        Refused::Path(path) | Refused::Socket(path) | Refused::Proc { path, .. } => {
            let mut out =
                describe(caps, model, deny, path, d.access).with_call(d.call, d.on_parent());
            // An entry operation on a link kept in place: the link itself is what is
            // protected, not where it leads (which `describe` looked at).
            let kept = d
                .on_parent()
                .then(|| deny.protected_link(path))
                .flatten()
                .filter(|_| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()));
            if let Some(reason) = d.procfs_refusal() {
                out.protected = Some(Protected::Procfs(reason.to_owned()));
            } else if let Some((origin, _)) = kept {
                let (group, optional) = match origin {
                    Origin::Group(name) => (
                        name.clone(),
                        nono_supervisor::deny_groups::group(name).is_some_and(|g| g.optional),
                    ),
                    Origin::ProfileDeny(name) => (format!("profile {name}"), false),
                    other => (other.to_string(), false),
                };
                out.protected = Some(Protected::Link { group, optional });
            } else if out.protected.is_none() {
                out.protected = blocked_suggestion(caps, model, &out);
            }
            return out;
        }
        Refused::TcpBind { port } => NotAPath::TcpBindPort(*port),
        Refused::TcpListenUnbound => NotAPath::TcpListenUnbound,
        Refused::UnixDatagramSocket => NotAPath::UnixDatagram,
        Refused::OtherProcess { .. } => NotAPath::OtherProcess,
        Refused::AbstractSocket(_) => NotAPath::AbstractSocket,
        Refused::NetworkSocket { refusal, .. } => NotAPath::Socket(*refusal),
    };
    // Nothing to look up on disk or in the model: the call itself is what was refused. The
    // name (`@NAME` with the socket's own bytes, `pid N`) only sorts and shows it.
    let name = match &d.what {
        Refused::AbstractSocket(name) => {
            let mut bytes = b"@".to_vec();
            bytes.extend_from_slice(name.as_bytes());
            PathBuf::from(std::ffi::OsString::from_vec(bytes))
        }
        other => PathBuf::from(other.to_string()),
    };
    Denied {
        path: name,
        access: d.access,
        protected: None,
        on_disk: OnDisk::Missing,
        via: Some(d.call.name().to_owned()),
        on_parent: false,
        makes_dir: false,
        not_a_path: Some(not_a_path),
    }
}

/// Add the grant the report would suggest for `d` to the grants of `caps` and ask its model
/// again (`model`, with the set's denies as they are: nothing is copied or worked out per
/// path): when a carve-out spine still blocks it, the suggestion would not fix the access,
/// and the report says so instead of printing it.
fn blocked_suggestion(
    caps: &nono_sandbox::CapabilitySet,
    model: &nono_sandbox::Model,
    d: &Denied,
) -> Option<Protected> {
    use nono_sandbox::FsKind;
    let parent = d.path.parent().unwrap_or(Path::new("/"));
    let (target, kind) = match (d.on_parent, d.on_disk) {
        (false, OnDisk::Dir) => (d.path.as_path(), FsKind::Dir),
        (false, OnDisk::File | OnDisk::Socket) => (d.path.as_path(), FsKind::File),
        _ => (parent, FsKind::Dir),
    };
    let with = caps.grants_with(target, kind, d.access, "suggested").ok()?;
    // The grant the access needs besides a lift: the suggestion, unless a grant of `caps`
    // already covers it (red team 18).
    let grant = {
        let at = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
        let covered = caps.grants().iter().any(|g| {
            g.access.contains(d.access)
                && match g.kind {
                    FsKind::Dir => at.starts_with(&g.path),
                    FsKind::File => at == g.path,
                }
        });
        (!covered).then(|| {
            let flag = match kind {
                FsKind::Dir => dir_flag(d.access),
                FsKind::File => file_flag(d.access),
            };
            format!("{flag} {}", escape::shell_path(target))
        })
    };
    // An entry operation (unlink, rename, link) changes the directory that holds the entry:
    // when that directory is a spine, it is what must be lifted, whatever the entry is (red
    // team 18: `rm DIR/file` was told `add --write DIR`, granted already, and `mv DIR/proj
    // …` the lift of `proj`'s own carve-outs, while DIR stayed a spine for another).
    if d.on_parent {
        if let nono_sandbox::Rule::CarveOutSpine { deny, origin, .. } = model
            .explain_granted(caps, &with, parent, AccessMode::Write)
            .ok()?
            .rule
        {
            return Some(Protected::Spine {
                lift: spine_lift(caps, parent),
                dir: parent.to_path_buf(),
                deny,
                origin,
                grant,
            });
        }
    }
    match model
        .explain_granted(caps, &with, &d.path, d.access)
        .ok()?
        .rule
    {
        // Reading a spine directory is listing it, which the supervisor serves under `run`
        // (the only command that prints this report): the suggestion works.
        nono_sandbox::Rule::CarveOutSpine { .. } if d.access == AccessMode::Read => None,
        nono_sandbox::Rule::CarveOutSpine { deny, origin, .. } => Some(Protected::Spine {
            lift: spine_lift(caps, &d.path),
            dir: d.path.clone(),
            deny,
            origin,
            grant,
        }),
        nono_sandbox::Rule::NewEntryInSpine { dir, deny, .. } => {
            let origin = model
                .deny_at(caps, &deny)
                .map_or_else(|| Origin::Label(String::new()), |r| r.origin.clone());
            Some(Protected::Spine {
                lift: spine_lift(caps, &dir),
                dir,
                deny,
                origin,
                grant,
            })
        }
        _ => None,
    }
}

/// Merge duplicates (same path: accesses are united), sort by path.
#[must_use]
pub fn dedup(denials: impl IntoIterator<Item = Denied>) -> Vec<Denied> {
    let mut by_path: BTreeMap<PathBuf, Denied> = BTreeMap::new();
    for d in denials {
        by_path
            .entry(d.path.clone())
            .and_modify(|e| {
                e.access = e.access.union(d.access);
                if e.protected.is_none() {
                    e.protected.clone_from(&d.protected);
                }
                e.on_parent |= d.on_parent;
                e.not_a_path = e.not_a_path.or(d.not_a_path);
                match (&mut e.via, d.via.clone()) {
                    (Some(v), Some(new)) if !v.split(", ").any(|x| x == new) => {
                        v.push_str(", ");
                        v.push_str(&new);
                    }
                    (v @ None, new) => *v = new,
                    _ => {}
                }
            })
            .or_insert(d);
    }
    by_path.into_values().collect()
}

/// Why the deny groups' identity walk could not see a path's directory, as a clause.
fn unseen_text(why: Unseen) -> String {
    match why {
        Unseen::Gone => "its directory was gone (renamed or removed)".to_owned(),
        Unseen::Unsearchable => "nono may not search its directory (permission denied)".to_owned(),
        Unseen::Other(errno) => format!(
            "nono could not read its directory ({})",
            std::io::Error::from_raw_os_error(errno)
        ),
    }
}

/// The line for a socket the network rules refused (`call` is the denial's path,
/// `socket(AF_INET, SOCK_DGRAM, 0)`).
fn socket_line(r: nono_supervisor::SocketRefusal, call: &Path) -> String {
    use nono_supervisor::SocketRefusal as R;
    let call = escape::path(call);
    match r {
        R::NetworkBlocked => format!(
            "nono: denied {call}: the network is blocked → run without --block-net (or without network.block in the profile) if the command needs it; no flag allows one socket family beside the block"
        ),
        R::TcpPortsOnly => format!(
            "nono: denied {call}: the port rules allow TCP only → no flag allows other sockets beside them; run without --allow-connect-port/--allow-bind-port (and network.connect/network.bind in the profile) to leave the network unconfined"
        ),
        R::EgressProxyOnly => format!(
            "nono: denied {call}: the egress proxy is the only way out (TCP to the proxy) → no flag allows other sockets beside it; run without --allow-domain/--network-profile/--credential (and the profile's domain rules) to leave the network unconfined"
        ),
        R::NeedsCapNetRaw => format!(
            "nono: denied {call} → no flag allows it: raw and packet sockets need CAP_NET_RAW, which nono drops in every sandbox (with or without network rules)"
        ),
        R::PairNotUnix => format!(
            "nono: denied {call} → no flag allows it: the kernel pairs AF_UNIX sockets only (EOPNOTSUPP without any network rule)"
        ),
        _ => format!("nono: denied {call}: refused by the network rules"),
    }
}

/// One report line (without trailing newline), e.g.
/// `nono: denied read of /home/u/data/x.csv → add --read /home/u/data (or --read-file /home/u/data/x.csv)`.
#[must_use]
pub fn line(d: &Denied) -> String {
    let call = d.via.as_deref().unwrap_or("a call");
    match d.not_a_path {
        Some(NotAPath::UnixDatagram) => {
            return format!(
                "nono: denied a Unix datagram socket ({}) → add --allow-unix-datagram if the command needs one (or network.allow_unix_datagram in a profile); it can then send datagrams with sendmsg to any pathname datagram socket (/dev/log, /run/systemd/notify), which nono cannot check",
                d.via.as_deref().unwrap_or("socket")
            );
        }
        Some(NotAPath::OtherProcess) => {
            return format!(
                "nono: denied {call} of {}, which is outside the sandbox → no flag grants it: the command may change the scheduling and I/O priority of its own processes only",
                escape::path(&d.path)
            );
        }
        Some(NotAPath::TcpBindPort(port)) => {
            return format!(
                "nono: denied a TCP bind to port {port} → add --allow-bind-port {port} (or network.bind in a profile)"
            );
        }
        Some(NotAPath::Socket(r)) => return socket_line(r, &d.path),
        Some(NotAPath::TcpListenUnbound) => {
            return "nono: denied listen on a TCP socket not bound to a port (the kernel would bind it to a random port on every address, reachable from outside) → have the command bind the socket to a port first, and add --allow-bind-port PORT for that port (or network.bind in a profile)".to_owned();
        }
        Some(NotAPath::AbstractSocket) => {
            return format!(
                "nono: denied {call} to the abstract Unix socket {} → no flag grants it: abstract sockets have no path to grant and the supervisor cannot tell whose one is (a pathname socket can be granted with --allow-file)",
                escape::path(&d.path)
            );
        }
        None => {}
    }
    let path = escape::path(&d.path);
    // In the flags a message tells the user to add: one shell word each (a name the command
    // chose, `$(...)` or a space in it, must not run or split when pasted).
    let arg = escape::shell_path(&d.path);
    let access = match &d.via {
        Some(via) => format!("{} of {path} ({via})", d.access.as_str()),
        None => format!("{} of {path}", d.access.as_str()),
    };
    match &d.protected {
        Some(Protected::Group { group, .. }) if group == "nono" => {
            return format!(
                "nono: denied {access}: nono's own configuration and state (deny group `nono`) → no flag lifts it: a run that could change them could widen every later run"
            );
        }
        Some(Protected::Group {
            group,
            why,
            read_only,
            holder,
        }) => {
            let what = match (read_only, why.is_empty()) {
                (false, true) => format!("protected by deny group `{group}`"),
                (false, false) => format!("protected by deny group `{group}` ({why})"),
                (true, true) => format!("read-only in deny group `{group}`"),
                (true, false) => format!("read-only in deny group `{group}` ({why})"),
            };
            // Both flags need an existing path: for a name that does not exist yet (a new
            // file in `~/.local/bin`), the directory that would hold it.
            let (grant, bypass) = match d.on_disk {
                OnDisk::Dir => (format!("{} {arg}", dir_flag(d.access)), arg.clone()),
                OnDisk::File | OnDisk::Socket => {
                    (format!("{} {arg}", file_flag(d.access)), arg.clone())
                }
                OnDisk::Missing => match holder {
                    Some(dir) => {
                        let dir = escape::shell_path(dir);
                        (format!("{} {dir}", dir_flag(d.access)), dir)
                    }
                    None => {
                        let flag = if d.makes_dir {
                            dir_flag(d.access)
                        } else {
                            file_flag(d.access)
                        };
                        (
                            format!("{flag} {arg}"),
                            format!("{arg} (create it outside the sandbox first)"),
                        )
                    }
                },
            };
            return format!(
                "nono: denied {access}: {what} → needs an explicit grant and --bypass-protection: {grant} --bypass-protection {bypass}"
            );
        }
        Some(Protected::Profile(origin)) => {
            return format!(
                "nono: denied {access}: on the deny list of {origin} → no flag grants it; use a profile without that entry (-p FILE)"
            );
        }
        Some(Protected::Spine {
            dir,
            deny,
            origin,
            lift,
            grant,
        }) => {
            let origin = origin.deny_label();
            let (lead, clause) = match lift {
                Lift::NoFlag => ("no flag grants it: ", String::new()),
                Lift::Exposes(_) => (
                    "no flag grants it without exposing a secret: ",
                    format!(
                        "{}; make the change outside the sandbox instead",
                        lift_clause(lift)
                    ),
                ),
                Lift::Bypass(_) => ("", lift_clause_with(lift, grant.as_deref())),
            };
            return format!(
                "nono: denied {access} → {lead}{} holds the carve-out {} ({origin}), so it can be listed (under run) but nothing in it can be created, removed or renamed, and it cannot be opened for writing{clause}",
                escape::path(dir),
                escape::path(deny)
            );
        }
        Some(Protected::HardLink) => {
            return format!(
                "nono: denied {access} → no flag grants it: it is another name (a hard link) for a file a deny group protects; use the file under its own name (an explicit grant and --bypass-protection), or remove the link"
            );
        }
        Some(Protected::Moved) => {
            return format!(
                "nono: denied {access} → no flag grants it: the path led into another mount when nono acted than when it checked the deny groups (a directory on it that holds a mount point was renamed in between); retry once nothing renames it"
            );
        }
        Some(Protected::MovesEntry { moved, group }) => {
            return format!(
                "nono: denied {access}: deny group `{group}` protects it, and the call would remove, rename, replace or put a symlink at {}, which is it or a name above it (by that name or another) → no flag grants it: moving or removing it, or a directory above it, changes what the protected path names; make the change outside the sandbox",
                escape::path(moved)
            );
        }
        Some(Protected::MakesEntry { own, group }) => {
            return format!(
                "nono: denied {access}: it is {} reached by another name, where deny group `{group}` protects a path that does not exist yet → no flag grants it under this name; make it by its own path, {}, which nono judges by that path",
                escape::path(own),
                escape::path(own)
            );
        }
        Some(Protected::OtherName { own, group }) => {
            return format!(
                "nono: denied {access}: it is {} reached by another name, which deny group `{group}` protects → no flag grants it under this name; use it by its own path, {}, which nono judges by that path",
                escape::path(own),
                escape::path(own)
            );
        }
        Some(Protected::Unread(why)) => {
            return format!(
                "nono: denied {access} → no flag grants it: {} when nono checked it against the deny groups, so nono did not act and the command got the error the kernel gave nono{}",
                unseen_text(*why),
                match why {
                    Unseen::Gone => "; retry once nothing renames it",
                    Unseen::Unsearchable => {
                        "; the command's own user cannot search it either (make it searchable outside the sandbox)"
                    }
                    Unseen::Other(_) => "",
                }
            );
        }
        Some(Protected::Unchecked(why)) => {
            return format!(
                "nono: denied {access} → no flag suggested: {}, so nono cannot tell whether the path leads into one a deny group protects by another name{}",
                unseen_text(*why),
                match why {
                    Unseen::Unsearchable => "; the command's own user cannot search it either",
                    Unseen::Gone | Unseen::Other(_) => "",
                }
            );
        }
        Some(Protected::Credentials(reason)) => {
            return format!(
                "nono: denied {access} → no flag grants it: {}; the sandboxed command's own user and capabilities do not allow it",
                escape::text(reason)
            );
        }
        Some(Protected::Link { group, optional }) => {
            let change = if *optional {
                format!(
                    "change it outside the sandbox, or switch the group off in a profile (\"groups\": {{\"{group}\": false}})"
                )
            } else {
                "change it outside the sandbox".to_owned()
            };
            return format!(
                "nono: denied {access}: a symlink that deny group `{group}` keeps in place (it leads to a path the group protects, or to a program on your PATH: re-pointed, it would change what that path runs or holds) → no flag lifts it (a grant and --bypass-protection follow the link); {change}"
            );
        }
        Some(Protected::Procfs(reason)) => {
            return format!(
                "nono: denied {access} → no flag grants it: {reason}; under run the command sees its own processes' /proc entries and a fixed list of system-wide ones"
            );
        }
        None => {}
    }
    if d.path.starts_with("/dev/pts") && d.path != Path::new("/dev/pts") {
        // Not the command's own terminal (that one is granted by name under `run`): a pty it
        // made itself, or another terminal. The directory grant reaches every terminal.
        return format!(
            "nono: denied {access} → a pseudo-terminal other than the command's own; programs that make their own (script, tmux, expect) need --allow /dev/pts, which also reaches every other terminal of the user"
        );
    }
    if d.on_parent {
        let parent = d.path.parent().unwrap_or(Path::new("/"));
        return format!(
            "nono: denied {access} → add {} {}",
            dir_flag(d.access),
            escape::shell_path(parent)
        );
    }
    match d.on_disk {
        OnDisk::Dir => format!("nono: denied {access} → add {} {arg}", dir_flag(d.access)),
        OnDisk::Socket => format!(
            "nono: denied {access} → add --allow-file {arg} (a socket is reached when granted by itself, or when the sandbox serves it)"
        ),
        OnDisk::File => match d.path.parent().filter(|p| *p != Path::new("/")) {
            Some(parent) => format!(
                "nono: denied {access} → add {} {} (or {} {arg})",
                dir_flag(d.access),
                escape::shell_path(parent),
                file_flag(d.access)
            ),
            None => format!("nono: denied {access} → add {} {arg}", file_flag(d.access)),
        },
        OnDisk::Missing => {
            let parent = d.path.parent().unwrap_or(Path::new("/"));
            format!(
                "nono: denied {access} → add {} {}",
                dir_flag(d.access),
                escape::shell_path(parent)
            )
        }
    }
}

/// A refused network destination: what the egress proxy refused, or a TCP connect the
/// supervisor refused to make (typed, so the report words it from the kind, not a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetDenied {
    /// The proxy refused `host:port` (a CONNECT tunnel or a plain-HTTP request).
    Proxy {
        /// As the command asked (canonical name or address).
        host: String,
        /// The port.
        port: u16,
        /// Why (the proxy's words).
        reason: String,
        /// The rule that would allow it (`--allow-domain VALUE`), if one would.
        hint: Option<String>,
        /// A deny rule refused it (only removing that rule helps).
        by_deny_rule: Option<String>,
    },
    /// A request without the proxy's token, malformed, too large, too slow, too many: no
    /// rule was consulted.
    Rejected {
        /// The destination, if the request named one.
        host: String,
        /// Why.
        reason: String,
    },
    /// The supervisor refused a direct TCP connect.
    Direct {
        /// Where to.
        addr: std::net::SocketAddr,
        /// Why.
        refusal: nono_supervisor::egress::ConnectRefusal,
        /// Domain rules are in force (the proxy is the only way out).
        proxied: bool,
    },
}

impl NetDenied {
    /// A refusal of the socket broker.
    #[must_use]
    pub fn direct(d: &nono_supervisor::egress::ConnectDenial, proxied: bool) -> NetDenied {
        NetDenied::Direct {
            addr: d.addr,
            refusal: d.refusal,
            proxied,
        }
    }

    /// A refusal of the proxy (`None` for an allowed request).
    #[must_use]
    pub fn from_event(e: &nono_proxy::ProxyEvent) -> Option<NetDenied> {
        use nono_proxy::{DenyReason, EventKind, Verdict};
        if let EventKind::Rejected(r) = &e.kind {
            use nono_proxy::RejectReason as R;
            let reason = match r {
                R::Unauthenticated => "without the run's proxy token (or, on a credential route, without its phantom key) → no rule was consulted; only the command, with the URL in HTTP_PROXY/HTTPS_PROXY, can use the proxy",
                R::EndpointNotAllowed => "a credential-service call outside its --allow-endpoint rules → add --allow-endpoint SERVICE:METHOD:/path for the call",
                R::UnknownRoute => "a request to no credential service → the command reaches services at their $BASE_URL variable, other hosts through HTTP_PROXY",
                R::HostMismatch => "its Host header disagrees with the request target → refused (a server could be told another host than the one the rules judged)",
                R::HeaderTooLarge | R::TooManyHeaders => "its request head was too large → refused (bounded against memory exhaustion)",
                R::HeaderTimeout => "its request head did not arrive in time → refused (bounded against slow clients)",
                R::TooManyConnections => "too many connections at once → refused (bounded; the proxy keeps serving the others)",
                R::BadRequest => "a malformed request → refused",
                _ => "refused before any rule was consulted",
            };
            return Some(NetDenied::Rejected {
                host: if e.host.is_empty() {
                    String::new()
                } else {
                    format!("{}:{}", e.host, e.port)
                },
                reason: reason.to_owned(),
            });
        }
        let Some(Verdict::Deny { reason, rule_hint }) = &e.verdict else {
            return None;
        };
        Some(NetDenied::Proxy {
            host: e.host.clone(),
            port: e.port,
            reason: reason.to_string(),
            hint: rule_hint.clone(),
            by_deny_rule: match reason {
                DenyReason::DeniedBy(r) => Some(r.clone()),
                _ => None,
            },
        })
    }
}

/// One report line for a network refusal, e.g.
/// `nono: denied connect to pypi.org:443 → add --allow-domain pypi.org`.
#[must_use]
pub fn net_line(d: &NetDenied) -> String {
    use nono_supervisor::egress::ConnectRefusal;
    match d {
        NetDenied::Proxy {
            host,
            port,
            by_deny_rule: Some(rule),
            ..
        } => format!(
            "nono: denied connect to {}:{port}: refused by --deny-domain {} → a deny rule wins over every allow; remove it to allow this host",
            escape::text(host),
            escape::text(rule)
        ),
        NetDenied::Proxy {
            host,
            port,
            reason,
            hint: Some(hint),
            ..
        } if reason.starts_with("no ") => format!(
            "nono: denied connect to {}:{port} → add --allow-domain {}",
            escape::text(host),
            escape::text(hint)
        ),
        NetDenied::Proxy {
            host,
            port,
            reason,
            hint,
            ..
        } => match hint {
            Some(h) => format!(
                "nono: denied connect to {}:{port}: {} → add --allow-domain {}",
                escape::text(host),
                escape::text(reason),
                escape::text(h)
            ),
            None => format!(
                "nono: denied connect to {}:{port}: {}",
                escape::text(host),
                escape::text(reason)
            ),
        },
        NetDenied::Rejected { host, reason } => format!(
            "nono: the egress proxy rejected a request{}: {reason}",
            if host.is_empty() {
                String::new()
            } else {
                format!(" for {}", escape::text(host))
            },
        ),
        NetDenied::Direct {
            addr,
            refusal: ConnectRefusal::NotTheProxy { proxy },
            ..
        } => format!(
            "nono: denied connect to {addr}, which is not the egress proxy ({proxy}) → the proxy is the only way out: the command must use HTTP_PROXY/HTTPS_PROXY; add --allow-domain HOST for what it needs"
        ),
        NetDenied::Direct {
            addr,
            proxied: true,
            ..
        } => format!(
            "nono: denied direct connect to {addr}, bypassing the egress proxy → the proxy is the only way out: the command must use HTTP_PROXY/HTTPS_PROXY (set for it), and the proxy allows what --allow-domain names"
        ),
        NetDenied::Direct {
            addr,
            refusal: ConnectRefusal::NotLoopback,
            ..
        } => format!(
            "nono: denied connect to {addr}: --allow-connect-port {} reaches loopback only under nono run → to reach another host, use --allow-domain {} (through nono's proxy)",
            addr.port(),
            nono_proxy::allow_hint(&nono_proxy::Host::Ip(addr.ip()), addr.port())
        ),
        NetDenied::Direct { addr, .. } if nono_supervisor::egress::is_loopback(addr.ip()) => format!(
            "nono: denied connect to {addr} → add --allow-connect-port {}",
            addr.port()
        ),
        NetDenied::Direct { addr, .. } => format!(
            "nono: denied connect to {addr} → add --allow-domain {} (the command then goes through nono's proxy)",
            nono_proxy::allow_hint(&nono_proxy::Host::Ip(addr.ip()), addr.port())
        ),
    }
}

/// The whole report with network refusals after the paths (each line once, in order).
#[must_use]
pub fn render_all(
    denials: impl IntoIterator<Item = Denied>,
    net: impl IntoIterator<Item = NetDenied>,
) -> String {
    let mut out = render(denials);
    let mut seen = std::collections::BTreeSet::new();
    for d in net {
        let l = net_line(&d);
        if seen.insert(l.clone()) {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// From this many denials with the same advice on, they are folded into one line (fewer are
/// shown one by one: a handful of paths is worth reading, eighty are not).
const FOLD_AT: usize = 5;

/// The whole report: one line per denied path, deduplicated and sorted; denials whose advice
/// is the same (`ps` reading the `/proc` of 80 processes outside the sandbox) folded into one
/// line with a count; empty if nothing was denied.
#[must_use]
pub fn render(denials: impl IntoIterator<Item = Denied>) -> String {
    // Grouped by the advice after the arrow, in the order of their first line.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for d in dedup(denials) {
        let l = line(&d);
        let (head, advice) = match l.split_once(" → ") {
            Some((h, a)) => (h.to_owned(), a.to_owned()),
            None => (l.clone(), String::new()),
        };
        match groups
            .iter_mut()
            .find(|(a, _)| *a == advice && !a.is_empty())
        {
            Some((_, heads)) => heads.push(head),
            None => groups.push((advice, vec![head])),
        }
    }
    let mut out = String::new();
    for (advice, heads) in groups {
        if heads.len() >= FOLD_AT {
            let _ = writeln!(
                out,
                "{} (and {} more like it) → {advice}",
                heads[0],
                heads.len() - 1
            );
        } else {
            for h in heads {
                if advice.is_empty() {
                    let _ = writeln!(out, "{h}");
                } else {
                    let _ = writeln!(out, "{h} → {advice}");
                }
            }
        }
    }
    out
}

/// The line after the run when the supervisor could not read some of the command's trapped
/// calls (`RunOutcome::calls_unread`): what happened to them, and why.
#[must_use]
pub fn unread_calls(count: u64) -> String {
    format!(
        "{count} trapped call{s} of the command could not be read: the kernel does not let nono \
         read its memory or descriptors (the command runs a program it may execute but not \
         read, or made itself non-dumpable with prctl(PR_SET_DUMPABLE, 0), or the kernel's \
         ptrace policy forbids it: Yama ptrace_scope 2 or 3); the sandbox still refused whatever the grants do not allow, but \
         such refusals are not listed above and no runtime grant applied to {them}; calls nono \
         carries out for the command (chmod, chown, utimes and xattr changes, Unix socket \
         connects and sends, binds and listens it checks) failed even inside the grants \
         (EPERM, EFAULT) → for a program you may run but not read, make it readable \
         (chmod a+r PROGRAM) and run again",
        s = if count == 1 { "" } else { "s" },
        them = if count == 1 { "it" } else { "them" },
    )
}

/// What the run's resource limits caught, for the lines after the run: a memory kill always,
/// refused forks only when the run failed (a build that retried and succeeded needs no
/// note).
#[must_use]
pub fn limits(
    report: &nono_supervisor::limits::LimitsReport,
    limits: &nono_supervisor::limits::Limits,
    exit: i32,
) -> Vec<String> {
    use nono_supervisor::limits::human_bytes;
    let mut out = Vec::new();
    if let Some((limit, peak, kills)) = report.memory_hit {
        out.push(format!(
            "killed: memory limit {} reached (peak {}, oom kills {kills}); raise --memory to give it more",
            human_bytes(limit),
            peak.map_or_else(|| "unknown".to_owned(), human_bytes),
        ));
    }
    if report.forks_refused > 0 && exit != 0 {
        out.push(format!(
            "{} forks refused at --max-processes {}; raise --max-processes to allow more",
            report.forks_refused,
            limits.max_processes.unwrap_or(0)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use nono_sandbox::linux::seccomp::Syscall;

    fn sc(s: Syscall) -> nono_supervisor::Call {
        nono_supervisor::Call::Syscall(s)
    }

    fn d(path: &str, access: AccessMode, on_disk: OnDisk) -> Denied {
        Denied {
            path: path.into(),
            access,
            protected: None,
            on_disk,
            via: None,
            on_parent: false,
            makes_dir: false,
            not_a_path: None,
        }
    }

    /// A protected directory the command tried to make (`mkdir ~/.claude/hooks`, missing,
    /// its parent not in the group) is a directory: its grant is a directory's (red team 22).
    #[test]
    fn a_refused_mkdir_of_a_protected_entry_names_a_directory_grant() {
        let protected = Some(Protected::Group {
            group: "autorun".into(),
            why: String::new(),
            read_only: true,
            holder: None,
        });
        let mkdir = Denied {
            protected: protected.clone(),
            ..d("/h/.claude/hooks", AccessMode::Write, OnDisk::Missing)
        }
        .with_call(sc(Syscall::MkdirAt), false);
        assert!(
            line(&mkdir).ends_with(
                "--write /h/.claude/hooks --bypass-protection /h/.claude/hooks (create it outside the sandbox first)"
            ),
            "{}",
            line(&mkdir)
        );
        let open = Denied {
            protected,
            ..d(
                "/h/.claude/settings.json",
                AccessMode::Write,
                OnDisk::Missing,
            )
        }
        .with_call(sc(Syscall::OpenAt), false);
        assert!(
            line(&open).contains("--write-file /h/.claude/settings.json"),
            "{}",
            line(&open)
        );
    }

    #[test]
    fn network_refusals_name_the_flag() {
        use nono_supervisor::egress::ConnectRefusal;
        let proxy = |reason: &str, hint: Option<&str>, deny: Option<&str>| NetDenied::Proxy {
            host: "pypi.org".into(),
            port: 443,
            reason: reason.into(),
            hint: hint.map(str::to_owned),
            by_deny_rule: deny.map(str::to_owned),
        };
        assert_eq!(
            net_line(&proxy(
                "no --allow-domain rule covers it",
                Some("pypi.org"),
                None
            )),
            "nono: denied connect to pypi.org:443 → add --allow-domain pypi.org"
        );
        let l = net_line(&proxy(
            "denied by --deny-domain pypi.org",
            None,
            Some("pypi.org"),
        ));
        assert!(l.contains("refused by --deny-domain pypi.org"), "{l}");
        let l = net_line(&proxy(
            "it resolved to 10.0.0.1, a private address",
            Some("10.0.0.1"),
            None,
        ));
        assert!(
            l.contains("10.0.0.1, a private") && l.ends_with("--allow-domain 10.0.0.1"),
            "{l}"
        );
        let direct = |addr: &str, refusal, proxied| NetDenied::Direct {
            addr: addr.parse().unwrap(),
            refusal,
            proxied,
        };
        let l = net_line(&direct(
            "127.0.0.2:4000",
            ConnectRefusal::NotTheProxy {
                proxy: "127.0.0.1:4000".parse().unwrap(),
            },
            true,
        ));
        assert!(l.contains("not the egress proxy (127.0.0.1:4000)"), "{l}");
        let l = net_line(&direct("1.2.3.4:443", ConnectRefusal::PortNotAllowed, true));
        assert!(l.contains("bypassing the egress proxy"), "{l}");
        assert_eq!(
            net_line(&direct("10.0.0.5:5432", ConnectRefusal::NotLoopback, false)),
            "nono: denied connect to 10.0.0.5:5432: --allow-connect-port 5432 reaches loopback only under nono run → to reach another host, use --allow-domain 10.0.0.5:5432 (through nono's proxy)"
        );
        assert_eq!(
            net_line(&direct(
                "127.0.0.1:80",
                ConnectRefusal::PortNotAllowed,
                false
            )),
            "nono: denied connect to 127.0.0.1:80 → add --allow-connect-port 80"
        );
        // A hostile host name cannot forge report lines.
        let l = net_line(&NetDenied::Proxy {
            host: "x\nnono: all clear\x1b[2K".into(),
            port: 443,
            reason: "no rule".into(),
            hint: Some("x\r".into()),
            by_deny_rule: None,
        });
        assert_eq!(l.lines().count(), 1, "{l}");
        assert!(!l.chars().any(escape::is_hostile), "{l}");
        // Each line once.
        let twice = render_all(
            [],
            [
                proxy("no rule", Some("a"), None),
                proxy("no rule", Some("a"), None),
            ],
        );
        assert_eq!(twice.lines().count(), 1, "{twice}");
    }

    #[test]
    fn a_hostile_path_cannot_forge_or_erase_report_lines() {
        let hostile = "/tmp/x\r\x1b[2K\x1b]0;t\x07\nnono: all clear\u{9b}1A\u{202e}/f";
        for on_disk in [OnDisk::File, OnDisk::Missing, OnDisk::Dir, OnDisk::Socket] {
            let mut x = d(hostile, AccessMode::Read, on_disk);
            let out = render([x.clone()]);
            x.on_parent = true;
            let out2 = render([x]);
            for out in [out, out2] {
                assert_eq!(out.lines().count(), 1, "{out:?}");
                assert!(
                    !out.trim_end_matches('\n').chars().any(escape::is_hostile),
                    "{out:?}"
                );
                assert!(out.contains("\\u{1b}[2K"), "{out:?}");
            }
        }
    }

    #[test]
    fn file_read_suggests_its_directory_or_the_file() {
        assert_eq!(
            line(&d("/home/u/data/x.csv", AccessMode::Read, OnDisk::File)),
            "nono: denied read of /home/u/data/x.csv → add --read /home/u/data (or --read-file /home/u/data/x.csv)"
        );
    }

    #[test]
    fn a_pseudo_terminal_suggests_dev_pts_with_its_cost() {
        let l = line(&d("/dev/pts/7", AccessMode::ReadWrite, OnDisk::File));
        assert!(
            l.starts_with("nono: denied readwrite of /dev/pts/7 → ")
                && l.contains("--allow /dev/pts")
                && l.contains("every other terminal"),
            "{l}"
        );
    }

    /// Red team 11's note: the flag a denial suggests is pasted into a shell, and the command
    /// names the paths it is denied (`$(id)` in a directory name ran when pasted).
    #[test]
    fn suggested_paths_are_one_shell_word() {
        assert_eq!(
            line(&d("/srv/a $(id)/f", AccessMode::Read, OnDisk::File)),
            "nono: denied read of /srv/a $(id)/f → add --read '/srv/a $(id)' (or --read-file '/srv/a $(id)/f')"
        );
        assert_eq!(
            line(&d("/srv/it's", AccessMode::Read, OnDisk::Dir)),
            "nono: denied read of /srv/it's → add --read '/srv/it'\\''s'"
        );
        assert_eq!(
            line(&d("/o/`x`/n", AccessMode::Write, OnDisk::Missing)),
            "nono: denied write of /o/`x`/n → add --write '/o/`x`'"
        );
    }

    #[test]
    fn directory_and_missing_paths_suggest_directory_grants() {
        assert_eq!(
            line(&d("/root", AccessMode::Read, OnDisk::Dir)),
            "nono: denied read of /root → add --read /root"
        );
        assert_eq!(
            line(&d("/out/new.txt", AccessMode::Write, OnDisk::Missing)),
            "nono: denied write of /out/new.txt → add --write /out"
        );
        assert_eq!(
            line(&d("/f", AccessMode::ReadWrite, OnDisk::File)),
            "nono: denied readwrite of /f → add --allow-file /f"
        );
        assert_eq!(
            line(&d("/tmp/tmux-0/default", AccessMode::Write, OnDisk::Socket)),
            "nono: denied write of /tmp/tmux-0/default → add --allow-file /tmp/tmux-0/default (a socket is reached when granted by itself, or when the sandbox serves it)"
        );
    }

    #[test]
    fn deny_group_paths_name_the_group_and_bypass() {
        let mut x = d("/root/.ssh/id_rsa", AccessMode::Read, OnDisk::File);
        x.protected = Some(Protected::Group {
            group: "credentials".into(),
            why: String::new(),
            read_only: false,
            holder: None,
        });
        let l = line(&x);
        assert!(l.contains("deny group `credentials`"), "{l}");
        assert!(
            l.contains("--read-file /root/.ssh/id_rsa --bypass-protection /root/.ssh/id_rsa"),
            "{l}"
        );
        let mut y = d("/etc/shadow", AccessMode::Read, OnDisk::File);
        y.protected = Some(Protected::Profile("profile default".into()));
        let l = line(&y);
        assert!(l.contains("deny list of profile default"), "{l}");
    }

    #[test]
    fn report_is_deduplicated_merged_and_sorted() {
        let out = render([
            d("/b", AccessMode::Read, OnDisk::Dir),
            d("/a/x", AccessMode::Read, OnDisk::File),
            d("/b", AccessMode::Read, OnDisk::Dir),
            d("/a/x", AccessMode::Write, OnDisk::File),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("nono: denied readwrite of /a/x → add --allow /a"));
        assert!(lines[1].starts_with("nono: denied read of /b "));
        assert_eq!(render([]), "");
    }

    #[test]
    fn a_process_outside_the_sandbox_names_no_flag() {
        let l = line(&Denied {
            via: Some("sched_setaffinity".into()),
            not_a_path: Some(NotAPath::OtherProcess),
            ..d("pid 4242", AccessMode::Write, OnDisk::Missing)
        });
        assert_eq!(
            l,
            "nono: denied sched_setaffinity of pid 4242, which is outside the sandbox → no flag grants it: the command may change the scheduling and I/O priority of its own processes only"
        );
    }

    #[test]
    fn an_abstract_socket_names_no_flag() {
        let l = line(&Denied {
            via: Some("connect".into()),
            not_a_path: Some(NotAPath::AbstractSocket),
            ..d("@/tmp/.X11-unix/X0", AccessMode::Write, OnDisk::Missing)
        });
        assert!(
            l.starts_with("nono: denied connect to the abstract Unix socket @/tmp/.X11-unix/X0 → no flag grants it"),
            "{l}"
        );
        assert!(!l.contains("add --"), "{l}");
    }

    #[test]
    fn a_unix_datagram_socket_suggests_the_opt_in_and_its_cost() {
        let dgram = |call: &str| Denied {
            via: Some(call.to_owned()),
            not_a_path: Some(NotAPath::UnixDatagram),
            ..d("", AccessMode::Write, OnDisk::Missing)
        };
        let out = render([
            d("/b", AccessMode::Read, OnDisk::Dir),
            dgram("socket"),
            dgram("socketpair"),
            dgram("socket"),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(
            lines[0],
            "nono: denied a Unix datagram socket (socket, socketpair) → add --allow-unix-datagram if the command needs one (or network.allow_unix_datagram in a profile); it can then send datagrams with sendmsg to any pathname datagram socket (/dev/log, /run/systemd/notify), which nono cannot check"
        );
    }

    #[test]
    fn entry_operations_name_the_call_and_suggest_the_parent() {
        let unlink =
            d("/usr/x", AccessMode::Write, OnDisk::File).with_call(sc(Syscall::Unlink), true);
        assert_eq!(
            line(&unlink),
            "nono: denied write of /usr/x (unlink) → add --write /usr"
        );
        let rmdir = d("/opt/d", AccessMode::Write, OnDisk::Dir).with_call(sc(Syscall::Rmdir), true);
        assert_eq!(
            line(&rmdir),
            "nono: denied write of /opt/d (rmdir) → add --write /opt"
        );
        let exec = d("/opt/bin/tool", AccessMode::Read, OnDisk::File)
            .with_call(sc(Syscall::Execve), false);
        assert_eq!(
            line(&exec),
            "nono: denied read of /opt/bin/tool (execve) → add --read /opt/bin (or --read-file /opt/bin/tool)"
        );
        let open =
            d("/opt/f", AccessMode::Read, OnDisk::File).with_call(sc(Syscall::OpenAt), false);
        assert_eq!(open.via, None);
        let out = render([
            d("/o/x", AccessMode::Write, OnDisk::Missing).with_call(sc(Syscall::Mkdir), true),
            d("/o/x", AccessMode::Write, OnDisk::Missing).with_call(sc(Syscall::Rmdir), true),
            d("/o/x", AccessMode::Write, OnDisk::Missing).with_call(sc(Syscall::Mkdir), true),
        ]);
        assert_eq!(
            out,
            "nono: denied write of /o/x (mkdir, rmdir) → add --write /o\n"
        );
    }

    #[test]
    fn spine_procfs_and_tcp_lines_say_what_grants_them() {
        let mut x = d("/etc/ssl/new", AccessMode::Write, OnDisk::Missing);
        x.protected = Some(Protected::Spine {
            dir: "/etc/ssl".into(),
            deny: "/etc/ssl/private".into(),
            origin: Origin::ProfileDeny("default".into()),
            lift: Lift::NoFlag,
            grant: None,
        });
        let l = line(&x);
        assert!(
            l.contains("no flag grants it")
                && l.contains("/etc/ssl/private")
                && l.contains("(profile default)"),
            "{l}"
        );
        assert!(!l.contains("add --"), "{l}");
        let mut p = d("/proc/1/environ", AccessMode::Read, OnDisk::File);
        p.protected = Some(Protected::Procfs("another process's /proc entry".into()));
        let l = line(&p);
        assert!(
            l.contains("no flag grants it") && !l.contains("add --"),
            "{l}"
        );
        let mut h = d("/w/innocent", AccessMode::Read, OnDisk::File);
        h.protected = Some(Protected::HardLink);
        let l = line(&h);
        assert!(
            l.contains("no flag grants it") && l.contains("hard link") && !l.contains("add --"),
            "{l}"
        );
        let mut c = d("/w/f", AccessMode::Write, OnDisk::File);
        c.via = Some("fchownat".into());
        c.protected = Some(Protected::Credentials(
            "a chown to another owner without CAP_CHOWN\u{1b}[2J".into(),
        ));
        let l = line(&c);
        assert!(
            l.contains("no flag grants it: a chown to another owner without CAP_CHOWN")
                && !l.contains("add --")
                && !l.contains('\u{1b}'),
            "{l}"
        );
        let b = line(&Denied {
            via: Some("bind".into()),
            not_a_path: Some(NotAPath::TcpBindPort(8080)),
            ..d("tcp bind port 8080", AccessMode::Write, OnDisk::Missing)
        });
        assert!(b.contains("--allow-bind-port 8080"), "{b}");
        use nono_supervisor::SocketRefusal as R;
        let sock = |r| {
            line(&Denied {
                via: Some("socket".into()),
                not_a_path: Some(NotAPath::Socket(r)),
                ..d(
                    "socket(AF_INET, SOCK_DGRAM, 0)",
                    AccessMode::ReadWrite,
                    OnDisk::Missing,
                )
            })
        };
        let l = sock(R::NetworkBlocked);
        assert!(
            l.contains("socket(AF_INET, SOCK_DGRAM, 0)") && l.contains("run without --block-net"),
            "{l}"
        );
        let l = sock(R::TcpPortsOnly);
        assert!(l.contains("run without --allow-connect-port"), "{l}");
        let l = sock(R::EgressProxyOnly);
        assert!(l.contains("run without --allow-domain"), "{l}");
        let l = sock(R::NeedsCapNetRaw);
        assert!(
            l.contains("no flag allows it") && !l.contains("run without"),
            "{l}"
        );
        let l = line(&Denied {
            via: Some("listen".into()),
            not_a_path: Some(NotAPath::TcpListenUnbound),
            ..d(
                "tcp listen on an unbound socket",
                AccessMode::Write,
                OnDisk::Missing,
            )
        });
        assert!(
            l.contains("denied listen") && l.contains("bind the socket to a port first"),
            "{l}"
        );
        assert!(l.contains("--allow-bind-port PORT"), "{l}");
    }

    #[test]
    fn same_advice_folds_from_five_lines_with_a_count() {
        let proc_line = |pid: u32| {
            let mut p = d(&format!("/proc/{pid}/stat"), AccessMode::Read, OnDisk::File);
            p.protected = Some(Protected::Procfs("another process's /proc entry".into()));
            p
        };
        let four = render((1..=4).map(proc_line));
        assert_eq!(four.lines().count(), 4, "{four}");
        let many = render(
            (1..=85)
                .map(proc_line)
                .chain([d("/b", AccessMode::Read, OnDisk::Dir)]),
        );
        let lines: Vec<&str> = many.lines().collect();
        assert_eq!(lines.len(), 2, "{many}");
        assert_eq!(lines[0], "nono: denied read of /b → add --read /b");
        assert!(
            lines[1].contains("/proc/1/stat (and 84 more like it) → no flag grants it"),
            "{many}"
        );
    }

    /// A spine is lifted by bypassing its topmost carve-outs when every carve-out beneath it
    /// is a deny group's a bypass lifts; otherwise no flag is named: the profile's own deny
    /// list, the `nono` group, a link kept in place (a bypass follows it), a missing path
    /// (a bypass must name an existing one), or more than `LIFT_AT_MOST` to name.
    #[test]
    fn a_spine_is_lifted_only_by_bypasses_that_work() {
        let t = Scratch::new(&format!("nono-report-lift-{}", std::process::id()));
        for d in ["p/.venv/bin/sub", "p/tools/bin", "q/a", "q/b", "q/c", "q/d"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::write(t.join("p/file"), "x").unwrap();
        std::os::unix::fs::symlink("tools", t.join("p/cur")).unwrap();
        let g = |n: &str| Origin::Group(n.into());
        let lift = |denies: &[(&str, Origin, bool)], dir: &str| {
            let mut caps = nono_sandbox::CapabilitySet::new();
            for (p, o, link) in denies {
                if *link {
                    caps.deny_link_kind(t.join(p), o.clone(), DenyKind::Write)
                } else {
                    caps.deny_write(t.join(p), o.clone())
                }
                .unwrap();
            }
            spine_lift(&caps, &t.join(dir))
        };
        let at = |p: &str, dir: bool| LiftPath {
            path: t.join(p),
            dir,
            group: "autorun".into(),
        };
        // The topmost only; a file is granted with --read-file.
        assert_eq!(
            lift(
                &[
                    ("p/.venv/bin", g("autorun"), false),
                    ("p/.venv/bin/sub", g("autorun"), false),
                    ("p/file", g("autorun"), false),
                ],
                "p"
            ),
            Lift::Bypass(vec![at("p/.venv/bin", true), at("p/file", false)])
        );
        let text = lift_clause(&Lift::Bypass(vec![
            at("p/.venv/bin", true),
            at("p/file", false),
        ]));
        assert!(
            text.ends_with(&format!(
                "--read {0}/p/.venv/bin --bypass-protection {0}/p/.venv/bin --read-file {0}/p/file --bypass-protection {0}/p/file",
                t.display()
            )),
            "{text}"
        );
        assert!(text.contains("deny group `autorun`"), "{text}");
        for (denies, why) in [
            (
                vec![
                    ("p/.venv/bin", g("autorun"), false),
                    ("p/tools/bin", Origin::ProfileDeny("default".into()), false),
                ],
                "the profile's own",
            ),
            (vec![("p/.venv/bin", g("nono"), false)], "the nono group"),
            (vec![("p/cur", g("autorun"), true)], "a link kept in place"),
            (vec![("p/missing", g("autorun"), false)], "missing"),
            (
                vec![
                    ("q/a", g("autorun"), false),
                    ("q/b", g("autorun"), false),
                    ("q/c", g("autorun"), false),
                    ("q/d", g("autorun"), false),
                ],
                "four",
            ),
        ] {
            let dir = if why == "four" { "q" } else { "p" };
            assert_eq!(lift(&denies, dir), Lift::NoFlag, "{why}");
        }
        let _ = std::fs::remove_dir_all(&t);
    }

    /// Red team 18: a carve-out that denies reading is named, not offered as flags (a write
    /// beside it, the command's choice, must not steer the user into exposing it); a
    /// carve-out nested in one of another group is not lifted unnamed; the groups are named
    /// once each; a grant the access needs comes first among the flags.
    #[test]
    fn a_spine_lift_names_secrets_and_the_grant_it_needs() {
        let t = Scratch::new(&format!("nono-report-lift18-{}", std::process::id()));
        for d in ["p/dot/ssh", "p/a/bin/in", "p/b/bin", "p/c/bin"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        let g = |n: &str| Origin::Group(n.into());
        let lift = |denies: &[(&str, Origin, DenyKind)]| {
            let mut caps = nono_sandbox::CapabilitySet::new();
            for (p, o, kind) in denies {
                caps.deny_kind(t.join(p), o.clone(), *kind).unwrap();
            }
            spine_lift(&caps, &t.join("p"))
        };
        let secret = lift(&[
            ("p/dot/ssh", g("credentials"), DenyKind::All),
            ("p/a/bin", g("autorun"), DenyKind::Write),
        ]);
        let Lift::Exposes(paths) = &secret else {
            panic!("{secret:?}");
        };
        assert_eq!(paths.len(), 2);
        let text = lift_clause_with(&secret, Some("--write /p"));
        assert!(!text.contains("--read"), "{text}");
        assert!(!text.contains("--write"), "{text}");
        assert!(text.contains("could then read"), "{text}");
        assert!(text.contains("`autorun`, `credentials`"), "{text}");
        assert_eq!(
            lift(&[
                ("p/a/bin", g("autorun"), DenyKind::Write),
                ("p/a/bin/in", g("keyrings"), DenyKind::Write),
            ]),
            Lift::NoFlag
        );
        let three = lift(&[
            ("p/a/bin", g("autorun"), DenyKind::Write),
            ("p/b/bin", g("autorun"), DenyKind::Write),
            ("p/c/bin", g("autorun"), DenyKind::Write),
        ]);
        let text = lift_clause_with(&three, Some("--write /p"));
        assert!(
            text.contains("deny group `autorun` then follows your grant): --write /p --read "),
            "{text}"
        );
        assert!(
            text.starts_with("; to grant it and lift the carve-outs"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn a_suggestion_a_carve_out_would_block_is_not_printed() {
        let t = Scratch::new(&format!("nono-report-spine-{}", std::process::id()));
        std::fs::create_dir_all(t.join("g/secret")).unwrap();
        let mut caps = nono_sandbox::CapabilitySet::new();
        caps.deny(t.join("g/secret"), Origin::Group("credentials".into()))
            .unwrap();
        // Creating g/new: `--write g` would be expanded around g/secret, so no flag helps.
        let new = Denied {
            on_parent: true,
            makes_dir: false,
            ..d(
                &t.join("g/new").display().to_string(),
                AccessMode::Write,
                OnDisk::Missing,
            )
        };
        let model = nono_sandbox::Model::new(&caps);
        assert!(matches!(
            blocked_suggestion(&caps, &model, &new),
            Some(Protected::Spine { .. })
        ));
        // Listing g: `--read g` works under run (the supervisor lists spines).
        let list = d(
            &t.join("g").display().to_string(),
            AccessMode::Read,
            OnDisk::Dir,
        );
        assert_eq!(blocked_suggestion(&caps, &model, &list), None);
        let _ = std::fs::remove_dir_all(&t);
    }

    /// Red team 29: a path refused by the name it has on the user's own paths (reached by
    /// another name: the home bind-mounted at `W/h`, the entry made during the run) is
    /// reported with that name and no flag: a `--bypass-protection` of `W/h/…` lifts no
    /// entry, and by its own name the deny group's usual line applies.
    #[test]
    fn redteam29_a_path_refused_by_its_own_name_elsewhere_gets_no_flag() {
        let own = "/nonexistent-rt29/home/.gemini/settings.json";
        let mut other = d(
            "/nonexistent-rt29/w/h/.gemini/settings.json",
            AccessMode::Write,
            OnDisk::Missing,
        )
        .with_call(sc(Syscall::OpenAt), false);
        other.protected = Some(Protected::OtherName {
            own: own.into(),
            group: "autorun".into(),
        });
        let l = line(&other);
        assert!(
            l.starts_with("nono: denied write of /nonexistent-rt29/w/h/.gemini/settings.json"),
            "{l}"
        );
        assert!(
            l.contains(&format!(
                "it is {own} reached by another name, which deny group `autorun` protects → no flag grants it under this name; use it by its own path, {own},"
            )),
            "{l}"
        );
        assert!(!l.contains("--bypass-protection"), "{l}");
    }

    /// Red team 26: the report asks the deny groups about each denied path at exit; where
    /// the identity walk cannot see the path's directory (here a loop of symlinks, `ELOOP`;
    /// for an unprivileged nono a directory it may not search) the answer was "nothing", and
    /// a flag was suggested for a path that might lead into a protected one by another name.
    /// Now no flag is suggested, and the line says why. A directory that is gone is nothing
    /// to lead anywhere: the suggestion stands. A refusal because the walk could not see the
    /// directory when nono acted says so, with no flag.
    #[test]
    fn redteam26_a_path_the_walk_cannot_see_gets_no_flag() {
        use nono_supervisor::deny_groups::DenySet;
        let t = Scratch::new(&format!("nono-report-unseen-{}", std::process::id()));
        std::fs::create_dir_all(t.join("home/.ssh")).unwrap();
        std::fs::create_dir_all(t.join("w")).unwrap();
        std::os::unix::fs::symlink(t.join("w/loop"), t.join("w/loop")).unwrap();
        let mut deny = DenySet::new();
        deny.add(&t.join("home/.ssh"), "credentials").unwrap();
        let caps = nono_sandbox::CapabilitySet::new();
        let model = nono_sandbox::Model::new(&caps);
        let looped = t.join("w/loop/f");
        let out = describe(&caps, &model, &deny, &looped, AccessMode::Write);
        assert!(
            matches!(out.protected, Some(Protected::Unchecked(Unseen::Other(_)))),
            "{out:?}"
        );
        let l = line(&out);
        assert!(
            l.contains("→ no flag suggested: nono could not read its directory ("),
            "{l}"
        );
        assert!(!l.contains("add --"), "{l}");
        // Gone: nothing there, the suggestion as before.
        let gone = describe(&caps, &model, &deny, &t.join("w/gone/f"), AccessMode::Write);
        assert_eq!(gone.protected, None);
        // Protected by name, whatever the walk saw.
        let key = describe(
            &caps,
            &model,
            &deny,
            &t.join("home/.ssh/k"),
            AccessMode::Read,
        );
        assert!(
            matches!(key.protected, Some(Protected::Group { .. })),
            "{key:?}"
        );
        // Refused when nono acted: the line says what happened, with no flag.
        for (why, says) in [
            (
                Unseen::Gone,
                "its directory was gone (renamed or removed) when nono checked",
            ),
            (
                Unseen::Unsearchable,
                "nono may not search its directory (permission denied) when",
            ),
        ] {
            let mut u = d("/w/b/m/key", AccessMode::Write, OnDisk::Missing);
            u.protected = Some(Protected::Unread(why));
            let l = line(&u);
            assert!(l.contains(&format!("→ no flag grants it: {says}")), "{l}");
            assert!(!l.contains("add --"), "{l}");
        }
        let _ = std::fs::remove_dir_all(&t);
    }
}

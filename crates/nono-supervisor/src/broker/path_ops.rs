//! The path-operation reporter: `mkdir`, `unlink`, `rmdir`, `rename`, `link`, `symlink`,
//! `mknod`, `truncate` and `execve` (and their `*at` forms) of a supervised child, trapped only
//! so that the ones Landlock refuses appear in the denial report.
//!
//! # Why and how
//! Landlock refuses these outside the grants with no trace; only opens were trapped, so a
//! failed `mkdir /usr/x` or an `exec` of a binary outside the grants was never reported. Every
//! call here is answered `CONTINUE` — Landlock alone decides, so the answer can never widen
//! access — and the supervisor decides only whether to *record* a [`Denial`]:
//! 1. read the path(s) from the child's memory (`NOTIF_ID_VALID` after each read) and make
//!    them absolute (thread's cwd or dirfd, also before answering: both can change after; a
//!    path through the child's own `/proc` entries — `/dev/fd/N/x`, `/proc/self/fd/N/x`,
//!    `/proc/self/cwd/x` — is `x` relative to that fd or cwd: `self` read by the supervisor
//!    would be the supervisor);
//! 2. answer `CONTINUE` at once: the checks below are off the child's critical path;
//! 3. check the grants with the open path's fast matcher (lexical path), then the capability
//!    model on the canonical path (a symlink may lead inside), and record what is outside:
//!    - creating or removing a directory entry (`mkdir`, `mknod`, `symlink`, `link`'s new
//!      name, `unlink`, `rmdir`, both names of a `rename`) needs **write on the parent
//!      directory** (Landlock's `MAKE_*`/`REMOVE_*`/`REFER` are directory rights: a file
//!      grant never lets its file be removed); `link` across directories also needs it on the
//!      source's parent (`REFER`);
//!    - `truncate` needs write on the file, `execve` read (`EXECUTE` comes with read).
//!
//! Not recorded, because the kernel fails them before Landlock is asked: creating a name that
//! exists (`EEXIST`), removing, truncating or executing one that does not (`ENOENT`). One such
//! name fails the whole call first: a `rename` or `link` of a missing source records nothing
//! for its new name either, and teaches `nono learn` nothing.
//!
//! # Limits
//! - `execveat(fd, "", AT_EMPTY_PATH)` (`fexecve`) and paths relative to a deleted directory
//!   or a non-directory fd are not resolved: answered `CONTINUE`, not recorded.
//! - The check is the capability model's (the static grants), like the open path's fast path.
//!
//! # Runtime grants of path operations
//! With a policy engine (`--approve`, a profile's `supervisor.approve`, the prompt), a
//! `mkdir`, `unlink`/`rmdir`, `rename`, `symlink` or `link` outside the static grants is not
//! left to Landlock: each name outside them is a [`RuntimeRequest`] for write access (the
//! same decision as an open for writing there: deny groups first, session grants, approve
//! rules, then the backend), decided on a worker. Granted, the supervisor performs the call
//! itself **as the child** (`as_child.rs`) on the canonical parent directories, opened
//! `O_PATH` with `RESOLVE_NO_SYMLINKS` (a parent swapped for a symlink after the decision is
//! refused, not followed), and answers the call's result; a link's source is also checked
//! by inode against the deny entries (`Engine::refuse_opened`). Refused, the call fails with
//! `EACCES` and a [`Denial`] carrying the engine's reason. So an approved directory covers
//! what a `--write` grant would (metadata changes too: `metadata.rs`), except `execve` (the
//! kernel execs only what Landlock allows, and the supervisor cannot exec for the child: the
//! refusal is reported with `--read DIR`) and `truncate`/`mknod`, which stay reported.
//! `linkat` with `AT_EMPTY_PATH` or `AT_SYMLINK_FOLLOW` is not performed (Landlock decides).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nono_sandbox::linux::seccomp::{procmem, Notification, NotifyFd, Syscall};
use nono_sandbox::paths::realpath_without_magic_links;
use nono_sandbox::AccessMode;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;

use super::as_child::ActingAsChild;
use super::run_state::{Call, Denial, MakesEntry, MovesEntry, Refused, Shared};
use super::{open_parent, Context, StaticGrants, PATH_MAX};
use crate::policy::{Decision, GroupRefusal, RequestSource, RuntimeRequest};
use nono_policy::walked::{Ident, Opened, Unseen, Walked};

/// The syscalls this module reports on.
pub(crate) const SYSCALLS: &[Syscall] = &[
    Syscall::Mkdir,
    Syscall::MkdirAt,
    Syscall::Unlink,
    Syscall::UnlinkAt,
    Syscall::Rmdir,
    Syscall::Rename,
    Syscall::RenameAt,
    Syscall::RenameAt2,
    Syscall::Link,
    Syscall::LinkAt,
    Syscall::Symlink,
    Syscall::SymlinkAt,
    Syscall::Mknod,
    Syscall::MknodAt,
    Syscall::Truncate,
    Syscall::Execve,
    Syscall::ExecveAt,
];

/// Whether `s` is handled here.
pub(crate) fn traps(s: Syscall) -> bool {
    SYSCALLS.contains(&s)
}

impl Denial {
    /// Whether the access was needed on the path's *parent* directory: the call created,
    /// removed or renamed a directory entry (`mkdir`, `unlink`, `rename`, `link`, ...), and
    /// Landlock's rights for that belong to the directory — a grant of the file itself would
    /// not help; a write grant on the parent would.
    #[must_use]
    pub fn on_parent(&self) -> bool {
        SYSCALLS
            .iter()
            .filter(|s| {
                path_args(**s, &[0; 6])
                    .iter()
                    .all(|(_, _, need)| !matches!(need, Need::WriteFile | Need::Exec))
            })
            .any(|s| Call::Syscall(*s) == self.call)
    }
}

/// What a named path needs from the grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A new directory entry: write on the parent; nothing to record if the name exists.
    Create,
    /// Removing an entry: write on the parent; nothing to record if it does not exist.
    Remove,
    /// A rename's destination: write on the parent, whether or not the name exists.
    Replace,
    /// A cross-directory link's source: write (`REFER`) on its parent.
    LinkSource,
    /// Write on the file itself (`truncate`).
    WriteFile,
    /// Execute — read — on the file itself (`execve`).
    Exec,
}

/// One path argument: `(dirfd, pointer to the path, what it needs)`.
type Arg = (i32, u64, Need);

/// The path arguments of a trapped call (at most two).
fn path_args(s: Syscall, a: &[u64; 6]) -> Vec<Arg> {
    let cwd = libc::AT_FDCWD;
    let fd = |v: u64| v as i32;
    match s {
        Syscall::Mkdir | Syscall::Mknod => vec![(cwd, a[0], Need::Create)],
        Syscall::MkdirAt | Syscall::MknodAt => vec![(fd(a[0]), a[1], Need::Create)],
        Syscall::Unlink | Syscall::Rmdir => vec![(cwd, a[0], Need::Remove)],
        Syscall::UnlinkAt => vec![(fd(a[0]), a[1], Need::Remove)],
        Syscall::Rename => vec![(cwd, a[0], Need::Remove), (cwd, a[1], Need::Replace)],
        Syscall::RenameAt | Syscall::RenameAt2 => vec![
            (fd(a[0]), a[1], Need::Remove),
            (fd(a[2]), a[3], Need::Replace),
        ],
        Syscall::Link => vec![(cwd, a[1], Need::Create), (cwd, a[0], Need::LinkSource)],
        Syscall::LinkAt => vec![
            (fd(a[2]), a[3], Need::Create),
            (fd(a[0]), a[1], Need::LinkSource),
        ],
        Syscall::Symlink => vec![(cwd, a[1], Need::Create)],
        Syscall::SymlinkAt => vec![(fd(a[1]), a[2], Need::Create)],
        Syscall::Truncate => vec![(cwd, a[0], Need::WriteFile)],
        Syscall::Execve => vec![(cwd, a[0], Need::Exec)],
        Syscall::ExecveAt => vec![(fd(a[0]), a[1], Need::Exec)],
        _ => Vec::new(),
    }
}

/// Handle one trapped call: resolve its paths, answer `CONTINUE`, then record what Landlock
/// will have refused.
pub(crate) fn handle(
    notify: &Arc<NotifyFd>,
    caps: &Arc<StaticGrants>,
    shared: &Arc<Shared>,
    ctx: &Context,
    n: &Notification,
    syscall: Syscall,
) {
    let mut paths: Vec<(PathBuf, Need)> = Vec::with_capacity(2);
    // Every name is where the kernel's lookup ends (see `resolve`): only then may the
    // supervisor perform the call.
    let mut exact = true;
    for (dirfd, ptr, need) in path_args(syscall, &n.args) {
        match resolve(notify, &caps.creds, n, dirfd, ptr) {
            Some(Named::Exact(p)) => paths.push((p, need)),
            Some(Named::Lexical(p)) => {
                exact = false;
                paths.push((p, need));
            }
            None if notify.id_valid(n.id) => {}
            // The call is gone (interrupted, thread killed): nothing to answer or record.
            None => return,
        }
    }
    if shared.learner.is_none() && exact {
        if let Some(engine) = &ctx.engine {
            if let Some(op) = brokerable(notify, caps, n, syscall, &paths) {
                let (notify, shared, engine) = (notify.clone(), shared.clone(), engine.clone());
                let (cancel, sandbox, n) = (ctx.cancel.clone(), caps.creds.clone(), *n);
                // The engine may ask a person: the lane of requests that may wait.
                ctx.workers.submit(
                    super::Lane::Ask,
                    Box::new(move || {
                        super::answer_on_panic(&notify, n.id, || {
                            grant(
                                &notify, &engine, &cancel, &shared, &sandbox, &n, syscall, &op,
                            );
                        });
                    }),
                );
                return;
            }
        }
    }
    // Learning: whether each name exists must be known before the call runs (after it, a
    // `mkdir` that succeeded and one that failed with `EEXIST` look alike).
    let existed: Vec<bool> = if shared.learner.is_some() {
        paths
            .iter()
            .map(|(p, _)| std::fs::symlink_metadata(p).is_ok())
            .collect()
    } else {
        Vec::new()
    };
    let _ = notify.respond_continue(n.id);
    // The link's new name decides whether its source needs REFER.
    let new_parent = paths
        .iter()
        .find(|(_, need)| *need == Need::Create)
        .and_then(|(p, _)| p.parent().map(Path::to_path_buf));
    let mut refused = Vec::with_capacity(2);
    let mut allowed = Vec::with_capacity(2);
    // Judged as the command's lookup goes where its credentials can be had without the
    // (answered) notification — always, unless it kept capabilities: a name it cannot reach
    // (another user's 0700 directory on the way) was refused by the kernel's own permission
    // check, which no flag changes, and is not reported. Otherwise as before.
    let judge = || -> Vec<Option<(PathBuf, AccessMode)>> {
        paths
            .iter()
            .map(|(path, need)| outside(caps, path, *need))
            .collect()
    };
    // Names the static grants cover by their spelling are judged without a look at the file
    // system (nearly every call: a build's `rename`s and `unlink`s): no switch for them.
    let verdicts = if paths
        .iter()
        .all(|(path, need)| spelled_inside(caps, path, *need))
    {
        vec![None; paths.len()]
    } else {
        super::as_the_child(&caps.creds, notify, n, || Some(judge())).unwrap_or_else(judge)
    };
    for (i, ((path, need), verdict)) in paths.iter().zip(verdicts).enumerate() {
        if *need == Need::LinkSource && path.parent() == new_parent.as_deref() {
            continue;
        }
        match verdict {
            Some(denied) => refused.push(denied),
            None => allowed.push((i, path, *need)),
        }
    }
    // One name the kernel fails first fails the whole call before Landlock is asked: a
    // `rename` or `link` of a missing source reports nothing for its new name (the answer was
    // `ENOENT`, and the flag the report would name changes nothing). Looked at only when
    // something would be reported, after `CONTINUE`, like `outside`'s own `lstat`.
    if !refused.is_empty() && paths.iter().any(|(p, need)| fails_first(p, *need)) {
        refused.clear();
        allowed.clear();
    }
    // A `..` the supervisor could not resolve as the command's lookup (see `resolve`): the
    // lexical name is not where the kernel went, and a flag for it would change nothing
    // (red team 24: `locked/link/../x` named `--write locked`, refused by DAC).
    if !exact {
        refused.clear();
    }
    for (denied, access) in &refused {
        shared.deny(Denial {
            what: Refused::Path(denied.clone()),
            access: *access,
            pid: n.pid,
            call: Call::Syscall(syscall),
            reason: "outside the sandbox".to_owned(),
        });
    }
    // Learning: only a call the kernel let through (one refused name fails the whole call),
    // and not one it failed first for another name (`existed`, seen before the call).
    let failed_first = paths
        .iter()
        .zip(&existed)
        .any(|((_, need), existed)| fails_first_if(*need, *existed));
    if let (Some(learner), true, false) = (&shared.learner, refused.is_empty(), failed_first) {
        for (i, path, need) in allowed {
            learn(learner, path, need, existed.get(i).copied().unwrap_or(true));
        }
    }
}

/// Learning: record what `need` needed of `path`, unless the kernel fails the call before
/// any permission check (`EEXIST` for a name that existed, `ENOENT` for one that did not).
fn learn(learner: &super::learner::Learner, path: &Path, need: Need, existed: bool) {
    match need {
        Need::Create if existed => {}
        Need::Remove | Need::LinkSource if !existed => {}
        Need::Exec | Need::WriteFile if !existed => {}
        Need::Exec => learner.path(path, AccessMode::Read, false),
        Need::WriteFile => learner.path(path, AccessMode::Write, false),
        Need::Create | Need::Remove | Need::Replace | Need::LinkSource => {
            if let Some(parent) = path.parent() {
                learner.path(parent, AccessMode::Write, true);
            }
        }
    }
}

/// A path operation the supervisor may perform for the child.
#[derive(Debug)]
struct Op {
    /// Every name the call touches: its canonical spelling (canonical parent + name), what
    /// it needs, and whether the static grants lack it (then the engine is asked).
    names: Vec<(PathBuf, Need, bool)>,
    kind: OpKind,
}

#[derive(Debug)]
enum OpKind {
    Mkdir(Mode),
    Unlink(AtFlags),
    Rename(RenameFlags),
    Symlink(Vec<u8>),
    Link,
}

/// The operation, when the call is one the supervisor can perform and at least one of its
/// names lies outside the static grants. Read everything from the child now (the symlink's
/// target), before the call could change.
fn brokerable(
    notify: &NotifyFd,
    caps: &StaticGrants,
    n: &Notification,
    syscall: Syscall,
    paths: &[(PathBuf, Need)],
) -> Option<Op> {
    let a = &n.args;
    let kind = match syscall {
        Syscall::Mkdir => OpKind::Mkdir(Mode::from_bits_truncate(a[1] as u32)),
        Syscall::MkdirAt => OpKind::Mkdir(Mode::from_bits_truncate(a[2] as u32)),
        Syscall::Unlink => OpKind::Unlink(AtFlags::empty()),
        Syscall::Rmdir => OpKind::Unlink(AtFlags::REMOVEDIR),
        // Unknown flags: the kernel's EINVAL, after Landlock.
        Syscall::UnlinkAt if a[2] as u32 & !AtFlags::REMOVEDIR.bits() == 0 => {
            OpKind::Unlink(AtFlags::from_bits_retain(a[2] as u32))
        }
        Syscall::Rename => OpKind::Rename(RenameFlags::empty()),
        Syscall::RenameAt => OpKind::Rename(RenameFlags::empty()),
        Syscall::RenameAt2 => OpKind::Rename(RenameFlags::from_bits(a[4] as u32)?),
        Syscall::Symlink | Syscall::SymlinkAt => {
            let target = procmem::read_cstr_bytes(n.pid, a[0], PATH_MAX).ok()?;
            if !notify.id_valid(n.id) {
                return None;
            }
            OpKind::Symlink(target)
        }
        Syscall::Link => OpKind::Link,
        Syscall::LinkAt if a[4] == 0 => OpKind::Link,
        _ => return None,
    };
    // Both names must have been resolved.
    if paths.len() != path_args(syscall, a).len() {
        return None;
    }
    // A call the kernel fails before Landlock is asked — creating a name that exists
    // (`EEXIST`), removing or linking one that does not (`ENOENT`) — is left to the kernel:
    // decided by the engine, a refusal was answered `EACCES` in its place, so `mkdir -p`
    // style code that takes `EEXIST` for "already there" failed (Node's
    // `mkdirSync(dir, {recursive: true})` on an existing directory outside the grants, as
    // Claude Code does for the home), `rm -f` of a missing name outside complained, and
    // with the prompt a person was asked about a call that could not do anything.
    // `CONTINUE` gives the kernel's own answer; a name made or removed meanwhile is then
    // Landlock's to refuse, as without a supervisor.
    if paths.iter().any(|(path, need)| fails_first(path, *need)) {
        return None;
    }
    // Each parent with its symlinks followed as the command's lookup follows them: with its
    // search permission (a root supervisor's own would make `locked/link/new`, `link` →
    // `pub/sub` in another user's 0700 `locked`, at `pub/sub/new` for a command the kernel
    // refuses), never through a magic link. `None` (the kernel decides) otherwise.
    let parents: Vec<PathBuf> = super::as_the_child(&caps.creds, notify, n, || {
        paths
            .iter()
            .map(|(path, _)| realpath_without_magic_links(path.parent()?).ok())
            .collect()
    })?;
    let mut names = Vec::with_capacity(paths.len());
    let mut any_outside = false;
    for ((path, need), canonical_parent) in paths.iter().zip(parents) {
        let name = path.file_name()?;
        let canonical = canonical_parent.join(name);
        // Judged where the call would really act: the parent with its symlinks followed (the
        // supervisor performs the call there). The spelling is not enough: a name written
        // under a granted directory through a symlink (`proj/s/id_rsa` with `proj/s` →
        // `~/.ssh`) lies wherever the link leads, and must go to the engine (deny groups
        // first) like any name outside the grants. The model's verdict includes the deny
        // carve-outs, so a protected parent is outside too.
        let outside = !caps.allows_canonical(&canonical_parent, AccessMode::Write);
        any_outside |= outside;
        names.push((canonical, *need, outside));
    }
    any_outside.then_some(Op { names, kind })
}

/// Whether the kernel fails a call that needs `need` of `path` before any permission check:
/// a new name that exists, or a name to remove or link that does not. (`lstat` by the
/// supervisor: where the child sees otherwise, `CONTINUE` still gives the child's own
/// answer.)
fn fails_first(path: &Path, need: Need) -> bool {
    match need {
        Need::Create | Need::Remove | Need::LinkSource => {
            fails_first_if(need, std::fs::symlink_metadata(path).is_ok())
        }
        Need::Replace | Need::WriteFile | Need::Exec => false,
    }
}

/// [`fails_first`] for a name whose existence is known.
fn fails_first_if(need: Need, exists: bool) -> bool {
    match need {
        Need::Create => exists,
        Need::Remove | Need::LinkSource => !exists,
        Need::Replace | Need::WriteFile | Need::Exec => false,
    }
}

/// On a worker: ask the engine for every name outside the static grants; all granted →
/// perform the call as the child and answer its result; otherwise `EACCES` and a denial.
#[allow(clippy::too_many_arguments)]
fn grant(
    notify: &NotifyFd,
    engine: &crate::policy::Engine,
    cancel: &crate::cancel::CancelToken,
    shared: &Shared,
    sandbox: &super::as_child::SandboxCreds,
    n: &Notification,
    syscall: Syscall,
    op: &Op,
) {
    if !notify.id_valid(n.id) {
        return;
    }
    let deny = |path: &Path, reason: String, by_group: Option<GroupRefusal>| {
        let path = path.to_path_buf();
        shared.deny(Denial {
            what: match by_group {
                Some(refusal) => Refused::DenyEntry {
                    path,
                    refusal: Box::new(refusal),
                },
                None => Refused::Path(path),
            },
            access: AccessMode::Write,
            pid: n.pid,
            call: Call::Syscall(syscall),
            reason,
        });
        let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
    };
    let request = |path: &Path| RuntimeRequest {
        path: path.to_path_buf(),
        access: AccessMode::Write,
        pid: n.pid,
        reason: None,
        source: RequestSource::Trap,
    };
    // A rename (either name) or a symlink at a name above a deny entry changes what the entry
    // names without touching it: `~/.claude` renamed away and a directory holding another
    // `settings.json` renamed in its place, or a symlink to a directory of the child's own
    // put there (red team 22). Refused before anyone is asked, names inside the static grants
    // too (the supervisor performs the whole call). `mkdir` makes an empty directory whose
    // entries are then decided by name; a hard link's new name is never a directory.
    if matches!(op.kind, OpKind::Rename(_) | OpKind::Symlink(_)) {
        for (path, need, _) in &op.names {
            if matches!(op.kind, OpKind::Symlink(_)) && *need != Need::Create {
                continue;
            }
            // `mv` tries `RENAME_NOREPLACE` onto a directory before moving into it: a call the
            // kernel fails first (`EEXIST`, before Landlock is asked), so it gets the kernel's
            // answer, as `fails_first` calls do — not a refusal. Should the name be gone by
            // then, Landlock refuses the call the supervisor did not perform.
            if let OpKind::Rename(flags) = op.kind {
                if *need == Need::Replace
                    && flags.contains(RenameFlags::NOREPLACE)
                    && std::fs::symlink_metadata(path).is_ok()
                {
                    let _ = notify.respond_continue(n.id);
                    return;
                }
            }
            if let Some((entry, reason, refusal)) = engine.refuse_moving(&request(path)) {
                shared.deny(Denial {
                    what: Refused::MovesEntry(Box::new(MovesEntry {
                        path: entry,
                        moved: path.clone(),
                        refusal,
                    })),
                    access: AccessMode::Write,
                    pid: n.pid,
                    call: Call::Syscall(syscall),
                    reason,
                });
                let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
                return;
            }
        }
    }
    // A link a deny group keeps in place, removed or renamed (either name): the entry it
    // leads to would be re-pointed by whatever is put at its name (red team 27). Judged on
    // the name, which a rename's or an unlink's judgement below does not look at (it follows
    // the link).
    if matches!(op.kind, OpKind::Rename(_) | OpKind::Unlink(_)) {
        for (path, need, _) in &op.names {
            if !matches!(need, Need::Remove | Need::Replace) {
                continue;
            }
            // Reported as a refused path: the report then names the link kept in place (no
            // flag lifts it), not a `--bypass-protection` that follows the link.
            if let Some((link, reason, _)) = engine.refuse_unkeeping(&request(path)) {
                return deny(&link, reason, None);
            }
        }
    }
    // What the deny groups' walk saw of each name decided here: the directory the call is
    // then made in must be the one walked (red team 23).
    let mut walked = vec![Walked::Unneeded; op.names.len()];
    // The names each name has on the user's own paths, reached by another name (red team
    // 29): judged by name in the act's identity checks too.
    let mut own: Vec<Vec<PathBuf>> = vec![Vec::new(); op.names.len()];
    for (i, (path, _, outside)) in op.names.iter().enumerate() {
        if !outside {
            continue;
        }
        let req = request(path);
        let decision = match engine.triage(&req) {
            Some(t) => {
                walked[i] = t.walked();
                own[i] = t.own_paths().to_vec();
                // The walk could not see the directory: the kernel's answer of that moment,
                // nobody asked, and a report line with no flag (red team 26).
                if let Err(errno) = walked[i].seen() {
                    let reason = super::unread_refusal(path, errno);
                    engine.refuse_granted(&req, &reason);
                    shared.deny(Denial {
                        what: Refused::Unread {
                            path: path.clone(),
                            why: Unseen::of(errno),
                        },
                        access: AccessMode::Write,
                        pid: n.pid,
                        call: Call::Syscall(syscall),
                        reason,
                    });
                    let _ = notify.respond_errno(n.id, errno.raw_os_error());
                    return;
                }
                engine.decide_triaged(&req, t, cancel)
            }
            None => engine.decide_until(&req, cancel),
        };
        match decision {
            Decision::Granted { .. } => {}
            Decision::Denied { reason, by_group } => return deny(path, reason, by_group),
            Decision::Timeout => return deny(path, "no decision in time".to_owned(), None),
        }
    }
    let creds = match sandbox.of_thread(notify, n) {
        Ok(c) => c,
        Err(errno) => {
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
            return;
        }
    };
    let umask = super::child_umask(n.pid);
    let result = creds.act().and_then(|as_child| {
        // A link makes a second name for its source: never for a file under a deny entry
        // (checked on the object, so another hard link to it is caught too).
        if let OpKind::Link = op.kind {
            if let Some((src, _, _)) = op
                .names
                .iter()
                .find(|(_, need, _)| *need == Need::LinkSource)
            {
                let (dir, name) = open_parent(&as_child, src)?;
                let fd = rustix::fs::openat2(
                    &dir,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                )?;
                if let Some(reason) = engine.refuse_opened(&request(src), &fd) {
                    return Ok(Err((Refused::HardLinkToProtected(src.clone()), reason)));
                }
            }
        }
        // A directory that is a deny entry or lies above one, by identity (red team 26): the
        // names `refuse_moving` compared say nothing of one reached by another name.
        let own_of = |path: &Path| -> &[PathBuf] {
            op.names
                .iter()
                .position(|(p, _, _)| p == path)
                .and_then(|i| own.get(i))
                .map_or(&[], Vec::as_slice)
        };
        let moving = |path: &Path, dev: u64, ino: u64, symlink: bool| {
            engine
                .refuse_moving_object(&request(path), dev, ino, symlink, own_of(path))
                .map(|(entry, reason, refusal)| {
                    let moved = path.to_path_buf();
                    let what = Refused::MovesEntry(Box::new(MovesEntry {
                        path: entry,
                        moved,
                        refusal,
                    }));
                    (what, reason)
                })
        };
        // A name that would make a missing deny entry, reached by another name (red team
        // 26): no walk meets an identity it does not have yet.
        let making = |path: &Path, dir: Ident| {
            engine
                .refuse_making(&request(path), dir.dev, dir.ino, own_of(path))
                .map(|(own, reason, refusal)| {
                    let path = path.to_path_buf();
                    let what = Refused::MakesEntry(Box::new(MakesEntry { path, own, refusal }));
                    (what, reason)
                })
        };
        perform(&as_child, op, &walked, umask, &moving, &making)
    });
    match result {
        Ok(Ok(())) => {
            let _ = notify.respond_value(n.id, 0);
        }
        Ok(Err((Refused::Moved(path), reason))) => {
            engine.refuse_granted(&request(&path), &reason);
            shared.deny(Denial {
                what: Refused::Moved(path),
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Ok(Err((what, reason))) => {
            shared.deny(Denial {
                what,
                access: AccessMode::Write,
                pid: n.pid,
                call: Call::Syscall(syscall),
                reason,
            });
            let _ = notify.respond_errno(n.id, Errno::ACCESS.raw_os_error());
        }
        Err(errno) if errno == Errno::XDEV || errno == Errno::LOOP => {
            let path = op
                .names
                .first()
                .map(|(p, _, _)| p.clone())
                .unwrap_or_default();
            deny(
                &path,
                "the approved directory changed into a symlink before the call".to_owned(),
                None,
            );
        }
        Err(errno) => {
            let _ = notify.respond_errno(n.id, errno.raw_os_error());
        }
    }
}

/// A refusal of a path operation: what was refused, and why.
type Moved = (Refused, String);

/// Perform `op` as the child, on its canonical parents. The mode of a new directory is the
/// child's, masked with its umask (the kernel also applies the supervisor's).
///
/// `walked[i]`: what the deny groups' walk saw of name `i` (see `nono_policy::walked`). A
/// name's parent, opened as the child, must be the directory the walk saw: `Ok(Err(..))`
/// (refused, [`Refused::Moved`]) when it is not; the walk's own errno when it could not see
/// it (the directory gone or not searchable: what the kernel answered then). One `statx` of
/// each such parent.
///
/// `moving(path, dev, ino, symlink)`: the refusal, if any, of moving the object `(st_dev, st_ino)` at
/// the name `path` — a deny entry or a directory above one, by identity (red team 26). Asked
/// of both names of a rename, on what is at the name in the parent just opened: one `statx`
/// per name.
///
/// `making(path, dir)`: the refusal, if any, of making the name `path` in the directory
/// `dir` — a missing deny entry's name reached by another name (red team 26). Asked of every
/// new name (a rename's destination too) on the parent just opened, whose `statx` the
/// comparison with the walk makes anyway.
fn perform(
    as_child: &ActingAsChild,
    op: &Op,
    walked: &[Walked],
    umask: Mode,
    moving: &dyn Fn(&Path, u64, u64, bool) -> Option<Moved>,
    making: &dyn Fn(&Path, Ident) -> Option<Moved>,
) -> Result<Result<(), Moved>, Errno> {
    let parent = |i: usize| -> Result<Result<(OwnedFd, &Path), Moved>, Errno> {
        let (path, need) = op
            .names
            .get(i)
            .map(|(p, need, _)| (p.as_path(), *need))
            .ok_or(Errno::INVAL)?;
        let walked = walked.get(i).copied().unwrap_or(Walked::Unneeded);
        walked.seen()?;
        let (dir, name) = open_parent(as_child, path)?;
        let makes = matches!(need, Need::Create | Need::Replace);
        if walked != Walked::Unneeded || makes {
            let id = Opened::of_fd(&dir)?.id;
            if !walked.admits_dir(id) {
                let what = path.parent().unwrap_or(path);
                return Ok(Err((
                    Refused::Moved(path.to_path_buf()),
                    super::moved_refusal(what),
                )));
            }
            if let Some(refused) = makes.then(|| making(path, id)).flatten() {
                return Ok(Err(refused));
            }
        }
        Ok(Ok((dir, name)))
    };
    macro_rules! parent {
        ($i:expr) => {
            match parent($i)? {
                Ok(p) => p,
                Err(refused) => return Ok(Err(refused)),
            }
        };
    }
    // What is at name `i` now (not followed): refused when it is a deny entry or above one.
    // A missing name moves nothing (the call then fails or makes it).
    let unmoved = |dir: &OwnedFd, name: &Path, i: usize| -> Result<Result<(), Moved>, Errno> {
        let want = StatxFlags::INO | StatxFlags::TYPE;
        let st = match rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, want) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(Ok(())),
            Err(e) => return Err(e),
        };
        let dev = rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor);
        let path = op.names.get(i).map_or(name, |(p, _, _)| p.as_path());
        let symlink = rustix::fs::FileType::from_raw_mode(u32::from(st.stx_mode))
            == rustix::fs::FileType::Symlink;
        Ok(moving(path, dev, st.stx_ino, symlink).map_or(Ok(()), Err))
    };
    macro_rules! unmoved {
        ($dir:expr, $name:expr, $i:expr) => {
            if let Err(refused) = unmoved($dir, $name, $i)? {
                return Ok(Err(refused));
            }
        };
    }
    let done = match &op.kind {
        OpKind::Mkdir(mode) => {
            let (dir, n) = parent!(0);
            rustix::fs::mkdirat(&dir, n, *mode & !umask)
        }
        OpKind::Unlink(flags) => {
            // Asked of `moving` whatever is at the name: a link kept in place, removed by
            // another name, could be made again leading elsewhere (red team 27; the walk
            // follows it, so it never sees it). A directory too (red team 28): an empty one
            // can be kept in place (a directory passed on the way to a `..` in an entry's
            // chain, red team 27 row 2), or be the deepest existing directory above a
            // missing entry; removed and made again it has a new identity, which neither
            // `object_beneath` nor `missing_made_by` knows (they are read once per run; the
            // name's own paths, red team 29, are judged by name with it).
            // Removed by its own name (`rmdir ~/.gemini`, empty, above the missing
            // `~/.gemini/settings.json`), a directory is left to the checks by name, which
            // judge what is made there again by that name (red team 22 removes it); a kept
            // link's own name was refused above (`refuse_unkeeping`).
            let (dir, n) = parent!(0);
            if let Err(refused) = unmoved(&dir, n, 0)? {
                let own_name = match (&refused.0, op.names.first()) {
                    (Refused::MovesEntry(m), Some((path, _, _))) => m.path.starts_with(path),
                    _ => false,
                };
                if !(flags.contains(AtFlags::REMOVEDIR) && own_name) {
                    return Ok(Err(refused));
                }
            }
            rustix::fs::unlinkat(&dir, n, *flags)
        }
        OpKind::Symlink(target) => {
            let (dir, n) = parent!(0);
            rustix::fs::symlinkat(target.as_slice(), &dir, n)
        }
        // path_args order: the old name first, then the new one.
        OpKind::Rename(flags) => {
            let (old_dir, old) = parent!(0);
            let (new_dir, new) = parent!(1);
            unmoved!(&old_dir, old, 0);
            unmoved!(&new_dir, new, 1);
            rustix::fs::renameat_with(&old_dir, old, &new_dir, new, *flags)
        }
        // path_args order: the new name first, then the source.
        OpKind::Link => {
            let (new_dir, new) = parent!(0);
            let (old_dir, old) = parent!(1);
            rustix::fs::linkat(&old_dir, old, &new_dir, new, AtFlags::empty())
        }
    };
    done.map(Ok)
}

/// Read one path argument and make it absolute and lexically normal. `None` if it cannot be
/// (unreadable, empty, relative to something that is not a directory path).
///
/// A path through the child's own `/proc` entries (`/dev/fd/N/...`, `/proc/self/fd/N/...`,
/// `/proc/self/cwd/...`, and the `thread-self` forms) is the rest relative to that fd or cwd,
/// like the `*at` call's dirfd: read by the supervisor, `self` would be the supervisor (its
/// own fds, its own cwd), so the report named another directory, or none.
///
/// A `..` after a symlink is resolved as the kernel does (`/a/link/../x` with `link →
/// /a/sub/deep` names `/a/sub/x`; lexically it would be `/a/x`, another object for the
/// supervisor to act on). When that cannot be done (the directory does not resolve: the
/// kernel fails the call too) the lexical path is kept for the report only
/// ([`Named::Lexical`]): such a call is never performed by the supervisor.
fn resolve(
    notify: &NotifyFd,
    sandbox: &super::as_child::SandboxCreds,
    n: &Notification,
    dirfd: i32,
    ptr: u64,
) -> Option<Named> {
    let path = procmem::read_cstr_bytes(n.pid, ptr, PATH_MAX).ok()?;
    if !notify.id_valid(n.id) {
        return None;
    }
    let (dirfd, path) = match own_proc_base(&path) {
        Some((fd, rest)) => (fd, rest),
        None => (dirfd, path),
    };
    let p = super::absolute(notify, n, dirfd, &path)?;
    // With the thread's credentials: a root supervisor's own search permission is not the
    // command's (red team 24).
    Some(match super::as_the_child_resolves(sandbox, notify, n, &p) {
        Some(exact) => Named::Exact(exact),
        None => Named::Lexical(super::normalize(&p)),
    })
}

/// A path argument of a trapped call, made absolute (see [`resolve`]).
enum Named {
    /// Where the kernel's lookup ends (lexically normal; a `..` resolved physically).
    Exact(PathBuf),
    /// Lexically normal only: a `..` whose directory does not resolve. Reported, never acted on.
    Lexical(PathBuf),
}

/// For a path through the calling thread's own `/proc` entries, the directory it starts from
/// (an fd, or `AT_FDCWD` for `cwd`) and the (non-empty) rest; `None` for any other path.
fn own_proc_base(path: &[u8]) -> Option<(i32, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt as _;
    let names: Vec<&[u8]> = Path::new(std::ffi::OsStr::from_bytes(path))
        .components()
        .map(|c| c.as_os_str().as_bytes())
        .collect();
    let fd = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
    };
    let (base, rest) = match names.as_slice() {
        [b"/", b"dev", b"fd", n, rest @ ..] => (fd(n)?, rest),
        [b"/", b"proc", b"self" | b"thread-self", b"fd", n, rest @ ..] => (fd(n)?, rest),
        [b"/", b"proc", b"self" | b"thread-self", b"cwd", rest @ ..] => (libc::AT_FDCWD, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    Some((base, rest.join(&b'/')))
}

/// If `path` (absolute, lexically normal) is outside what `need` requires, the path to
/// report and the access that was needed.
fn outside(caps: &StaticGrants, path: &Path, need: Need) -> Option<(PathBuf, AccessMode)> {
    if spelled_inside(caps, path, need) {
        return None;
    }
    match need {
        Need::WriteFile | Need::Exec => {
            let access = if need == Need::Exec {
                AccessMode::Read
            } else {
                AccessMode::Write
            };
            // Missing: ENOENT before Landlock is asked.
            let canonical = realpath_without_magic_links(path).ok()?;
            (!caps.allows_canonical(&canonical, access)).then_some((canonical, access))
        }
        Need::Create | Need::Remove | Need::Replace | Need::LinkSource => {
            let (parent, name) = (path.parent()?, path.file_name()?);
            let exists = std::fs::symlink_metadata(path).is_ok();
            match need {
                Need::Create if exists => return None,
                Need::Remove | Need::LinkSource if !exists => return None,
                _ => {}
            }
            let parent = realpath_without_magic_links(parent).ok()?;
            (!caps.allows_canonical(&parent, AccessMode::Write))
                .then(|| (parent.join(name), AccessMode::Write))
        }
    }
}

/// Whether the static grants cover `path` for `need` by its spelling alone (no file system
/// look): then [`outside`] is `None` at once.
fn spelled_inside(caps: &StaticGrants, path: &Path, need: Need) -> bool {
    match need {
        Need::WriteFile => caps.fast_allows(path, AccessMode::Write),
        Need::Exec => caps.fast_allows(path, AccessMode::Read),
        Need::Create | Need::Remove | Need::Replace | Need::LinkSource => path
            .parent()
            .is_some_and(|parent| caps.fast_allows(parent, AccessMode::Write)),
    }
}

/// For tests: the path arguments' needs, by syscall.
#[cfg(test)]
fn needs(s: Syscall) -> Vec<Need> {
    path_args(s, &[0; 6])
        .into_iter()
        .map(|(_, _, n)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use nono_sandbox::CapabilitySet;

    #[test]
    fn paths_through_the_childs_own_proc_entries_start_from_its_fd_or_cwd() {
        let b = |p: &str| {
            own_proc_base(p.as_bytes()).map(|(fd, r)| (fd, String::from_utf8(r).unwrap()))
        };
        assert_eq!(b("/dev/fd/3/x"), Some((3, "x".to_owned())));
        assert_eq!(b("/dev//fd/./12/a/../b"), Some((12, "a/../b".to_owned())));
        assert_eq!(b("/proc/self/fd/4/y/z"), Some((4, "y/z".to_owned())));
        assert_eq!(b("/proc/thread-self/fd/5/y"), Some((5, "y".to_owned())));
        assert_eq!(
            b("/proc/self/cwd/new"),
            Some((libc::AT_FDCWD, "new".to_owned()))
        );
        // The fd itself, another process's entries, not a number, elsewhere: unchanged.
        assert_eq!(b("/dev/fd/3"), None);
        assert_eq!(b("/proc/1/fd/3/x"), None);
        assert_eq!(b("/dev/fd/+3/x"), None);
        assert_eq!(b("/proc/self/root/x"), None);
        assert_eq!(b("dev/fd/3/x"), None);
        assert_eq!(b("/usr/x"), None);
    }

    #[test]
    fn every_trapped_syscall_names_a_path() {
        for s in SYSCALLS {
            assert!(!needs(*s).is_empty(), "{s}");
        }
        assert_eq!(needs(Syscall::RenameAt2), [Need::Remove, Need::Replace]);
        assert_eq!(needs(Syscall::LinkAt), [Need::Create, Need::LinkSource]);
        assert_eq!(needs(Syscall::ExecveAt), [Need::Exec]);
    }

    #[test]
    fn directory_entries_need_write_on_the_parent() {
        let dir = Scratch::new(&format!("nono-path-ops-{}", std::process::id()));
        let sub = dir.join("ro");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("f"), b"x").unwrap();
        let sub = dir.join("ro");
        let mut caps = CapabilitySet::new();
        caps.allow_dir(&dir, AccessMode::Write, "test").unwrap();
        caps.allow_file(sub.join("f"), AccessMode::ReadWrite, "test")
            .unwrap();
        let grants = StaticGrants::new(&caps);
        // Inside the write grant: nothing to report.
        assert_eq!(outside(&grants, &dir.join("new"), Need::Create), None);
        assert_eq!(outside(&grants, &sub.join("f"), Need::Remove), None);
        // The write grant's own directory sits in a parent that is not granted.
        assert_eq!(
            outside(&grants, &dir, Need::Remove),
            Some((dir.clone(), AccessMode::Write))
        );
        // Existing name: EEXIST comes first. Missing file: ENOENT comes first.
        assert_eq!(outside(&grants, &dir, Need::Create), None);
        assert_eq!(
            outside(&grants, Path::new("/nonexistent-nono/x"), Need::Remove),
            None
        );
        // Exec of a file that is only write-granted needs read.
        let mut wonly = CapabilitySet::new();
        wonly
            .allow_file(sub.join("f"), AccessMode::Write, "test")
            .unwrap();
        let wonly = StaticGrants::new(&wonly);
        assert_eq!(
            outside(&wonly, &sub.join("f"), Need::Exec),
            Some((sub.join("f"), AccessMode::Read))
        );
        assert_eq!(outside(&wonly, &sub.join("f"), Need::WriteFile), None);
        // A file grant never lets its file be removed: that is the parent's right.
        assert_eq!(
            outside(&wonly, &sub.join("f"), Need::Remove),
            Some((sub.join("f"), AccessMode::Write))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The ABI: each trapped metadata call's arguments, read out of the child once — what it
//! names ([`Target`]) and what it changes ([`Op`]).

use std::ffi::CString;

use nono_sandbox::linux::seccomp::{procmem, Notification, NotifyFd, Syscall};
use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::{
    Op, Refusal, Target, FILE_ATTR_MAX, PATH_MAX, XATTR_ARGS_LEN, XATTR_NAME_MAX, XATTR_SIZE_MAX,
};

fn arg_i32(v: u64) -> i32 {
    v as i32
}

/// Read a NUL-terminated string from the child, then check the notification is still valid.
fn cstr(notify: &NotifyFd, n: &Notification, addr: u64, max: usize) -> Result<Vec<u8>, Refusal> {
    if addr == 0 {
        return Err(Refusal::Errno(Errno::FAULT));
    }
    let bytes =
        procmem::read_cstr_bytes(n.pid, addr, max).map_err(|e| Refusal::Errno(e.errno()))?;
    if !notify.id_valid(n.id) {
        return Err(Refusal::Errno(Errno::SRCH));
    }
    Ok(bytes)
}

fn bytes(notify: &NotifyFd, n: &Notification, addr: u64, len: usize) -> Result<Vec<u8>, Refusal> {
    let mut buf = vec![0u8; len];
    if len > 0 {
        procmem::read_into(n.pid, addr, &mut buf).map_err(|_| Errno::FAULT)?;
        if !notify.id_valid(n.id) {
            return Err(Refusal::Errno(Errno::SRCH));
        }
    }
    Ok(buf)
}

fn word(b: &[u8], i: usize) -> i64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i * 8..i * 8 + 8]);
    i64::from_ne_bytes(w)
}

/// `struct timespec[2]` (or NULL = now).
fn timespecs(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 32)?;
    Ok(Timestamps {
        last_access: Timespec {
            tv_sec: word(&b, 0),
            tv_nsec: word(&b, 1),
        },
        last_modification: Timespec {
            tv_sec: word(&b, 2),
            tv_nsec: word(&b, 3),
        },
    })
}

/// `struct timeval[2]` (or NULL = now).
fn timevals(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 32)?;
    let ts = |sec: i64, usec: i64| -> Result<Timespec, Refusal> {
        if !(0..1_000_000).contains(&usec) {
            return Err(Refusal::Errno(Errno::INVAL));
        }
        Ok(Timespec {
            tv_sec: sec,
            tv_nsec: usec * 1000,
        })
    };
    Ok(Timestamps {
        last_access: ts(word(&b, 0), word(&b, 1))?,
        last_modification: ts(word(&b, 2), word(&b, 3))?,
    })
}

/// `struct utimbuf` (or NULL = now).
fn utimbuf(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<Timestamps, Refusal> {
    if addr == 0 {
        return Ok(now());
    }
    let b = bytes(notify, n, addr, 16)?;
    let ts = |sec| Timespec {
        tv_sec: sec,
        tv_nsec: 0,
    };
    Ok(Timestamps {
        last_access: ts(word(&b, 0)),
        last_modification: ts(word(&b, 1)),
    })
}

fn now() -> Timestamps {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    Timestamps {
        last_access: now,
        last_modification: now,
    }
}

fn owner(v: u64) -> Option<Uid> {
    let raw = v as u32;
    (raw != u32::MAX).then(|| Uid::from_raw(raw))
}

fn group(v: u64) -> Option<Gid> {
    let raw = v as u32;
    (raw != u32::MAX).then(|| Gid::from_raw(raw))
}

fn name(notify: &NotifyFd, n: &Notification, addr: u64) -> Result<CString, Refusal> {
    let raw = cstr(notify, n, addr, XATTR_NAME_MAX).map_err(|e| match e {
        Refusal::Errno(Errno::NAMETOOLONG) => Refusal::Errno(Errno::RANGE),
        other => other,
    })?;
    CString::new(raw).map_err(|_| Refusal::Errno(Errno::INVAL))
}

fn value(notify: &NotifyFd, n: &Notification, addr: u64, size: u64) -> Result<Vec<u8>, Refusal> {
    let size = usize::try_from(size).map_err(|_| Errno::TOOBIG)?;
    if size > XATTR_SIZE_MAX {
        return Err(Refusal::Errno(Errno::TOOBIG));
    }
    bytes(notify, n, addr, size)
}

fn path_target(
    notify: &NotifyFd,
    n: &Notification,
    dirfd: i32,
    addr: u64,
    follow: bool,
    empty_ok: bool,
) -> Result<Target, Refusal> {
    Ok(Target::Path {
        dirfd,
        path: cstr(notify, n, addr, PATH_MAX)?,
        follow,
        empty_ok,
    })
}

fn at_target(
    notify: &NotifyFd,
    n: &Notification,
    dirfd: u64,
    addr: u64,
    flags: u64,
) -> Result<Target, Refusal> {
    let flags = AtFlags::from_bits_retain(flags as u32);
    path_target(
        notify,
        n,
        arg_i32(dirfd),
        addr,
        !flags.contains(AtFlags::SYMLINK_NOFOLLOW),
        flags.contains(AtFlags::EMPTY_PATH),
    )
}

/// Decode the trapped call: what it names and what it changes.
pub(super) fn decode(
    notify: &NotifyFd,
    n: &Notification,
    s: Syscall,
) -> Result<(Target, Op), Refusal> {
    let a = n.args;
    let cwd = libc::AT_FDCWD;
    Ok(match s {
        Syscall::Chmod => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Chmod(Mode::from_bits_truncate(a[1] as u32)),
        ),
        Syscall::FchmodAt => (
            path_target(notify, n, arg_i32(a[0]), a[1], true, false)?,
            Op::Chmod(Mode::from_bits_truncate(a[2] as u32)),
        ),
        Syscall::FchmodAt2 => (
            at_target(notify, n, a[0], a[1], a[3])?,
            Op::Chmod(Mode::from_bits_truncate(a[2] as u32)),
        ),
        Syscall::Fchmod => (
            Target::Fd(arg_i32(a[0])),
            Op::Chmod(Mode::from_bits_truncate(a[1] as u32)),
        ),
        Syscall::Chown | Syscall::Lchown => (
            path_target(notify, n, cwd, a[0], s == Syscall::Chown, false)?,
            Op::Chown(owner(a[1]), group(a[2])),
        ),
        Syscall::Fchown => (
            Target::Fd(arg_i32(a[0])),
            Op::Chown(owner(a[1]), group(a[2])),
        ),
        Syscall::FchownAt => (
            at_target(notify, n, a[0], a[1], a[4])?,
            Op::Chown(owner(a[2]), group(a[3])),
        ),
        Syscall::Utime => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Times(utimbuf(notify, n, a[1])?),
        ),
        Syscall::Utimes => (
            path_target(notify, n, cwd, a[0], true, false)?,
            Op::Times(timevals(notify, n, a[1])?),
        ),
        Syscall::UtimensAt => {
            let target = if a[1] == 0 {
                Target::Fd(arg_i32(a[0]))
            } else {
                at_target(notify, n, a[0], a[1], a[3])?
            };
            (target, Op::Times(timespecs(notify, n, a[2])?))
        }
        Syscall::FutimesAt => {
            let target = if a[1] == 0 {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, arg_i32(a[0]), a[1], true, false)?
            };
            (target, Op::Times(timevals(notify, n, a[2])?))
        }
        Syscall::SetXattr | Syscall::LsetXattr | Syscall::FsetXattr => {
            let target = if s == Syscall::FsetXattr {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, cwd, a[0], s == Syscall::SetXattr, false)?
            };
            let op = Op::SetXattr {
                name: name(notify, n, a[1])?,
                value: value(notify, n, a[2], a[3])?,
                flags: a[4] as u32,
            };
            (target, op)
        }
        Syscall::RemoveXattr | Syscall::LremoveXattr | Syscall::FremoveXattr => {
            let target = if s == Syscall::FremoveXattr {
                Target::Fd(arg_i32(a[0]))
            } else {
                path_target(notify, n, cwd, a[0], s == Syscall::RemoveXattr, false)?
            };
            (target, Op::RemoveXattr(name(notify, n, a[1])?))
        }
        Syscall::SetXattrAt => {
            let target = at_target(notify, n, a[0], a[1], a[2])?;
            if usize::try_from(a[5]).unwrap_or(0) < XATTR_ARGS_LEN {
                return Err(Refusal::Errno(Errno::INVAL));
            }
            let args = bytes(notify, n, a[4], XATTR_ARGS_LEN)?;
            let ptr = word(&args, 0) as u64;
            let mut size = [0u8; 4];
            size.copy_from_slice(&args[8..12]);
            let mut flags = [0u8; 4];
            flags.copy_from_slice(&args[12..16]);
            let op = Op::SetXattr {
                name: name(notify, n, a[3])?,
                value: value(notify, n, ptr, u64::from(u32::from_ne_bytes(size)))?,
                flags: u32::from_ne_bytes(flags),
            };
            (target, op)
        }
        Syscall::RemoveXattrAt => (
            at_target(notify, n, a[0], a[1], a[2])?,
            Op::RemoveXattr(name(notify, n, a[3])?),
        ),
        Syscall::FileSetAttr => {
            let size = usize::try_from(a[3]).unwrap_or(usize::MAX);
            if size == 0 || size > FILE_ATTR_MAX {
                return Err(Refusal::Errno(if size == 0 {
                    Errno::INVAL
                } else {
                    Errno::TOOBIG
                }));
            }
            (
                at_target(notify, n, a[0], a[1], a[4])?,
                Op::FileSetAttr(bytes(notify, n, a[2], size)?),
            )
        }
        _ => return Err(Refusal::Errno(Errno::NOSYS)),
    })
}

//! Where the deny groups' identity walk found a request's object, and whether what a runtime
//! grant then acts on is that object (red team 23).
//!
//! The walk (match form 3 of [`crate::deny_groups`], `ancestor_memo.rs`) reads the identities
//! of a request's file and of its directory and ancestors, and a runtime grant acts on the
//! path afterwards — opens it as the child, or makes a name in its directory. Between the two
//! the sandboxed command can rename its own directories: with a deny entry bind-mounted in an
//! approved directory by the user, `W/A` exchanged with `W/B` (which holds the mount point)
//! makes `W/A/m` a plain directory of its own while the walk looks and the deny entry when
//! the supervisor acts, and a file created there is new (no identity the checks after the
//! open know). And a walk that cannot read an identity (the directory renamed away for a
//! moment, `ENOENT`; made unsearchable for a supervisor without `CAP_DAC_READ_SEARCH`,
//! `EACCES`) found nothing, where the act a moment later reached the entry.
//!
//! So the walk hands on what it saw ([`Walked`]): the directory's and the file's identity with
//! the mount they were reached through, or the error that kept it from seeing them. The grant
//! acts only when the walk saw the directory, and keeps what it opened only when it is the
//! object the walk saw, or an object in the same mount of the same device (a new file in the
//! directory that was walked): the command can only move what it may rename, which is never a
//! deny entry nor a directory above one, so inside one mount a path cannot come to lead
//! beneath an entry it did not lead beneath when walked; across mounts it can (the directory
//! holding a mount point can be renamed), and the mount is what is compared. Where the act
//! makes a name (a creating open, a path operation), the directory it makes it in, opened as
//! the child, is compared *before*: a name made in the wrong place would stay.
//!
//! Costs nothing on an open's success path when it creates nothing: the walk's `statx`
//! calls ask for the mount id, and the `fstat` after the open is a `statx` that does too
//! ([`Opened::of_fd`]). A creating open opens its directory first (`openat2` + `statx` +
//! `close` more); a path operation `statx`es the directories it already opened. Mount ids
//! come with `statx` since Linux 5.8 (Landlock needs 5.13); without them the devices alone
//! are compared.

use std::os::fd::AsFd;

use rustix::fs::{AtFlags, Statx, StatxFlags};
use rustix::io::Errno;

/// An object as the walk or the grant saw it: the mount it was reached through (0 when the
/// kernel does not report mount ids, before 5.8), its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    pub mnt: u64,
    pub dev: u64,
    pub ino: u64,
}

impl Ident {
    pub(crate) fn of(st: &Statx) -> Ident {
        Ident {
            mnt: if st.stx_mask & StatxFlags::MNT_ID.bits() != 0 {
                st.stx_mnt_id
            } else {
                0
            },
            dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        }
    }
}

/// What the identity walk saw of a request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// No deny entry has an identity to meet (none existed when the set was made): no walk.
    Unneeded,
    /// The directory of the request's path, and the file itself when it existed.
    At { dir: Ident, file: Option<Ident> },
    /// The walk could not read the directory's (or the file's) identity: the errno the
    /// kernel gave the supervisor (`ENOENT`: renamed or removed since it was resolved;
    /// `EACCES`: not searchable by the supervisor, so not by the command either).
    Unread(Errno),
}

impl Walked {
    /// Before acting: the errno to answer when the walk could not see the directory — what
    /// the kernel answered at that moment, never a deny group's refusal.
    pub fn seen(&self) -> Result<(), Errno> {
        match self {
            Walked::Unread(e) => Err(*e),
            Walked::Unneeded | Walked::At { .. } => Ok(()),
        }
    }

    /// After an open: whether the object opened is the one the walk saw, or one in the same
    /// mount of the same device as the directory it walked (a file made there, or replaced
    /// at that name since).
    #[must_use]
    pub fn admits_opened(&self, opened: Ident) -> bool {
        match self {
            Walked::At { file, .. } if *file == Some(opened) => true,
            _ => self.admits_dir(opened),
        }
    }

    /// Before making, opening or removing a name in `dir` (a creating open, a path
    /// operation): whether `dir` lies in the mount and device of the directory the walk saw
    /// (the same directory, or one the command renamed into its place inside that mount,
    /// which never leads beneath a deny entry: see the module docs).
    #[must_use]
    pub fn admits_dir(&self, dir: Ident) -> bool {
        match self {
            Walked::Unneeded => true,
            Walked::Unread(_) => false,
            Walked::At { dir: walked, .. } => walked.mnt == dir.mnt && walked.dev == dir.dev,
        }
    }
}

/// Why the identity walk could not see a request's directory ([`Walked::Unread`]), as a report
/// tells it (red team 26): the errno sorted by what it means for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unseen {
    /// `ENOENT`, `ENOTDIR`: the directory was not there (renamed or removed) when nono looked.
    Gone,
    /// `EACCES`, `EPERM`: the supervisor may not search it — nor may the command, which runs
    /// as the same user (a root supervisor searches everything).
    Unsearchable,
    /// Any other error (`ELOOP`: a symlink where the path had none; `ENAMETOOLONG`; an I/O
    /// error): its OS error number.
    Other(i32),
}

impl Unseen {
    /// The meaning of the walk's errno.
    #[must_use]
    pub fn of(e: Errno) -> Unseen {
        match e {
            Errno::NOENT | Errno::NOTDIR => Unseen::Gone,
            Errno::ACCESS | Errno::PERM => Unseen::Unsearchable,
            other => Unseen::Other(other.raw_os_error()),
        }
    }
}

impl Walked {
    /// What kept the walk from seeing the directory, if anything did.
    #[must_use]
    pub fn unseen(&self) -> Option<Unseen> {
        match self {
            Walked::Unread(e) => Some(Unseen::of(*e)),
            Walked::Unneeded | Walked::At { .. } => None,
        }
    }
}

/// What the checks after a runtime grant's open need of the opened object, from one `statx`
/// of its fd (the mount id included, for [`Walked::admits_opened`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub id: Ident,
    /// `st_mode` (file type and permission bits).
    pub mode: u32,
    pub nlink: u64,
}

impl Opened {
    /// `statx(fd, "", AT_EMPTY_PATH)` with the basic fields and the mount id.
    ///
    /// # References
    /// - [`statx(2)`](https://man7.org/linux/man-pages/man2/statx.2.html)
    pub fn of_fd(fd: impl AsFd) -> Result<Opened, Errno> {
        let st = rustix::fs::statx(
            fd,
            "",
            AtFlags::EMPTY_PATH,
            StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
        )?;
        Ok(Opened {
            id: Ident::of(&st),
            mode: u32::from(st.stx_mode),
            nlink: u64::from(st.stx_nlink),
        })
    }

    #[must_use]
    pub fn is_dir(&self) -> bool {
        rustix::fs::FileType::from_raw_mode(self.mode).is_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(mnt: u64, ino: u64) -> Ident {
        Ident { mnt, dev: 8, ino }
    }

    #[test]
    fn an_act_is_admitted_only_where_the_walk_looked() {
        let walked = Walked::At {
            dir: id(1, 10),
            file: Some(id(1, 11)),
        };
        assert!(walked.admits_opened(id(1, 11)));
        // A new file in the walked mount.
        assert!(walked.admits_opened(id(1, 12)));
        // The same inode numbers through another mount (a bind mount of a deny entry).
        assert!(!walked.admits_opened(id(2, 12)));
        assert!(!walked.admits_opened(Ident {
            mnt: 1,
            dev: 9,
            ino: 12
        }));
        assert!(walked.admits_dir(id(1, 10)));
        // Another directory of the same mount (renamed into its place): admitted.
        assert!(walked.admits_dir(id(1, 13)));
        assert!(!walked.admits_dir(id(2, 10)));
        // A file that is itself a mount point: admitted as the object walked.
        let mounted = Walked::At {
            dir: id(1, 10),
            file: Some(id(3, 5)),
        };
        assert!(mounted.admits_opened(id(3, 5)));
        assert!(!mounted.admits_opened(id(3, 6)));
        for unread in [Walked::Unread(Errno::NOENT), Walked::Unread(Errno::ACCESS)] {
            assert!(!unread.admits_opened(id(1, 11)));
            assert!(!unread.admits_dir(id(1, 10)));
        }
        assert_eq!(Walked::Unread(Errno::ACCESS).seen(), Err(Errno::ACCESS));
        assert_eq!(walked.seen(), Ok(()));
        assert_eq!(walked.unseen(), None);
        assert_eq!(Walked::Unread(Errno::NOENT).unseen(), Some(Unseen::Gone));
        assert_eq!(
            Walked::Unread(Errno::ACCESS).unseen(),
            Some(Unseen::Unsearchable)
        );
        assert_eq!(
            Walked::Unread(Errno::LOOP).unseen(),
            Some(Unseen::Other(Errno::LOOP.raw_os_error()))
        );
        assert!(Walked::Unneeded.admits_opened(id(7, 7)));
        assert!(Walked::Unneeded.admits_dir(id(7, 7)));
    }
}

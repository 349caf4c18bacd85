//! `landlock_add_rule(2)` for one path rule, called directly.
//!
//! The `landlock` crate's `add_rule` looks at the rule's file type once more (an `fstat` per
//! rule) to trim the rights of a non-directory; [`super::landlock::build_ruleset`] has already
//! looked (it must tell a symlink from a file anyway) and trimmed them, so with a ruleset that
//! handles every right nono grants, the rule goes straight to the kernel: one syscall per rule
//! fewer, the same rule.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

use landlock::{AccessFs, BitFlags};

/// `LANDLOCK_RULE_PATH_BENEATH` (`include/uapi/linux/landlock.h`).
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_path_beneath_attr` (packed in the kernel's UAPI header).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// Add a rule granting `access` beneath `parent` (an `O_PATH` fd) to the ruleset `ruleset`.
///
/// The kernel refuses (`EINVAL`) rights the ruleset does not handle and rights that do not
/// apply to a non-directory: the caller passes rights it has trimmed for the file type.
pub(crate) fn add_path_beneath(
    ruleset: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    access: BitFlags<AccessFs>,
) -> Result<(), rustix::io::Errno> {
    let attr = PathBeneathAttr {
        // The crate's `AccessFs` bits are the kernel's `LANDLOCK_ACCESS_FS_*` values.
        allowed_access: access.bits(),
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: both fds are open for the duration of the call (borrowed); `attr` is a live,
    // properly laid out `landlock_path_beneath_attr` the kernel only reads; flags must be 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            std::ptr::addr_of!(attr),
            0_u32,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(super::last_errno())
    }
}

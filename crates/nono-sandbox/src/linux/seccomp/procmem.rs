//! Reading a trapped process's memory with `process_vm_readv(2)`: NUL-terminated strings
//! (paths) and fixed-size structs (`struct open_how`, socket addresses).
//!
//! One system call per read and nothing to open, which matters on the supervisor's hottest
//! path (every trapped open reads its path). The kernel checks the reader as for
//! `PTRACE_MODE_ATTACH_REALCREDS` (the supervisor is the parent, with the same uid) and
//! honours the target's page protections: an address the process itself could not read
//! faults here too.
//!
//! The memory belongs to another process that may change it, exit, or have its pid
//! reused at any moment. After every read, check
//! [`NotifyFd::id_valid`](super::NotifyFd::id_valid) for the notification the address came
//! from, and treat what was read as a claim, not a fact: decide on the file the
//! supervisor opens itself.
//!
//! `unsafe`: rustix has no `process_vm_readv`; `vm_read` is this crate's one call of it.
//!
//! # References
//! [`process_vm_readv(2)`](https://man7.org/linux/man-pages/man2/process_vm_readv.2.html)

use std::cell::Cell;
use std::ffi::CString;

use rustix::io::Errno;

thread_local! {
    /// A read on this thread was refused by the kernel's access check (`EPERM`) since
    /// [`take_refused`] last looked.
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Whether a read on the calling thread was refused by the kernel's access check (`EPERM`)
/// since the last call, which clears it. The supervisor asks after each trapped call: a
/// process that made itself non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`), or a kernel whose
/// ptrace policy forbids it (Yama `ptrace_scope` 2 or 3), lets a supervisor without
/// `CAP_SYS_PTRACE` read nothing of it, and the calls it could not read must not pass
/// silently (the run's report says so).
pub fn take_refused() -> bool {
    REFUSED.with(|r| r.replace(false))
}

/// Note, for [`take_refused`], that the kernel refused the calling thread another look into
/// the process for the same reason as a read (`EPERM` from its ptrace access check): a
/// `pidfd_getfd` of one of its descriptors.
pub fn note_refused() {
    REFUSED.with(|r| r.set(true));
}

/// Strings are read in chunks that never cross this boundary, so an unmapped page after
/// the terminating NUL is never touched. Every Linux page size is a multiple of it.
const CHUNK: u64 = 4096;

/// The first chunk of a string is at most this long: most paths are shorter, and the kernel
/// copies what is asked for (a page's worth per trapped open showed in profiles).
const FIRST_READ: usize = 256;

/// Errors reading another process's memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcMemError {
    /// The process does not exist (`ESRCH`) or this process may not read it (`EPERM`).
    #[error("reading the memory of process {pid} failed: {source} (has the process exited, or may this process not ptrace it?)")]
    Process {
        /// The process.
        pid: u32,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A read failed for a reason other than an unmapped address.
    #[error("reading the memory of process {pid} at {addr:#x} failed: {source}")]
    Read {
        /// The process.
        pid: u32,
        /// Where.
        addr: u64,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The address range is not (entirely) mapped readable in the process.
    #[error("address {addr:#x} in process {pid} is not readable (a bad pointer from the process)")]
    Fault {
        /// The process.
        pid: u32,
        /// The first unreadable address.
        addr: u64,
    },
    /// No NUL within `max_len` bytes.
    #[error("string at {addr:#x} in process {pid} has no NUL within {max_len} bytes")]
    TooLong {
        /// The process.
        pid: u32,
        /// Where the string starts.
        addr: u64,
        /// The limit.
        max_len: usize,
    },
}

impl ProcMemError {
    /// The errno a brokered syscall answers with when its argument cannot be read, as the
    /// kernel would: `EFAULT` for a bad pointer, `ENAMETOOLONG` for a path without NUL
    /// within `PATH_MAX`, else the read's own errno.
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            ProcMemError::Process { source, .. } | ProcMemError::Read { source, .. } => *source,
            ProcMemError::Fault { .. } => Errno::FAULT,
            ProcMemError::TooLong { .. } => Errno::NAMETOOLONG,
        }
    }
}

/// One `process_vm_readv` of `buf.len()` bytes at `addr` in `pid`: how many bytes it copied.
#[allow(unsafe_code)]
fn vm_read(pid: u32, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| Errno::SRCH)?;
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes exactly `buf`, initialised and writable for the call;
    // `remote` is only dereferenced by the kernel, in the other process, where a bad address
    // is an EFAULT, not undefined behaviour here.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    usize::try_from(n)
        .map_err(|_| Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::FAULT))
}

/// Fill `buf` from `addr` in `pid`, or fail; short reads continue where they stopped, so a
/// fault names the first unreadable address.
fn read_exact(pid: u32, addr: u64, buf: &mut [u8]) -> Result<(), ProcMemError> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = addr
            .checked_add(done as u64)
            .ok_or(ProcMemError::Fault { pid, addr })?;
        match vm_read(pid, at, &mut buf[done..]) {
            // 0: the process's memory is gone (it exited).
            Ok(0) | Err(Errno::FAULT) => return Err(ProcMemError::Fault { pid, addr: at }),
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(source @ (Errno::SRCH | Errno::PERM)) => {
                if source == Errno::PERM {
                    REFUSED.with(|r| r.set(true));
                }
                return Err(ProcMemError::Process { pid, source });
            }
            Err(source) => {
                return Err(ProcMemError::Read {
                    pid,
                    addr: at,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Fill `buf` with the bytes at `addr` in process (or thread) `pid`, e.g. a
/// `struct open_how` or the head of a socket address. Check `id_valid` afterwards.
pub fn read_into(pid: u32, addr: u64, buf: &mut [u8]) -> Result<(), ProcMemError> {
    read_exact(pid, addr, buf)
}

/// `len` bytes at `addr` in process `pid` (see [`read_into`]). Check `id_valid` afterwards.
pub fn read_bytes(pid: u32, addr: u64, len: usize) -> Result<Vec<u8>, ProcMemError> {
    let mut buf = vec![0u8; len];
    read_exact(pid, addr, &mut buf)?;
    Ok(buf)
}

/// The NUL-terminated string at `addr` in process (or thread) `pid`, without its NUL.
/// `max_len` counts the NUL, like `PATH_MAX` (pass 4096 for a path: the kernel refuses
/// longer ones with `ENAMETOOLONG`). Check `id_valid` afterwards.
///
/// Reads chunk by chunk up to page boundaries (the first at most `FIRST_READ`, 256, bytes), so a
/// string that ends just before an unmapped page is read fine, and one that runs into it is
/// a [`ProcMemError::Fault`].
pub fn read_cstr_bytes(pid: u32, addr: u64, max_len: usize) -> Result<Vec<u8>, ProcMemError> {
    let mut out: Vec<u8> = Vec::with_capacity(FIRST_READ.min(max_len));
    while out.len() < max_len {
        let have = out.len();
        let at = addr
            .checked_add(have as u64)
            .ok_or(ProcMemError::Fault { pid, addr })?;
        let mut want = usize::try_from(CHUNK - at % CHUNK)
            .unwrap_or(CHUNK as usize)
            .min(max_len - have);
        if have == 0 {
            want = want.min(FIRST_READ);
        }
        out.resize(have + want, 0);
        read_exact(pid, at, &mut out[have..])?;
        if let Some(nul) = out[have..].iter().position(|b| *b == 0) {
            out.truncate(have + nul);
            return Ok(out);
        }
    }
    Err(ProcMemError::TooLong { pid, addr, max_len })
}

/// [`read_cstr_bytes`] as a `CString`.
pub fn read_cstr(pid: u32, addr: u64, max_len: usize) -> Result<CString, ProcMemError> {
    let bytes = read_cstr_bytes(pid, addr, max_len)?;
    // `bytes` holds no NUL: every byte before the first one.
    CString::new(bytes).map_err(|_| ProcMemError::Fault { pid, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A readable page followed by one that cannot be read even through `/proc/PID/mem`
    /// (which ignores `PROT_NONE`): a 2-page shared mapping of a 1-page memfd, whose
    /// second page lies beyond the end of the file. Leaked: tests are short-lived.
    #[allow(unsafe_code)]
    fn page_before_a_hole() -> &'static mut [u8] {
        use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
        use rustix::mm::{mmap, MapFlags, ProtFlags};
        let page = rustix::param::page_size();
        let fd = memfd_create("nono-procmem-test", MemfdFlags::CLOEXEC).unwrap();
        ftruncate(&fd, page as u64).unwrap();
        // SAFETY: a fresh shared mapping of our own memfd; no existing memory is affected.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                2 * page,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .unwrap();
        // SAFETY: the first page is backed by the file, mapped read-write, never unmapped,
        // and only used through this slice.
        unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), page) }
    }

    #[test]
    fn a_string_ending_right_before_an_unreadable_page_is_read_one_running_into_it_faults() {
        let page = page_before_a_hole();
        let n = page.len();
        page.fill(b'x');
        page[n - 1] = 0;
        let base = page.as_ptr() as u64;
        let s = read_cstr(me(), base + 100, 2 * n).unwrap();
        assert_eq!(s.as_bytes().len(), n - 101);
        page[n - 1] = b'x';
        assert!(matches!(
            read_cstr(me(), base + 100, 2 * n),
            Err(ProcMemError::Fault { addr, .. }) if addr == base + n as u64
        ));
        assert!(matches!(
            read_bytes(me(), base + n as u64 - 4, 8),
            Err(ProcMemError::Fault { addr, .. }) if addr == base + n as u64
        ));
        assert_eq!(read_bytes(me(), base + n as u64 - 4, 4).unwrap(), b"xxxx");
    }

    fn me() -> u32 {
        std::process::id()
    }

    #[test]
    fn reads_strings_and_bytes_from_a_process() {
        let s = CString::new("/some/path/with a space").unwrap();
        let addr = s.as_ptr() as u64;
        assert_eq!(read_cstr(me(), addr, 4096).unwrap(), s);
        assert_eq!(read_bytes(me(), addr, 5).unwrap(), b"/some".to_vec());
        assert!(matches!(
            read_cstr(me(), addr, 5),
            Err(ProcMemError::TooLong { max_len: 5, .. })
        ));
        // max_len counts the NUL.
        let len = s.as_bytes().len();
        assert_eq!(read_cstr(me(), addr, len + 1).unwrap(), s);
        assert!(read_cstr(me(), addr, len).is_err());
    }

    #[test]
    fn strings_spanning_pages_and_ending_at_an_unmapped_page() {
        // Two pages of 'a' in a 3-page heap buffer, string crossing every boundary.
        let mut v = vec![b'a'; 3 * CHUNK as usize];
        let base = v.as_ptr() as u64;
        // 10 bytes before the first page boundary at least 10 bytes into the buffer (a
        // buffer that starts on a boundary, 1 in 256 here, made this underflow).
        let start = (base + 10).next_multiple_of(CHUNK) - 10;
        let off = usize::try_from(start - base).unwrap();
        v[off + 5000] = 0;
        let got = read_cstr(me(), start, 8000).unwrap();
        assert_eq!(got.as_bytes().len(), 5000);
        assert!(got.as_bytes().iter().all(|b| *b == b'a'));
        drop(v);

        // Address 0 (never mapped) and the top of the address space fault.
        assert!(matches!(
            read_cstr(me(), 0, 100),
            Err(ProcMemError::Fault { addr: 0, .. })
        ));
        assert!(matches!(
            read_bytes(me(), u64::MAX - 1, 8),
            Err(ProcMemError::Fault { .. })
        ));
        assert!(matches!(
            read_cstr(u32::MAX, 0, 1),
            Err(ProcMemError::Process { .. })
        ));
        assert_eq!(read_cstr(u32::MAX, 0, 1).unwrap_err().errno(), Errno::SRCH);
        assert_eq!(read_cstr(me(), 0, 1).unwrap_err().errno(), Errno::FAULT);
    }

    /// Strings shorter and longer than the first read, across a page boundary, and too long.
    #[test]
    fn read_cstr_bytes_reads_any_length() {
        let page = vec![b'x'; 3 * 4096];
        for (start, len) in [
            (0usize, 0usize),
            (0, 10),
            (0, 255),
            (0, 256),
            (0, 300),
            (4090, 20),
            (4000, 600),
            (100, 4095),
        ] {
            let mut buf = page.clone();
            buf[start + len] = 0;
            let addr = buf[start..].as_ptr() as u64;
            let got = read_cstr_bytes(me(), addr, 4096).unwrap();
            assert_eq!(got.len(), len, "start {start} len {len}");
            assert!(got.iter().all(|b| *b == b'x'));
        }
        let buf = page.clone();
        let err = read_cstr_bytes(me(), buf.as_ptr() as u64, 4096).unwrap_err();
        assert_eq!(err.errno(), Errno::NAMETOOLONG);
        let mut head = [0u8; 4];
        read_into(me(), buf.as_ptr() as u64, &mut head).unwrap();
        assert_eq!(&head, b"xxxx");
    }
}

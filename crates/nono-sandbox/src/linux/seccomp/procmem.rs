//! Reading a trapped process's memory through `/proc/PID/mem`: NUL-terminated strings
//! (paths) and fixed-size structs (`struct open_how`).
//!
//! The memory belongs to another process that may change it, exit, or have its pid
//! reused at any moment. After every read, check
//! [`NotifyFd::id_valid`](super::NotifyFd::id_valid) for the notification the address came
//! from, and treat what was read as a claim, not a fact: decide on the file the
//! supervisor opens itself.
//!
//! # References
//! [`proc_pid_mem(5)`](https://man7.org/linux/man-pages/man5/proc_pid_mem.5.html)

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// Strings are read in chunks that never cross this boundary, so an unmapped page after
/// the terminating NUL is never touched. Every Linux page size is a multiple of it.
const CHUNK: u64 = 4096;

/// Errors reading another process's memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcMemError {
    /// `/proc/PID/mem` could not be opened.
    #[error("opening /proc/{pid}/mem failed: {source} (has the process exited, or may this process not ptrace it?)")]
    Open {
        /// The process.
        pid: u32,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A read failed for a reason other than an unmapped address.
    #[error("reading /proc/{pid}/mem at {addr:#x} failed: {source}")]
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

/// An open `/proc/PID/mem`, for several reads from one notification.
#[derive(Debug)]
pub struct ProcMem {
    fd: OwnedFd,
    pid: u32,
}

impl ProcMem {
    /// Open `/proc/PID/mem` read-only (needs ptrace access to `pid`: the supervisor is the
    /// parent, with the same uid).
    pub fn open(pid: u32) -> Result<ProcMem, ProcMemError> {
        let path = format!("/proc/{pid}/mem");
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| ProcMemError::Open { pid, source })?;
        Ok(ProcMem { fd, pid })
    }

    /// The process this reads from.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fill `buf` from `addr`, or fail. Handles short reads.
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<(), ProcMemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr.checked_add(done as u64).ok_or(ProcMemError::Fault {
                pid: self.pid,
                addr,
            })?;
            match rustix::io::pread(&self.fd, &mut buf[done..], at) {
                // EIO: unmapped; EINVAL: an offset beyond i64::MAX (never a user address);
                // 0: the process's memory is gone (it exited).
                Ok(0) | Err(Errno::IO | Errno::FAULT | Errno::INVAL) => {
                    return Err(ProcMemError::Fault {
                        pid: self.pid,
                        addr: at,
                    })
                }
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(source) => {
                    return Err(ProcMemError::Read {
                        pid: self.pid,
                        addr: at,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Exactly `len` bytes at `addr` (e.g. a `struct open_how` for `openat2`).
    pub fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, ProcMemError> {
        let mut buf = vec![0u8; len];
        self.read_exact(addr, &mut buf)?;
        Ok(buf)
    }

    /// The NUL-terminated string at `addr`. `max_len` counts the NUL, like `PATH_MAX`
    /// (pass 4096 for a path: the kernel refuses longer ones with `ENAMETOOLONG`).
    ///
    /// Reads chunk by chunk up to page boundaries, so a string that ends just before an
    /// unmapped page is read fine, and one that runs into it is a [`ProcMemError::Fault`].
    pub fn read_cstr(&self, addr: u64, max_len: usize) -> Result<CString, ProcMemError> {
        let mut out: Vec<u8> = Vec::new();
        let mut chunk = [0u8; CHUNK as usize];
        while out.len() < max_len {
            let at = addr
                .checked_add(out.len() as u64)
                .ok_or(ProcMemError::Fault {
                    pid: self.pid,
                    addr,
                })?;
            let to_boundary = CHUNK - at % CHUNK;
            let want = usize::try_from(to_boundary)
                .unwrap_or(chunk.len())
                .min(max_len - out.len());
            let buf = &mut chunk[..want];
            self.read_exact(at, buf)?;
            if let Some(nul) = buf.iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..nul]);
                // `out` holds no NUL: every byte before the first one.
                return CString::new(out).map_err(|_| ProcMemError::Fault {
                    pid: self.pid,
                    addr,
                });
            }
            out.extend_from_slice(buf);
        }
        Err(ProcMemError::TooLong {
            pid: self.pid,
            addr,
            max_len,
        })
    }
}

/// The NUL-terminated string at `addr` in process `pid` (see [`ProcMem::read_cstr`]).
/// Check `id_valid` afterwards.
pub fn read_cstr(pid: u32, addr: u64, max_len: usize) -> Result<CString, ProcMemError> {
    ProcMem::open(pid)?.read_cstr(addr, max_len)
}

/// `len` bytes at `addr` in process `pid` (see [`ProcMem::read_bytes`]). Check `id_valid`
/// afterwards.
pub fn read_bytes(pid: u32, addr: u64, len: usize) -> Result<Vec<u8>, ProcMemError> {
    ProcMem::open(pid)?.read_bytes(addr, len)
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
        let start = base.next_multiple_of(CHUNK) - 10;
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
            Err(ProcMemError::Open { .. })
        ));
    }
}

//! The C library's allocator at start-up (issue 14).
//!
//! glibc grows a thread's arena by exactly what an allocation needs, one `mprotect` a page
//! at a time, and faults every page in at its first write: nono's deny-group thread took
//! ~30 `mprotect`s and ~110 page faults for the ~450 KiB its resolution allocates, each
//! `mprotect` taking the address space's lock that the other thread's faults need too.
//! [`keep_freed`] lets an arena keep what it once held, [`warm`] grows the calling thread's
//! arena once and maps its pages in one system call, while the thread has nothing else to
//! do, and [`restore`] gives the allocator its own thresholds back once that has served.
#![allow(unsafe_code)]

/// Keep freed memory in the arenas (up to about `bytes` at the top of each) and serve
/// allocations of up to `bytes` from them rather than from a mapping of their own, until
/// [`restore`]: an arena warmed with `bytes` stays warm. It costs at most `bytes` of memory
/// kept per arena meanwhile. glibc only; elsewhere nothing.
pub fn keep_freed(bytes: usize) {
    // Past the block's own header: glibc maps a request of the threshold or more.
    keep_freed_exactly(bytes.saturating_add(rustix::param::page_size()));
}

/// Both thresholds at `bytes`.
fn keep_freed_exactly(bytes: usize) {
    #[cfg(target_env = "gnu")]
    {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        for param in [libc::M_MMAP_THRESHOLD, libc::M_TRIM_THRESHOLD] {
            // SAFETY: `mallopt` changes one of the allocator's global parameters under the
            // allocator's own lock; any value is valid and it may be called at any time.
            unsafe { libc::mallopt(param, bytes) };
        }
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = bytes;
}

/// glibc's own thresholds again (128 KiB each, as fixed values), once what [`keep_freed`]
/// kept warm has been used: a long-running supervisor then returns freed memory as before
/// instead of keeping up to the warm size in each of its threads' arenas. glibc only.
pub fn restore() {
    keep_freed_exactly(128 * 1024);
}

/// Allocate `bytes` on the calling thread's arena, map its pages in one `madvise`
/// (`MADV_POPULATE_WRITE`, Linux 5.14; the pages are written one by one where it is
/// missing) and free it: the next allocations of this thread find mapped pages (after
/// [`keep_freed`] with at least `bytes`).
pub fn warm(bytes: usize) {
    let mut block: Vec<u8> = Vec::with_capacity(bytes);
    let start = block.as_mut_ptr() as usize;
    let page = rustix::param::page_size();
    let first = start.next_multiple_of(page);
    let end = (start + bytes) & !(page - 1);
    if end > first {
        // SAFETY: `[first, end)` lies inside `block`'s allocation, which this function owns
        // and frees after; populating pages changes no byte of them.
        let populated = unsafe {
            rustix::mm::madvise(
                first as *mut std::ffi::c_void,
                end - first,
                rustix::mm::Advice::LinuxPopulateWrite,
            )
        };
        if populated.is_err() {
            block.resize(bytes, 1);
        }
    }
    std::hint::black_box(&block);
}

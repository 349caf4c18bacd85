//! Seatbelt enforcement on macOS: the one FFI call, `sandbox_init(3)`, applied to this process.
//!
//! # References
//! - `sandbox_init(3)`, `sandbox_free_error(3)` (macOS man pages, `<sandbox.h>`).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;

use super::{profile, SeatbeltError};
use crate::caps::CapabilitySet;

// In libSystem (libsystem_sandbox), so no extra link directive is needed.
extern "C" {
    fn sandbox_init(profile: *const c_char, flags: u64, errorbuf: *mut *mut c_char) -> c_int;
    fn sandbox_free_error(errorbuf: *mut c_char);
}

/// Confine the calling process (and every child it later spawns) to `caps`, for good.
///
/// Generates the profile with [`profile`] and applies it with `sandbox_init` (flags `0`:
/// the string is SBPL source). There is no way back. Call it in a fresh child process
/// before `exec`, never in a process that must keep its own access.
///
/// # Errors
///
/// A path the profile cannot embed (see [`profile`]), or [`SeatbeltError::SandboxInit`]
/// with the text `sandbox_init` returned.
pub fn apply(caps: &CapabilitySet) -> Result<(), SeatbeltError> {
    let text = profile(caps)?;
    // profile() rejects control characters (NUL included) in paths and comments, and all
    // other text is fixed ASCII, so the profile never contains a NUL byte.
    let text = CString::new(text).expect("generated Seatbelt profile contains no NUL byte");
    let mut errorbuf: *mut c_char = ptr::null_mut();
    // SAFETY: `text` is a valid NUL-terminated string that outlives the call; `errorbuf` is
    // a valid place for sandbox_init to store an error string pointer (or leave null).
    let rc = unsafe { sandbox_init(text.as_ptr(), 0, &mut errorbuf) };
    if rc == 0 {
        return Ok(());
    }
    let message = if errorbuf.is_null() {
        String::from("no error text returned")
    } else {
        // SAFETY: on failure sandbox_init stores a NUL-terminated C string it allocated in
        // `errorbuf`; it stays valid until sandbox_free_error, which is called only below.
        let message = unsafe { CStr::from_ptr(errorbuf) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: `errorbuf` came from sandbox_init and is freed exactly once.
        unsafe { sandbox_free_error(errorbuf) };
        message
    };
    Err(SeatbeltError::SandboxInit { message })
}

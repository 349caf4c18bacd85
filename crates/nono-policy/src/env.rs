//! The child's environment: the variables every supervised child loses (loader injection and
//! other variables glibc itself distrusts for privileged programs), applied after any policy.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The environment variable that names the child's SDK socket fd (`NONO_SUPERVISOR_FD`).
pub const SUPERVISOR_FD_VAR: &str = nono_wire::SUPERVISOR_FD_ENV;

/// Exact names removed from every child's environment. `LD_*` and `DYLD_*` are removed by
/// prefix (see [`is_dangerous`]). The list follows the variables glibc's dynamic loader
/// drops for secure-execution programs, because each of them can make a program load code
/// or data from a path the variable names.
const DANGEROUS_EXACT: &[&str] = &[
    "GCONV_PATH",
    "GETCONF_DIR",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_TRACE",
    "NIS_PATH",
    "NLSPATH",
    "RESOLV_HOST_CONF",
    "RES_OPTIONS",
    SUPERVISOR_FD_VAR,
];

/// Whether a variable is always removed: `LD_*` (e.g. `LD_PRELOAD`, `LD_LIBRARY_PATH`,
/// `LD_AUDIT`), `DYLD_*`, the names in glibc's unsecure-variable list, and a stale
/// `NONO_SUPERVISOR_FD` from an outer supervisor (the supervisor sets its own).
#[must_use]
pub fn is_dangerous(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    bytes.starts_with(b"LD_")
        || bytes.starts_with(b"DYLD_")
        || DANGEROUS_EXACT.iter().any(|d| d.as_bytes() == bytes)
}

/// Remove the dangerous variables (and malformed names: empty or containing `=` or NUL).
#[must_use]
pub fn sanitize(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(k, v)| {
            !k.is_empty()
                && !k.as_bytes().contains(&b'=')
                && !k.as_bytes().contains(&0)
                && !v.as_bytes().contains(&0)
                && !is_dangerous(k)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(k: &str, val: &str) -> (OsString, OsString) {
        (k.into(), val.into())
    }

    #[test]
    fn loader_injection_is_removed() {
        let out = sanitize([
            v("LD_PRELOAD", "/tmp/evil.so"),
            v("LD_LIBRARY_PATH", "/tmp"),
            v("LD_AUDIT", "/tmp/a.so"),
            v("DYLD_INSERT_LIBRARIES", "x"),
            v("GCONV_PATH", "/tmp"),
            v("GLIBC_TUNABLES", "x"),
            v("NONO_SUPERVISOR_FD", "9"),
            v("PATH", "/usr/bin"),
            v("HOME", "/root"),
            v("OLD_LD_PRELOAD", "kept: not a loader variable"),
        ]);
        let names: Vec<_> = out.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "HOME", "OLD_LD_PRELOAD"]);
    }

    #[test]
    fn malformed_names_are_removed() {
        let out = sanitize([v("", "x"), v("A=B", "x"), v("OK", "y")]);
        assert_eq!(out, [v("OK", "y")]);
    }
}

//! `/proc/self/mountinfo`: the mounts of the supervisor's mount namespace (the sandbox's too),
//! as `proc_pid_mountinfo(5)` lists them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A field as mountinfo spells it, with its `\ooo` escapes (space, tab, newline, backslash)
/// decoded; bytes, as a path may not be UTF-8.
pub(crate) fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Where an object can have two names in this namespace: for each two mounts of one device
/// whose roots overlap (a bind mount of a directory, a file system mounted twice), the
/// narrower mount's mount point and the place in the wider mount that shows the same files
/// (`/srv/a` bound at `/mnt/b`: both `/mnt/b` and `/srv/a`). An object outside every region
/// has one name only, and the walk of its parents by `..` meets exactly the directories its
/// name does. Empty when nothing is mounted twice.
pub(crate) fn alias_regions(mountinfo: &str) -> Vec<PathBuf> {
    // (device, root, mount point) of each mount.
    let mounts: Vec<(&str, Vec<u8>, Vec<u8>)> = mountinfo
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let (_id, _parent) = (f.next()?, f.next()?);
            let dev = f.next()?;
            let root = unescape(f.next()?);
            let at = unescape(f.next()?);
            Some((dev, root, at))
        })
        .collect();
    // `inner` relative to `outer` when it lies at or beneath it.
    let beneath = |inner: &[u8], outer: &[u8]| -> Option<Vec<u8>> {
        let outer = outer.strip_suffix(b"/").unwrap_or(outer);
        let rest = inner.strip_prefix(outer)?;
        (rest.is_empty() || rest.starts_with(b"/")).then(|| rest.to_vec())
    };
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |p: Vec<u8>| {
        let p = PathBuf::from(OsStr::from_bytes(&p));
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for (i, (dev, wide_root, wide_at)) in mounts.iter().enumerate() {
        for (j, (d, narrow_root, narrow_at)) in mounts.iter().enumerate() {
            if i == j || d != dev {
                continue;
            }
            let Some(rest) = beneath(narrow_root, wide_root) else {
                continue;
            };
            add(narrow_at.clone());
            let mut there = wide_at.strip_suffix(b"/").unwrap_or(wide_at).to_vec();
            there.extend_from_slice(&rest);
            if there.is_empty() {
                there.push(b'/');
            }
            add(there);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/sys/fs/a\040b"), b"/sys/fs/a b");
        assert_eq!(unescape("/plain"), b"/plain");
        assert_eq!(unescape(r"/x\134y"), b"/x\\y");
    }

    #[test]
    fn regions_are_both_names_of_what_is_mounted_twice() {
        let mi = "\
21 1 8:1 / / rw - ext4 /dev/sda1 rw
22 21 0:5 / /dev rw - devtmpfs udev rw
23 21 8:1 /srv/a /mnt/b rw - ext4 /dev/sda1 rw
24 21 0:40 /@home /home rw - btrfs /dev/sdb1 rw
25 21 0:40 /@var /var rw - btrfs /dev/sdb1 rw
26 21 0:41 /x /m/one rw - tmpfs t rw
27 21 0:41 /x/y /m/two\\040z rw - tmpfs t rw
";
        let got = alias_regions(mi);
        let want: Vec<PathBuf> = ["/mnt/b", "/srv/a", "/m/two z", "/m/one/y"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
        // Nothing mounted twice: no region.
        assert!(alias_regions("21 1 8:1 / / rw - ext4 /dev/sda1 rw\n").is_empty());
    }
}

//! `AccessMode`: the read / write / read-write access a grant or a request names.

use serde::{Deserialize, Serialize};

/// The access a filesystem grant gives or a request asks for.
///
/// Serialised as `"Read"`, `"Write"` or `"ReadWrite"` (nono 0.58's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AccessMode {
    /// Read files, list directories, execute.
    Read,
    /// Create, write, truncate, remove.
    Write,
    /// Both of the above.
    ReadWrite,
}

impl AccessMode {
    /// The smallest mode that covers both `self` and `other` (read + write = read-write).
    #[must_use]
    pub const fn union(self, other: AccessMode) -> AccessMode {
        match (
            self.reads() || other.reads(),
            self.writes() || other.writes(),
        ) {
            (true, true) => AccessMode::ReadWrite,
            (false, true) => AccessMode::Write,
            _ => AccessMode::Read,
        }
    }

    /// Whether every access in `other` is also in `self`.
    #[must_use]
    pub const fn contains(self, other: AccessMode) -> bool {
        (self.reads() || !other.reads()) && (self.writes() || !other.writes())
    }

    /// Whether this mode includes reading.
    #[must_use]
    pub const fn reads(self) -> bool {
        matches!(self, AccessMode::Read | AccessMode::ReadWrite)
    }

    /// Whether this mode includes writing.
    #[must_use]
    pub const fn writes(self) -> bool {
        matches!(self, AccessMode::Write | AccessMode::ReadWrite)
    }

    /// Lower-case name as used on the command line (`read`, `write`, `readwrite`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessMode::Read => "read",
            AccessMode::Write => "write",
            AccessMode::ReadWrite => "readwrite",
        }
    }
}

impl std::fmt::Display for AccessMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AccessMode::{self, *};

    const ALL: [AccessMode; 3] = [Read, Write, ReadWrite];

    #[test]
    fn union_is_the_least_upper_bound() {
        assert_eq!(Read.union(Write), ReadWrite);
        assert_eq!(Write.union(Read), ReadWrite);
        assert_eq!(Read.union(Read), Read);
        assert_eq!(Write.union(Write), Write);
        for a in ALL {
            for b in ALL {
                let u = a.union(b);
                assert!(u.contains(a) && u.contains(b), "{a} ∪ {b} = {u}");
            }
        }
    }

    #[test]
    fn contains_matches_the_lattice() {
        assert!(ReadWrite.contains(Read));
        assert!(ReadWrite.contains(Write));
        assert!(!Read.contains(Write));
        assert!(!Write.contains(Read));
        assert!(!Read.contains(ReadWrite));
    }
}

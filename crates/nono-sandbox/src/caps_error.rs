//! `CapsError`: what can go wrong building a capability set (its own module so that
//! `caps` and `paths` can both name it without depending on each other).

use std::path::PathBuf;

/// Errors building a capability set. Each names the path it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CapsError {
    /// The path does not exist.
    #[error("{}: no such file or directory (check the path, or create it first)", path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The path could not be resolved for another reason.
    #[error("{}: cannot resolve path: {source}", path.display())]
    Resolve {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A directory grant named a file.
    #[error("{}: is a file, not a directory (grant it as a file, e.g. --allow-file)", path.display())]
    NotADirectory {
        /// The canonical path.
        path: PathBuf,
    },
    /// A file grant named a directory.
    #[error("{}: is a directory, not a file (grant it as a directory, e.g. --allow)", path.display())]
    IsADirectory {
        /// The canonical path.
        path: PathBuf,
    },
    /// A relative path was given where no base directory is known.
    #[error("{}: relative path; give an absolute path", path.display())]
    Relative {
        /// The path as given.
        path: PathBuf,
    },
}

//! `Vars`: the variables a profile path may use (`~`, `$HOME`, `$TMPDIR`, `$WORKDIR`, the XDG
//! base directories) and their expansion.

use std::path::{Path, PathBuf};

/// Values for the variables profile paths and deny groups may use.
///
/// XDG directories follow the XDG Base Directory specification: the environment value when it
/// is set to an absolute path, otherwise the spec's default under `$HOME`
/// (`~/.config`, `~/.local/share`, `~/.cache`, `~/.local/state`). `$XDG_RUNTIME_DIR` has no
/// default; a path that uses it while it is unset is an error (deny groups skip such entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    /// `~` and `$HOME`.
    pub home: PathBuf,
    /// `$TMPDIR` (default `/tmp`).
    pub tmpdir: PathBuf,
    /// `$WORKDIR`: the directory the command runs in (`--workdir` or the current directory).
    pub workdir: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: PathBuf,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: PathBuf,
    /// `$XDG_CACHE_HOME`.
    pub xdg_cache_home: PathBuf,
    /// `$XDG_STATE_HOME`.
    pub xdg_state_home: PathBuf,
    /// `$XDG_RUNTIME_DIR` (no default).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The absolute directories of `$PATH`, in order (empty when unset). The `autorun` deny
    /// group protects those inside the home directory: a program planted there runs outside
    /// the sandbox the next time its name is typed.
    pub path_dirs: Vec<PathBuf>,
}

/// Why a variable in a path could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarError {
    /// `$NAME` is not one of the supported variables.
    #[error("`{path}`: unknown variable ${name} (supported: ~, $HOME, $TMPDIR, $WORKDIR, $XDG_CONFIG_HOME, $XDG_DATA_HOME, $XDG_CACHE_HOME, $XDG_STATE_HOME, $XDG_RUNTIME_DIR)")]
    Unknown {
        /// The path as written.
        path: String,
        /// The variable name.
        name: String,
    },
    /// The variable is known but has no value here (`$WORKDIR` without a workdir,
    /// `$XDG_RUNTIME_DIR` unset).
    #[error("`{path}`: ${name} is not set (set it, or remove the entry)")]
    Unset {
        /// The path as written.
        path: String,
        /// The variable name.
        name: String,
    },
    /// The expanded path is not absolute.
    #[error("`{path}`: expands to the relative path `{expanded}`; profile paths must be absolute (start with /, ~ or a variable)")]
    Relative {
        /// The path as written.
        path: String,
        /// What it expanded to.
        expanded: String,
    },
    /// `${` without a closing `}`.
    #[error("`{path}`: unterminated ${{...}}")]
    Unterminated {
        /// The path as written.
        path: String,
    },
}

/// Read `key` from the environment if it is an absolute path.
fn env_abs(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

impl Vars {
    /// Variables for `home`, with every XDG directory at its default, `$TMPDIR` = `/tmp`,
    /// no workdir and no runtime dir. Useful for tests and for explaining a profile.
    #[must_use]
    pub fn for_home(home: impl Into<PathBuf>) -> Vars {
        let home = home.into();
        Vars {
            xdg_config_home: home.join(".config"),
            xdg_data_home: home.join(".local/share"),
            xdg_cache_home: home.join(".cache"),
            xdg_state_home: home.join(".local/state"),
            xdg_runtime_dir: None,
            tmpdir: PathBuf::from("/tmp"),
            workdir: None,
            path_dirs: Vec::new(),
            home,
        }
    }

    /// Variables from this process's environment. `$HOME` must be set to an absolute path
    /// (returns `None` otherwise); the workdir is left unset (see [`Vars::with_workdir`]).
    #[must_use]
    pub fn from_env() -> Option<Vars> {
        let home = env_abs("HOME")?;
        let mut v = Vars::for_home(home);
        if let Some(p) = env_abs("TMPDIR") {
            v.tmpdir = p;
        }
        if let Some(p) = env_abs("XDG_CONFIG_HOME") {
            v.xdg_config_home = p;
        }
        if let Some(p) = env_abs("XDG_DATA_HOME") {
            v.xdg_data_home = p;
        }
        if let Some(p) = env_abs("XDG_CACHE_HOME") {
            v.xdg_cache_home = p;
        }
        if let Some(p) = env_abs("XDG_STATE_HOME") {
            v.xdg_state_home = p;
        }
        v.xdg_runtime_dir = env_abs("XDG_RUNTIME_DIR");
        if let Some(path) = std::env::var_os("PATH") {
            v.path_dirs = std::env::split_paths(&path)
                .filter(|p| p.is_absolute())
                .collect();
        }
        Some(v)
    }

    /// Set `$WORKDIR`.
    #[must_use]
    pub fn with_workdir(mut self, workdir: impl Into<PathBuf>) -> Vars {
        self.workdir = Some(workdir.into());
        self
    }

    fn lookup(&self, name: &str, path: &str) -> Result<&Path, VarError> {
        let unset = || VarError::Unset {
            path: path.to_owned(),
            name: name.to_owned(),
        };
        Ok(match name {
            "HOME" => &self.home,
            "TMPDIR" => &self.tmpdir,
            "WORKDIR" => self.workdir.as_deref().ok_or_else(unset)?,
            "XDG_CONFIG_HOME" => &self.xdg_config_home,
            "XDG_DATA_HOME" => &self.xdg_data_home,
            "XDG_CACHE_HOME" => &self.xdg_cache_home,
            "XDG_STATE_HOME" => &self.xdg_state_home,
            "XDG_RUNTIME_DIR" => self.xdg_runtime_dir.as_deref().ok_or_else(unset)?,
            _ => {
                return Err(VarError::Unknown {
                    path: path.to_owned(),
                    name: name.to_owned(),
                })
            }
        })
    }

    /// Expand `~` (at the start, alone or before `/`), `$NAME` and `${NAME}`; `$$` is one
    /// literal `$`. The result must be absolute. Only the variables listed on [`Vars`] exist;
    /// anything else is an error, so a typo never turns into a literal path.
    pub fn expand(&self, raw: &str) -> Result<PathBuf, VarError> {
        let mut out = String::new();
        let mut rest = raw;
        if rest == "~" || rest.starts_with("~/") {
            out.push_str(&self.home.to_string_lossy());
            rest = &rest[1..];
        }
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                continue;
            }
            let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced.find('}').ok_or_else(|| VarError::Unterminated {
                    path: raw.to_owned(),
                })?;
                (&braced[..end], &braced[end + 1..])
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push_str(&self.lookup(name, raw)?.to_string_lossy());
            rest = tail;
        }
        out.push_str(rest);
        let p = PathBuf::from(&out);
        if !p.is_absolute() {
            return Err(VarError::Relative {
                path: raw.to_owned(),
                expanded: out,
            });
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_home_and_xdg_defaults() {
        let v = Vars::for_home("/home/u").with_workdir("/w");
        assert_eq!(v.expand("~").unwrap(), Path::new("/home/u"));
        assert_eq!(v.expand("~/.ssh").unwrap(), Path::new("/home/u/.ssh"));
        assert_eq!(v.expand("$HOME/x").unwrap(), Path::new("/home/u/x"));
        assert_eq!(v.expand("${HOME}x").unwrap(), Path::new("/home/ux"));
        assert_eq!(v.expand("~/a$$b$$").unwrap(), Path::new("/home/u/a$b$"));
        assert_eq!(v.expand("/$$$HOME").unwrap(), Path::new("/$/home/u"));
        assert_eq!(
            v.expand("$XDG_CONFIG_HOME/nono").unwrap(),
            Path::new("/home/u/.config/nono")
        );
        assert_eq!(
            v.expand("$XDG_STATE_HOME").unwrap(),
            Path::new("/home/u/.local/state")
        );
        assert_eq!(v.expand("$WORKDIR/src").unwrap(), Path::new("/w/src"));
        assert_eq!(v.expand("$TMPDIR").unwrap(), Path::new("/tmp"));
        assert_eq!(v.expand("/a/~/b").unwrap(), Path::new("/a/~/b"));
    }

    #[test]
    fn errors_name_the_variable() {
        let v = Vars::for_home("/home/u");
        let e = v.expand("$HOEM/x").unwrap_err();
        assert!(e.to_string().contains("$HOEM"), "{e}");
        assert!(matches!(v.expand("$WORKDIR"), Err(VarError::Unset { .. })));
        assert!(matches!(
            v.expand("$XDG_RUNTIME_DIR/x"),
            Err(VarError::Unset { .. })
        ));
        assert!(matches!(v.expand("rel/x"), Err(VarError::Relative { .. })));
        assert!(matches!(
            v.expand("${HOME"),
            Err(VarError::Unterminated { .. })
        ));
        assert!(matches!(
            v.expand("~user/x"),
            Err(VarError::Relative { .. })
        ));
    }
}

//! Deny groups: named sets of sensitive paths (credentials, keyrings, browser data, shell rc
//! and history files, nono's own state) that win over every allow, at start-up and at runtime.
//!
//! # Matching
//! A [`DenySet`] holds each entry in three forms, and a path is denied when any matches:
//! 1. the entry as expanded (`/home/u/.ssh`), compared with the request's components;
//! 2. the entry canonicalised (symlinks in its existing part resolved), compared with the
//!    request canonicalised the same way (`..`, `.`, `//`, trailing `/` and symlinks gone);
//! 3. the entry's `(st_dev, st_ino)` when it exists, compared with the request's and each of
//!    its existing ancestors' identities.
//!
//! Comparison is component-wise, never a string prefix: `/home/u/.sshfoo` is not inside
//! `/home/u/.ssh`.
//!
//! # Case-insensitive filesystems
//! On Linux, names are byte strings and the usual filesystems are case-sensitive; case
//! folding happens only on opt-in casefold directories (ext4/f2fs `+F`), vfat/exfat and some
//! network mounts, none of which holds a home directory's dotfiles in a normal setup. Folding
//! in the string comparison would need each filesystem's own Unicode tables and would deny
//! unrelated paths on every other filesystem, so it is not done. The identity check (3) still
//! catches an alias such as `~/.SSH` on a casefold directory, because the alias resolves to
//! the same inode as the denied entry. On macOS (case-insensitive APFS by default) components
//! are compared ASCII-case-insensitively as well.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nono_sandbox::{CapabilitySet, CapsError};

use crate::profile::Vars;

/// One built-in deny group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyGroup {
    /// Name used in profiles (`"groups": {"credentials": true}`) and audit entries.
    pub name: &'static str,
    /// One line for `nono profile show` and docs.
    pub description: &'static str,
    /// Paths on every platform (templates: `~`, `$XDG_*`, see [`Vars`]).
    pub paths: &'static [&'static str],
    /// Additional paths on macOS only.
    pub macos_paths: &'static [&'static str],
}

/// The built-in groups. Every one is on by default; a profile may switch one off.
pub const GROUPS: &[DenyGroup] = &[
    DenyGroup {
        name: "credentials",
        description: "SSH/GPG keys, cloud and cluster credentials, registry and VCS tokens",
        paths: &[
            "~/.ssh",
            "~/.gnupg",
            "~/.aws",
            "~/.kube",
            "~/.docker",
            "~/.netrc",
            "~/.config/gcloud",
            "$XDG_CONFIG_HOME/gcloud",
            "~/.azure",
            "~/.npmrc",
            "~/.yarnrc",
            "~/.pypirc",
            "~/.git-credentials",
            "~/.config/git/credentials",
            "~/.config/gh",
            "$XDG_CONFIG_HOME/gh",
            "~/.config/hub",
            "~/.cargo/credentials",
            "~/.cargo/credentials.toml",
            "~/.gem/credentials",
            "~/.terraform.d/credentials.tfrc.json",
            "~/.vault-token",
            "~/.config/op",
            "~/.oci",
            "~/.boto",
            "~/.s3cfg",
            "~/.pgpass",
            "~/.my.cnf",
            "~/.config/rclone",
            "~/.config/containers/auth.json",
            "$XDG_RUNTIME_DIR/containers/auth.json",
            "~/.m2/settings-security.xml",
        ],
        macos_paths: &[],
    },
    DenyGroup {
        name: "keyrings",
        description: "desktop keyrings, password stores and certificate databases",
        paths: &[
            "~/.local/share/keyrings",
            "$XDG_DATA_HOME/keyrings",
            "~/.password-store",
            "~/.pki",
            "~/.gnome2/keyrings",
            "~/.local/share/kwalletd",
            "$XDG_DATA_HOME/kwalletd",
            "~/.kde/share/apps/kwallet",
        ],
        macos_paths: &["~/Library/Keychains", "/Library/Keychains"],
    },
    DenyGroup {
        name: "browsers",
        description: "browser profiles: cookies, saved passwords, sessions",
        paths: &[
            "~/.mozilla",
            "~/.config/google-chrome",
            "~/.config/chromium",
            "~/.config/BraveSoftware",
            "~/.config/microsoft-edge",
            "~/.config/vivaldi",
            "~/.config/opera",
            "~/snap/firefox",
            "~/snap/chromium",
            "~/.var/app/org.mozilla.firefox",
            "~/.var/app/com.google.Chrome",
            "~/.var/app/org.chromium.Chromium",
        ],
        macos_paths: &[
            "~/Library/Application Support/Google/Chrome",
            "~/Library/Application Support/Chromium",
            "~/Library/Application Support/Firefox",
            "~/Library/Application Support/BraveSoftware",
            "~/Library/Application Support/Microsoft Edge",
            "~/Library/Safari",
            "~/Library/Cookies",
        ],
    },
    DenyGroup {
        name: "shell",
        description: "shell start-up files (code run in every new shell) and history files",
        paths: &[
            "~/.bashrc",
            "~/.bash_profile",
            "~/.bash_login",
            "~/.bash_logout",
            "~/.profile",
            "~/.zshrc",
            "~/.zshenv",
            "~/.zprofile",
            "~/.zlogin",
            "~/.zlogout",
            "~/.config/fish",
            "~/.bash_history",
            "~/.zsh_history",
            "~/.zhistory",
            "~/.sh_history",
            "~/.history",
            "~/.local/share/fish",
            "~/.python_history",
            "~/.node_repl_history",
            "~/.psql_history",
            "~/.mysql_history",
            "~/.sqlite_history",
            "~/.rediscli_history",
            "~/.lesshst",
        ],
        macos_paths: &["~/.zsh_sessions", "~/.bash_sessions"],
    },
    DenyGroup {
        name: "nono",
        description: "nono's own configuration, profiles, audit logs and state",
        paths: &[
            "~/.config/nono",
            "$XDG_CONFIG_HOME/nono",
            "~/.local/state/nono",
            "$XDG_STATE_HOME/nono",
            "~/.local/share/nono",
            "$XDG_DATA_HOME/nono",
            "$XDG_RUNTIME_DIR/nono",
        ],
        macos_paths: &["~/Library/Application Support/nono"],
    },
];

/// Look up a built-in group by name.
#[must_use]
pub fn group(name: &str) -> Option<&'static DenyGroup> {
    GROUPS.iter().find(|g| g.name == name)
}

/// Names of every built-in group.
#[must_use]
pub fn group_names() -> Vec<&'static str> {
    GROUPS.iter().map(|g| g.name).collect()
}

/// Errors building a [`DenySet`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DenyGroupError {
    /// A group name that is not built in.
    #[error("unknown deny group `{name}` (known groups: {known})")]
    Unknown {
        /// The name as given.
        name: String,
        /// Comma-separated built-in names.
        known: String,
    },
    /// A deny path could not be added.
    #[error("deny group {group}: {source}")]
    Path {
        /// The group.
        group: String,
        /// What went wrong with the path.
        #[source]
        source: CapsError,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    /// As expanded, `.`/`//` normalised.
    literal: PathBuf,
    /// Canonical (lenient: the missing tail appended).
    canonical: PathBuf,
    group: String,
}

/// A set of denied paths, each tagged with its group. Cheap to query from many threads.
#[derive(Debug, Clone, Default)]
pub struct DenySet {
    entries: Vec<Entry>,
    /// `(literal, canonical)` of every entry, to drop duplicates without a linear scan (both
    /// are clean paths, so their bytes compare like their components).
    seen: HashSet<(OsString, OsString)>,
    /// `(st_dev, st_ino)` of entries that existed when added → index into `entries`.
    ids: HashMap<(u64, u64), usize>,
}

impl DenySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> DenySet {
        DenySet::default()
    }

    /// Every built-in group.
    pub fn all(vars: &Vars) -> Result<DenySet, DenyGroupError> {
        DenySet::from_groups(group_names(), vars)
    }

    /// The named built-in groups. Entries whose variables are unset here (for example
    /// `$XDG_RUNTIME_DIR`) are skipped; entries that do not exist are still denied (they may
    /// be created later).
    pub fn from_groups<'a>(
        names: impl IntoIterator<Item = &'a str>,
        vars: &Vars,
    ) -> Result<DenySet, DenyGroupError> {
        let mut set = DenySet::new();
        // The groups' paths share a few ancestors (`~`, `~/.config`, `~/.local/share`):
        // resolve each of those once for the whole set.
        let mut resolver = Resolver::default();
        for name in names {
            let g = group(name).ok_or_else(|| DenyGroupError::Unknown {
                name: name.to_owned(),
                known: group_names().join(", "),
            })?;
            let platform: &[&str] = if cfg!(target_os = "macos") {
                g.macos_paths
            } else {
                &[]
            };
            for template in g.paths.iter().chain(platform) {
                let Ok(path) = vars.expand(template) else {
                    continue;
                };
                set.add_with(&mut resolver, &path, g.name)
                    .map_err(|source| DenyGroupError::Path {
                        group: g.name.to_owned(),
                        source,
                    })?;
            }
        }
        Ok(set)
    }

    /// Add one absolute path under `group` (a built-in name or a label such as `"profile"`).
    pub fn add(&mut self, path: &Path, group: &str) -> Result<&mut DenySet, CapsError> {
        self.add_with(&mut Resolver::default(), path, group)
    }

    fn add_with(
        &mut self,
        resolver: &mut Resolver,
        path: &Path,
        group: &str,
    ) -> Result<&mut DenySet, CapsError> {
        if !path.is_absolute() {
            return Err(CapsError::Relative {
                path: path.to_path_buf(),
            });
        }
        let literal = normalise(path);
        let (canonical, meta) = resolver.resolve(path);
        if !self.seen.insert((
            literal.clone().into_os_string(),
            canonical.clone().into_os_string(),
        )) {
            return Ok(self);
        }
        if let Some(meta) = meta {
            self.ids
                .entry((meta.dev(), meta.ino()))
                .or_insert(self.entries.len());
        }
        self.entries.push(Entry {
            literal,
            canonical,
            group: group.to_owned(),
        });
        Ok(self)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(path as expanded, group)` for every entry, in insertion order.
    pub fn entries(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.entries
            .iter()
            .map(|e| (e.literal.as_path(), e.group.as_str()))
    }

    /// The group that denies `path`, if any. `path` should be absolute (the broker passes
    /// resolved absolute paths); a relative path is never matched here, so callers must
    /// refuse relative paths themselves (the policy engine does).
    #[must_use]
    pub fn group_of(&self, path: &Path) -> Option<&str> {
        if !path.is_absolute() || self.entries.is_empty() {
            return None;
        }
        let literal = normalise(path);
        let canonical = canonicalize_lenient(path);
        for e in &self.entries {
            for candidate in [&literal, &canonical] {
                if starts_with(candidate, &e.literal) || starts_with(candidate, &e.canonical) {
                    return Some(&e.group);
                }
            }
        }
        if !self.ids.is_empty() {
            let mut cursor = Some(canonical.as_path());
            while let Some(p) = cursor {
                if let Ok(meta) = std::fs::metadata(p) {
                    if let Some(&i) = self.ids.get(&(meta.dev(), meta.ino())) {
                        return Some(&self.entries[i].group);
                    }
                }
                cursor = p.parent();
            }
        }
        None
    }

    /// Add every entry to `caps` as a deny carve-out with origin `"group NAME"`.
    pub fn apply_to(&self, caps: &mut CapabilitySet) -> Result<(), CapsError> {
        let mut denies = Vec::with_capacity(self.entries.len() * 2);
        for e in &self.entries {
            denies.push((&e.literal, format!("group {}", e.group)));
            if e.canonical != e.literal {
                denies.push((&e.canonical, format!("group {}", e.group)));
            }
        }
        caps.deny_many(denies)?;
        Ok(())
    }
}

/// Component-wise prefix test (ASCII-case-insensitive on macOS, see the module docs).
fn starts_with(path: &Path, prefix: &Path) -> bool {
    let mut p = path.components();
    for want in prefix.components() {
        match p.next() {
            Some(have) if component_eq(have.as_os_str(), want.as_os_str()) => {}
            _ => return false,
        }
    }
    true
}

fn component_eq(a: &OsStr, b: &OsStr) -> bool {
    if cfg!(target_os = "macos") {
        a.as_encoded_bytes()
            .eq_ignore_ascii_case(b.as_encoded_bytes())
    } else {
        a == b
    }
}

/// Drop `.` components, repeated and trailing slashes; `..` is resolved lexically (only used
/// for the lexical form; the canonical form resolves it on disk).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Canonicalise the longest existing ancestor and append the rest, resolving `..` in the
/// missing tail lexically (the kernel would fail such a lookup anyway, so erring towards the
/// parent only ever makes a match more likely).
pub(crate) fn canonicalize_lenient(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let comps: Vec<Component<'_>> = path.components().collect();
    for split in (0..comps.len()).rev() {
        let head: PathBuf = comps[..split].iter().collect();
        if head.as_os_str().is_empty() {
            continue;
        }
        if let Ok(mut base) = std::fs::canonicalize(&head) {
            for c in &comps[split..] {
                match c {
                    Component::CurDir => {}
                    Component::ParentDir => {
                        base.pop();
                    }
                    other => base.push(other.as_os_str()),
                }
            }
            return base;
        }
    }
    normalise(path)
}

/// [`canonicalize_lenient`] for many paths at once, with every resolved prefix remembered:
/// one `lstat` per component not seen before, where `realpath` costs a `readlink` per
/// component and the lenient fallback repeats it for every ancestor it tries. The result is
/// the same (a test compares the two): the longest prefix whose components all resolve is
/// canonicalised (a symlink through `std::fs::canonicalize`), the rest is appended with `..`
/// resolved lexically.
///
/// Only for building a set at one moment: a remembered prefix is not checked again.
#[derive(Debug, Default)]
struct Resolver {
    /// A prefix of a path as given (`.` dropped) → its resolution.
    memo: HashMap<OsString, Step>,
}

/// A prefix, resolved.
#[derive(Debug, Clone)]
struct Step {
    /// Canonical while `exists`; afterwards the canonical part with the rest appended.
    path: PathBuf,
    /// Every component so far resolved (once false, the rest is lexical).
    exists: bool,
    /// Whether `path` is an existing directory (`..` after a non-directory does not resolve).
    dir: bool,
    /// `..` was applied lexically, so the result may exist although `exists` is false.
    lexical_parent: bool,
}

impl Resolver {
    /// The lenient canonical form of the absolute `path`, and its metadata when it exists.
    fn resolve(&mut self, path: &Path) -> (PathBuf, Option<Metadata>) {
        let mut cur = Step {
            path: PathBuf::from("/"),
            exists: true,
            dir: true,
            lexical_parent: false,
        };
        let mut key = PathBuf::from("/");
        let mut meta: Option<Metadata> = None;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
                Component::ParentDir => key.push(".."),
                Component::Normal(name) => key.push(name),
            }
            if let Some(known) = self.memo.get(key.as_os_str()) {
                cur = known.clone();
                meta = None;
                continue;
            }
            meta = None;
            match c {
                Component::ParentDir => {
                    if cur.exists && !cur.dir {
                        cur.exists = false;
                    }
                    if !cur.exists {
                        cur.lexical_parent = true;
                    }
                    cur.path.pop();
                }
                Component::Normal(name) if cur.exists => {
                    let next = cur.path.join(name);
                    match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => {
                            match std::fs::canonicalize(&next)
                                .and_then(|p| std::fs::metadata(&p).map(|m| (p, m)))
                            {
                                Ok((p, m)) => {
                                    cur.path = p;
                                    cur.dir = m.is_dir();
                                    meta = Some(m);
                                }
                                Err(_) => {
                                    cur.path = next;
                                    cur.exists = false;
                                }
                            }
                        }
                        Ok(m) => {
                            cur.path = next;
                            cur.dir = m.is_dir();
                            meta = Some(m);
                        }
                        Err(_) => {
                            cur.path = next;
                            cur.exists = false;
                        }
                    }
                }
                Component::Normal(name) => cur.path.push(name),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
            self.memo.insert(key.as_os_str().to_owned(), cur.clone());
        }
        let meta = if cur.exists || cur.lexical_parent {
            meta.or_else(|| std::fs::metadata(&cur.path).ok())
        } else {
            None
        };
        (cur.path, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nono-deny-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        std::fs::create_dir_all(dir.join(".sshfoo")).unwrap();
        std::fs::create_dir_all(dir.join("proj")).unwrap();
        std::fs::write(dir.join(".ssh/id_ed25519"), b"k").unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn prefix_traps_and_path_spellings() {
        let h = home("t1");
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        let s = |p: &str| set.group_of(&h.join(p)).map(str::to_owned);
        assert_eq!(s(".ssh").as_deref(), Some("credentials"));
        assert_eq!(s(".ssh/").as_deref(), Some("credentials"));
        assert_eq!(s(".ssh/id_ed25519").as_deref(), Some("credentials"));
        assert_eq!(s(".ssh//id_ed25519").as_deref(), Some("credentials"));
        assert_eq!(s("./.ssh/./id_ed25519").as_deref(), Some("credentials"));
        assert_eq!(s("proj/../.ssh/id_ed25519").as_deref(), Some("credentials"));
        assert_eq!(s(".ssh/new-file-not-there").as_deref(), Some("credentials"));
        assert_eq!(s(".sshfoo"), None);
        assert_eq!(s(".sshfoo/x"), None);
        assert_eq!(s(".ss"), None);
        assert_eq!(s("proj/.ssh"), None);
        assert_eq!(s("proj/x"), None);
        assert_eq!(s(".bashrc").as_deref(), Some("shell"));
        assert_eq!(s(".config/nono/profiles/x.json").as_deref(), Some("nono"));
        assert_eq!(s(".mozilla/firefox").as_deref(), Some("browsers"));
        assert_eq!(
            s(".local/share/keyrings/login.keyring").as_deref(),
            Some("keyrings")
        );
        assert_eq!(s(".cargo/credentials.toml").as_deref(), Some("credentials"));
        assert_eq!(s(".cargo/registry"), None);
        assert_eq!(
            set.group_of(Path::new(".ssh")),
            None,
            "relative never matches"
        );
    }

    #[test]
    fn symlink_aliases_are_caught() {
        let h = home("t2");
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        let link = h.join("proj/keys");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(h.join(".ssh"), &link).unwrap();
        assert_eq!(set.group_of(&link.join("id_ed25519")), Some("credentials"));
        assert_eq!(set.group_of(&link), Some("credentials"));
    }

    #[test]
    fn a_denied_path_reached_through_a_symlinked_home_is_caught() {
        let h = home("t3");
        let alias = std::env::temp_dir().join(format!("nono-deny-alias-{}", std::process::id()));
        let _ = std::fs::remove_file(&alias);
        std::os::unix::fs::symlink(&h, &alias).unwrap();
        // Groups expanded for the symlinked spelling of $HOME, queried with the real one
        // and the other way round.
        let set = DenySet::all(&Vars::for_home(&alias)).unwrap();
        assert_eq!(
            set.group_of(&h.join(".ssh/id_ed25519")),
            Some("credentials")
        );
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert_eq!(
            set.group_of(&alias.join(".ssh/id_ed25519")),
            Some("credentials")
        );
        assert_eq!(set.group_of(&alias.join(".sshfoo")), None);
    }

    #[test]
    fn resolver_agrees_with_canonicalize_lenient() {
        let h = home("t5");
        std::fs::create_dir_all(h.join("real/sub")).unwrap();
        std::fs::write(h.join("real/file"), b"x").unwrap();
        std::os::unix::fs::symlink(h.join("real"), h.join("link")).unwrap();
        std::os::unix::fs::symlink("real/sub", h.join("rel")).unwrap();
        std::os::unix::fs::symlink(h.join("nowhere"), h.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", h.join("loop")).unwrap();
        let cases = [
            "",
            ".ssh",
            ".ssh/id_ed25519",
            ".ssh/missing",
            "missing",
            "missing/deeper/x",
            "link",
            "link/sub",
            "link/sub/missing",
            "link/../proj",
            "rel",
            "rel/..",
            "rel/../file",
            "real/file",
            "real/file/x",
            "real/file/..",
            "real/file/../sub",
            "missing/../proj",
            "missing/../link/sub",
            "dangling",
            "dangling/x",
            "dangling/../proj",
            "loop",
            "loop/x",
            "./proj/./x",
            "proj//x/",
            "../..",
            "proj/../../..",
            "real/sub/../../.ssh",
        ];
        let mut shared = Resolver::default();
        for case in cases {
            let p = h.join(case);
            let want = canonicalize_lenient(&p);
            let want_id = std::fs::metadata(&want).ok().map(|m| (m.dev(), m.ino()));
            for resolver in [&mut shared, &mut Resolver::default()] {
                let (got, meta) = resolver.resolve(&p);
                assert_eq!(got, want, "{case}");
                assert_eq!(meta.map(|m| (m.dev(), m.ino())), want_id, "{case}");
            }
        }
    }

    #[test]
    fn unknown_group_is_an_error_listing_the_known_ones() {
        let e = DenySet::from_groups(["credentails"], &Vars::for_home("/home/u")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("credentails") && msg.contains("credentials"),
            "{msg}"
        );
    }

    #[test]
    fn apply_to_adds_carve_outs_with_group_origin() {
        let h = home("t4");
        let set = DenySet::from_groups(["credentials"], &Vars::for_home(&h)).unwrap();
        let mut caps = CapabilitySet::new();
        set.apply_to(&mut caps).unwrap();
        assert!(caps
            .denies()
            .iter()
            .any(|d| d.path == h.join(".ssh") && d.origin == "group credentials"));
    }

    #[test]
    fn runtime_dir_entries_are_skipped_when_unset() {
        let set = DenySet::from_groups(["nono"], &Vars::for_home("/home/nobody-here")).unwrap();
        assert!(set.entries().all(|(p, _)| !p.starts_with("$XDG")));
        assert!(!set.is_empty());
    }
}

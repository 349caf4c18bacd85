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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

// `clean_bases`: the prefixes `under_clean` (on Linux `clean_within`) accepts, for lookups.
use nono_sandbox::paths::{
    canonicalize_for_deny, clean_bases, clean_prefixes, clean_within, is_clean, normalize,
};
use nono_sandbox::{AccessMode, CapabilitySet, CapsError, DenyKind, Origin, Seen};

pub(crate) use crate::link_walk_cache::StampCheck;

use crate::ancestor_memo::AncestorMemo;
use crate::chain_walk::WalkMemo;
use crate::vars::Vars;
use crate::walked::{Unseen, Walked};

/// One path of a deny group, with why it is there when the group's description does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyPath {
    /// A template: `~`, `$XDG_*` (see [`Vars`]).
    pub path: &'static str,
    /// Why this path is protected (empty: the group's description says it).
    pub why: &'static str,
}

/// A path whose group description says why.
const fn p(path: &'static str) -> DenyPath {
    DenyPath { path, why: "" }
}

/// A path with its own reason.
const fn why(path: &'static str, why: &'static str) -> DenyPath {
    DenyPath { path, why }
}

/// One built-in deny group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyGroup {
    /// Name used in profiles (`"groups": {"credentials": true}`) and audit entries.
    pub name: &'static str,
    /// One line for `nono profile show` and docs.
    pub description: &'static str,
    /// Every access denied, or writing only (the paths stay readable as the grants allow).
    pub kind: DenyKind,
    /// Whether a profile may switch the group off (`"groups": {NAME: false}`).
    pub optional: bool,
    /// Paths on every platform.
    pub paths: &'static [DenyPath],
    /// Additional paths on macOS only.
    pub macos_paths: &'static [DenyPath],
}

/// Why the user's MIME associations are protected (red team 15).
const MIMEAPPS: &str = "the default application for each file and URL type: `xdg-open` (also \
                        nono's URL opener) runs the Exec= line of the desktop entry it names, \
                        which may be any file a `../` in the name reaches";
/// Why Xfce's preferred applications are protected (red team 15).
const XFCE_HELPERS: &str = "Xfce's preferred applications: `exo-open` (`xdg-open` under Xfce, \
                            also nono's URL opener) runs the command of the helper they name";
/// Reason shared by the paths on `PATH`.
const ON_PATH: &str = "a directory on PATH: a program placed or replaced here runs outside the \
                       sandbox the next time you type its name";
/// Reason for the directories of the user's `$PATH` inside the home directory.
const PATH_ENV: &str = "a directory on your PATH: a program placed or replaced here runs \
                        outside the sandbox the next time you type its name";
/// Reason shared by git's configuration.
const GIT_CONFIG: &str = "git configuration: git outside the sandbox runs the commands it names \
                          (core.fsmonitor, core.pager, core.hooksPath, `!` aliases, filters)";
/// Reason shared by the login-session files.
const SESSION: &str = "read by the desktop or login session: the programs and environment \
                       (LD_PRELOAD, PATH) named here start with your next login";
/// Reason shared by toolchain and version-manager installs.
const TOOLCHAINS: &str = "installed interpreters, compilers and their shims on PATH: a binary \
                          or library changed here runs the next time you build or run \
                          outside the sandbox";
/// Reason shared by coding agents' configuration (their hooks and MCP servers).
const AGENT: &str = "a coding agent's configuration: the hooks, MCP servers and commands it \
                     names run when you next start the agent outside the sandbox";
/// Reason shared by editors' configuration.
const EDITOR: &str = "editor configuration and plugins: code in them runs when you next open \
                      the editor outside the sandbox";

/// The built-in groups. Every one is on by default; a profile may switch off those that are
/// `optional`.
pub const GROUPS: &[DenyGroup] = &[
    DenyGroup {
        name: "credentials",
        kind: DenyKind::All,
        optional: true,
        description: "SSH/GPG keys, cloud and cluster credentials, registry and VCS tokens",
        paths: &[
            p("~/.ssh"),
            p("~/.gnupg"),
            p("~/.aws"),
            p("~/.kube"),
            p("~/.docker"),
            p("~/.netrc"),
            p("~/.config/gcloud"),
            p("$XDG_CONFIG_HOME/gcloud"),
            p("~/.azure"),
            p("~/.npmrc"),
            p("~/.yarnrc"),
            p("~/.pypirc"),
            p("~/.git-credentials"),
            p("~/.config/git/credentials"),
            p("~/.config/gh"),
            p("$XDG_CONFIG_HOME/gh"),
            p("~/.config/hub"),
            p("~/.cargo/credentials"),
            p("~/.cargo/credentials.toml"),
            p("~/.gem/credentials"),
            p("~/.terraform.d/credentials.tfrc.json"),
            p("~/.vault-token"),
            p("~/.config/op"),
            p("~/.oci"),
            p("~/.boto"),
            p("~/.s3cfg"),
            p("~/.pgpass"),
            p("~/.my.cnf"),
            p("~/.config/rclone"),
            p("~/.config/containers/auth.json"),
            p("$XDG_RUNTIME_DIR/containers/auth.json"),
            p("~/.m2/settings-security.xml"),
        ],
        macos_paths: &[],
    },
    DenyGroup {
        name: "keyrings",
        kind: DenyKind::All,
        optional: true,
        description: "desktop keyrings, password stores and certificate databases",
        paths: &[
            p("~/.local/share/keyrings"),
            p("$XDG_DATA_HOME/keyrings"),
            p("~/.password-store"),
            p("~/.pki"),
            p("~/.gnome2/keyrings"),
            p("~/.local/share/kwalletd"),
            p("$XDG_DATA_HOME/kwalletd"),
            p("~/.kde/share/apps/kwallet"),
        ],
        macos_paths: &[p("~/Library/Keychains"), p("/Library/Keychains")],
    },
    DenyGroup {
        name: "browsers",
        kind: DenyKind::All,
        optional: true,
        description: "browser profiles: cookies, saved passwords, sessions",
        paths: &[
            p("~/.mozilla"),
            p("~/.config/google-chrome"),
            p("~/.config/chromium"),
            p("~/.config/BraveSoftware"),
            p("~/.config/microsoft-edge"),
            p("~/.config/vivaldi"),
            p("~/.config/opera"),
            p("~/snap/firefox"),
            p("~/snap/chromium"),
            p("~/.var/app/org.mozilla.firefox"),
            p("~/.var/app/com.google.Chrome"),
            p("~/.var/app/org.chromium.Chromium"),
        ],
        macos_paths: &[
            p("~/Library/Application Support/Google/Chrome"),
            p("~/Library/Application Support/Chromium"),
            p("~/Library/Application Support/Firefox"),
            p("~/Library/Application Support/BraveSoftware"),
            p("~/Library/Application Support/Microsoft Edge"),
            p("~/Library/Safari"),
            p("~/Library/Cookies"),
        ],
    },
    DenyGroup {
        name: "shell",
        kind: DenyKind::All,
        optional: true,
        description: "shell start-up files (code run in every new shell) and history files",
        paths: &[
            p("~/.bashrc"),
            p("~/.bash_aliases"),
            // Sourced by the stock ~/.bashrc of Fedora and RHEL.
            p("~/.bashrc.d"),
            p("~/.bash_profile"),
            p("~/.bash_login"),
            p("~/.bash_logout"),
            p("~/.profile"),
            p("~/.zshrc"),
            p("~/.zshenv"),
            p("~/.zprofile"),
            p("~/.zlogin"),
            p("~/.zlogout"),
            p("~/.config/fish"),
            p("~/.bash_history"),
            p("~/.zsh_history"),
            p("~/.zhistory"),
            p("~/.sh_history"),
            p("~/.history"),
            p("~/.local/share/fish"),
            p("~/.python_history"),
            p("~/.node_repl_history"),
            p("~/.psql_history"),
            p("~/.mysql_history"),
            p("~/.sqlite_history"),
            p("~/.rediscli_history"),
            p("~/.lesshst"),
        ],
        macos_paths: &[p("~/.zsh_sessions"), p("~/.bash_sessions")],
    },
    DenyGroup {
        name: "nono",
        description: "nono's own configuration, profiles, audit logs and state (always on: a \
                      run that could change them could widen every later run)",
        kind: DenyKind::All,
        optional: false,
        paths: &[
            p("~/.config/nono"),
            p("$XDG_CONFIG_HOME/nono"),
            p("~/.local/state/nono"),
            p("$XDG_STATE_HOME/nono"),
            p("~/.local/share/nono"),
            p("$XDG_DATA_HOME/nono"),
            p("$XDG_RUNTIME_DIR/nono"),
        ],
        macos_paths: &[p("~/Library/Application Support/nono")],
    },
    DenyGroup {
        name: "autorun",
        description: "files that make code run outside the sandbox later: programs on PATH, \
                      tools' configuration that names commands, login and autostart entries \
                      (read-only: tools in the sandbox can still read them)",
        kind: DenyKind::Write,
        optional: true,
        paths: &[
            why("~/.gitconfig", GIT_CONFIG),
            why("~/.config/git", GIT_CONFIG),
            why("$XDG_CONFIG_HOME/git", GIT_CONFIG),
            why("~/.local/bin", ON_PATH),
            why("~/bin", ON_PATH),
            why("~/.cargo/bin", ON_PATH),
            why("~/go/bin", ON_PATH),
            why("~/.npm-global/bin", ON_PATH),
            why("~/.rustup", TOOLCHAINS),
            why("~/.pyenv", TOOLCHAINS),
            why("~/.nvm", TOOLCHAINS),
            why("~/.volta", TOOLCHAINS),
            why("$XDG_DATA_HOME/fnm", TOOLCHAINS),
            why("$XDG_DATA_HOME/mise", TOOLCHAINS),
            why("~/.asdf", TOOLCHAINS),
            why("~/.sdkman", TOOLCHAINS),
            why("~/.bun/bin", ON_PATH),
            why("~/.deno/bin", ON_PATH),
            why("~/miniconda3", TOOLCHAINS),
            why("~/anaconda3", TOOLCHAINS),
            why("~/.conda", TOOLCHAINS),
            why(
                "~/.local/lib",
                "user site-packages: a .pth file or usercustomize.py here runs in every \
                 python started outside the sandbox",
            ),
            why(
                "~/.config/autostart",
                "desktop autostart entries: started with your next graphical login",
            ),
            why(
                "$XDG_CONFIG_HOME/autostart",
                "desktop autostart entries: started with your next graphical login",
            ),
            why(
                "~/.config/systemd/user",
                "systemd user units: started by your user manager (at login, on a timer)",
            ),
            why(
                "$XDG_CONFIG_HOME/systemd/user",
                "systemd user units: started by your user manager (at login, on a timer)",
            ),
            why("~/.config/environment.d", SESSION),
            why("$XDG_CONFIG_HOME/environment.d", SESSION),
            why("~/.pam_environment", SESSION),
            why("~/.xprofile", SESSION),
            why("~/.xsession", SESSION),
            why("~/.xsessionrc", SESSION),
            why("~/.xinitrc", SESSION),
            why(
                "~/.local/share/applications",
                "desktop entries: their Exec= line runs when a file is opened with them or \
                 they are picked from a menu",
            ),
            why(
                "$XDG_DATA_HOME/applications",
                "desktop entries: their Exec= line runs when a file is opened with them or \
                 they are picked from a menu",
            ),
            why("~/.config/mimeapps.list", MIMEAPPS),
            why("$XDG_CONFIG_HOME/mimeapps.list", MIMEAPPS),
            why("~/.config/gnome-mimeapps.list", MIMEAPPS),
            why("~/.config/ubuntu-mimeapps.list", MIMEAPPS),
            why("~/.config/kde-mimeapps.list", MIMEAPPS),
            why("~/.config/xfce-mimeapps.list", MIMEAPPS),
            why("~/.config/x-cinnamon-mimeapps.list", MIMEAPPS),
            why("~/.config/mate-mimeapps.list", MIMEAPPS),
            why("~/.config/lxqt-mimeapps.list", MIMEAPPS),
            why("~/.config/budgie-mimeapps.list", MIMEAPPS),
            why("~/.config/xfce4/helpers.rc", XFCE_HELPERS),
            why("$XDG_CONFIG_HOME/xfce4/helpers.rc", XFCE_HELPERS),
            why("~/.local/share/xfce4/helpers", XFCE_HELPERS),
            why("$XDG_DATA_HOME/xfce4/helpers", XFCE_HELPERS),
            why(
                "~/.local/share/direnv/allow",
                "direnv's allow list: an allowed .envrc runs in your shell on `cd`",
            ),
            why(
                "~/.config/direnv",
                "direnv's configuration: direnvrc runs in your shell on `cd`",
            ),
            why(
                "~/.tmux.conf",
                "tmux configuration: run-shell and hooks run when tmux starts",
            ),
            why(
                "~/.config/tmux",
                "tmux configuration: run-shell and hooks run when tmux starts",
            ),
            why(
                "~/.local/share/systemd/user",
                "systemd user units: they take precedence over the vendor's, so a unit named \
                 like an enabled one starts at your next login",
            ),
            why(
                "$XDG_DATA_HOME/systemd/user",
                "systemd user units: they take precedence over the vendor's, so a unit named \
                 like an enabled one starts at your next login",
            ),
            why(
                "~/.local/share/dbus-1/services",
                "D-Bus session services: started on demand when a program asks for the name",
            ),
            why("~/.config/plasma-workspace/env", SESSION),
            why("~/.config/plasma-workspace/shutdown", SESSION),
            why(
                "~/.cargo/env",
                "rustup's environment script, sourced by your shell's rc files",
            ),
            why(
                "~/.deno/env",
                "deno's environment script, sourced by your shell's rc files",
            ),
            why(
                "~/.ghcup/env",
                "ghcup's environment script, sourced by your shell's rc files",
            ),
            why("~/.ghcup/bin", ON_PATH),
            why("~/.yarn/bin", ON_PATH),
            why("~/.local/share/pnpm", ON_PATH),
            why("~/.dotnet/tools", ON_PATH),
            why(
                "~/.hgrc",
                "Mercurial configuration: hooks and aliases run commands",
            ),
            why("~/.gdbinit", "gdb runs its commands when it starts"),
            why("~/.pdbrc", "pdb runs its commands when it starts"),
            why("~/.Rprofile", "R runs it when it starts"),
            why("~/.irbrc", "irb runs it when it starts"),
            why(
                "~/.inputrc",
                "readline configuration: a macro types commands into your shell",
            ),
            why(
                "~/.mailcap",
                "the commands that open attachments and files by type",
            ),
            why(
                "~/.gradle/init.d",
                "Gradle runs these scripts in every build",
            ),
            why(
                "~/.ipython/profile_default/startup",
                "IPython runs these scripts when it starts",
            ),
            why("~/.config/i3", SESSION),
            why("~/.vimrc", EDITOR),
            why("~/.vim", EDITOR),
            why("~/.config/nvim", EDITOR),
            why("~/.emacs", EDITOR),
            why("~/.emacs.d", EDITOR),
            why("~/.config/Code/User", EDITOR),
            why("~/.vscode/extensions", EDITOR),
            why("~/.config/VSCodium/User", EDITOR),
            why("~/.config/Cursor/User", EDITOR),
            why("~/.config/Windsurf/User", EDITOR),
            // The forks' own extension directories, as `~/.vscode/extensions` (red team 22).
            why("~/.vscode-oss/extensions", EDITOR),
            why("~/.cursor/extensions", EDITOR),
            why("~/.windsurf/extensions", EDITOR),
            why("~/.config/zed", EDITOR),
            why("$XDG_CONFIG_HOME/zed", EDITOR),
            why("~/.claude.json", AGENT),
            why("~/.claude/settings.json", AGENT),
            why("~/.claude/settings.local.json", AGENT),
            why("~/.claude/hooks", AGENT),
            why("~/.claude/plugins", AGENT),
            why(
                "~/.claude/commands",
                "Claude Code's slash commands: a `!` line in one runs a shell command when \
                 you invoke it outside the sandbox",
            ),
            why("~/.config/Claude/claude_desktop_config.json", AGENT),
            why("~/.codex/config.toml", AGENT),
            why("~/.gemini/settings.json", AGENT),
            why(
                "~/.gemini/extensions",
                "Gemini CLI's extensions: the MCP servers each one declares start when you \
                 next start Gemini CLI outside the sandbox",
            ),
            why("~/.cursor/mcp.json", AGENT),
            why("~/.cursor/hooks.json", AGENT),
            why("~/.codeium/windsurf/mcp_config.json", AGENT),
            why("~/.config/opencode", AGENT),
            why("$XDG_CONFIG_HOME/opencode", AGENT),
            why("~/.config/goose/config.yaml", AGENT),
            why("~/.continue/config.json", AGENT),
            why("~/.continue/config.yaml", AGENT),
            why(
                "~/.aider.conf.yml",
                "aider's configuration: its lint and test commands run when you next start \
                 aider outside the sandbox",
            ),
        ],
        macos_paths: &[why(
            "~/Library/LaunchAgents",
            "launchd agents: started at your next login",
        )],
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
    /// A protected directory could not be looked through for symlinks (red team 14: out of
    /// descriptors): what its links lead to would go unprotected.
    #[error(
        "looking for symlinks inside the protected path {}: {source}; nothing was started \
         (for \"Too many open files\", raise the limit and run again: `ulimit -n 4096`)",
        crate::escape::path(entry)
    )]
    Walk {
        /// The deny entry walked.
        entry: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    /// As expanded, `.`/`//` normalised.
    literal: PathBuf,
    /// Canonical (lenient: the missing tail appended).
    canonical: PathBuf,
    /// The label shown and audited: the group's name, or `profile NAME`.
    group: String,
    /// Where the entry came from, typed (what `group` is the text of).
    origin: Origin,
    kind: DenyKind,
    /// Why the path is protected (empty: the group's description).
    why: String,
    /// Whether `canonical` was an existing directory when the entry was added (the only
    /// entries the link walk looks into; known from resolving it, so not looked up again).
    dir: bool,
    /// Whether the path as expanded was a symlink when the entry was added (`None`: not
    /// known from resolving it, looked up by the link walk).
    link: Option<bool>,
}

impl Entry {
    fn as_match(&self) -> DenyMatch<'_> {
        DenyMatch {
            group: &self.group,
            origin: &self.origin,
            kind: self.kind,
            why: &self.why,
        }
    }
}

/// What [`DenySet::verdict`] says of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyVerdict<'a> {
    /// An entry refuses the access.
    Denied(DenyMatch<'a>),
    /// No entry covers the path by name, and the identity walk saw its directory and found
    /// none above (or no entry has an identity).
    Clear,
    /// No entry covers the path by name, but the identity walk could not see its directory:
    /// whether it lies beneath an entry reached by another name is not known.
    Unchecked {
        /// What kept the walk from seeing the directory.
        why: Unseen,
        /// An entry whose identity the walk's fallback (a `stat` of each ancestor by name,
        /// following symlinks) met: evidence that the path is protected, never that it is
        /// not — the names may have led elsewhere a moment before or after.
        by_name: Option<DenyMatch<'a>>,
    },
}

/// The identities [`DenySet::object_beneath`] and [`DenySet::missing_made_by`] look up.
#[derive(Debug, Clone, Default)]
struct Known {
    /// Every existing entry, link kept in place, and directory above an entry or such a link.
    above: HashMap<(u64, u64), Beneath>,
    /// For each missing entry (an index into `entries`): its deepest existing directory and
    /// the name below it on the entry's path.
    /// The value: the entry, and the path the name has on the entry's own path.
    missing: HashMap<((u64, u64), OsString), (usize, PathBuf)>,
    /// The path each identity of `above` was read at (the first, when several name it): a
    /// directory met by the identity walk under another name gives the request the name it
    /// has on the user's own paths (see [`Probe::own_paths`], red team 29).
    own: crate::ancestor_memo::OwnPaths,
}

/// What an object [`DenySet::object_beneath`] knows is, or lies above.
#[derive(Debug, Clone, Copy)]
enum Beneath {
    /// An entry (an index into `entries`): the object itself, or a directory above it.
    Entry(usize),
    /// A link kept in place (an index into `links`): the link itself, or a directory above
    /// it.
    Link(usize),
}

/// The deny entry that covers a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyMatch<'a> {
    /// The group (or label such as `profile NAME`), as shown and audited.
    pub group: &'a str,
    /// Where the entry came from: a built-in group ([`Origin::Group`]) or a profile's own
    /// deny list ([`Origin::ProfileDeny`]). Decide on this, never on `group`'s text.
    pub origin: &'a Origin,
    /// Every access or writing only.
    pub kind: DenyKind,
    /// Why the entry is protected (empty: the group's description says it).
    pub why: &'a str,
}

/// About how many entries the built-in groups resolve to in a home with a few toolchains
/// (177 here, with 237 resolved prefixes and 169 `lstat`s): the size the start-up's tables
/// are made at, so that they do not grow (and copy) on the way. Only a size hint.
const GROUP_ENTRIES: usize = 256;

/// Entries looked at per deny entry when resolving the symlinks inside it (see
/// [`DenySet::from_groups`]).
pub const LINK_WALK_ENTRIES: usize = 1024;
/// Entries looked at over all deny entries for symlinks.
pub const LINK_WALK_TOTAL: usize = 16 * 1024;
pub use crate::link_walk_cache::LINK_WALK_DEPTH;

/// A deny entry whose walk for symlinks stopped at its bounds ([`LINK_WALK_ENTRIES`],
/// [`LINK_WALK_TOTAL`], [`LINK_WALK_DEPTH`]): where the links past them lead is not denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwalked {
    /// The entry (canonical).
    pub root: PathBuf,
    /// Its kind: which grants a target the walk missed could be changed through
    /// ([`DenyKind::removes`]).
    pub kind: DenyKind,
    /// Whether an earlier start told the user ([`remember_announced`]).
    pub announced: bool,
}

/// Remember that the user was told about these cut walks ([`Unwalked::root`]), in the
/// start-up cache of `vars`' state directory, so later starts need not say it again. Best
/// effort: when it cannot be written, the next start says it again.
pub fn remember_announced(vars: &Vars, roots: &[PathBuf]) {
    crate::link_walk_cache::LinkWalkCache::remember_announced(&vars.xdg_state_home, roots);
}

/// A set of denied paths, each tagged with its group. Cheap to query from many threads.
#[derive(Debug, Clone, Default)]
pub struct DenySet {
    entries: Vec<Entry>,
    /// `(st_dev, st_ino)` of entries that existed when added → index into `entries`.
    ids: HashMap<(u64, u64), usize>,
    /// Deny entries whose symlinks were not all resolved (walk cut at the bounds).
    unwalked: Vec<Unwalked>,
    /// Symlinks on the way from a deny entry to what it means (the entry itself when it is a
    /// link, links in a chain), protected as links: their own location, not followed (see
    /// [`CapabilitySet::deny_link_kind`]). `(link, group, kind)`.
    links: Vec<(PathBuf, Origin, DenyKind)>,
    /// The paths of `links`, to add each once without a scan per link.
    link_paths: HashSet<PathBuf>,
    /// Both forms (`literal`, `canonical`) of every entry → indices into `entries`, to find
    /// the entries covering a path by its ancestors (see [`clean_bases`]) rather than by a
    /// scan over every entry: a scan per link target added (and per request) is quadratic in
    /// the thousands of targets a `PATH` full of links can add (seconds of start-up).
    by_path: HashMap<OsString, Vec<usize>>,
    /// The identity walk over a request's ancestors, remembered per directory (see
    /// [`AncestorMemo`]); emptied whenever `ids` changes.
    ancestors: AncestorMemo,
    /// The identities of every entry, of every link kept in place and of every existing
    /// directory above either (see [`object_beneath`](DenySet::object_beneath)), read on
    /// first need; emptied whenever an entry or a link is added.
    above: std::sync::OnceLock<Known>,
    /// A key of `by_path` is not a clean path (not expected: entries are normalised or
    /// canonical): then lookups try every [`clean_bases`] prefix, not only the clean ones.
    unclean_keys: bool,
}

impl DenySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> DenySet {
        DenySet::default()
    }

    /// An empty set with room for `n` entries (without growing its tables on the way).
    fn with_capacity(n: usize) -> DenySet {
        DenySet {
            entries: Vec::with_capacity(n),
            ids: HashMap::with_capacity(n),
            by_path: HashMap::with_capacity(2 * n),
            ..DenySet::default()
        }
    }

    /// Every built-in group.
    pub fn all(vars: &Vars) -> Result<DenySet, DenyGroupError> {
        DenySet::from_groups(group_names(), vars)
    }

    /// The named built-in groups. Entries whose variables are unset here (for example
    /// `$XDG_RUNTIME_DIR`) are skipped; entries that do not exist are still denied (they may
    /// be created later).
    ///
    /// # Symlinks inside deny entries
    /// A symlink inside a denied directory (`~/.ssh/config` → `~/dotfiles/ssh_config`, as
    /// stow makes them) would let a grant on its *target* change what the denied path
    /// means. Every existing entry is walked (not following symlinks, at most
    /// [`LINK_WALK_ENTRIES`] entries each, [`LINK_WALK_TOTAL`] in all, [`LINK_WALK_DEPTH`]
    /// levels; the `nono` group first, then in group order) and the target of every symlink
    /// found is denied too, with the same group and kind (targets that are directories are
    /// walked in turn; links that stay inside the walked entry are skipped). Entries cut at
    /// the bounds are listed by [`unwalked`](Self::unwalked). Measured (release, warm cache,
    /// 2-core VM): every group for a home holding `~/.rustup` and `~/.pyenv` (120 000
    /// files, both cut at the bound) 1.8 ms, of which the walk is 1.3 ms; without the
    /// `autorun` group 0.2 ms. A walk is reused from the start-up cache while every
    /// directory it read is unchanged (see `link_walk_cache`).
    ///
    /// # Programs on `PATH` that lead into the home
    /// With `autorun`, the symlinks of the `PATH` directories outside the home are resolved
    /// too, and a chain that reaches into the home is protected like a link inside an entry
    /// (`/usr/local/bin/firefox` → `~/apps/firefox/firefox`; see `add_path_links`).
    pub fn from_groups<'a>(
        names: impl IntoIterator<Item = &'a str>,
        vars: &Vars,
    ) -> Result<DenySet, DenyGroupError> {
        DenySet::from_groups_seen(names, vars).map(|(set, _)| set)
    }

    /// [`from_groups`](Self::from_groups), with what the resolution's `lstat`s saw (see
    /// [`Lstats`]), for [`apply_to_seen`](Self::apply_to_seen) a moment later.
    pub(crate) fn from_groups_seen<'a>(
        names: impl IntoIterator<Item = &'a str>,
        vars: &Vars,
    ) -> Result<(DenySet, Lstats), DenyGroupError> {
        DenySet::from_groups_parts(names, vars, None, None).map(|(set, seen, rest)| {
            rest.finish();
            (set, seen)
        })
    }

    /// [`from_groups_seen`](Self::from_groups_seen), leaving the work that does not change
    /// the result (storing the walk cache, freeing the resolution's memo) to
    /// [`Leftovers::finish`], for a caller that has the result used first. `cache`: the
    /// walk cache of `vars`' state directory, loaded ahead (`None`: loaded here). With
    /// `share`, the check of the walk cache's stamps is handed to it before this thread
    /// works on it, so that another thread can help ([`StampCheck::help`]).
    pub(crate) fn from_groups_parts<'a>(
        names: impl IntoIterator<Item = &'a str>,
        vars: &Vars,
        cache: Option<crate::link_walk_cache::LinkWalkCache>,
        share: Option<&dyn Fn(std::sync::Arc<StampCheck>)>,
    ) -> Result<(DenySet, Lstats, Leftovers), DenyGroupError> {
        let mut set = DenySet::with_capacity(GROUP_ENTRIES);
        // The groups' paths share a few ancestors (`~`, `~/.config`, `~/.local/share`):
        // resolve each of those once for the whole set.
        let mut resolver = Resolver::with_capacity(GROUP_ENTRIES);
        // With `autorun`: the canonical home, the `PATH` directories outside it, and the
        // group's origin and kind (see `add_path_links`).
        let mut path_scan: Option<(PathBuf, Vec<PathBuf>, Origin, DenyKind)> = None;
        for name in names {
            let g = group(name).ok_or_else(|| DenyGroupError::Unknown {
                name: name.to_owned(),
                known: group_names().join(", "),
            })?;
            let platform: &[DenyPath] = if cfg!(target_os = "macos") {
                g.macos_paths
            } else {
                &[]
            };
            let origin = Origin::Group(g.name.to_owned());
            for entry in g.paths.iter().chain(platform) {
                let Ok(path) = vars.expand(entry.path) else {
                    continue;
                };
                set.add_with(&mut resolver, &path, &origin, g.kind, entry.why)
                    .map_err(|source| DenyGroupError::Path {
                        group: g.name.to_owned(),
                        source,
                    })?;
            }
            if g.name == "autorun" {
                // Every directory of the user's own $PATH inside the home directory, beyond
                // the well-known ones above (~/.yarn/bin, a project's bin/ on PATH).
                // `canonicalize` through the resolution's memo: the home directory and most
                // of PATH's directories were just resolved (one `readlink` per component
                // each otherwise).
                let home = resolver
                    .canonicalize(&vars.home)
                    .unwrap_or_else(|| vars.home.clone());
                let mut outside = Vec::new();
                for dir in &vars.path_dirs {
                    let real = resolver.canonicalize(dir).unwrap_or_else(|| dir.clone());
                    // First, for every directory: the names its own spelling looks up in
                    // the home (`~/a/b/c/../../bin` looks up `~/a/b/c`, which neither `~/a/bin`
                    // nor its canonical form keeps in place).
                    let meets = set.add_path_dir_chain(&mut resolver, dir, &home, &origin, g.kind);
                    if meets || (real.starts_with(&home) && real != home) {
                        let _ = set.add_with(&mut resolver, dir, &origin, g.kind, PATH_ENV);
                    } else if real.is_absolute() && real != home && !outside.contains(&real) {
                        // Not the home itself: a `PATH` directory that is the home is not
                        // protected (it would make the whole home read-only), nor scanned.
                        outside.push(real);
                    }
                }
                // The directories outside it are the system's (or a project's): not
                // protected as such, but a program there may be a link into the home.
                path_scan = Some((home, outside, origin.clone(), g.kind));
            }
        }
        let mut cache = cache
            .unwrap_or_else(|| crate::link_walk_cache::LinkWalkCache::load(&vars.xdg_state_home));
        // The recorded walks of the entries found so far are checked up front, by this
        // thread and whoever `share` hands the check to; walks of link targets found
        // below are checked when they are walked.
        let check = std::sync::Arc::new(
            cache.check_for(
                set.entries
                    .iter()
                    .filter(|e| e.dir)
                    .map(|e| e.canonical.as_path()),
            ),
        );
        if let Some(share) = share {
            share(std::sync::Arc::clone(&check));
        }
        cache.use_check(&check);
        // Before the entries' walks: a target added here that is a directory is walked
        // with them.
        if let Some((home, dirs, origin, kind)) = path_scan {
            set.add_path_links(&mut resolver, &mut cache, &home, &dirs, &origin, kind)?;
        }
        set.add_link_targets(&mut resolver, &mut cache)?;
        let seen = Lstats(std::mem::take(&mut resolver.seen));
        Ok((set, seen, Leftovers { cache, resolver }))
    }

    /// For the `PATH` directory `dir`: whether its own chain leads into the canonical `home`
    /// — also when it does not resolve today and where it would lead is inside
    /// (`/opt/tools` → a missing `~/tools/bin`, which a grant on the home could create and
    /// fill) — so that `dir` is protected as a `PATH` directory inside the home is. Either
    /// way the names its resolution looked up inside the home off the way to its end are
    /// protected as links here (red team 17,
    /// [`PathChain::off_the_end`]): a link on the way (`~/tools` → `/opt/tools`, the directory
    /// spelt in the home) or a directory passed on the way to a `..`, re-pointed or replaced,
    /// would put what a grant on the home wrote on `PATH`. A chain ending at the home itself
    /// or above it names no directory of programs of the user's.
    fn add_path_dir_chain(
        &mut self,
        resolver: &mut Resolver,
        dir: &Path,
        home: &Path,
        origin: &Origin,
        kind: DenyKind,
    ) -> bool {
        if !dir.is_absolute() {
            return false;
        }
        let chain = PathChain::of(resolver, dir);
        for name in chain.off_the_end(home) {
            self.add_link(name, origin, kind);
        }
        chain.ends_inside(home)
    }

    /// Protect `link` as a link (its own location, not followed).
    fn add_link(&mut self, link: PathBuf, origin: &Origin, kind: DenyKind) {
        if self.link_paths.insert(link.clone()) {
            self.links.push((link, origin.clone(), kind));
            // The directories above it join what `object_beneath` knows.
            self.forget_known();
        }
    }

    /// Protect what the symlinks of the `PATH` directories `dirs` (outside the canonical
    /// `home`) lead to when their chain reaches into the home: `/usr/local/bin/firefox` →
    /// `~/apps/firefox/firefox` is run by the user outside any sandbox, so a grant on the
    /// home must not make the program writable (red team 15). Every link of such a chain and
    /// where it ends are added as [`add_link_chain`](Self::add_link_chain) adds them for a
    /// link inside an entry, with `kind` (`autorun`'s read-only). Chains that stay out of
    /// the home are left alone: the system's own (`/usr/bin/java` →
    /// `/etc/alternatives/java` → `/usr/lib/jvm/…`) are not writable through a grant on the
    /// home, and a grant on a system directory is the user's explicit choice, as it is for
    /// the `PATH` directory itself. A link naming a plain sibling leads nowhere new. What
    /// the scan of each directory found is reused from the start-up cache while the
    /// directory and every directory the left-alone chains lead through are unchanged
    /// ([`LinkWalkCache::path_links`](crate::link_walk_cache::LinkWalkCache::path_links));
    /// the chains that reach the home are resolved on every start.
    fn add_path_links(
        &mut self,
        resolver: &mut Resolver,
        cache: &mut crate::link_walk_cache::LinkWalkCache,
        home: &Path,
        dirs: &[PathBuf],
        origin: &Origin,
        kind: DenyKind,
    ) -> Result<(), DenyGroupError> {
        use crate::link_walk_cache::PathLink;
        for dir in dirs {
            let mut kept = Vec::new();
            let complete = cache
                .path_links(dir, home, &mut kept, |link| {
                    if resolver.names_a_plain_sibling(link) {
                        return PathLink::Settled(Vec::new());
                    }
                    let chain = PathChain::of(resolver, link);
                    if chain.meets(home) {
                        return PathLink::Kept;
                    }
                    // What the walk read: the directory of every name it looked up.
                    PathLink::Settled(
                        chain
                            .looked
                            .iter()
                            .filter_map(|p| p.parent())
                            .map(Path::to_path_buf)
                            .collect(),
                    )
                })
                .map_err(|source| DenyGroupError::Walk {
                    entry: dir.clone(),
                    source,
                })?;
            if !complete {
                self.unwalked.push(Unwalked {
                    announced: cache.announced(dir),
                    root: dir.clone(),
                    kind,
                });
            }
            let mut queue = std::collections::VecDeque::new();
            for link in kept {
                let chain = PathChain::of(resolver, &link);
                // A chain ending at the home itself (or above it) names no program;
                // protecting its end would make the whole home read-only.
                if !chain.end.as_deref().is_some_and(|e| home.starts_with(e)) {
                    self.add_link_chain(
                        resolver,
                        &link,
                        Some(dir),
                        origin,
                        kind,
                        &mut queue,
                        LinkIn::PathDir,
                    );
                }
                for name in chain.off_the_end(home) {
                    self.add_link(name, origin, kind);
                }
            }
        }
        Ok(())
    }

    /// Deny the targets of the symlinks inside the entries (see [`from_groups`](Self::from_groups)).
    fn add_link_targets(
        &mut self,
        resolver: &mut Resolver,
        cache: &mut crate::link_walk_cache::LinkWalkCache,
    ) -> Result<(), DenyGroupError> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        // nono's own state first: it must never be cut for a large browser profile.
        order.sort_by_key(|&i| self.entries[i].group != "nono");
        let mut total_left = LINK_WALK_TOTAL;
        let mut walked: HashSet<OsString> = HashSet::new();
        let mut queue: std::collections::VecDeque<usize> = order.into();
        while let Some(i) = queue.pop_front() {
            let root = self.entries[i].canonical.clone();
            if !walked.insert(root.clone().into_os_string()) {
                continue;
            }
            // An entry that is itself a symlink (`~/.bashrc` → `~/dots/bashrc`): its chain.
            let literal = self.entries[i].literal.clone();
            let is_link = self.entries[i].link.unwrap_or_else(|| {
                std::fs::symlink_metadata(&literal).is_ok_and(|m| m.file_type().is_symlink())
            });
            if is_link {
                let (origin, kind) = (self.entries[i].origin.clone(), self.entries[i].kind);
                self.add_link_chain(
                    resolver,
                    &literal,
                    None,
                    &origin,
                    kind,
                    &mut queue,
                    LinkIn::Entry,
                );
            }
            if !self.entries[i].dir {
                continue;
            }
            let mut links = Vec::new();
            let budget = LINK_WALK_ENTRIES.min(total_left);
            let (complete, used) = cache
                .walk(&root, budget, &mut links, |l| {
                    resolver.names_a_plain_sibling(l)
                })
                .map_err(|source| DenyGroupError::Walk {
                    entry: root.clone(),
                    source,
                })?;
            total_left -= used;
            if !complete {
                self.unwalked.push(Unwalked {
                    announced: cache.announced(&root),
                    root: root.clone(),
                    kind: self.entries[i].kind,
                });
            }
            let (origin, kind) = (self.entries[i].origin.clone(), self.entries[i].kind);
            for link in links {
                // `python3` → `python3.12` beside it: within the entry, nothing to add.
                if resolver.names_a_plain_sibling(&link) {
                    continue;
                }
                self.add_link_chain(
                    resolver,
                    &link,
                    Some(&root),
                    &origin,
                    kind,
                    &mut queue,
                    LinkIn::Entry,
                );
            }
        }
        Ok(())
    }

    /// Deny what the symlink `link` (inside the entry `root`, or an entry itself) leads to:
    /// every link on the way, as a link (a chain through a link in a granted directory could
    /// otherwise be re-pointed: `~/.ssh/config` → `~/proj/cur/ssh_config`, `cur` → `v1`), and
    /// where the chain ends — also when that does not exist yet (`~/.bashrc` → a missing
    /// `~/dots/bashrc` that a grant on `~/dots` could create). A chain that does not resolve
    /// today is dead, not harmless (red team 9): a loop or more than 40 links (`ELOOP`) gets
    /// every link walked denied, so none can be re-pointed to make it resolve; a file where
    /// the chain needs a directory (`ENOTDIR`) is denied as its end, so it cannot be replaced
    /// by a directory holding what the chain names; so is a directory nono may not search
    /// (`EACCES`, a user's directory of mode 000), which a sandbox granted its parent could
    /// otherwise `chmod` and fill.
    #[allow(clippy::too_many_arguments)]
    fn add_link_chain(
        &mut self,
        resolver: &mut Resolver,
        link: &Path,
        root: Option<&Path>,
        origin: &Origin,
        kind: DenyKind,
        queue: &mut std::collections::VecDeque<usize>,
        found: LinkIn,
    ) {
        // `planted::walk`, without asking again what this resolution saw (`chain_walk`).
        let mut stopped = crate::planted::Stopped::default();
        let (links, end) = match resolver.walk_noting(link, &mut stopped) {
            Ok(walk) => (walk.links, Some(walk.end)),
            Err(_) => (std::mem::take(&mut stopped.links), stopped.end.take()),
        };
        let looked = Resolver::popping(resolver, link, &links);
        for (l, _, _) in &links {
            // A link inside the walked entry is protected by the entry itself.
            if root.is_some_and(|r| l.starts_with(r)) && root != Some(l.as_path()) {
                continue;
            }
            self.add_link(l.clone(), origin, kind);
        }
        // The end is denied below unless it lies inside the entry (protected by it) or above
        // it (see there).
        let end_denied = end
            .as_deref()
            .is_some_and(|e| root.is_none_or(|r| !r.starts_with(e)));
        self.add_popped(&looked, link, end.as_deref(), end_denied, root, origin);
        // A missing name a later `..` popped from the end (red team 27): denied, so that
        // nothing (a link to anywhere) can be created there — whether the end is denied or,
        // above the entry, not.
        if let Some(missing) = stopped.missing.take() {
            self.add_missing(resolver, &missing, link, origin, kind, found);
        }
        let Some(target) = end else {
            return;
        };
        // Most links in a tool's tree point within it (`python3` → `python3.12`).
        if root.is_some_and(|r| target.starts_with(r)) {
            return;
        }
        // A chain ending at a directory above the entry (`~/proj/bin/x` → `~/proj`) names
        // nothing the entry's own `..` does not: what lies beneath is reached by its own
        // names and judged by their own rules (the entry's files, reached through the link,
        // are still the entry's), and the directory's name cannot be swapped for another (an
        // ancestor of an entry is outside the grants or on the entry's carve-out spine,
        // where nothing is created, removed or renamed). Denying it would let a run that
        // planted such a link deny a whole project to a later run whose `PATH` holds the
        // link's directory (red team 10).
        if root.is_some_and(|r| r.starts_with(&target)) {
            return;
        }
        // Already covered at least as strongly (`~/.cargo/bin/cargo` → `rustup` in the same
        // directory): nothing to add.
        let covered = match kind {
            DenyKind::All => self.deny_for(&target, AccessMode::Read).is_some(),
            DenyKind::Write => self.group_of(&target).is_some(),
        };
        if covered {
            return;
        }
        let why = match found {
            LinkIn::Entry => format!(
                "the target of {}, inside a protected path",
                crate::escape::path(link)
            ),
            LinkIn::PathDir => format!(
                "the target of {}, a program on your PATH: what is placed here runs outside \
                 the sandbox",
                crate::escape::path(link)
            ),
        };
        let before = self.entries.len();
        if self.add_with(resolver, &target, origin, kind, &why).is_ok()
            && self.entries.len() > before
        {
            queue.push_back(before);
        }
    }

    /// Keep in place the names the chain of `link` looked up that a later `..` popped off its
    /// way (red team 27): `~/proj/sub` of `~/.ssh/config` → `../proj/sub/../../dots/config`.
    /// The kernel applies that `..` to whatever is at the name when the chain is followed, so
    /// a sandbox granted `~/proj` that replaced `sub` by a link to `evil/a/b` made
    /// `~/.ssh/config` read `evil/dots/config`; protecting the end keeps only the names on
    /// its own way. Not kept: a name on the way to `end` (its spine when it is denied), one
    /// beneath it when `end_denied`, one inside the walked entry `root` or above it (the
    /// entry protects them; its ancestors are its spine), one above `link` (the entry's, or
    /// the walked entry's, spine), and one above another kept name (kept in place with it,
    /// as [`PathChain::off_the_end`] does). Each is protected as a link is (its own
    /// location), read-only: nothing is to be read through it, only its name kept.
    fn add_popped(
        &mut self,
        looked: &[PathBuf],
        link: &Path,
        end: Option<&Path>,
        end_denied: bool,
        root: Option<&Path>,
        origin: &Origin,
    ) {
        let names: Vec<&Path> = looked
            .iter()
            .map(PathBuf::as_path)
            .filter(|p| root.is_none_or(|r| !p.starts_with(r) && !r.starts_with(p)))
            .filter(|p| !link.starts_with(p) || link == *p)
            // On the way to the end, or beneath it when it is denied: kept by its carve-out.
            .filter(|p| end.is_none_or(|e| !(e.starts_with(p) || end_denied && p.starts_with(e))))
            .collect();
        if names.is_empty() {
            return;
        }
        let leaves: Vec<PathBuf> = names
            .iter()
            .filter(|p| !names.iter().any(|q| q != *p && q.starts_with(p)))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.len() <= crate::planted::NAME_MAX)
            })
            .filter(|p| !self.link_paths.contains(**p))
            .map(|p| p.to_path_buf())
            .collect();
        for name in leaves {
            self.add_link(name, origin, DenyKind::Write);
        }
    }

    /// Deny `missing`, a name the chain of `link` looked up and did not find, with a `..`
    /// after it (see [`Stopped::missing`](crate::planted::Stopped::missing)).
    fn add_missing(
        &mut self,
        resolver: &mut Resolver,
        missing: &Path,
        link: &Path,
        origin: &Origin,
        kind: DenyKind,
        found: LinkIn,
    ) {
        let why = match found {
            LinkIn::Entry => format!(
                "missing on the way of {}, inside a protected path: a `..` after it would \
                 lead wherever something created here leads",
                crate::escape::path(link)
            ),
            LinkIn::PathDir => format!(
                "missing on the way of {}, a program on your PATH: a `..` after it would lead \
                 wherever something created here leads",
                crate::escape::path(link)
            ),
        };
        let _ = self.add_with(resolver, missing, origin, kind, &why);
    }

    /// Deny entries whose symlinks were not all resolved (the walk stopped at its bounds).
    #[must_use]
    pub fn unwalked(&self) -> &[Unwalked] {
        &self.unwalked
    }

    /// Add one absolute path under `group` (a built-in name or a label such as `"profile"`),
    /// denying every access.
    pub fn add(&mut self, path: &Path, group: &str) -> Result<&mut DenySet, CapsError> {
        let origin = Origin::Group(group.to_owned());
        self.add_with(&mut Resolver::default(), path, &origin, DenyKind::All, "")
    }

    /// Add one absolute path from the deny list of the profile `profile`, denying every
    /// access: labelled `profile NAME`, with the origin [`Origin::ProfileDeny`].
    pub fn add_profile(&mut self, path: &Path, profile: &str) -> Result<&mut DenySet, CapsError> {
        let origin = Origin::ProfileDeny(profile.to_owned());
        self.add_with(&mut Resolver::default(), path, &origin, DenyKind::All, "")
    }

    /// Add a profile's whole deny list like [`add_profile`](Self::add_profile) one by one,
    /// but from [`ProfileDenies`], whose resolver has already looked at the paths — a
    /// directory on the way (`/etc`) is `lstat`ed once, not once per entry, and the `lstat`s
    /// can be made before this set exists (while the groups are resolved on another thread)
    /// — and with what they saw added to `seen`, so that
    /// [`apply_to_seen`](Self::apply_to_seen) does not `lstat` the entries again. Stops at the
    /// first error, returned with its entry's label.
    pub(crate) fn add_profile_all<L>(
        &mut self,
        denies: ProfileDenies<L>,
        profile: &str,
        seen: &mut Lstats,
    ) -> Result<(), (L, CapsError)> {
        let origin = Origin::ProfileDeny(profile.to_owned());
        let ProfileDenies {
            paths,
            mut resolver,
        } = denies;
        for (label, path) in paths {
            if let Err(e) = self.add_with(&mut resolver, &path, &origin, DenyKind::All, "") {
                return Err((label, e));
            }
        }
        // A path both resolutions looked at: the profile's look stands (made before, while or
        // after the groups' — resolved ahead, red team 10; either is a look at one moment).
        seen.0.extend(resolver.seen);
        Ok(())
    }

    fn add_with(
        &mut self,
        resolver: &mut Resolver,
        path: &Path,
        origin: &Origin,
        kind: DenyKind,
        why: &str,
    ) -> Result<&mut DenySet, CapsError> {
        // The label is written from the typed origin, never read back.
        let group = origin.deny_label();
        if !path.is_absolute() {
            return Err(CapsError::Relative {
                path: path.to_path_buf(),
            });
        }
        let literal = normalize(path);
        let (canonical, meta) = resolver.resolve(path);
        let link = resolver.last_link;
        if canonical != literal {
            // Every link on the way to the entry, not only a chain from the name itself (red
            // team 10): a link in its prefix (`~/.config` → `dots/cfg` → `~/real-config`, for
            // `~/.config/gh`) or in the middle of a profile entry's chain, re-pointed by a
            // sandbox granted `~/dots`, would make the next run deny the sandbox's directory
            // and leave the real one readable.
            let mut stopped = crate::planted::Stopped::default();
            let links = match resolver.walk_noting(&literal, &mut stopped) {
                Ok(walk) => walk.links,
                Err(_) => std::mem::take(&mut stopped.links),
            };
            let looked = Resolver::popping(resolver, &literal, &links);
            for (l, _, _) in links {
                self.add_link(l, origin, kind);
            }
            self.add_popped(&looked, &literal, Some(&canonical), true, None, origin);
            // A missing name on the way that a later `..` pops (red team 27): created as a
            // link, it would move the entry wherever the link's parent is.
            if let Some(missing) = stopped.missing.take() {
                if missing != literal {
                    let _ = self.add_with(resolver, &missing, origin, kind, why);
                }
            }
        }
        // A built-in group's name that leads to a character device (`~/.bash_history` →
        // `/dev/null`, the usual way to turn history off; a chain ending at `/dev/null/x`)
        // protects nothing there — the groups protect the user's files, and a device holds
        // none — and denying the device would break every sandboxed `> /dev/null` (red
        // team 9). The name itself stays protected: a link is kept as a link (it cannot be
        // replaced by a file the shell would then read), and the device is not denied. A
        // profile's own deny list is taken as written: `/dev/video0`, or a link to it, is
        // denied.
        if matches!(origin, Origin::Group(_)) && meta.is_some_and(Obj::is_char_device) {
            // Every link of the chain was protected above (red team 10): no entry is made, so
            // `add_link_targets` never walks this chain, and a link on the way in a granted
            // directory (`~/.bashrc` → `dots/bashrc` → `/dev/null`, `~/dots` granted) could
            // be re-pointed at a file the shell then runs.
            return Ok(self);
        }
        // The same path again (found through `by_path`, which holds every entry's literal
        // form): a full deny wins over a read-only one.
        let again = self.by_path.get(literal.as_os_str()).and_then(|at| {
            at.iter().copied().find(|&i| {
                self.entries[i].literal == literal && self.entries[i].canonical == canonical
            })
        });
        if let Some(i) = again {
            let e = &mut self.entries[i];
            if kind == DenyKind::All && e.kind == DenyKind::Write {
                e.kind = DenyKind::All;
                e.group = group;
                e.origin = origin.clone();
                why.clone_into(&mut e.why);
            }
            return Ok(self);
        }
        if let Some(meta) = &meta {
            self.ids
                .entry((meta.dev(), meta.ino()))
                .or_insert(self.entries.len());
            self.ancestors.clear();
        }
        let index = self.entries.len();
        self.forget_known();
        self.unclean_keys |= !is_clean(literal.as_os_str().as_bytes())
            || !is_clean(canonical.as_os_str().as_bytes());
        self.by_path
            .entry(literal.clone().into_os_string())
            .or_default()
            .push(index);
        if canonical != literal {
            self.by_path
                .entry(canonical.clone().into_os_string())
                .or_default()
                .push(index);
        }
        self.entries.push(Entry {
            literal,
            canonical,
            group,
            origin: origin.clone(),
            kind,
            why: why.to_owned(),
            dir: meta.is_some_and(Obj::is_dir),
            link,
        });
        Ok(self)
    }

    /// Forget the identities [`object_beneath`](DenySet::object_beneath) knows (an entry or
    /// a link was added), and, if they had been read, what the identity walk remembered
    /// with their own paths (a translating walk's swaps, see [`Probe::own_paths`]). During
    /// the set's construction they never are, and the memo is kept.
    fn forget_known(&mut self) {
        if self.above.take().is_some() {
            self.ancestors.clear();
        }
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

    /// `(path as expanded, group, kind)` for every entry, in insertion order.
    pub fn entries_with_kind(&self) -> impl Iterator<Item = (&Path, &str, DenyKind)> {
        self.entries
            .iter()
            .map(|e| (e.literal.as_path(), e.group.as_str(), e.kind))
    }

    /// The group that protects `path` in any way (every access, or writing), if any.
    /// `path` should be absolute (the broker passes resolved absolute paths); a relative
    /// path is never matched here, so callers must refuse relative paths themselves (the
    /// policy engine does).
    #[must_use]
    pub fn group_of(&self, path: &Path) -> Option<&str> {
        self.probe(path).matching(None).map(|m| m.group)
    }

    /// The first entry strictly beneath the name `dir` (absolute, its parent canonical, its
    /// last component not followed: the name a rename or a symlink acts on; compared with
    /// both forms of each entry, and with the links the set keeps in place), with the match
    /// that protects it. Renaming `dir` or putting a directory or a symlink at its name
    /// changes what the entry names without touching the entry itself: a runtime grant of
    /// such a call is refused (red team 22: `~/.claude` renamed away and a directory holding
    /// another `settings.json` renamed in its place, under `--approve ~`). A scan: only
    /// renames and symlinks granted at runtime ask.
    #[must_use]
    pub fn entry_beneath(&self, dir: &Path) -> Option<(PathBuf, DenyMatch<'_>)> {
        if !dir.is_absolute() {
            return None;
        }
        let dir = normalize(dir);
        let below = |p: &Path| p != dir && p.starts_with(&dir);
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| below(&e.literal) || below(&e.canonical))
        {
            let path = if below(&e.literal) {
                &e.literal
            } else {
                &e.canonical
            };
            return Some((path.clone(), e.as_match()));
        }
        let (link, origin, kind) = self.links.iter().find(|(l, _, _)| below(l))?;
        Some((link.clone(), self.link_match(origin, *kind)))
    }

    /// The entry that the object `(st_dev, st_ino)` is, or lies beneath: by identity, whatever
    /// name reached it. [`entry_beneath`](DenySet::entry_beneath) compares names, and a
    /// directory above an entry reached by another name (the user's `/home` or `~/.config`
    /// bind-mounted in an approved directory: `W/hs/u/.config` holds `~/.config/autostart`)
    /// has no entry beneath its name; renamed, it changes what the entry's own path names
    /// (red team 26); a link kept in place, renamed or removed by another name, re-points
    /// what it leads to (red team 27). The identities of every entry, of every link kept in
    /// place and of each existing directory above either are read once, on first need (one
    /// `lstat` per distinct path: the first runtime request asks), and again after the set
    /// changes. A directory made or replaced on an entry's path after that (the entry
    /// missing when they were read, or made again by the user) is not known here; the
    /// runtime request's walk gives its name on the user's own paths (`Probe::own_paths`,
    /// red team 29), which the callers judge by name.
    #[must_use]
    pub fn object_beneath(&self, dev: u64, ino: u64) -> Option<(PathBuf, DenyMatch<'_>)> {
        match *self.known().above.get(&(dev, ino))? {
            Beneath::Entry(i) => {
                let e = &self.entries[i];
                Some((e.literal.clone(), e.as_match()))
            }
            Beneath::Link(j) => {
                let (link, origin, kind) = &self.links[j];
                Some((link.clone(), self.link_match(origin, *kind)))
            }
        }
    }

    /// The link kept in place that the symlink `(st_dev, st_ino)` is *now*: each kept link's
    /// path read again (`lstat`, not followed). [`object_beneath`](DenySet::object_beneath)
    /// knows the identities read once per run, and a kept link the user replaced meanwhile
    /// (`ln -sfn v2 ~/dots/cur` makes a new link and renames it over the old one) has a new
    /// identity: renamed or removed by another name, it was no longer refused (red team 28).
    /// Ask it only of a symlink that `object_beneath` did not know: one `lstat` per kept
    /// link.
    #[must_use]
    pub fn kept_link_now(&self, dev: u64, ino: u64) -> Option<(PathBuf, DenyMatch<'_>)> {
        self.links.iter().find_map(|(link, origin, kind)| {
            let m = std::fs::symlink_metadata(link).ok()?;
            ((m.dev(), m.ino()) == (dev, ino))
                .then(|| (link.clone(), self.link_match(origin, *kind)))
        })
    }

    /// The entry that making `name` in the directory `(st_dev, st_ino)` would make (its
    /// top missing directory, or the entry itself), when the entry does not exist: a name
    /// no walk can meet by identity yet, and reached by another name (the home bind-mounted
    /// in an approved directory: `mkdir W/hs/u/.config/autostart` where `~/.config/autostart`
    /// is missing) its path says nothing either (red team 26). Read with
    /// [`object_beneath`](DenySet::object_beneath)'s identities: for each missing entry, its
    /// deepest existing directory and the name below it. `path` is the name to make (its
    /// parent being that directory); made by the entry's own path, it is left to the checks
    /// by name, as before (`mkdir ~/.gemini` stays allowed; `~/.gemini/settings.json` is
    /// refused by name). The entry, the name's own path (`~/.gemini`) and the match.
    #[must_use]
    pub fn missing_made_by(
        &self,
        dev: u64,
        ino: u64,
        path: &Path,
    ) -> Option<(PathBuf, PathBuf, DenyMatch<'_>)> {
        let name = path.file_name()?;
        let (i, own) = self.known().missing.get(&((dev, ino), name.to_owned()))?;
        let e = &self.entries[*i];
        if e.literal.starts_with(path) || e.canonical.starts_with(path) {
            return None;
        }
        Some((e.literal.clone(), own.clone(), e.as_match()))
    }

    fn known(&self) -> &Known {
        self.above.get_or_init(|| self.read_known())
    }

    /// What [`object_beneath`](DenySet::object_beneath) and
    /// [`missing_made_by`](DenySet::missing_made_by) look up.
    fn read_known(&self) -> Known {
        let mut known = Known::default();
        let mut stats: HashMap<&Path, Option<(u64, u64)>> = HashMap::new();
        let mut id_of = |p| {
            *stats.entry(p).or_insert_with(|| {
                std::fs::symlink_metadata(p)
                    .ok()
                    .map(|m| (m.dev(), m.ino()))
            })
        };
        // Each directory is read once: once a path was seen, so was the rest of the way up.
        let mut seen: HashSet<&Path> = HashSet::new();
        let starts = self
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                [
                    (e.canonical.as_path(), Beneath::Entry(i)),
                    (e.literal.as_path(), Beneath::Entry(i)),
                ]
            })
            // The link itself is [`protected_link`](DenySet::protected_link)'s.
            .chain(
                self.links
                    .iter()
                    .enumerate()
                    .filter_map(|(j, (link, _, _))| Some((link.parent()?, Beneath::Link(j)))),
            );
        for (from, what) in starts {
            if let (Beneath::Entry(i), None) = (what, id_of(from)) {
                let mut below = from;
                for p in from.ancestors().skip(1) {
                    if let Some(id) = id_of(p) {
                        if let Some(name) = below.file_name() {
                            known
                                .missing
                                .entry((id, name.to_owned()))
                                .or_insert((i, below.to_path_buf()));
                        }
                        break;
                    }
                    below = p;
                }
            }
            for p in from.ancestors() {
                if !seen.insert(p) {
                    break;
                }
                if let Some(id) = id_of(p) {
                    known.above.entry(id).or_insert(what);
                    known.own.entry(id).or_insert_with(|| p.to_path_buf());
                }
            }
        }
        // A link kept in place is itself known by its identity (not followed): renamed or
        // removed by another name (a bind mount of `~/dots` in an approved directory), the
        // entry it leads to or passes would be re-pointed by whatever is put there; the
        // name is compared by `protected_link` only (red team 27, row 1 by another name).
        for (j, (link, _, _)) in self.links.iter().enumerate() {
            if let Some(id) = id_of(link) {
                known.above.entry(id).or_insert(Beneath::Link(j));
            }
        }
        known
    }

    /// The match for a link kept in place: its origin's group label, its kind.
    fn link_match<'a>(&'a self, origin: &'a Origin, kind: DenyKind) -> DenyMatch<'a> {
        let group = self
            .entries
            .iter()
            .find(|e| &e.origin == origin)
            .map_or("", |e| e.group.as_str());
        DenyMatch {
            group,
            origin,
            kind,
            why: "",
        }
    }

    /// Whether `path` (as given, not followed) is a symlink the set keeps in place as a link
    /// (on the way from an entry to what it means, or a `PATH` program's chain): its origin
    /// and kind. Removing, renaming or replacing it is refused; nothing a grant or
    /// `--bypass-protection` names lifts that (both follow the link).
    #[must_use]
    pub fn protected_link(&self, path: &Path) -> Option<(&Origin, DenyKind)> {
        if !self.link_paths.contains(path) {
            return None;
        }
        self.links
            .iter()
            .find(|(l, _, _)| l == path)
            .map(|(_, origin, kind)| (origin, *kind))
    }

    /// [`protected_link`](DenySet::protected_link) as the link's path and its match (what
    /// [`object_beneath`](DenySet::object_beneath) answers for a kept link by identity): for
    /// a name the path has on the user's own paths (red team 29: a directory kept in place
    /// that the user made again during the run has an identity the table does not know).
    #[must_use]
    pub fn kept_link_at(&self, path: &Path) -> Option<(PathBuf, DenyMatch<'_>)> {
        let (origin, kind) = self.protected_link(path)?;
        Some((path.to_path_buf(), self.link_match(origin, kind)))
    }

    /// The entry that refuses `access` to `path`, if any: a full deny entry, or a read-only
    /// one when `access` writes. Full entries are preferred when several cover the path.
    #[must_use]
    pub fn deny_for(&self, path: &Path, access: AccessMode) -> Option<DenyMatch<'_>> {
        self.probe(path).matching(Some(access))
    }

    /// [`deny_for`](DenySet::deny_for), saying also when the identity walk could not see the
    /// path's directory (red team 26): then the path may lead beneath an entry by another
    /// name, unseen, and "nothing found" is not an answer for a caller that acts on it (the
    /// URL opener's directory) or prints advice for it (the report). The same system calls.
    #[must_use]
    pub fn verdict(&self, path: &Path, access: AccessMode) -> DenyVerdict<'_> {
        let probe = self.probe(path);
        if let Some(m) = probe.matching_by_path(Some(access)) {
            return DenyVerdict::Denied(m);
        }
        let by_identity = probe.matching_by_identity(Some(access));
        match probe.walked().unseen() {
            Some(why) => DenyVerdict::Unchecked {
                why,
                by_name: by_identity,
            },
            None => by_identity.map_or(DenyVerdict::Clear, DenyVerdict::Denied),
        }
    }

    /// `path` prepared for several checks ([`Probe::group`], [`Probe::deny_by_name`]): it is
    /// canonicalised once and the identities of its ancestors are read at most once, however
    /// many checks a decision makes.
    pub(crate) fn probe(&self, path: &Path) -> Probe<'_> {
        let canonical = if path.is_absolute() {
            canonicalize_for_deny(path)
        } else {
            path.to_path_buf()
        };
        self.probe_resolved(path, canonical)
    }

    /// [`probe`](DenySet::probe) of `path` whose [`canonicalize_for_deny`] form the caller
    /// has just computed (the broker's canonical path is its own canonical form).
    pub(crate) fn probe_resolved(&self, path: &Path, canonical: PathBuf) -> Probe<'_> {
        self.probe_checked(path, canonical, None)
    }

    /// [`probe_resolved`](DenySet::probe_resolved), `checked` (if any) being what
    /// [`checked_canonical`](nono_sandbox::paths::checked_canonical) saw of `canonical`: the
    /// identity walk starts from it (see `AncestorMemo::walk_checked`).
    pub(crate) fn probe_checked(
        &self,
        path: &Path,
        canonical: PathBuf,
        checked: Option<nono_sandbox::paths::Checked>,
    ) -> Probe<'_> {
        let active = path.is_absolute() && !self.entries.is_empty();
        Probe {
            set: self,
            active,
            literal: if active {
                normalize(path)
            } else {
                PathBuf::new()
            },
            canonical,
            checked: std::cell::Cell::new(checked),
            translate: false,
            ids: std::cell::OnceCell::new(),
            covering: std::cell::OnceCell::new(),
        }
    }

    /// Call `look` with each key of `by_path` that may cover `path`: every [`clean_bases`]
    /// prefix; for a clean `path` when every key is clean, only `/`, the prefixes that end
    /// before a `/` and `path` itself (a clean key is never empty and never ends in `/`, so
    /// the other prefixes cannot match one). Half the lookups or fewer, each a hash of the
    /// prefix, for every runtime request.
    fn bases(&self, path: &Path, look: &mut dyn FnMut(&[u8])) {
        let p = path.as_os_str().as_bytes();
        if self.unclean_keys || !is_clean(p) {
            clean_bases(path).for_each(look);
            return;
        }
        clean_prefixes(p).for_each(look);
    }
}

/// The resolution of a symlink of a `PATH` directory outside the home (see
/// [`DenySet::add_path_links`]), or of a `PATH` directory's own name (see
/// [`DenySet::add_path_dir_chain`]).
struct PathChain {
    /// Where it ends (see [`add_link_chain`](DenySet::add_link_chain)).
    end: Option<PathBuf>,
    /// Every symlink-free path it looked up, in order (see [`WalkMemo::walk_looking`]).
    looked: Vec<PathBuf>,
}

impl PathChain {
    fn of(resolver: &mut Resolver, link: &Path) -> PathChain {
        let mut stopped = crate::planted::Stopped::default();
        let mut looked = Vec::new();
        let end = match resolver.walk_looking(link, &mut stopped, &mut looked) {
            Ok(walk) => Some(walk.end),
            Err(_) => stopped.end,
        };
        PathChain { end, looked }
    }

    /// Whether a grant on `home` could make the chain lead elsewhere: a name it looked up lies
    /// inside the home (a link, a directory on the way, one passed on the way to a `..`: red
    /// team 17, `/usr/local/bin/x` → `~/p/q/../../../opt/x`, and `~/p/q` replaced by a link
    /// leads into the home), or where it ends does (a missing end a grant could create).
    fn meets(&self, home: &Path) -> bool {
        self.looked.iter().any(|p| inside(p, home)) || self.ends_inside(home)
    }

    /// Whether where the chain ends lies inside `home` (not the home itself).
    fn ends_inside(&self, home: &Path) -> bool {
        self.end.as_deref().is_some_and(|e| inside(e, home))
    }

    /// The names looked up inside `home` that protecting where the chain ends (when inside
    /// the home) does not keep in place (neither on the way to the end nor beneath it),
    /// without those above another one: a directory passed on the way to a `..` (`~/p/q/r`
    /// of `~/p/q/r/../../../../x`; denying it keeps `~/p/q` and `~/p` as they are too), a
    /// link. Protected as links are (their own location). Not a name longer than
    /// `NAME_MAX`: denying it would only make its directory unchangeable.
    fn off_the_end(&self, home: &Path) -> Vec<PathBuf> {
        // Only an end inside the home is protected (with the directories above it in place);
        // one at the home or above it is not (`OUT/bin/x` → `~/sub/h` → `~`: `~/sub/h`, beneath
        // that end, is what a grant could re-point).
        let end = self.end.as_deref().filter(|e| inside(e, home));
        let names: Vec<&Path> = self
            .looked
            .iter()
            .map(PathBuf::as_path)
            .filter(|p| inside(p, home))
            .filter(|p| end.is_none_or(|e| !e.starts_with(p) && !p.starts_with(e)))
            .collect();
        let mut leaves: Vec<PathBuf> = names
            .iter()
            .filter(|p| !names.iter().any(|q| q != *p && q.starts_with(p)))
            // A name longer than any can be is never there, whatever a grant does.
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.len() <= crate::planted::NAME_MAX)
            })
            .map(|p| p.to_path_buf())
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        leaves
    }
}

/// Whether `p` lies inside `home`, not the home itself (see [`PathChain`]).
fn inside(p: &Path, home: &Path) -> bool {
    p.starts_with(home) && p != home
}

/// Where a symlink whose chain [`DenySet::add_link_chain`] protects was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkIn {
    /// Inside a deny entry, or an entry itself.
    Entry,
    /// In a `PATH` directory outside the home (see [`DenySet::add_path_links`]).
    PathDir,
}

/// A path being checked against a [`DenySet`] (see [`DenySet::probe`]).
pub(crate) struct Probe<'a> {
    set: &'a DenySet,
    /// The path is absolute and the set not empty: otherwise nothing matches.
    active: bool,
    literal: PathBuf,
    canonical: PathBuf,
    /// What `checked_canonical` saw of `canonical`, taken by the identity walk.
    checked: std::cell::Cell<Option<nono_sandbox::paths::Checked>>,
    /// The walk also finds the path's own names (see [`own_paths`](Probe::own_paths)).
    translate: bool,
    /// Indices of the entries whose `(st_dev, st_ino)` is the canonical path or one of its
    /// ancestors, deepest first, what the walk saw of the path, and the path's own names
    /// (read on first need).
    ids: std::cell::OnceCell<(Vec<usize>, Walked, Vec<PathBuf>)>,
    /// Indices of the entries one of whose forms covers the literal or the canonical path
    /// (see [`covering`](Probe::covering)).
    covering: std::cell::OnceCell<Vec<usize>>,
}

impl<'a> Probe<'a> {
    /// The path's [`canonicalize_for_deny`] form.
    pub(crate) fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// This probe's identity walk also finds the path's own names
    /// ([`own_paths`](Probe::own_paths)): what a runtime request is judged by. The first such
    /// walk of a run reads the set's identities (one `lstat` per path above an entry, as a
    /// brokered rename did before); each walk then looks each directory it walks up in one
    /// more table, no system call more.
    pub(crate) fn translating(mut self) -> Probe<'a> {
        self.translate = self.active;
        self
    }

    /// Whether the identity walk has anything to find: an entry with an identity, or (when
    /// [`translating`](Probe::translating)) a directory known by its own path.
    fn walks(&self) -> bool {
        self.active && (!self.set.ids.is_empty() || self.translate)
    }

    /// The identity walk over the canonical path (match form 3), made once.
    fn walk(&self) -> &(Vec<usize>, Walked, Vec<PathBuf>) {
        let set: &'a DenySet = self.set;
        self.ids.get_or_init(|| {
            let own = self.translate.then(|| &set.known().own);
            let w = match self.checked.take() {
                Some(checked) => {
                    set.ancestors
                        .walk_checked_own(&self.canonical, checked, &set.ids, own)
                }
                None => set.ancestors.walk_own(&self.canonical, &set.ids, own),
            };
            let mut names: Vec<PathBuf> = Vec::new();
            for (walked, own) in &w.swaps {
                let Ok(rest) = self.canonical.strip_prefix(walked) else {
                    continue;
                };
                let name = if rest.as_os_str().is_empty() {
                    own.clone()
                } else {
                    own.join(rest)
                };
                if name != self.canonical && !names.contains(&name) {
                    names.push(name);
                }
            }
            (w.hits, w.walked, names)
        })
    }

    /// What the identity walk saw of the canonical path and its directory, for the grant's
    /// act to be compared with (see [`Walked`]): [`Walked::Unneeded`] when no entry has an
    /// identity or the path is not absolute. Walks if no check has yet.
    pub(crate) fn walked(&self) -> Walked {
        if !self.walks() {
            return Walked::Unneeded;
        }
        self.walk().1
    }

    /// The names the path has on the user's own paths, other than its canonical one (only
    /// when [`translating`](Probe::translating)): for each directory at or above the path's
    /// directory that the walk met under another name than the one the set read its identity
    /// at (the home bind-mounted at `W/h`: `W/h/.config/autostart/x.desktop` is
    /// `~/.config/autostart/x.desktop`), that path and the rest of the name. Usually none.
    /// Walks if no check has yet.
    ///
    /// A deny entry made during the run (missing when the identities were read: `mkdir
    /// ~/.config/autostart` by the user, or `mkdir ~/.gemini` by the command under its own
    /// name) has no identity for a walk to meet, nor does a directory above an entry that
    /// the user replaced during the run; the directory above it that the walk meets does,
    /// and the name below it is judged by name (red team 29).
    pub(crate) fn own_paths(&self) -> &[PathBuf] {
        if !self.walks() {
            return &[];
        }
        &self.walk().2
    }

    /// The first of [`own_paths`](Probe::own_paths) an entry covers by name (refusing
    /// `access`, full entries first), with the match: the path reached by another name.
    /// Hash lookups only (the walk is made once per probe).
    pub(crate) fn by_other_name(&self, access: AccessMode) -> Option<(PathBuf, DenyMatch<'a>)> {
        let set: &'a DenySet = self.set;
        self.own_paths().iter().find_map(|own| {
            let m = set
                .probe_resolved(own, own.clone())
                .matching_by_path(Some(access))?;
            Some((own.clone(), m))
        })
    }

    /// [`DenySet::group_of`].
    pub(crate) fn group(&self) -> Option<&'a str> {
        self.matching(None).map(|m| m.group)
    }

    /// The first entry (in insertion order) one of whose forms covers the path and that
    /// `refuses`, a full one if any: looked up by the path's [`clean_bases`] (Linux: the
    /// entries `under_clean` accepts are exactly those whose form is one of them), so a
    /// check costs O(depth + entries found), not O(entries) — it runs for every link target
    /// added to the set and for every runtime request.
    fn look_up(&self, refuses: &dyn Fn(&Entry) -> bool) -> Option<&'a Entry> {
        let set: &'a DenySet = self.set;
        #[cfg(test)]
        let refuses = |e: &Entry| {
            ENTRIES_LOOKED_AT.with(|c| c.set(c.get() + 1));
            refuses(e)
        };
        let mut first: Option<usize> = None;
        let mut first_all: Option<usize> = None;
        for &i in self
            .covering()
            .iter()
            .filter(|&&i| refuses(&set.entries[i]))
        {
            first = Some(first.map_or(i, |f| f.min(i)));
            if set.entries[i].kind == DenyKind::All {
                first_all = Some(first_all.map_or(i, |f| f.min(i)));
            }
        }
        first_all.or(first).map(|i| &set.entries[i])
    }

    /// The entries one of whose forms covers the literal or the canonical path (looked up
    /// once per probe: a request asks for its deny verdict and for its group).
    fn covering(&self) -> &[usize] {
        let set: &'a DenySet = self.set;
        self.covering.get_or_init(|| {
            let mut found = Vec::new();
            let mut look = |base: &[u8]| {
                if let Some(hits) = set.by_path.get(OsStr::from_bytes(base)) {
                    found.extend_from_slice(hits);
                }
            };
            let literal = self.literal.as_path();
            set.bases(literal, &mut look);
            if self.canonical != literal {
                set.bases(&self.canonical, &mut look);
            }
            found
        })
    }

    /// [`look_up`](Self::look_up) by a scan over every entry, for macOS, where names compare
    /// case-insensitively (`under_clean` compares components there).
    fn scan(&self, refuses: &dyn Fn(&Entry) -> bool) -> Option<&'a Entry> {
        let set: &'a DenySet = self.set;
        #[cfg(test)]
        let refuses = |e: &Entry| {
            ENTRIES_LOOKED_AT.with(|c| c.set(c.get() + 1));
            refuses(e)
        };
        let mut found: Option<&'a Entry> = None;
        // Both candidates and both forms of every entry are clean absolute paths (normalised
        // or canonical), so the byte comparison of `under_clean` is `starts_with` — at a
        // fraction of the cost.
        for e in set.entries.iter().filter(|e| refuses(e)) {
            let covers = [self.literal.as_path(), self.canonical.as_path()]
                .iter()
                .any(|candidate| {
                    under_clean(candidate, &e.literal) || under_clean(candidate, &e.canonical)
                });
            if covers {
                if e.kind == DenyKind::All {
                    return Some(e);
                }
                found.get_or_insert(e);
            }
        }
        found
    }

    /// The first entry covering the path that refuses `access` (`None`: any entry), full
    /// ones first.
    fn matching(&self, access: Option<AccessMode>) -> Option<DenyMatch<'a>> {
        self.matching_by_path(access)
            .or_else(|| self.matching_by_identity(access))
    }

    /// [`DenySet::deny_for`] by the entries' names only (match forms 1 and 2).
    pub(crate) fn deny_by_name(&self, access: AccessMode) -> Option<DenyMatch<'a>> {
        self.matching_by_path(Some(access))
    }

    /// [`DenySet::deny_for`] by the entries' identities only (match form 3; the runtime
    /// triage asks [`by_other_name`](Self::by_other_name) in between).
    pub(crate) fn deny_by_identity(&self, access: AccessMode) -> Option<DenyMatch<'a>> {
        self.matching_by_identity(Some(access))
    }

    /// [`matching`](Self::matching) by the entries' names (match forms 1 and 2).
    fn matching_by_path(&self, access: Option<AccessMode>) -> Option<DenyMatch<'a>> {
        if !self.active {
            return None;
        }
        let refuses = |e: &Entry| access.is_none_or(|a| e.kind.removes(a));
        let found = if cfg!(target_os = "macos") {
            self.scan(&refuses)
        } else {
            self.look_up(&refuses)
        };
        found.map(Entry::as_match)
    }

    /// [`matching`](Self::matching) by the entries' identities (match form 3: the walk).
    fn matching_by_identity(&self, access: Option<AccessMode>) -> Option<DenyMatch<'a>> {
        let set: &'a DenySet = self.set;
        if !self.walks() {
            return None;
        }
        let refuses = |e: &Entry| access.is_none_or(|a| e.kind.removes(a));
        let (ids, _, _) = self.walk();
        ids.iter()
            .map(|&i| &set.entries[i])
            .find(|e| refuses(e))
            .map(Entry::as_match)
    }
}

impl DenySet {
    /// Add every entry to `caps` as a deny carve-out with its origin ([`Origin::Group`], or
    /// [`Origin::ProfileDeny`] for a profile's own deny list).
    pub fn apply_to(&self, caps: &mut CapabilitySet) -> Result<(), CapsError> {
        self.apply_to_seen(caps, &Lstats::default())
    }

    /// [`apply_to`](Self::apply_to), the set's resolution having just `lstat`ed the same
    /// paths: `seen` spares `caps` a second `lstat` of each (it resolves the entries by its
    /// own rules, with the answers of those `lstat`s). Only for the set just built, in the
    /// same breath (`Profile::resolve`): what `seen` holds is not looked at again.
    pub(crate) fn apply_to_seen(
        &self,
        caps: &mut CapabilitySet,
        seen: &Lstats,
    ) -> Result<(), CapsError> {
        let mut denies = Vec::with_capacity(self.entries.len() * 2);
        for e in &self.entries {
            denies.push((&e.literal, e.origin.clone(), e.kind));
            if e.canonical != e.literal {
                denies.push((&e.canonical, e.origin.clone(), e.kind));
            }
        }
        caps.deny_many_kind_known(denies, |p| seen.0.get(p).copied())?;
        caps.deny_links_kind(
            self.links
                .iter()
                .map(|(link, origin, kind)| (link, origin.clone(), *kind)),
        )?;
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

/// `starts_with` for clean paths (no `.`, `..`, repeated or trailing slashes: what
/// [`normalize`] and canonicalisation produce), comparing bytes on Linux instead of parsing
/// components; component by component where names compare case-insensitively (macOS).
fn under_clean(path: &Path, prefix: &Path) -> bool {
    if cfg!(target_os = "macos") {
        return starts_with(path, prefix);
    }
    clean_within(path, prefix)
}

#[cfg(test)]
thread_local! {
    /// Entries a [`Probe`] of this thread looked at: the tests count them to catch a scan
    /// over every entry per check (quadratic over a set's construction) without timing.
    static ENTRIES_LOOKED_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// An existing non-symlink's [`Seen`].
fn seen_object(m: &Metadata) -> Seen {
    Seen::Object {
        dir: m.is_dir(),
        nlink: m.nlink(),
    }
}

fn component_eq(a: &OsStr, b: &OsStr) -> bool {
    if cfg!(target_os = "macos") {
        a.as_encoded_bytes()
            .eq_ignore_ascii_case(b.as_encoded_bytes())
    } else {
        a == b
    }
}

/// [`canonicalize_for_deny`] for many paths at once, with every resolved prefix remembered:
/// one `lstat` per component not seen before, where `realpath` costs a `readlink` per
/// component and the lenient fallback repeats it for every ancestor it tries. The result is
/// the same (a test compares the two): the longest prefix whose components all resolve is
/// canonicalised (a symlink through `std::fs::canonicalize`), the rest is appended with `..`
/// resolved lexically.
///
/// Only for building a set at one moment: a remembered prefix is not checked again.
#[derive(Debug, Default, Clone)]
struct Resolver {
    /// A prefix of a path as given (`.` dropped) → its resolution.
    memo: HashMap<OsString, Step>,
    /// Whether the last path resolved is itself a symlink (its last component was `lstat`ed
    /// as one); `None` when that is not known (it ended in `..`).
    last_link: Option<bool>,
    /// What each `lstat` of a canonical path saw (see [`Lstats`]).
    seen: HashMap<PathBuf, Seen>,
    /// What the link walks of this resolution saw (see [`WalkMemo`]).
    walks: WalkMemo,
}

/// A profile's `filesystem.deny` list (absolute paths, each with a label for errors), its
/// paths resolved ahead by a resolver of its own, for [`DenySet::add_profile_all`]: made
/// while the deny groups are resolved on another thread, added once they are. Like every
/// resolver's answers, these are for building one set at one moment.
#[derive(Debug, Clone)]
pub(crate) struct ProfileDenies<L> {
    paths: Vec<(L, PathBuf)>,
    resolver: Resolver,
}

impl<L> ProfileDenies<L> {
    /// Resolve `paths` now (the relative ones are refused when added).
    pub(crate) fn resolve(paths: Vec<(L, PathBuf)>) -> ProfileDenies<L> {
        let mut resolver = Resolver::default();
        for (_, path) in &paths {
            if path.is_absolute() {
                let _ = resolver.resolve(path);
            }
        }
        ProfileDenies { paths, resolver }
    }
}

/// What a deny set's resolution leaves to do once its result is in use (see
/// [`DenySet::from_groups_parts`]).
#[derive(Debug)]
pub(crate) struct Leftovers {
    cache: crate::link_walk_cache::LinkWalkCache,
    resolver: Resolver,
}

impl Leftovers {
    /// Store the walk cache (when this resolution changed it) and free the rest.
    pub(crate) fn finish(self) {
        self.cache.store();
        drop(self.resolver);
    }
}

/// What the `lstat`s made while resolving a deny set saw, by the canonical path looked at:
/// "not found", or an object that is not a symlink (symlinks and other errors are not kept).
/// Handed to the capability set that the deny set is applied to right after, so that each
/// entry is `lstat`ed once at start-up, not twice.
#[derive(Debug, Default)]
pub(crate) struct Lstats(HashMap<PathBuf, Seen>);

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
    /// The prefix's last component is a symlink (`lstat`).
    link: bool,
    /// The metadata of `path` as its resolution read it (`lstat` of a component that is no
    /// symlink, `stat` of a symlink's canonical target), when it read it: a later path
    /// ending here takes it instead of a `stat` of its own. Only set in the memo.
    meta: Option<Obj>,
}

/// What a resolution keeps of a `stat`: the object's identity and type, all an entry needs.
/// A `Metadata` is ~170 bytes, and the memo copies it with every prefix it remembers and
/// every prefix it answers (issue 14: the deny thread's start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Obj {
    dev: u64,
    ino: u64,
    file_type: std::fs::FileType,
}

impl Obj {
    fn of(m: &Metadata) -> Obj {
        Obj {
            dev: m.dev(),
            ino: m.ino(),
            file_type: m.file_type(),
        }
    }

    fn dev(self) -> u64 {
        self.dev
    }

    fn ino(self) -> u64 {
        self.ino
    }

    fn is_dir(self) -> bool {
        self.file_type.is_dir()
    }

    fn is_char_device(self) -> bool {
        std::os::unix::fs::FileTypeExt::is_char_device(&self.file_type)
    }
}

/// `dir` joined with the single component `name`, allocated once at its final size
/// (`Path::join` copies `dir` exactly, then grows for the name).
fn joined(dir: &Path, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
    p.push(dir);
    p.push(name);
    p
}

impl Resolver {
    /// A resolver with room for about `n` paths (their prefixes and `lstat`s) before its
    /// tables grow: each growth rehashes and copies the table into newly faulted memory.
    fn with_capacity(n: usize) -> Resolver {
        Resolver {
            memo: HashMap::with_capacity(2 * n),
            seen: HashMap::with_capacity(n),
            ..Resolver::default()
        }
    }

    /// The lenient canonical form of the absolute `path`, and its metadata when it exists.
    fn resolve(&mut self, path: &Path) -> (PathBuf, Option<Obj>) {
        let (cur, meta) = self.resolve_step(path);
        let meta = if cur.exists || cur.lexical_parent {
            meta.or_else(|| std::fs::metadata(&cur.path).ok().map(|m| Obj::of(&m)))
        } else {
            None
        };
        (cur.path, meta)
    }

    /// `std::fs::canonicalize(path).ok()`, from the memo: for a clean absolute path (no
    /// `.`, `..`, empty component or trailing slash) every component is resolved as
    /// `realpath` resolves it (an `lstat` each, a symlink through `canonicalize`), and the
    /// path resolves exactly when every component does. Any other path goes to
    /// `canonicalize` itself.
    fn canonicalize(&mut self, path: &Path) -> Option<PathBuf> {
        #[cfg(test)]
        if crate::chain_walk::unmemoised() {
            return std::fs::canonicalize(path).ok();
        }
        if !nono_sandbox::paths::is_clean(path.as_os_str().as_encoded_bytes()) {
            return std::fs::canonicalize(path).ok();
        }
        let (cur, _) = self.resolve_step(path);
        cur.exists.then_some(cur.path)
    }

    /// [`planted::walk_noting`](crate::planted::walk_noting) of `link` (what it had found
    /// is left in `stopped` when it fails), answering from what this resolution saw (see
    /// [`WalkMemo`]).
    fn walk_noting(
        &mut self,
        link: &Path,
        stopped: &mut crate::planted::Stopped,
    ) -> std::io::Result<crate::planted::Walk> {
        self.walks.walk_noting(link, &self.seen, stopped)
    }

    /// [`walk_noting`](Self::walk_noting), with every path the walk looked up appended to
    /// `looked` (see [`WalkMemo::walk_looking`]).
    fn walk_looking(
        &mut self,
        link: &Path,
        stopped: &mut crate::planted::Stopped,
        looked: &mut Vec<PathBuf>,
    ) -> std::io::Result<crate::planted::Walk> {
        self.walks.walk_looking(link, &self.seen, stopped, looked)
    }

    /// Every path the walk of `path` looked up (see [`walk_looking`](Self::walk_looking)) when
    /// one of the `links` it met says `..` after a name (`a/..`); nothing otherwise, without
    /// walking again. A chain's `..` comes only from its links (`path` is clean), and one
    /// leading a link's target (`../dots/x`, stow's links) pops only that link's directory
    /// and those above it, which the link's own protection (or the entry) keeps as its
    /// spine: only a `..` after a name can pop a name off the chain's way. Walked again from
    /// the memo (red team 27, [`DenySet::add_popped`]).
    fn popping(&mut self, path: &Path, links: &[(PathBuf, PathBuf, u32)]) -> Vec<PathBuf> {
        let mut looked = Vec::new();
        let pops_a_name = |to: &Path| {
            let mut named = false;
            to.components().any(|c| match c {
                Component::Normal(_) => {
                    named = true;
                    false
                }
                Component::ParentDir => named,
                _ => false,
            })
        };
        if links.iter().any(|(_, to, _)| pops_a_name(to)) {
            let _ = self.walk_looking(path, &mut crate::planted::Stopped::default(), &mut looked);
        }
        looked
    }

    /// Whether the symlink `link`, found by the link walk (`link_walk_cache`; so its directory
    /// is canonical and inside the walked entry), names a sibling that is not a symlink itself (`python3` →
    /// `python3.12`, the bulk of a toolchain's links): its canonical form is then that sibling,
    /// inside the entry, and there is nothing to deny — known for one `readlink` and one `lstat`
    /// where `realpath` costs a `readlink` per component of the path. A missing sibling is a
    /// dangling link, which `canonicalize` skips too. Anything else (`..`, an absolute target,
    /// several components, a sibling that is a link) goes through `canonicalize`. The
    /// `readlink` and the `lstat` are answered from what this resolution already saw
    /// ([`WalkMemo`]): the same link is met by the walk and again by its entry's loop.
    fn names_a_plain_sibling(&mut self, link: &Path) -> bool {
        let Ok(target) = self.walks.read_link(link) else {
            return false;
        };
        let mut comps = target.components();
        let (Some(Component::Normal(name)), None) = (comps.next(), comps.next()) else {
            return false;
        };
        let Some(dir) = link.parent() else {
            return false;
        };
        self.walks
            .is_plain(&dir.join(name), &self.seen)
            .unwrap_or(true)
    }

    /// The resolved form of `path`'s last prefix, with its metadata when this resolution
    /// has it at hand.
    fn resolve_step(&mut self, path: &Path) -> (Step, Option<Obj>) {
        let mut cur = Step {
            path: PathBuf::from("/"),
            exists: true,
            dir: true,
            lexical_parent: false,
            link: false,
            meta: None,
        };
        self.last_link = Some(false);
        // At its final size from the start: it grows by every component of `path`.
        let mut key = PathBuf::with_capacity(path.as_os_str().len() + 1);
        key.push("/");
        let mut meta: Option<Obj> = None;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
                Component::ParentDir => key.push(".."),
                Component::Normal(name) => key.push(name),
            }
            if let Some(known) = self.memo.get(key.as_os_str()) {
                // Into `cur`'s own allocation: most prefixes of a path are answered here.
                cur.path.clone_from(&known.path);
                cur.exists = known.exists;
                cur.dir = known.dir;
                cur.lexical_parent = known.lexical_parent;
                cur.link = known.link;
                meta = known.meta;
                self.last_link = (c != Component::ParentDir).then_some(cur.link);
                continue;
            }
            meta = None;
            cur.link = false;
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
                    let next = joined(&cur.path, name);
                    let lstat = std::fs::symlink_metadata(&next);
                    match &lstat {
                        Ok(m) if !m.file_type().is_symlink() => {
                            self.seen.insert(next.clone(), seen_object(m));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            self.seen.insert(next.clone(), Seen::Missing);
                        }
                        _ => {}
                    }
                    match lstat {
                        Ok(m) if m.file_type().is_symlink() => {
                            cur.link = true;
                            match std::fs::canonicalize(&next)
                                .and_then(|p| std::fs::metadata(&p).map(|m| (p, m)))
                            {
                                Ok((p, m)) => {
                                    // `p` is canonical: its last component is no symlink,
                                    // so `stat` of it is its `lstat`.
                                    self.seen.insert(p.clone(), seen_object(&m));
                                    cur.path = p;
                                    cur.dir = m.is_dir();
                                    meta = Some(Obj::of(&m));
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
                            meta = Some(Obj::of(&m));
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
            self.last_link = (c != Component::ParentDir).then_some(cur.link);
            let known = Step {
                meta,
                ..cur.clone()
            };
            self.memo.insert(key.as_os_str().to_owned(), known);
        }
        (cur, meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    /// Red team 22: the entries a rename or a symlink at a name would move or hide are those
    /// strictly beneath it, by components (not `/h/.claudex`, not the entry itself).
    #[test]
    fn entry_beneath_is_strictly_below_by_components() {
        let mut set = DenySet::new();
        set.add(
            Path::new("/nonexistent-rt22/h/.claude/settings.json"),
            "autorun",
        )
        .unwrap();
        let beneath = |p: &str| set.entry_beneath(Path::new(p)).map(|(e, m)| (e, m.group));
        let entry = PathBuf::from("/nonexistent-rt22/h/.claude/settings.json");
        for p in [
            "/",
            "/nonexistent-rt22/h",
            "/nonexistent-rt22/h/.claude",
            "/nonexistent-rt22/h/.claude/",
            "/nonexistent-rt22//h/./.claude",
        ] {
            assert_eq!(beneath(p), Some((entry.clone(), "autorun")), "{p}");
        }
        for p in [
            "/nonexistent-rt22/h/.claudex",
            "/nonexistent-rt22/h/.claude/settings.json",
            "/nonexistent-rt22/h/.claude/projects",
            "relative/.claude",
        ] {
            assert_eq!(beneath(p), None, "{p}");
        }
    }

    /// Red team 29: a request whose walk meets a known directory under another name (here
    /// `v`, standing for a bind mount of the home `h`: the test maps `v`'s identity to `h`'s
    /// own path, as a mount would give `v` `h`'s identity) is judged by the name it has on
    /// the own paths too — an entry missing when the identities were read and made
    /// afterwards (`h/.gemini`), an existing entry's inside, a made name — and not where
    /// that name is no entry's. By its own name nothing changes (no own path). Only a
    /// translating probe (a runtime request) asks.
    #[test]
    fn a_walk_that_meets_a_known_directory_by_another_name_judges_its_own_name() {
        let root = Scratch::new(&format!("nono-rt29-own-{}", std::process::id()));
        std::fs::create_dir_all(root.join("h/.config")).unwrap();
        std::fs::create_dir_all(root.join("v/.config")).unwrap();
        let mut set = DenySet::new();
        set.add(&root.join("h/.gemini/settings.json"), "autorun")
            .unwrap();
        set.add(&root.join("h/.config/autostart"), "autorun")
            .unwrap();
        // The identities are read (as on a run's first need), then `v` is made to stand for
        // `h` reached by another name.
        let mut known = set.read_known();
        let v = std::fs::metadata(root.join("v")).unwrap();
        known.own.insert((v.dev(), v.ino()), root.join("h"));
        set.above.set(known).unwrap();
        // Made during the run, after the identities were read.
        std::fs::create_dir_all(root.join("v/.gemini")).unwrap();
        std::fs::create_dir_all(root.join("v/.config/autostart")).unwrap();
        let own = |p: &str| set.probe(&root.join(p)).translating().own_paths().to_vec();
        let other = |p: &str, access| {
            set.probe(&root.join(p))
                .translating()
                .by_other_name(access)
                .map(|(own, m)| (own, m.group.to_owned()))
        };
        assert_eq!(
            own("v/.gemini/settings.json"),
            vec![root.join("h/.gemini/settings.json")]
        );
        assert_eq!(own("v/.gemini"), vec![root.join("h/.gemini")]);
        assert_eq!(
            own("v"),
            Vec::<PathBuf>::new(),
            "the walk starts at its directory"
        );
        assert_eq!(own("h/.gemini/settings.json"), Vec::<PathBuf>::new());
        assert!(set
            .probe(&root.join("v/.gemini/settings.json"))
            .own_paths()
            .is_empty());
        for p in [
            "v/.gemini/settings.json",
            "v/.config/autostart",
            "v/.config/autostart/x.desktop",
        ] {
            let want = root.join(p.replacen("v/", "h/", 1));
            assert_eq!(
                other(p, AccessMode::Write),
                Some((want.clone(), "autorun".to_owned())),
                "{p}"
            );
            // Reading: as by the own name.
            assert_eq!(
                other(p, AccessMode::Read).map(|(_, g)| g),
                set.deny_for(&want, AccessMode::Read)
                    .map(|m| m.group.to_owned()),
                "{p}"
            );
        }
        for p in [
            "v/.gemini/other",
            "v/.config/app",
            "v/.gemini",
            "h/.gemini/x",
        ] {
            assert_eq!(other(p, AccessMode::Write), None, "{p}");
        }
        // Above an entry by its own path: what a rename or a made name is refused for.
        assert!(set.entry_beneath(&root.join("h/.gemini")).is_some());
    }

    /// Red team 26: the directories above an entry are known by identity, whatever name
    /// reaches them (a bind mount of the home elsewhere); a sibling is not, and an entry added
    /// later is seen.
    #[test]
    fn object_beneath_and_missing_made_by_know_entries_by_identity() {
        let root = Scratch::new(&format!("nono-rt26-above-{}", std::process::id()));
        std::fs::create_dir_all(root.join("h/.config/autostart")).unwrap();
        std::fs::create_dir_all(root.join("h/.config/other")).unwrap();
        std::fs::create_dir_all(root.join("h/proj")).unwrap();
        std::fs::create_dir_all(root.join("h/.ssh")).unwrap();
        let id = |p: &str| {
            let m = std::fs::symlink_metadata(root.join(p)).unwrap();
            (m.dev(), m.ino())
        };
        let mut set = DenySet::new();
        set.add(&root.join("h/.config/autostart"), "autorun")
            .unwrap();
        let beneath = |set: &DenySet, p: &str| {
            let (dev, ino) = id(p);
            set.object_beneath(dev, ino)
                .map(|(e, m)| (e, m.group.to_owned()))
        };
        let autostart = Some((root.join("h/.config/autostart"), "autorun".to_owned()));
        for p in ["h/.config/autostart", "h/.config", "h", ""] {
            assert_eq!(beneath(&set, p), autostart, "{p}");
        }
        for p in ["h/.config/other", "h/proj", "h/.ssh"] {
            assert_eq!(beneath(&set, p), None, "{p}");
        }
        set.add(&root.join("h/.ssh"), "credentials").unwrap();
        assert_eq!(
            beneath(&set, "h/.ssh"),
            Some((root.join("h/.ssh"), "credentials".to_owned()))
        );
        assert_eq!(beneath(&set, "h/proj"), None);
        // A missing entry: making its top missing name in its deepest existing directory,
        // by another name (`/elsewhere/.gemini` stands for the mount's name); by its own
        // path, left to the checks by name.
        set.add(&root.join("h/.gemini/settings.json"), "autorun")
            .unwrap();
        let (dev, ino) = id("h");
        let made = |p: &Path| set.missing_made_by(dev, ino, p).map(|(e, own, _)| (e, own));
        let gemini = Some((root.join("h/.gemini/settings.json"), root.join("h/.gemini")));
        assert_eq!(made(Path::new("/elsewhere/.gemini")), gemini);
        assert_eq!(made(&root.join("h/.gemini")), None);
        assert_eq!(made(Path::new("/elsewhere/.gemini2")), None);
        let (dev, ino) = id("h/proj");
        assert_eq!(set.missing_made_by(dev, ino, Path::new("/x/.gemini")), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Red team 28: a kept link the user replaces during the run (`ln -sfn`: a new link
    /// renamed over the old one) has an identity the identities read once do not know;
    /// `kept_link_now` reads the kept links again and knows it.
    #[test]
    fn a_kept_link_replaced_after_the_identities_were_read_is_known_now() {
        let h = Scratch::new(&format!("nono-rt28-now-{}", std::process::id()));
        std::fs::create_dir_all(h.join(".ssh")).unwrap();
        std::fs::create_dir_all(h.join("dots/v1")).unwrap();
        std::fs::write(h.join("dots/v1/config"), "Host real\n").unwrap();
        std::os::unix::fs::symlink("v1", h.join("dots/cur")).unwrap();
        std::os::unix::fs::symlink("../dots/cur/config", h.join(".ssh/config")).unwrap();
        let vars = Vars::for_home(&h);
        let set = DenySet::from_groups(["credentials"], &vars).unwrap();
        let id = |p: &str| {
            let m = std::fs::symlink_metadata(h.join(p)).unwrap();
            (m.dev(), m.ino())
        };
        let (dev, ino) = id("dots/cur");
        assert_eq!(
            set.object_beneath(dev, ino).map(|(l, _)| l),
            Some(h.join("dots/cur"))
        );
        std::os::unix::fs::symlink("v1", h.join("dots/cur.new")).unwrap();
        std::fs::rename(h.join("dots/cur.new"), h.join("dots/cur")).unwrap();
        let (dev, ino) = id("dots/cur");
        assert_eq!(
            set.object_beneath(dev, ino).map(|(l, _)| l),
            None,
            "read once"
        );
        assert_eq!(
            set.kept_link_now(dev, ino).map(|(l, _)| l),
            Some(h.join("dots/cur"))
        );
        std::os::unix::fs::symlink("v1", h.join("dots/other")).unwrap();
        let (dev, ino) = id("dots/other");
        assert_eq!(set.kept_link_now(dev, ino).map(|(l, _)| l), None);
        let _ = std::fs::remove_dir_all(&h);
    }

    #[test]
    fn under_clean_is_starts_with_on_clean_paths() {
        let paths = ["/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/a.b"];
        for p in paths {
            for q in paths {
                assert_eq!(
                    under_clean(Path::new(p), Path::new(q)),
                    starts_with(Path::new(p), Path::new(q)),
                    "{p} under {q}"
                );
            }
        }
    }

    /// The lookups of a clean path are the clean ones among its [`clean_bases`]: a key of the
    /// set (a clean path) equal to one of the others would be empty or end in `/`.
    #[test]
    fn a_clean_path_is_looked_up_by_its_clean_prefixes_only() {
        let set = DenySet::new();
        for p in ["/", "/a", "/ab/c", "/a/b/c.d/e", "/a.b/..c/d"] {
            let mut looked: Vec<Vec<u8>> = Vec::new();
            set.bases(Path::new(p), &mut |b| looked.push(b.to_vec()));
            let clean: Vec<Vec<u8>> = clean_bases(Path::new(p))
                .filter(|b| is_clean(b))
                .map(<[u8]>::to_vec)
                .collect();
            assert_eq!(looked, clean, "{p}");
        }
        // A path that is not clean, or a set holding a key that is not: every prefix.
        let every = |set: &DenySet, p: &str| {
            let mut looked: Vec<Vec<u8>> = Vec::new();
            set.bases(Path::new(p), &mut |b| looked.push(b.to_vec()));
            looked
                == clean_bases(Path::new(p))
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
        };
        assert!(every(&set, "/a//b/"));
        let unclean = DenySet {
            unclean_keys: true,
            ..DenySet::new()
        };
        assert!(every(&unclean, "/a/b"));
    }

    /// Red team 14: a `PATH` directory full of links into `~/dotfiles` denies every target
    /// (read-only, `autorun`). Each target added is first checked against the set, and every
    /// runtime request is too: looked up by the path's ancestors, a check looks at the
    /// entries that cover it, not at every entry (a scan per target was quadratic: seconds of
    /// start-up with 8 000 targets). Counted, not timed: twice the targets may cost about
    /// twice the entries looked at, never four times.
    #[test]
    fn link_targets_cost_entries_looked_at_linear_in_the_targets() {
        let looked_at = |n: usize| {
            let h = home(&format!("linear{n}"));
            for i in 0..n {
                let dir = h.join(format!(".local/bin/d{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let target = h.join(format!("dotfiles/t{i}"));
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, "").unwrap();
                std::os::unix::fs::symlink(&target, dir.join("tool")).unwrap();
            }
            ENTRIES_LOOKED_AT.with(|c| c.set(0));
            let set = DenySet::from_groups(["autorun"], &Vars::for_home(&h)).unwrap();
            for i in 0..n {
                let m = set
                    .deny_for(&h.join(format!("dotfiles/t{i}")), AccessMode::Write)
                    .unwrap();
                assert_eq!((m.group, m.kind), ("autorun", DenyKind::Write));
            }
            assert!(set
                .deny_for(&h.join("dotfiles/t0"), AccessMode::Read)
                .is_none());
            assert!(set.group_of(&h.join("dotfiles/other")).is_none());
            let _ = std::fs::remove_dir_all(&h);
            ENTRIES_LOOKED_AT.with(std::cell::Cell::get)
        };
        let (small, large) = (looked_at(200), looked_at(400));
        assert!(
            small > 0 && large <= small * 5 / 2,
            "{small} entries looked at for 200 targets, {large} for 400: quadratic"
        );
    }

    /// The lookup by ancestors finds the entry the scan over every entry finds (the scan is
    /// what Linux ran before, and macOS still runs): for every entry's forms, paths beneath,
    /// beside (`.sshfoo`) and above them, unclean spellings, and every kind of check.
    /// Whether [`Probe::look_up`] finds the entry [`Probe::scan`] finds for `p` in `set`, for
    /// every access asked (none, read, write, both): the kind of the entry found for each, or
    /// the first disagreement.
    fn look_up_is_scan(set: &DenySet, p: &Path) -> Result<Vec<Option<DenyKind>>, String> {
        let probe = set.probe(p);
        let mut kinds = Vec::new();
        for access in [
            None,
            Some(AccessMode::Read),
            Some(AccessMode::Write),
            Some(AccessMode::ReadWrite),
        ] {
            let refuses = |e: &Entry| access.is_none_or(|a| e.kind.removes(a));
            let (looked, scanned) = (probe.look_up(&refuses), probe.scan(&refuses));
            if looked.map(std::ptr::from_ref) != scanned.map(std::ptr::from_ref) {
                return Err(format!(
                    "{} {access:?}: looked up {:?}, scanned {:?}",
                    p.display(),
                    looked.map(|e| &e.literal),
                    scanned.map(|e| &e.literal)
                ));
            }
            kinds.push(looked.map(|e| e.kind));
        }
        Ok(kinds)
    }

    #[test]
    fn look_up_finds_what_the_scan_finds() {
        let h = home("lookup");
        std::fs::create_dir_all(h.join(".local/bin/d0")).unwrap();
        std::fs::create_dir_all(h.join("dotfiles")).unwrap();
        std::fs::write(h.join("dotfiles/t0"), "").unwrap();
        std::os::unix::fs::symlink(h.join("dotfiles/t0"), h.join(".local/bin/d0/tool")).unwrap();
        std::os::unix::fs::symlink(h.join("dotfiles"), h.join(".bashrc")).unwrap();
        let mut set = DenySet::all(&Vars::for_home(&h)).unwrap();
        set.add_profile(&h.join(".local/bin/d0"), "p").unwrap();
        let mut paths = vec![
            PathBuf::from("/"),
            h.clone(),
            h.join(".sshfoo"),
            h.join(".ssh/"),
            h.join(".ssh//id_ed25519"),
            h.join("dotfiles/t0"),
            h.join("dotfiles/t0x"),
            h.join("dotfiles/t1"),
        ];
        for e in &set.entries {
            for p in [&e.literal, &e.canonical] {
                paths.push(p.clone());
                paths.push(p.join("x/y"));
                paths.push(PathBuf::from(format!("{}x", p.display())));
                paths.extend(p.parent().map(Path::to_path_buf));
            }
        }
        let without_root = set.clone();
        // Then a full entry covering everything, after the others.
        set.add(Path::new("/"), "root-test").unwrap();
        let mut found = 0;
        for (set, p) in paths.iter().flat_map(|p| [(&without_root, p), (&set, p)]) {
            let found_here = look_up_is_scan(set, p).unwrap_or_else(|e| panic!("{e}"));
            found += found_here.iter().flatten().count();
        }
        assert!(found > 100, "{found}");
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 16: the lookup by ancestors finds the entry the scan finds for random sets
    /// of full and read-only entries (existing, missing, symlinks to directories and files,
    /// a dangling link, paths through links, byte-prefix siblings `a-`, `a.b`, `a0`, a
    /// non-UTF-8 name, unclean spellings, `/`), asked about every path spelt clean, unclean
    /// and relative, for every kind of check.
    #[test]
    fn look_up_finds_what_the_scan_finds_for_random_sets() {
        use proptest::prelude::*;
        use std::os::unix::ffi::OsStringExt;
        let h = home("rt16");
        for d in ["a/b", "a-", "a.b", "a0/c", "\u{e9}"] {
            std::fs::create_dir_all(h.join(d)).unwrap();
        }
        std::fs::create_dir_all(h.join(OsStr::from_bytes(b"\xff/x"))).unwrap();
        std::fs::write(h.join("a/f"), b"x").unwrap();
        std::os::unix::fs::symlink(h.join("a"), h.join("ln")).unwrap();
        std::os::unix::fs::symlink(h.join("a/b"), h.join("a-/ln2")).unwrap();
        std::os::unix::fs::symlink(h.join("a/f"), h.join("lnf")).unwrap();
        std::os::unix::fs::symlink(h.join("missing"), h.join("dangling")).unwrap();
        let rels: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"a/",
            b"a//b",
            b"a/./b",
            b"a/b/..",
            b"a/b",
            b"a/b/c",
            b"a-",
            b"a.b",
            b"a0",
            b"a0/c",
            b"a/f",
            b"ln",
            b"ln/b",
            b"ln/b/new",
            b"a-/ln2",
            b"a-/ln2/z",
            b"lnf",
            b"dangling",
            b"dangling/x",
            b"\xff",
            b"\xff/x",
            b"\xc3\xa9",
            b"missing/deep",
            b".ssh",
            b".sshfoo",
            b".ssh/id_ed25519",
        ];
        let path = |i: usize| -> PathBuf {
            if i == rels.len() {
                return PathBuf::from("/");
            }
            let mut p = h.clone().into_os_string().into_vec();
            if !rels[i].is_empty() {
                p.push(b'/');
                p.extend_from_slice(rels[i]);
            }
            PathBuf::from(OsString::from_vec(p))
        };
        let mut asked: Vec<PathBuf> = (0..=rels.len()).map(path).collect();
        asked.extend(rels.iter().map(|r| PathBuf::from(OsStr::from_bytes(r))));
        asked.extend(h.ancestors().map(Path::to_path_buf));
        let kind = prop::sample::select(vec![DenyKind::All, DenyKind::Write]);
        let (found, writes_only) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &prop::collection::vec((0..=rels.len(), kind, any::<bool>()), 0..10),
                |entries| {
                    let mut set = DenySet::new();
                    for (n, (i, kind, profile)) in entries.iter().enumerate() {
                        let origin = if *profile {
                            Origin::ProfileDeny(format!("p{n}"))
                        } else {
                            Origin::Group(format!("g{n}"))
                        };
                        let _ =
                            set.add_with(&mut Resolver::default(), &path(*i), &origin, *kind, "");
                    }
                    for p in &asked {
                        let kinds = look_up_is_scan(&set, p)
                            .map_err(proptest::test_runner::TestCaseError::fail)?;
                        for kind in kinds.into_iter().flatten() {
                            found.set(found.get() + 1);
                            writes_only
                                .set(writes_only.get() + usize::from(kind == DenyKind::Write));
                        }
                    }
                    Ok(())
                },
            )
            .unwrap();
        assert!(
            found.get() > 10_000 && writes_only.get() > 1_000,
            "{} found, {} read-only",
            found.get(),
            writes_only.get()
        );
        let _ = std::fs::remove_dir_all(&h);
    }

    fn home(tag: &str) -> Scratch {
        let dir = Scratch::new(&format!("nono-deny-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        std::fs::create_dir_all(dir.join(".sshfoo")).unwrap();
        std::fs::create_dir_all(dir.join("proj")).unwrap();
        std::fs::write(dir.join(".ssh/id_ed25519"), b"k").unwrap();
        dir
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
        let aliases = Scratch::new(&format!("nono-deny-alias-{}", std::process::id()));
        let alias = aliases.join("home");
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
    fn resolver_agrees_with_canonicalize_for_deny() {
        let h = home("t5");
        std::fs::create_dir_all(h.join("real/sub")).unwrap();
        std::fs::write(h.join("real/file"), b"x").unwrap();
        std::os::unix::fs::symlink(h.join("real"), h.join("link")).unwrap();
        std::os::unix::fs::symlink("real/sub", h.join("rel")).unwrap();
        std::os::unix::fs::symlink(h.join("nowhere"), h.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop", h.join("loop")).unwrap();
        std::os::unix::fs::symlink("real/file", h.join("filelink")).unwrap();
        let cases = [
            "filelink",
            "filelink/x",
            "link/file",
            "link/file/x",
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
            // Again: the shared resolver answers these from its memo.
            "link",
            "dangling",
            ".ssh",
        ];
        let mut shared = Resolver::default();
        for case in cases {
            let p = h.join(case);
            let want = canonicalize_for_deny(&p);
            let want_id = std::fs::metadata(&want).ok().map(|m| (m.dev(), m.ino()));
            for resolver in [&mut shared, &mut Resolver::default()] {
                let (got, meta) = resolver.resolve(&p);
                assert_eq!(got, want, "{case}");
                assert_eq!(meta.map(|m| (m.dev(), m.ino())), want_id, "{case}");
                // The PATH directories' `canonicalize`.
                assert_eq!(
                    resolver.canonicalize(&p),
                    std::fs::canonicalize(&p).ok(),
                    "{case}: canonicalize"
                );
                // What the link walk takes instead of an `lstat` of the entry.
                if let Some(link) = resolver.last_link {
                    let lstat = std::fs::symlink_metadata(normalize(&p))
                        .is_ok_and(|m| m.file_type().is_symlink());
                    assert_eq!(link, lstat, "{case}: is it a symlink");
                }
            }
        }
    }

    const R_NODES: &[&str] = &["a", "b", "a/x", "b/x", "a/x/y", "b/x/y"];
    const R_TARGETS: &[&str] = &[
        "a",
        "b",
        "x",
        "y",
        "../b",
        "../a/x",
        "@/a",
        "@/b/x",
        "@/missing",
        "missing",
        ".",
        "..",
        "x/y",
        "y/..",
        "../../a",
        "/proc/self/cwd",
        "a/",
    ];
    const R_QUERIES: &[&str] = &[
        "",
        "a",
        "b",
        "a/x",
        "b/x",
        "a/x/y",
        "b/x/y",
        "a/x/y/q",
        "b/x/y/q",
        "a/../b/x",
        "b/x/..",
        "b/x/../x/y",
        "missing/q",
        "a/./x",
        "b//x",
        "a/x/y/../..",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Red team 9: one `Resolver` answering a random sequence of paths (clean and not) on
        /// random trees of directories, files and links gives `canonicalize_for_deny`'s
        /// answer and metadata, and `std::fs::canonicalize`'s for the `$PATH` directories.
        #[test]
        fn one_resolver_agrees_with_canonicalize_on_random_trees(
            kinds in proptest::collection::vec((0u8..4, 0usize..R_TARGETS.len()), R_NODES.len()),
            queries in proptest::collection::vec(0usize..R_QUERIES.len(), 1..12),
        ) {
            let h = home("rt9-prop");
            let at = |t: &str| t.replace('@', h.to_str().unwrap());
            for (node, (kind, target)) in R_NODES.iter().zip(&kinds) {
                // Never through a link (it may lead out of `h`).
                crate::chain_walk::plant(&h, node, |p| match kind {
                    1 => std::fs::create_dir(p),
                    2 => std::fs::write(p, b"f"),
                    3 => std::os::unix::fs::symlink(at(R_TARGETS[*target]), p),
                    _ => Ok(()),
                });
            }
            let mut shared = Resolver::default();
            for q in queries {
                let p = if R_QUERIES[q].is_empty() { h.clone() } else { h.join(R_QUERIES[q]) };
                let want = canonicalize_for_deny(&p);
                let want_id = std::fs::metadata(&want).ok().map(|m| (m.dev(), m.ino()));
                let (got, meta) = shared.resolve(&p);
                proptest::prop_assert_eq!(&got, &want, "{:?}", p);
                proptest::prop_assert_eq!(meta.map(|m| (m.dev(), m.ino())), want_id, "{:?}", p);
                proptest::prop_assert_eq!(
                    shared.canonicalize(&p),
                    std::fs::canonicalize(&p).ok(),
                    "canonicalize {:?}", p
                );
            }
            let _ = std::fs::remove_dir_all(&h);
        }
    }

    /// Red team 9: a protected link to a character device (`~/.bash_history` → `/dev/null`)
    /// does not deny the device; the link is protected as a link. A chain that stops at the
    /// device (`/dev/null/x`) denies nothing there either.
    #[test]
    fn a_protected_link_to_a_device_protects_the_link_not_the_device() {
        let h = home("devnull");
        std::os::unix::fs::symlink("/dev/null", h.join(".bash_history")).unwrap();
        std::os::unix::fs::symlink("/dev/null/x", h.join(".ssh/config")).unwrap();
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert_eq!(set.group_of(Path::new("/dev/null")), None);
        assert!(
            set.links
                .iter()
                .any(|(l, _, _)| *l == h.join(".bash_history")),
            "{:?}",
            set.links
        );
        let mut caps = CapabilitySet::new();
        set.apply_to(&mut caps).unwrap();
        assert!(caps
            .denies()
            .iter()
            .all(|d| d.path != Path::new("/dev/null")));
        assert!(caps
            .denies()
            .iter()
            .any(|d| d.path == h.join(".bash_history")));
        // Red team 10: every link of a chain to a device is protected, not only the name
        // (`dots/bashrc` re-pointed under a grant on `dots` would be run by the shell).
        std::fs::create_dir_all(h.join("dots")).unwrap();
        std::os::unix::fs::symlink("/dev/null", h.join("dots/bashrc")).unwrap();
        std::os::unix::fs::symlink("dots/bashrc", h.join(".bashrc")).unwrap();
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert_eq!(set.group_of(Path::new("/dev/null")), None);
        for l in [h.join(".bashrc"), h.join("dots/bashrc")] {
            assert!(
                set.links.iter().any(|(p, _, _)| *p == l),
                "{l:?}: {:?}",
                set.links
            );
        }
        // A profile's deny list is taken as written: a device, a link to one.
        std::os::unix::fs::symlink("/dev/full", h.join("full")).unwrap();
        let mut set = DenySet::from_groups(["credentials"], &Vars::for_home(&h)).unwrap();
        for p in [Path::new("/dev/null"), &h.join("full")] {
            set.add_profile(p, "p").unwrap();
        }
        for dev in ["/dev/null", "/dev/full"] {
            assert_eq!(set.group_of(Path::new(dev)), Some("profile p"), "{dev}");
        }
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 10: the links on the way to an entry — in its prefix (`~/.config` →
    /// `dots/cfg` → `real-config`, for `~/.config/gh`) and in a profile entry's chain — are
    /// protected as links, not only a chain from a group entry's own name.
    #[test]
    fn links_on_the_way_to_an_entry_are_protected() {
        let h = home("prefix");
        std::fs::create_dir_all(h.join("dots")).unwrap();
        std::fs::create_dir_all(h.join("real-config/gh")).unwrap();
        std::fs::write(h.join("vault"), b"s").unwrap();
        std::os::unix::fs::symlink(h.join("real-config"), h.join("dots/cfg")).unwrap();
        std::os::unix::fs::symlink("dots/cfg", h.join(".config")).unwrap();
        std::os::unix::fs::symlink(h.join("vault"), h.join("dots/s1")).unwrap();
        std::os::unix::fs::symlink(h.join("dots/s1"), h.join("mysecret")).unwrap();
        let mut set = DenySet::all(&Vars::for_home(&h)).unwrap();
        set.add_profile(&h.join("mysecret"), "p").unwrap();
        assert_eq!(set.group_of(&h.join("real-config/gh")), Some("credentials"));
        for l in ["dots/cfg", ".config", "dots/s1", "mysecret"] {
            assert!(
                set.links.iter().any(|(p, _, _)| *p == h.join(l)),
                "{l}: {:?}",
                set.links
            );
        }
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 10: a chain stopped by a name longer than any lookup allows is dead for
    /// good — its directory (`/etc` here) is not denied — while one stopped by a path too
    /// long to name denies the deepest directory it could name.
    #[test]
    fn a_name_too_long_denies_nothing_a_path_too_long_denies_its_deepest_directory() {
        let h = home("toolong");
        let long = "x".repeat(300);
        std::os::unix::fs::symlink(format!("/etc/{long}"), h.join(".ssh/config")).unwrap();
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert_eq!(set.group_of(Path::new("/etc")), None);
        // 20 directories of 250-byte names under `deep`, reached by two short links:
        // `deep/s` to the deepest one a path can name (`d`), `d/s2` on to the others.
        let name = "y".repeat(250);
        let mut d = h.join("deep");
        std::fs::create_dir_all(&d).unwrap();
        let mut made = 0;
        while d.as_os_str().len() + name.len() < 3800 {
            d.push(&name);
            std::fs::create_dir(&d).unwrap();
            made += 1;
        }
        std::os::unix::fs::symlink(vec![name.as_str(); made].join("/"), h.join("deep/s")).unwrap();
        let rest = vec![name.as_str(); 20 - made].join("/");
        let st = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &format!("cd '{}' && mkdir -p {rest} && ln -s {rest} s2", d.display()),
            ])
            .status()
            .unwrap();
        assert!(st.success());
        std::os::unix::fs::symlink("../deep/s/s2/x", h.join(".ssh/known_hosts")).unwrap();
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert_eq!(set.group_of(&h.join("deep")), None);
        assert!(
            set.entries()
                .any(|(p, g)| p.starts_with(&d) && g == "credentials"),
            "nothing under {} denied",
            d.display()
        );
        let _ = std::fs::remove_dir_all(&h);
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
            .any(|d| d.path == h.join(".ssh") && d.origin == Origin::Group("credentials".into())));
    }

    /// Applying a set with what resolving it saw gives the capability set applying it
    /// without does (existing entries, missing ones, a symlinked one, a hard-linked file),
    /// and the set's `lstat`s are shared: each existing or missing entry is answered.
    #[test]
    fn a_profile_deny_list_added_at_once_is_the_list_added_one_by_one() {
        let h = home("t-profile-all");
        std::fs::create_dir_all(h.join("etc/sub")).unwrap();
        std::fs::write(h.join("etc/a"), b"x").unwrap();
        std::fs::write(h.join("etc/sub/b"), b"x").unwrap();
        std::os::unix::fs::symlink(h.join("etc/sub"), h.join("etc/link")).unwrap();
        let list = [
            "etc/a",
            "etc/sub/b",
            "etc/link/b",
            "etc/missing/c",
            "etc/sub/../a",
            "etc/a",
        ]
        .map(|p| (p, h.join(p)));
        let vars = Vars::for_home(&h);
        let groups = || DenySet::from_groups_seen(["nono"], &vars).unwrap();
        let (mut one_by_one, seen_before) = groups();
        for (_, p) in &list {
            one_by_one.add_profile(p, "mine").unwrap();
        }
        let (mut at_once, mut seen) = groups();
        at_once
            .add_profile_all(ProfileDenies::resolve(list.to_vec()), "mine", &mut seen)
            .unwrap();
        let entries = |s: &DenySet| {
            s.entries_with_kind()
                .map(|(p, g, k)| (p.to_path_buf(), g.to_owned(), k))
                .collect::<Vec<_>>()
        };
        assert_eq!(entries(&at_once), entries(&one_by_one));
        // What the batch's lstats saw is kept, and stands in for the capability set's own.
        assert_eq!(
            seen.0
                .get(&h.join("etc/sub/b"))
                .map(|s| matches!(s, Seen::Object { dir: false, .. })),
            Some(true)
        );
        assert_eq!(seen.0.get(&h.join("etc/missing")), Some(&Seen::Missing));
        assert!(seen.0.len() > seen_before.0.len());
        let (mut with, mut without) = (CapabilitySet::new(), CapabilitySet::new());
        at_once.apply_to_seen(&mut with, &seen).unwrap();
        one_by_one.apply_to(&mut without).unwrap();
        assert_eq!(with, without);
        // A relative entry stops the batch with its label.
        let (mut set, mut seen) = groups();
        let err = set
            .add_profile_all(
                ProfileDenies::resolve(vec![
                    ("first", h.join("etc/a")),
                    ("second", PathBuf::from("rel")),
                ]),
                "mine",
                &mut seen,
            )
            .unwrap_err();
        assert_eq!(err.0, "second");
        let _ = std::fs::remove_dir_all(&h);
    }

    #[test]
    fn apply_to_seen_is_apply_to() {
        let h = home("t-seen");
        std::fs::create_dir_all(h.join(".config/real-gh")).unwrap();
        std::os::unix::fs::symlink(h.join(".config/real-gh"), h.join(".config/gh")).unwrap();
        std::fs::write(h.join(".netrc"), b"x").unwrap();
        std::fs::hard_link(h.join(".netrc"), h.join("proj/netrc-link")).unwrap();
        let vars = Vars::for_home(&h);
        let (set, seen) = DenySet::from_groups_seen(group_names(), &vars).unwrap();
        assert_eq!(
            seen.0.get(&h.join(".ssh")),
            Some(&Seen::Object {
                dir: true,
                nlink: 2
            })
        );
        assert_eq!(seen.0.get(&h.join(".aws")), Some(&Seen::Missing));
        assert!(
            !seen.0.contains_key(&h.join(".config/gh")),
            "symlinks are not kept"
        );
        let (mut with, mut without) = (CapabilitySet::new(), CapabilitySet::new());
        set.apply_to_seen(&mut with, &seen).unwrap();
        set.apply_to(&mut without).unwrap();
        assert_eq!(with, without);
        // The hard-link note's input agrees too.
        let netrc = |c: &CapabilitySet| {
            c.denies()
                .iter()
                .find(|d| d.path == h.join(".netrc"))
                .map(|d| (d.path.clone(), d.kind))
        };
        assert!(netrc(&with).is_some());
        assert_eq!(netrc(&with), netrc(&without));
        let _ = std::fs::remove_dir_all(&h);
    }

    /// A deny entry holding more than [`LINK_WALK_ENTRIES`] entries is listed as cut, with
    /// its kind, until [`remember_announced`] records that the user was told; an entry walked
    /// whole is never listed.
    #[test]
    fn a_cut_walk_is_listed_until_announced() {
        let h = home("t-unwalked");
        let bin = h.join(".local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for i in 0..=LINK_WALK_ENTRIES {
            std::fs::write(bin.join(format!("tool{i}")), b"").unwrap();
        }
        let vars = Vars::for_home(&h);
        let set = DenySet::all(&vars).unwrap();
        assert_eq!(
            set.unwalked(),
            [Unwalked {
                root: bin.clone(),
                kind: DenyKind::Write,
                announced: false
            }]
        );
        remember_announced(&vars, std::slice::from_ref(&bin));
        let set = DenySet::all(&vars).unwrap();
        assert_eq!(set.unwalked().len(), 1);
        assert!(set.unwalked()[0].announced);
        // Under the bound: walked whole, nothing to say.
        std::fs::remove_file(bin.join("tool0")).unwrap();
        std::fs::remove_file(bin.join("tool1")).unwrap();
        assert!(DenySet::all(&vars).unwrap().unwalked().is_empty());
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Every `autorun` path is protected read-only: writing refused, reading not, with a
    /// reason (issue 16 finding 3).
    #[test]
    fn autorun_paths_are_read_only_with_a_reason() {
        let h = home("autorun");
        let vars = Vars::for_home(&h);
        let set = DenySet::all(&vars).unwrap();
        let g = group("autorun").unwrap();
        assert_eq!(g.kind, DenyKind::Write);
        for entry in g.paths {
            let Ok(path) = vars.expand(entry.path) else {
                continue;
            };
            assert!(!entry.why.is_empty(), "{}", entry.path);
            for p in [path.clone(), path.join("x")] {
                let w = set.deny_for(&p, AccessMode::Write);
                assert_eq!(w.map(|m| m.group), Some("autorun"), "{}", p.display());
                assert_eq!(w.map(|m| m.kind), Some(DenyKind::Write));
                assert_eq!(w.map(|m| m.why), Some(entry.why));
                assert_eq!(set.deny_for(&p, AccessMode::Read), None, "{}", p.display());
                assert_eq!(set.group_of(&p), Some("autorun"));
            }
        }
        // A credential inside a read-only path stays fully denied.
        let cred = h.join(".config/git/credentials");
        assert_eq!(
            set.deny_for(&cred, AccessMode::Read).map(|m| m.group),
            Some("credentials")
        );
        let mut caps = CapabilitySet::new();
        set.apply_to(&mut caps).unwrap();
        assert!(caps
            .denies()
            .iter()
            .any(|d| d.path == h.join(".gitconfig") && d.kind == DenyKind::Write));
        assert!(caps
            .denies()
            .iter()
            .any(|d| d.path == h.join(".ssh") && d.kind == DenyKind::All));
    }

    /// A symlink inside a denied directory denies its target too, with the same group and
    /// kind, also inside a directory that is itself reached through a symlink (stow-style
    /// dotfiles; issue 16 finding 4).
    #[test]
    fn symlink_targets_inside_deny_entries_are_denied() {
        let h = home("links");
        let dot = h.join("dotfiles");
        std::fs::create_dir_all(dot.join("nono/profiles")).unwrap();
        std::fs::create_dir_all(h.join(".config")).unwrap();
        std::fs::create_dir_all(h.join(".local/bin")).unwrap();
        std::fs::write(dot.join("ssh_config"), b"Host *").unwrap();
        std::fs::write(dot.join("work.json"), b"{}").unwrap();
        std::fs::write(dot.join("tool"), b"#!/bin/sh").unwrap();
        std::os::unix::fs::symlink(dot.join("ssh_config"), h.join(".ssh/config")).unwrap();
        std::os::unix::fs::symlink(dot.join("nono"), h.join(".config/nono")).unwrap();
        std::os::unix::fs::symlink("../../work.json", dot.join("nono/profiles/work.json")).unwrap();
        std::os::unix::fs::symlink(dot.join("tool"), h.join(".local/bin/tool")).unwrap();
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        let m = |p: &Path, a| set.deny_for(p, a).map(|m| (m.group.to_owned(), m.kind));
        assert_eq!(
            m(&dot.join("ssh_config"), AccessMode::Read),
            Some(("credentials".to_owned(), DenyKind::All))
        );
        assert_eq!(
            m(&dot.join("work.json"), AccessMode::Write),
            Some(("nono".to_owned(), DenyKind::All))
        );
        assert_eq!(
            m(&dot.join("tool"), AccessMode::Write),
            Some(("autorun".to_owned(), DenyKind::Write))
        );
        assert_eq!(m(&dot.join("tool"), AccessMode::Read), None);
        assert!(set
            .deny_for(&dot.join("ssh_config"), AccessMode::Read)
            .is_some_and(|m| m.why.contains(".ssh/config")));
        // Nothing else in the dotfiles directory is affected.
        assert_eq!(set.group_of(&dot.join("other")), None);
        assert!(set.unwalked().is_empty());
    }

    /// The sibling shortcut (`python3` → `python3.12`) skips only what `canonicalize` would
    /// skip: a sibling that is itself a link out of the entry still has its target denied.
    #[test]
    fn sibling_links_are_skipped_but_a_sibling_link_out_is_followed() {
        let h = home("siblings");
        let tool = h.join(".pyenv/versions/3.12/bin");
        let outside = h.join("elsewhere");
        std::fs::create_dir_all(&tool).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(tool.join("python3.12"), b"elf").unwrap();
        std::fs::write(outside.join("real-pip"), b"#!/bin/sh").unwrap();
        std::os::unix::fs::symlink("python3.12", tool.join("python3")).unwrap();
        std::os::unix::fs::symlink("python3", tool.join("python")).unwrap();
        std::os::unix::fs::symlink(outside.join("real-pip"), tool.join("pip3")).unwrap();
        std::os::unix::fs::symlink("pip3", tool.join("pip")).unwrap();
        std::os::unix::fs::symlink("missing", tool.join("dangling")).unwrap();
        // Each answer alone, and from one resolution's memo (twice: the second from it).
        let mut shared = Resolver::default();
        for _ in 0..2 {
            for resolver in [&mut shared, &mut Resolver::default()] {
                assert!(resolver.names_a_plain_sibling(&tool.join("python3")));
                assert!(resolver.names_a_plain_sibling(&tool.join("dangling")));
                assert!(!resolver.names_a_plain_sibling(&tool.join("python")));
                assert!(!resolver.names_a_plain_sibling(&tool.join("pip")));
                assert!(!resolver.names_a_plain_sibling(&tool.join("pip3")));
            }
        }
        let set = DenySet::all(&Vars::for_home(&h)).unwrap();
        assert!(set
            .deny_for(&outside.join("real-pip"), AccessMode::Write)
            .is_some());
        assert_eq!(set.group_of(&outside.join("other")), None);
        assert_eq!(set.group_of(&tool.join("missing")), Some("autorun"));
    }

    /// The deny set resolved with the memo of `chain_walk` is the set resolved without it:
    /// toolchain chains through shared prefixes, links out of an entry, chains through
    /// links, an entry that is a link, dangling links and loops, `..` in targets, and PATH
    /// directories spelled through links, with `..` and relative.
    #[test]
    fn the_memo_changes_nothing_in_the_set() {
        use std::os::unix::fs::symlink;
        let h = home("memo");
        let dots = h.join("dotfiles");
        for dir in [
            ".pyenv/versions/3.11/bin",
            ".pyenv/versions/3.11/lib/conf",
            ".pyenv/versions/3.12/bin",
            ".pyenv/versions/3.12/lib/conf",
            ".pyenv/plugins/venv/shims",
            ".cargo/bin",
            ".local/bin",
            "dotfiles/v1",
            "dotfiles/nono",
            "elsewhere",
            "proj",
            // Made by the first resolution's cache (the scan of /usr/bin on PATH) otherwise,
            // which would change the `nono` entry between the two.
            ".local/state/nono",
        ] {
            std::fs::create_dir_all(h.join(dir)).unwrap();
        }
        for file in [
            "dotfiles/v1/ssh_config",
            "elsewhere/pip",
            ".cargo/bin/rustup",
        ] {
            std::fs::write(h.join(file), b"x").unwrap();
        }
        for v in ["3.11", "3.12"] {
            let bin = h.join(".pyenv/versions").join(v).join("bin");
            std::fs::write(bin.join(format!("python{v}")), b"elf").unwrap();
            symlink(format!("python{v}"), bin.join("python3")).unwrap();
            symlink("python3", bin.join("python")).unwrap();
            symlink("../lib/conf/../conf", bin.join("python-config")).unwrap();
            symlink("python-config", bin.join("python3-config")).unwrap();
            symlink(h.join("elsewhere/pip"), bin.join("pip")).unwrap();
            symlink("pip", bin.join("pip3")).unwrap();
            symlink("../../../../proj/missing", bin.join("dangling")).unwrap();
            symlink("loop", bin.join("loop")).unwrap();
        }
        for tool in ["cargo", "rustc", "rustdoc"] {
            symlink("rustup", h.join(".cargo/bin").join(tool)).unwrap();
        }
        symlink("v1", dots.join("cur")).unwrap();
        symlink(dots.join("cur/ssh_config"), h.join(".ssh/config")).unwrap();
        symlink("../dotfiles/cur/../v1/ssh_config", h.join(".ssh/config2")).unwrap();
        std::fs::create_dir_all(h.join(".config")).unwrap();
        symlink(dots.join("nono"), h.join(".config/nono")).unwrap();
        symlink("../dotfiles/cur", h.join(".config/git")).unwrap();
        symlink(h.join("dots/missing"), h.join(".bashrc")).unwrap();
        symlink(h.join(".local/bin"), h.join("binlink")).unwrap();
        // Dead chains out of an entry (red team 9): a loop, a file in the way.
        symlink("../dotfiles/la", h.join(".ssh/config3")).unwrap();
        symlink("lb", dots.join("la")).unwrap();
        symlink("la", dots.join("lb")).unwrap();
        symlink("../dotfiles/v1/ssh_config/x", h.join(".ssh/config4")).unwrap();
        let mut vars = Vars::for_home(&h);
        vars.path_dirs = vec![
            h.join(".pyenv/plugins/venv/shims"),
            h.join(".cargo/bin"),
            h.join("binlink"),
            h.join("proj/../.cargo/bin"),
            h.join(".pyenv/versions/3.12/bin/"),
            PathBuf::from("/usr/bin"),
            PathBuf::from("/bin"),
            PathBuf::from("relative/bin"),
            h.join("missing/bin"),
        ];
        let resolve = |off: bool| {
            crate::chain_walk::set_unmemoised(off);
            let (set, seen) = DenySet::from_groups_seen(group_names(), &vars).unwrap();
            crate::chain_walk::set_unmemoised(false);
            let mut ids: Vec<_> = set.ids.iter().map(|(k, v)| (*k, *v)).collect();
            ids.sort_unstable();
            // (Link counts of shared directories such as /tmp change with other tests.)
            let mut seen: Vec<_> = seen
                .0
                .into_iter()
                .map(|(p, s)| match s {
                    Seen::Object { dir, .. } => (p, Some(dir)),
                    _ => (p, None),
                })
                .collect();
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            (
                format!("{:#?}", set.entries),
                format!("{:?}", set.links),
                set.unwalked.clone(),
                ids,
                seen,
            )
        };
        let with = resolve(false);
        let without = resolve(true);
        assert_eq!(with.0, without.0);
        assert_eq!(with.1, without.1);
        assert_eq!(with.2, without.2);
        assert_eq!(with.3, without.3);
        // The canonicalize of PATH's directories `lstat`s what `realpath` read: a few more
        // answers to keep, none different.
        for (path, s) in &without.4 {
            assert_eq!(
                with.4.iter().find(|(p, _)| p == path).map(|(_, s)| s),
                Some(s),
                "{}",
                path.display()
            );
        }
        // It is a set worth comparing: chains out of the entries were followed.
        assert!(with.0.contains("elsewhere/pip"), "{}", with.0);
        assert!(with.0.contains("dotfiles/v1/ssh_config"), "{}", with.0);
        assert!(with.1.contains("dotfiles/cur"), "{}", with.1);
        // The dead chains' links and the file in the way.
        assert!(
            with.1.contains("dotfiles/la") && with.1.contains("dotfiles/lb"),
            "{}",
            with.1
        );
        let _ = std::fs::remove_dir_all(&h);
    }

    #[test]
    fn runtime_dir_entries_are_skipped_when_unset() {
        let set = DenySet::from_groups(["nono"], &Vars::for_home("/home/nobody-here")).unwrap();
        assert!(set.entries().all(|(p, _)| !p.starts_with("$XDG")));
        assert!(!set.is_empty());
    }

    /// A link inside an entry whose chain ends at a directory above the entry (`~/.ssh/up`
    /// → `~`, or a project's `bin/x` → the project with `bin/` on `PATH`) names nothing the
    /// entry's `..` does not, so it denies nothing there: a run that planted it could
    /// otherwise deny the whole project to the next (red team 10). A link beside it to a
    /// file above the entry still protects that file, and the links themselves are the
    /// entry's.
    #[test]
    fn a_link_to_a_directory_above_its_entry_denies_nothing_there() {
        let h = home("above");
        let bin = h.join("proj/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(h.join("proj/tool"), "#!/bin/sh\n").unwrap();
        let link = |target: &Path, name: &Path| std::os::unix::fs::symlink(target, name).unwrap();
        link(&h.join("proj"), &bin.join("x"));
        link(Path::new(".."), &bin.join("up"));
        link(&h.join("proj/tool"), &bin.join("y"));
        link(&h, &h.join(".ssh/up"));
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![bin.clone()];
        let set = DenySet::from_groups(["autorun", "credentials"], &vars).unwrap();
        for free in ["proj", "proj/src/main.rs", "proj/file", ".bashrc-not", "x"] {
            let p = h.join(free);
            assert_eq!(set.group_of(&p), None, "{free}");
            assert!(set.deny_for(&p, AccessMode::Read).is_none(), "{free}");
        }
        let tool = set
            .deny_for(&h.join("proj/tool"), AccessMode::Write)
            .unwrap();
        assert_eq!((tool.group, tool.kind), ("autorun", DenyKind::Write));
        assert_eq!(set.group_of(&bin.join("x")), Some("autorun"));
        assert!(set.deny_for(&h.join(".ssh/up"), AccessMode::Read).is_some());
        assert!(set
            .deny_for(&h.join(".ssh/id_ed25519"), AccessMode::Read)
            .is_some());
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 27: a dangling chain whose missing name a later `..` pops
    /// (`~/.ssh/config` → `../dots/a/m/../../ssh/config`, `~/.ssh/keys` →
    /// `../dots/a/m/../../..`, `~/dots/a/m` missing) denies that name as well as (or, above
    /// the entry, instead of) its lexical end: created as a link, it would move the chain
    /// wherever the link's parent is. A `..` that does not pop it (`m/x/../y`) leaves the end
    /// beneath it, whose spine already holds its directory.
    #[test]
    fn a_missing_name_popped_by_a_later_dot_dot_is_denied() {
        let h = home("missing-dotdot");
        std::fs::create_dir_all(h.join("dots/a")).unwrap();
        std::fs::create_dir_all(h.join("dots/b")).unwrap();
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, h.join(".ssh").join(name)).unwrap();
        };
        link("../dots/a/m/../../ssh/config", "config");
        link("../dots/a/m/../../..", "keys");
        link("../dots/b/n/x/../y", "other");
        let vars = Vars::for_home(&h);
        let set = DenySet::from_groups(["credentials"], &vars).unwrap();
        let denied = |p: &str| set.deny_for(&h.join(p), AccessMode::Read).is_some();
        assert!(denied("dots/a/m"));
        assert!(denied("dots/ssh/config"));
        assert!(denied("dots/b/n/y"));
        assert!(
            !denied("dots/b/n"),
            "a name the end lies beneath is its spine"
        );
        assert!(!denied("dots/a/other"));
        assert!(
            !denied("dots"),
            "a chain ending above its entry denies nothing there"
        );
        let m = set.deny_for(&h.join("dots/a/m"), AccessMode::Read).unwrap();
        assert!(m.why.contains("missing on the way of"), "{}", m.why);
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 27: a directory a chain passes on the way to a `..` is kept in place (as a
    /// link is): `~/proj/sub` of `~/.ssh/config` → `../proj/sub/../../dots/config`, of
    /// `~/.ssh/keys` → `../proj/sub2/../..` (ending above the entry, which denies nothing
    /// there) and of a prefix link `~/.config` → `dots/c/../cfg`. Chains whose `..` only
    /// leaves the link's own directory (`../dots/ssh/id`, a stow layout) keep nothing more.
    #[test]
    fn a_directory_passed_on_the_way_to_dot_dot_is_kept_in_place() {
        let h = home("popped");
        for d in [
            "proj/sub",
            "proj/sub2",
            "dots/ssh",
            "dots/c",
            "dots/cfg/gh",
            "proj/other",
        ] {
            std::fs::create_dir_all(h.join(d)).unwrap();
        }
        std::fs::write(h.join("dots/config"), "c").unwrap();
        std::fs::write(h.join("dots/ssh/id"), "k").unwrap();
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, h.join(name)).unwrap();
        };
        link("../proj/sub/../../dots/config", ".ssh/config");
        link("../proj/sub2/../..", ".ssh/keys");
        link("../dots/ssh/id", ".ssh/id_stow");
        link("dots/c/../cfg", ".config");
        let vars = Vars::for_home(&h);
        let set = DenySet::from_groups(["credentials"], &vars).unwrap();
        let links: Vec<&Path> = set.links.iter().map(|(l, _, _)| l.as_path()).collect();
        for kept in ["proj/sub", "proj/sub2", "dots/c", ".config"] {
            assert!(links.contains(&h.join(kept).as_path()), "{kept}: {links:?}");
        }
        for free in ["proj", "dots", "dots/ssh", "proj/other", "dots/cfg"] {
            assert!(
                !links.contains(&h.join(free).as_path()),
                "{free}: {links:?}"
            );
        }
        assert!(set
            .deny_for(&h.join("dots/config"), AccessMode::Read)
            .is_some());
        assert!(set
            .deny_for(&h.join("dots/cfg/gh/x"), AccessMode::Read)
            .is_some());
        assert!(set
            .deny_for(&h.join("proj/other/x"), AccessMode::Write)
            .is_none());
        let sub = set.protected_link(&h.join("proj/sub")).unwrap();
        assert_eq!(sub.1, DenyKind::Write, "kept in place, not denied whole");
        let _ = std::fs::remove_dir_all(&h);
    }

    /// Red team 15: a program in a `PATH` directory outside the home that is a link into
    /// the home (`/usr/local/bin/firefox` → `~/apps/firefox/firefox`) runs outside any
    /// sandbox, so its chain is protected read-only by `autorun`: the link's end and every
    /// link on the way. Chains that stay out of the home, links naming a sibling, and a
    /// link to the home itself add nothing. The scan is reused from the start-up cache
    /// until a directory a chain leads through changes: a link there re-pointed into the
    /// home is seen at the next start.
    #[test]
    fn links_from_a_path_dir_outside_the_home_into_it_are_protected() {
        let h = home("pathlinks");
        let out = h.with_file_name(format!("{}-out", h.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&out);
        let (bin, alt) = (out.join("bin"), out.join("alt"));
        for d in [&bin, &alt, &h.join("apps/v1")] {
            std::fs::create_dir_all(d).unwrap();
        }
        for f in ["apps/tool", "apps/v1/run", "apps/late"] {
            std::fs::write(h.join(f), "#!/bin/sh\n").unwrap();
        }
        std::fs::write(bin.join("tool2"), "#!/bin/sh\n").unwrap();
        let link = |target: &Path, name: &Path| std::os::unix::fs::symlink(target, name).unwrap();
        link(&h.join("apps/tool"), &bin.join("tool"));
        link(&alt.join("cur"), &bin.join("cur"));
        link(&h.join("apps/v1/run"), &alt.join("cur"));
        link(Path::new("/usr/bin/true"), &bin.join("sys"));
        link(Path::new("tool2"), &bin.join("sib"));
        link(&alt.join("via"), &bin.join("via"));
        link(Path::new("/usr/bin/yes"), &alt.join("via"));
        link(&h.join("hop"), &bin.join("through"));
        link(Path::new("/usr/bin/env"), &h.join("hop"));
        link(&h, &bin.join("homelink"));
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![bin.clone()];

        crate::link_walk_cache::SETTLED.with(|s| s.set(true));
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        for protected in ["apps/tool", "apps/v1/run"] {
            let p = h.join(protected);
            let m = set.deny_for(&p, AccessMode::Write).expect(protected);
            assert_eq!(
                (m.group, m.kind),
                ("autorun", DenyKind::Write),
                "{protected}"
            );
            assert!(m.why.contains("a program on your PATH"), "{}", m.why);
            assert!(set.deny_for(&p, AccessMode::Read).is_none(), "{protected}");
        }
        let links: Vec<&Path> = set.links.iter().map(|(l, _, _)| l.as_path()).collect();
        // The link on the way (re-pointing it would change what `cur` runs) and the one in
        // the home on a chain that ends outside it (whose end is protected as well).
        assert!(links.contains(&alt.join("cur").as_path()), "{links:?}");
        assert!(links.contains(&h.join("hop").as_path()), "{links:?}");
        assert_eq!(set.group_of(Path::new("/usr/bin/env")), Some("autorun"));
        for free in [
            PathBuf::from("/usr/bin/true"),
            PathBuf::from("/usr/bin/yes"),
            bin.join("tool2"),
            h.join("proj/file"),
            h.join("apps/late"),
        ] {
            assert_eq!(set.group_of(&free), None, "{}", free.display());
        }

        // Recorded (settled); an intermediate link re-pointed into the home afterwards
        // changes `alt`'s stamp, so the next start looks again.
        std::fs::remove_file(alt.join("via")).unwrap();
        link(&h.join("apps/late"), &alt.join("via"));
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        crate::link_walk_cache::SETTLED.with(|s| s.set(false));
        assert_eq!(set.group_of(&h.join("apps/late")), Some("autorun"));
        assert_eq!(set.group_of(&h.join("apps/tool")), Some("autorun"));
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// Red team 17: a chain that goes up with `..` out of a directory neither a link met nor
    /// the end is in (`OUT/bin/tool` → `OUT/proj/sub/s2/../../../other/x`) read `OUT/proj`
    /// and `OUT/proj/sub`, which the recorded scan did not stamp: `sub` replaced by a link
    /// into the home (a run granted `OUT/proj`) made the chain end there, and the next start
    /// reused the scan and left the end free. The scan now stamps the directory of every
    /// name the walk looked up.
    #[test]
    fn a_path_scan_sees_a_change_where_a_chain_went_up_with_dot_dot() {
        let h = home("pathdotdot");
        let out = h.with_file_name(format!("{}-out", h.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&out);
        let bin = out.join("bin");
        for d in [
            &bin,
            &out.join("proj/sub/s2"),
            &out.join("other"),
            &h.join("a/b/c/s2"),
            &h.join("a/other"),
            &h.join(".local/state/nono"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(out.join("other/x"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(out.join("proj/sub/s2/../../../other/x"), bin.join("tool"))
            .unwrap();
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![bin.clone()];
        let payload = h.join("a/other/x");

        crate::link_walk_cache::SETTLED.with(|s| s.set(true));
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        assert_eq!(set.group_of(&payload), None);
        std::fs::remove_dir_all(out.join("proj/sub")).unwrap();
        std::os::unix::fs::symlink(h.join("a/b/c"), out.join("proj/sub")).unwrap();
        assert_eq!(
            std::fs::canonicalize(out.join("proj/sub/s2/../../../other")).unwrap(),
            h.join("a/other")
        );
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        crate::link_walk_cache::SETTLED.with(|s| s.set(false));
        assert_eq!(
            set.group_of(&payload),
            Some("autorun"),
            "a stale scan was reused"
        );
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// Red team 17: the chain of a `PATH` directory itself. Spelt in the home and leading out
    /// of it (`~/sub/tools` → `OUT/real`): the link is protected as a link, `OUT/real` is
    /// not protected (it is outside the home) but scanned. Leading to a missing directory in
    /// the home (`OUT/later` → `~/sub/later/bin`): protected as a `PATH` directory inside the
    /// home. Passing through the home on the way to a `..` (`OUT/up` → `~/p/q/../../../OUT/real`):
    /// the deepest name looked up there (`~/p/q`) is protected as a link, `~/p` is not; so
    /// is `~/a/b/c` of a directory spelt `~/a/b/c/../../bin` in the home.
    #[test]
    fn a_path_dir_whose_own_chain_meets_the_home_is_protected() {
        let h = home("pathdirchain");
        let name = format!("{}-out", h.file_name().unwrap().to_string_lossy());
        let out = h.with_file_name(&name);
        let _ = std::fs::remove_dir_all(&out);
        for d in [&out.join("real"), &h.join("sub"), &h.join("p/q")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let link = |target: &Path, name: &Path| std::os::unix::fs::symlink(target, name).unwrap();
        link(&out.join("real"), &h.join("sub/tools"));
        link(&h.join("apps/tool"), &out.join("real/tool"));
        link(&h.join("sub/later/bin"), &out.join("later"));
        link(
            &h.join(format!("p/q/../../../{name}/real")),
            &out.join("up"),
        );
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        std::fs::create_dir_all(h.join("a/b/c")).unwrap();
        std::fs::create_dir_all(h.join("a/bin")).unwrap();
        vars.path_dirs = vec![
            h.join("sub/tools"),
            out.join("later"),
            out.join("up"),
            h.join("a/b/c/../../bin"),
        ];
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        let links: Vec<&Path> = set.links.iter().map(|(l, _, _)| l.as_path()).collect();
        for protected in ["sub/tools", "p/q", "a/b/c"] {
            assert!(
                links.contains(&h.join(protected).as_path()),
                "{protected}: {links:?}"
            );
        }
        assert!(!links.contains(&h.join("p").as_path()), "{links:?}");
        assert_eq!(set.group_of(&out.join("real/x")), None);
        // Scanned: its link into the home is protected.
        assert_eq!(set.group_of(&h.join("apps/tool")), Some("autorun"));
        let m = set
            .deny_for(&h.join("sub/later/bin/x"), AccessMode::Write)
            .expect("the missing PATH directory in the home");
        assert_eq!((m.group, m.kind), ("autorun", DenyKind::Write));
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// Red team 17: the scan of a `PATH` directory was recorded by directory alone, but which
    /// of its chains lead into the home depends on the home. A start with `$HOME` =
    /// `~/agent` (a separate home for an agent, `$XDG_STATE_HOME` unchanged) recorded
    /// `OUT/bin/x` → `~/apps/x` as leading elsewhere, and the next start with the real home
    /// reused it: `~/apps/x` was left writable under `--allow ~`. (Not an escape test: the
    /// chain's directories in the scratch, under `/tmp`, never stay unchanged for the racy
    /// window while other tests run.)
    #[test]
    fn a_path_scan_made_for_another_home_is_not_reused() {
        let h = home("pathscanhome");
        let out = h.with_file_name(format!("{}-out", h.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&out);
        let bin = out.join("bin");
        for d in [
            &bin,
            &h.join("agent"),
            &h.join("apps"),
            &out.join("state/nono"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(h.join("apps/x"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(h.join("apps/x"), bin.join("x")).unwrap();
        let mut agent = Vars::for_home(h.join("agent"));
        agent.xdg_state_home = out.join("state");
        agent.path_dirs = vec![bin.clone()];
        let mut user = Vars::for_home(&h);
        user.xdg_state_home = out.join("state");
        user.path_dirs = vec![bin.clone()];

        crate::link_walk_cache::SETTLED.with(|s| s.set(true));
        let set = DenySet::from_groups(["autorun"], &agent).unwrap();
        assert_eq!(set.group_of(&h.join("apps/x")), None);
        let set = DenySet::from_groups(["autorun"], &user).unwrap();
        crate::link_walk_cache::SETTLED.with(|s| s.set(false));
        assert_eq!(
            set.group_of(&h.join("apps/x")),
            Some("autorun"),
            "the scan made for another home was reused"
        );
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// A `PATH` link into the home through a name longer than any can be
    /// (`OUT/bin/x` → `~/p/<300 bytes>/x`) leads nowhere, whatever a grant does: nothing is
    /// protected for it. Protecting that name (as a name looked up inside the home, red team
    /// 17's `off_the_end`) made `~/p` unchangeable.
    #[test]
    fn a_path_link_through_a_name_too_long_protects_nothing() {
        let h = home("pathlongname");
        let out = h.with_file_name(format!("{}-out", h.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&out);
        let bin = out.join("bin");
        for d in [&bin, &h.join("p")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let long = h.join("p").join("b".repeat(300)).join("x");
        std::os::unix::fs::symlink(&long, bin.join("x")).unwrap();
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![bin.clone()];
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        assert!(
            set.links
                .iter()
                .all(|(l, _, _)| !l.starts_with(h.join("p"))),
            "{:?}",
            set.links
        );
        assert_eq!(set.group_of(&h.join("p/y")), None);
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }

    /// A `PATH` directory that is the home itself is neither protected nor scanned (its
    /// links' chains all lie in the home): with red team 17's names looked up off the way
    /// protected, scanning it made `~/sub` unchangeable for `~/tool` → `~/sub/link` → `~/real`.
    #[test]
    fn the_home_on_path_is_not_scanned() {
        let h = home("pathhome");
        std::fs::create_dir_all(h.join("sub")).unwrap();
        std::fs::write(h.join("real"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(h.join("real"), h.join("sub/link")).unwrap();
        std::os::unix::fs::symlink(h.join("sub/link"), h.join("tool")).unwrap();
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![h.clone()];
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        assert!(
            set.links
                .iter()
                .all(|(l, _, _)| !l.starts_with(h.join("sub"))),
            "{:?}",
            set.links
        );
        assert_eq!(set.group_of(&h.join("sub/x")), None);
        assert_eq!(set.group_of(&h.join("real")), None);
        let _ = std::fs::remove_dir_all(&h);
    }

    /// A `PATH` link whose chain ends at the home itself through a link inside it
    /// (`OUT/bin/x` → `~/sub/h` → `~`) names no program today, and the home is not made
    /// read-only for it; but `~/sub/h`, re-pointed at a file, would make `x` run it: it is
    /// protected as a link.
    #[test]
    fn a_path_link_to_the_home_through_a_link_in_it_keeps_that_link() {
        let h = home("pathhomelink");
        let out = h.with_file_name(format!("{}-out", h.file_name().unwrap().to_string_lossy()));
        let _ = std::fs::remove_dir_all(&out);
        let bin = out.join("bin");
        for d in [&bin, &h.join("sub")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(&h, h.join("sub/h")).unwrap();
        std::os::unix::fs::symlink(h.join("sub/h"), bin.join("x")).unwrap();
        let mut vars = Vars::for_home(&h);
        vars.xdg_state_home = h.join(".local/state");
        vars.path_dirs = vec![bin.clone()];
        let set = DenySet::from_groups(["autorun"], &vars).unwrap();
        assert!(
            set.links.iter().any(|(l, _, _)| *l == h.join("sub/h")),
            "{:?}",
            set.links
        );
        assert_eq!(set.group_of(&h.join("proj/file")), None);
        let _ = std::fs::remove_dir_all(&h);
        let _ = std::fs::remove_dir_all(&out);
    }
}

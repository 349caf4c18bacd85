//! Seatbelt profile generation: golden files and the string-escaping property test.
//!
//! Golden files live in `tests/sandbox/golden/*.sb`; rewrite them with
//! `NONO_BLESS=1 cargo test -p nono-sandbox --test sandbox seatbelt`.
//! Capability sets canonicalise existing paths, so each case builds a temporary tree and the
//! comparison replaces its machine-specific root with `/WORK` (see [`Tree::normalise`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nono_sandbox::seatbelt::{profile, SeatbeltError};
use nono_sandbox::{AccessMode, CapabilitySet, NetworkMode, Scopes};
use proptest::prelude::*;

/// A temporary directory tree, removed on drop.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nono-seatbelt-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = std::fs::canonicalize(dir).unwrap();
        let text = root.to_str().unwrap();
        assert!(
            !text.contains(['"', '\\']),
            "temp dir {text} needs no escaping"
        );
        Tree { root }
    }

    fn dir(&self, rel: &str) -> PathBuf {
        let path = self.root.join(rel);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn file(&self, rel: &str) -> PathBuf {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        path
    }

    /// Make a profile independent of where the tree lives: the root becomes `/WORK`, and the
    /// metadata rules for the root's own ancestors (`/tmp`, or `/private/var/folders/...` on
    /// macOS) are dropped; `/` stays.
    fn normalise(&self, text: &str) -> String {
        let root = self.root.to_str().unwrap();
        let machine_specific: Vec<String> = self
            .root
            .ancestors()
            .skip(1)
            .filter(|a| *a != Path::new("/"))
            .map(|a| format!("  (literal \"{}\")", a.display()))
            .collect();
        text.lines()
            .filter(|line| !machine_specific.iter().any(|m| m == line))
            .map(|line| line.replace(root, "/WORK") + "\n")
            .collect()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Compare with (or, with `NONO_BLESS=1`, rewrite) `tests/sandbox/golden/<name>.sb`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sandbox/golden")
        .join(format!("{name}.sb"));
    if std::env::var_os("NONO_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `NONO_BLESS=1 cargo test -p nono-sandbox --test sandbox seatbelt` to create it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the generated profile at line {}\n--- expected\n{expected}\n--- actual\n{actual}\n\
             (if the change is intended: NONO_BLESS=1 cargo test -p nono-sandbox --test sandbox seatbelt)",
            path.display(),
            line + 1
        );
    }
}

#[test]
fn seatbelt_golden_readonly_usr_rw_workdir_no_network() {
    let tree = Tree::new("ro-rw");
    let mut caps = CapabilitySet::new();
    caps.allow_dir("/usr", AccessMode::Read, "--read /usr")
        .unwrap()
        .allow_dir(&tree.root, AccessMode::ReadWrite, "--allow .")
        .unwrap()
        .set_network(NetworkMode::Block);
    golden(
        "readonly_usr_rw_workdir",
        &tree.normalise(&profile(&caps).unwrap()),
    );
}

#[test]
fn seatbelt_golden_deny_carveouts() {
    let tree = Tree::new("deny");
    let project = tree.dir("project");
    tree.dir("project/.git/hooks");
    let tool = tree.file("tools/run.sh");
    let mut caps = CapabilitySet::new();
    caps.allow_dir("/usr", AccessMode::Read, "profile default")
        .unwrap()
        .allow_dir(&project, AccessMode::ReadWrite, "--allow project")
        .unwrap()
        .allow_file(&tool, AccessMode::Read, "--read-file tools/run.sh")
        .unwrap()
        .deny(project.join(".git/hooks"), "--deny .git/hooks")
        .unwrap()
        .deny(project.join("secrets/not-there-yet"), "group credentials")
        .unwrap()
        .set_network(NetworkMode::Block);
    let text = profile(&caps).unwrap();
    golden("deny_carveouts", &tree.normalise(&text));

    // Structural guarantee behind the golden: every deny carve-out comes after every allow.
    let lines: Vec<&str> = text.lines().collect();
    let last_allow = lines.iter().rposition(|l| l.starts_with("(allow")).unwrap();
    let first_deny = lines
        .iter()
        .position(|l| l.starts_with("(deny") && *l != "(deny default)")
        .unwrap();
    assert!(last_allow < first_deny, "{text}");
}

#[test]
fn seatbelt_golden_tcp_ports() {
    let tree = Tree::new("ports");
    let mut caps = CapabilitySet::new();
    caps.allow_dir("/usr", AccessMode::Read, "--read /usr")
        .unwrap()
        .allow_dir(&tree.root, AccessMode::ReadWrite, "--allow .")
        .unwrap()
        .set_network(NetworkMode::Ports {
            connect: [443, 80].into_iter().collect(),
            bind: [8080].into_iter().collect(),
        });
    golden("tcp_ports", &tree.normalise(&profile(&caps).unwrap()));
}

#[test]
fn seatbelt_golden_network_allowed_signals_unscoped() {
    let tree = Tree::new("net");
    let out = tree.dir("out");
    let mut caps = CapabilitySet::new();
    caps.allow_dir(&tree.root, AccessMode::Read, "--read .")
        .unwrap()
        .allow_dir(&out, AccessMode::Write, "--write out")
        .unwrap()
        .set_network(NetworkMode::Allow)
        .set_scopes(Scopes {
            signal: false,
            abstract_unix_socket: false,
        });
    golden(
        "network_allowed_signals_unscoped",
        &tree.normalise(&profile(&caps).unwrap()),
    );
}

// ---- a small SBPL reader: the oracle for the escaping property test ----

/// One SBPL token. Comments (`;` to end of line) and whitespace are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Str(String),
    Atom(String),
}

/// Tokenise SBPL text, reading string literals with exactly the two escapes the generator
/// may emit (`\"` and `\\`); anything else, an unterminated string or unbalanced
/// parentheses is an error.
fn read_sbpl(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                depth += 1;
                tokens.push(Token::Open);
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced ')'")?;
                tokens.push(Token::Close);
            }
            ';' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            other => return Err(format!("unexpected escape {other:?}")),
                        },
                        Some(c) => s.push(c),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut atom = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '(' | ')' | '"' | ';') {
                        break;
                    }
                    atom.push(n);
                    chars.next();
                }
                tokens.push(Token::Atom(atom));
            }
        }
    }
    if depth != 0 {
        return Err(format!("{depth} unclosed '('"));
    }
    Ok(tokens)
}

/// The s-expression structure without the string contents.
fn shape(tokens: &[Token]) -> Vec<Token> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Str(_) => Token::Str(String::new()),
            t => t.clone(),
        })
        .collect()
}

#[test]
fn seatbelt_reader_rejects_broken_text() {
    assert!(read_sbpl(r#"(allow (literal "a))"#).is_err());
    assert!(read_sbpl(r#"(allow (literal "a\n"))"#).is_err());
    assert!(read_sbpl("(allow (literal \"a\")").is_err());
    assert!(read_sbpl("(allow))").is_err());
    assert_eq!(
        read_sbpl(
            r#"; c "(" x
(a "q\"\\")"#
        )
        .unwrap(),
        vec![
            Token::Open,
            Token::Atom("a".into()),
            Token::Str(r#"q"\"#.into()),
            Token::Close
        ]
    );
}

/// Characters that are interesting to an SBPL string or comment, mixed with arbitrary ones.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        1 => prop::sample::select(vec![
            '"', '\\', '(', ')', ';', '\n', '\r', '\t', ' ', '#', '|', '\u{7f}', '\u{85}', 'é', '😀',
        ]),
    ]
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(name_char(), 1..16)
        .prop_map(|v| v.into_iter().collect::<String>())
        // A file name cannot contain '/' or NUL, and "." / ".." are not names.
        .prop_filter("valid file name", |s| {
            !s.contains(['/', '\0']) && s != "." && s != ".."
        })
}

/// The capability set the property test uses for one file name.
fn caps_for(dir: &Path, name: &str, origin: &str) -> CapabilitySet {
    let file = dir.join(name);
    std::fs::write(&file, b"x").unwrap();
    let mut caps = CapabilitySet::new();
    caps.allow_dir(dir, AccessMode::Read, origin)
        .unwrap()
        .allow_file(&file, AccessMode::ReadWrite, origin)
        .unwrap()
        .deny(dir.join(format!("{name}.d")).join("x"), origin)
        .unwrap()
        .set_network(NetworkMode::Ports {
            connect: [443].into_iter().collect(),
            bind: [8080].into_iter().collect(),
        });
    caps
}

proptest! {
    /// For arbitrary file names (and origins), the profile either refuses the path, naming
    /// it, or embeds it so that reading the literal back yields exactly the path, and the
    /// s-expression structure is the same as for a plain name.
    #[test]
    fn seatbelt_paths_never_escape_their_string_literal(
        name in name_strategy(),
        origin in prop::collection::vec(name_char(), 0..16).prop_map(|v| v.into_iter().collect::<String>()),
    ) {
        let tree = Tree::new("prop");
        let dir = tree.dir("d");
        let reference = read_sbpl(&profile(&caps_for(&dir, "plain", "origin")).unwrap()).unwrap();

        let caps = caps_for(&dir, &name, &origin);
        let file = caps.grants()[1].path.clone();
        let deny = caps.denies()[0].path.clone();
        match profile(&caps) {
            Err(err) => {
                prop_assert!(name.chars().any(char::is_control), "rejected {name:?}: {err}");
                match &err {
                    SeatbeltError::ControlCharacter { path, .. } => prop_assert_eq!(path, &file),
                    other => prop_assert!(false, "unexpected error {other:?}"),
                }
                prop_assert!(err.to_string().contains(&format!("{file:?}")), "{err}");
            }
            Ok(text) => {
                prop_assert!(!name.chars().any(char::is_control), "accepted {name:?}");
                let tokens = read_sbpl(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                let strings: Vec<&str> = tokens
                    .iter()
                    .filter_map(|t| match t { Token::Str(s) => Some(s.as_str()), _ => None })
                    .collect();
                prop_assert!(strings.contains(&file.to_str().unwrap()), "{text}");
                prop_assert!(strings.contains(&deny.to_str().unwrap()), "{text}");
                let opens = tokens.iter().filter(|t| **t == Token::Open).count();
                let expected_opens = reference.iter().filter(|t| **t == Token::Open).count();
                prop_assert_eq!(opens, expected_opens);
                prop_assert_eq!(shape(&tokens), shape(&reference), "{}", text);
            }
        }
    }
}

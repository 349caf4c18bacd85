//! Differential test: the `explain()` model against the real kernel, over random capability sets (proptest).
//!
//! Each case builds a fresh small tree (directories three deep, files, a relative symlink),
//! draws 1–4 grants (any node, any access mode) and 0–3 deny carve-outs, full or read-only
//! (existing nodes or names that do not exist), asks `explain()` about every operation below, then re-executes
//! this test binary inside the sandbox to *do* them and compares. Any disagreement fails the
//! test with the capability set, the operation, the model's explanation and the errno.
//!
//! Operations per case (all in one sandboxed child):
//! - read every file and the symlink (`open(O_RDONLY)`) ↔ `explain(file, Read)`
//! - open every file write-only and read-write ↔ `explain(file, Write | ReadWrite)`
//! - list every directory (`open(O_DIRECTORY)` + read) ↔ `explain(dir, Read)`
//! - create a new file in every directory (`O_CREAT|O_EXCL`) ↔ `explain(dir/new, Write)`
//!
//! The kernel side counts a success as allowed and `EACCES`/`EPERM`/`EXDEV` as denied; any
//! other errno is a bug in the test. `CASES` (1000) cases × 34 operations = 34 000
//! comparisons; a case costs 5–20 ms here (one spawn of this binary), so 5–20 s.
//!
//! `explain_net_agrees_with_the_kernel` does the same for TCP: random network modes and port
//! lists against real listeners on 127.0.0.1 (`NET_CASES` cases × 4 connects + 2 binds).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};

use nono_sandbox::{
    explain, explain_bind, explain_net, AccessMode, CapabilitySet, DenyKind, NetworkMode,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::harness::{self, base_caps, TempTree};

/// Number of random capability sets (one sandboxed process each).
const CASES: u32 = 1000;

const NAME: &str = "differential::explain_agrees_with_the_kernel";

const DIRS: [&str; 6] = ["", "d0", "d0/d1", "d0/d1/d2", "d0/d3", "d4"];
const FILES: [&str; 7] = [
    "d0/f0",
    "d0/f1",
    "d0/d1/f2",
    "d0/d1/d2/f3",
    "d0/d3/f4",
    "d4/f5",
    "f6",
];
const LINK: &str = "d0/ln";
/// Deny targets that do not exist (one of them is also a create target).
const MISSING: [&str; 3] = ["d0/new", "d0/d1/ghost", "d4/ghost/deeper"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    ReadWrite,
    List,
    Create,
}

impl Op {
    fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Write => "w",
            Op::ReadWrite => "rw",
            Op::List => "ls",
            Op::Create => "new",
        }
    }

    fn from_code(s: &str) -> Op {
        match s {
            "r" => Op::Read,
            "w" => Op::Write,
            "rw" => Op::ReadWrite,
            "ls" => Op::List,
            "new" => Op::Create,
            other => panic!("unknown op {other}"),
        }
    }

    fn access(self) -> AccessMode {
        match self {
            Op::Read | Op::List => AccessMode::Read,
            Op::Write | Op::Create => AccessMode::Write,
            Op::ReadWrite => AccessMode::ReadWrite,
        }
    }
}

fn ops(root: &Path) -> Vec<(Op, PathBuf)> {
    let mut v = Vec::new();
    for f in FILES.iter().chain([&LINK]) {
        v.push((Op::Read, root.join(f)));
    }
    for f in FILES {
        v.push((Op::Write, root.join(f)));
        v.push((Op::ReadWrite, root.join(f)));
    }
    for d in DIRS {
        v.push((Op::List, root.join(d)));
    }
    for d in DIRS {
        v.push((Op::Create, root.join(d).join("new")));
    }
    v
}

fn build_tree() -> TempTree {
    let t = TempTree::new("diff");
    for d in DIRS {
        t.dir(d);
    }
    for f in FILES {
        t.file(f, "x");
    }
    std::os::unix::fs::symlink("../d4/f5", t.join(LINK)).unwrap();
    t
}

/// The errno of a failed operation (-1 if it has none).
fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// In the sandboxed child: print one operation's result on its own line, `ok` or the errno.
fn report(result: Result<(), i32>) {
    match result {
        Ok(()) => println!("RESULT ok"),
        Err(errno) => println!("RESULT {errno}"),
    }
}

/// In the parent: the results the sandboxed child printed with [`report`], in order.
fn reported(out: &harness::Outcome) -> Vec<String> {
    out.stdout()
        .lines()
        .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_owned()))
        .collect()
}

/// Perform one operation; `Ok(())` or the errno.
fn perform(op: Op, path: &Path) -> Result<(), i32> {
    match op {
        Op::Read => OpenOptions::new().read(true).open(path).map(drop),
        Op::Write => OpenOptions::new().write(true).open(path).map(drop),
        Op::ReadWrite => OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop),
        Op::List => std::fs::read_dir(path).and_then(|mut d| d.next().transpose().map(drop)),
        Op::Create => OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map(drop),
    }
    .map_err(errno)
}

#[derive(Debug, Clone)]
struct Draw {
    grants: Vec<(usize, AccessMode)>,
    denies: Vec<(usize, bool)>,
}

fn grantable() -> Vec<&'static str> {
    DIRS.iter().chain(FILES.iter()).copied().collect()
}

fn deniable() -> Vec<&'static str> {
    DIRS.iter()
        .skip(1)
        .chain(FILES.iter())
        .chain(MISSING.iter())
        .copied()
        .collect()
}

fn strategy() -> impl Strategy<Value = Draw> {
    let access = prop_oneof![
        Just(AccessMode::Read),
        Just(AccessMode::Write),
        Just(AccessMode::ReadWrite)
    ];
    (
        prop::collection::vec((0..grantable().len(), access), 1..=4),
        prop::collection::vec((0..deniable().len(), any::<bool>()), 0..=3),
    )
        .prop_map(|(grants, denies)| Draw { grants, denies })
}

#[test]
fn explain_agrees_with_the_kernel() {
    if let Some(vars) = harness::child_vars(NAME) {
        // Sandboxed child: do every operation, report each result on its own line.
        for line in vars["OPS"].lines() {
            let (code, path) = line.split_once(' ').expect("op line");
            report(perform(Op::from_code(code), Path::new(path)));
        }
        return;
    }
    if !harness::landlock_abi_at_least(3) {
        return;
    }
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy(), |draw| {
        let n = run_case(&draw)?;
        checked.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    let checked = checked.into_inner();
    eprintln!(
        "differential: {CASES} cases, {checked} operations compared in {:.1?}",
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn run_case(draw: &Draw) -> Result<usize, TestCaseError> {
    let tree = build_tree();
    let root = tree.path();
    let mut caps: CapabilitySet = base_caps();
    let grantable = grantable();
    let deniable = deniable();
    for &(i, access) in &draw.grants {
        caps.allow_path(
            root.join(grantable[i]),
            access,
            format!("grant {}", grantable[i]),
        )
        .unwrap();
    }
    for &(i, read_only) in &draw.denies {
        let kind = if read_only {
            DenyKind::Write
        } else {
            DenyKind::All
        };
        caps.deny_kind(
            root.join(deniable[i]),
            format!("{} {}", kind.as_str(), deniable[i]),
            kind,
        )
        .unwrap();
    }
    let ops = ops(root);
    // The model's answers, computed against the tree as the sandbox is built from it.
    let expected: Vec<_> = ops
        .iter()
        .map(|(op, path)| explain(&caps, path, op.access()).unwrap())
        .collect();
    let script: String = ops
        .iter()
        .map(|(op, p)| format!("{} {}\n", op.code(), p.display()))
        .collect();
    let out = harness::reexec(NAME, &caps, &[("OPS", &script)]);
    out.assert_child_passed();
    let results = reported(&out);
    prop_assert_eq!(results.len(), ops.len(), "child output: {}", out.stdout());
    let mut mismatches = Vec::new();
    for (((op, path), model), kernel) in ops.iter().zip(&expected).zip(&results) {
        let kernel_allowed = match kernel.as_str() {
            "ok" => true,
            "13" | "1" | "18" => false,
            other => {
                return Err(TestCaseError::fail(format!(
                    "{op:?} {}: unexpected errno {other} (test bug)",
                    path.display()
                )))
            }
        };
        if kernel_allowed != model.is_allowed() {
            mismatches.push(format!(
                "{op:?} {}: kernel {}, model: {model}",
                path.strip_prefix(root).unwrap_or(path).display(),
                if kernel_allowed { "allowed" } else { "denied" },
            ));
        }
    }
    prop_assert!(
        mismatches.is_empty(),
        "model and kernel disagree for\n{caps}\n{}",
        mismatches.join("\n")
    );
    Ok(ops.len())
}

/// Number of random network policies.
const NET_CASES: u32 = 100;

const NET_NAME: &str = "differential::explain_net_agrees_with_the_kernel";

#[test]
fn explain_net_agrees_with_the_kernel() {
    if let Some(vars) = harness::child_vars(NET_NAME) {
        for p in vars["CONNECT"].split(',') {
            report(
                TcpStream::connect(("127.0.0.1", p.parse::<u16>().unwrap()))
                    .map(drop)
                    .map_err(errno),
            );
        }
        for p in vars["BIND"].split(',') {
            report(
                TcpListener::bind(("127.0.0.1", p.parse::<u16>().unwrap()))
                    .map(drop)
                    .map_err(errno),
            );
        }
        return;
    }
    if !harness::landlock_abi_at_least(4) {
        return;
    }
    // Four live listeners to connect to; two free ports to bind.
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let connect_ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let bind_ports: Vec<u16> = {
        let tmp: Vec<TcpListener> = (0..2)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        tmp.iter().map(|l| l.local_addr().unwrap().port()).collect()
    };
    let join = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let (connect_csv, bind_csv) = (join(&connect_ports), join(&bind_ports));
    let strategy = (
        0..3u8,
        prop::collection::vec(any::<bool>(), 4),
        prop::collection::vec(any::<bool>(), 2),
    );
    let mut runner = TestRunner::new(Config {
        cases: NET_CASES,
        failure_persistence: None,
        max_shrink_iters: 32,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(mode, c_mask, b_mask)| {
        let mut caps = base_caps();
        caps.set_network(match mode {
            0 => NetworkMode::Allow,
            1 => NetworkMode::Block,
            _ => NetworkMode::Ports {
                connect: pick(&connect_ports, &c_mask),
                bind: pick(&bind_ports, &b_mask),
            },
        });
        let mut expected: Vec<_> = connect_ports
            .iter()
            .map(|&p| explain_net(&caps, "127.0.0.1", p))
            .collect();
        expected.extend(bind_ports.iter().map(|&p| explain_bind(&caps, p)));
        let out = harness::reexec(
            NET_NAME,
            &caps,
            &[("CONNECT", &connect_csv), ("BIND", &bind_csv)],
        );
        out.assert_child_passed();
        let results = reported(&out);
        prop_assert_eq!(results.len(), expected.len());
        for (model, kernel) in expected.iter().zip(&results) {
            // EACCES from Landlock, EAFNOSUPPORT from the seccomp socket filter (Block).
            let kernel_allowed = match kernel.as_str() {
                "ok" => true,
                "13" | "97" => false,
                other => return Err(TestCaseError::fail(format!("unexpected errno {other}"))),
            };
            prop_assert_eq!(
                kernel_allowed,
                model.verdict == nono_sandbox::Verdict::Allowed,
                "network {}: kernel {}, model: {}",
                caps.network(),
                kernel,
                model
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn pick(ports: &[u16], mask: &[bool]) -> BTreeSet<u16> {
    ports
        .iter()
        .zip(mask)
        .filter(|(_, on)| **on)
        .map(|(p, _)| *p)
        .collect()
}

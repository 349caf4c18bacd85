//! The child workloads: this test binary re-executed under the sandbox (`NONO_LOAD_CHILD=mode`,
//! running only `child::entry`), reporting on stdout lines that start with `load-child:` and
//! through its exit status. Unset, `entry` is an ordinary test that does nothing.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::harness::content;

/// Selects the workload.
pub const MODE: &str = "NONO_LOAD_CHILD";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child: {name} is not set"))
}

fn num(name: &str) -> usize {
    var(name)
        .parse()
        .unwrap_or_else(|_| panic!("child: {name} is not a number"))
}

/// Read `dir/f{k}` and check its contents.
fn read_checked(dir: &Path, k: usize) -> Result<(), String> {
    let path = dir.join(format!("f{k}"));
    match std::fs::read_to_string(&path) {
        Ok(s) if s == content(k) => Ok(()),
        Ok(s) => Err(format!("{}: wrong contents {s:?}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[test]
fn entry() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let code = match mode.as_str() {
        "threads" => threads(),
        "grants" => grants(),
        "sdk_one" => sdk_one(),
        other => {
            eprintln!("load-child: unknown mode {other}");
            2
        }
    };
    // Exit here: the test harness must print nothing after the workload's own lines.
    std::process::exit(code);
}

/// `LOAD_THREADS` threads each open `LOAD_OPENS` files at once, alternating between the
/// static grant `LOAD_STATIC` (answered CONTINUE) and `LOAD_APPROVED` (outside the grants:
/// a runtime grant per open). Prints `load-child: ok N` with the number of checked reads.
fn threads() -> i32 {
    let static_dir = PathBuf::from(var("LOAD_STATIC"));
    let approved = PathBuf::from(var("LOAD_APPROVED"));
    let (threads, opens, files) = (num("LOAD_THREADS"), num("LOAD_OPENS"), num("LOAD_FILES"));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (s, a) = (static_dir.clone(), approved.clone());
            std::thread::spawn(move || -> Result<usize, String> {
                for i in 0..opens {
                    let k = (t * opens + i) % files;
                    read_checked(if i % 2 == 0 { &s } else { &a }, k)?;
                }
                Ok(opens)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                println!("load-child: error {e}");
                return 1;
            }
            Err(_) => return 1,
        }
    }
    println!("load-child: ok {total}");
    0
}

/// Runtime grants in bulk: `LOAD_OPENS` opens of files in `LOAD_APPROVED` (outside the static
/// grants), each read and closed, and as many SDK requests when the SDK socket is there.
/// With `LOAD_HANDSHAKE=1`: a warm-up of 10 grants, `load-child: ready`, wait for a stdin line,
/// the bulk, `load-child: done N`, wait for another line, exit — so the test can count the
/// supervisor's fds at `ready` and at `done`.
fn grants() -> i32 {
    let approved = PathBuf::from(var("LOAD_APPROVED"));
    let (opens, files) = (num("LOAD_OPENS"), num("LOAD_FILES"));
    let handshake = std::env::var("LOAD_HANDSHAKE").is_ok_and(|v| v == "1");
    let mut sdk = std::env::var_os("NONO_SUPERVISOR_FD")
        .map(|_| nono_client::Client::from_env().expect("SDK client"));
    let mut one = |k: usize| -> Result<(), String> {
        read_checked(&approved, k % files)?;
        if let Some(client) = sdk.as_mut() {
            let path = approved.join(format!("f{}", k % files));
            let fd = client
                .request(&path, nono_client::AccessMode::Read, Some("load test"))
                .map_err(|e| format!("SDK request for {}: {e}", path.display()))?;
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s)
                .map_err(|e| format!("reading the SDK fd: {e}"))?;
            if s != content(k % files) {
                return Err(format!("SDK fd for {}: wrong contents", path.display()));
            }
        }
        Ok(())
    };
    let stdin = std::io::stdin();
    let mut line = String::new();
    if handshake {
        for k in 0..10 {
            if let Err(e) = one(k) {
                println!("load-child: error {e}");
                return 1;
            }
        }
        println!("load-child: ready");
        let _ = stdin.lock().read_line(&mut line);
    }
    for k in 0..opens {
        if let Err(e) = one(k) {
            println!("load-child: error {e}");
            return 1;
        }
    }
    println!("load-child: done {opens}");
    if handshake {
        let _ = stdin.lock().read_line(&mut line);
    }
    0
}

/// One SDK request for `LOAD_PATH` (the test kills us while it is pending).
fn sdk_one() -> i32 {
    let path = var("LOAD_PATH");
    let mut client = nono_client::Client::from_env().expect("SDK client");
    match client.request(&path, nono_client::AccessMode::Read, Some("load test")) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("load-child: {e}");
            3
        }
    }
}

//! `--capability-elevation` at a terminal: nono asks on /dev/tty, a person answers, and the
//! supervisor hands the file to the command. The "person" is this test on a PTY master.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;

use crate::harness::{nono_bin, sandbox_available, Scratch};

/// Read from the PTY master on a thread; chunks arrive on the channel.
fn reader(master: File) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut master = master;
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait until the output so far contains `needle` (a generous guard against a hang only).
fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(e) => panic!("waiting for {needle:?}: {e}; terminal so far:\n{seen}"),
        }
    }
}

#[test]
fn elevation_prompt_on_the_terminal_grants_once() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("prompt");
    let file = s.write("data/asked.txt", "granted-by-a-person");
    let audit = s.join("audit.jsonl");

    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    let slave = File::from(slave);

    // setsid -c: a new session whose controlling terminal is the PTY, so /dev/tty is ours.
    let mut child = Command::new("setsid")
        .args(["-w", "-c"])
        .arg(nono_bin())
        .args([
            "run",
            "--capability-elevation",
            "--audit-log",
            &audit.display().to_string(),
            "--",
            "cat",
            &file.display().to_string(),
        ])
        .current_dir(&s.path)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut writer = File::from(master);
    let rx = reader(writer.try_clone().unwrap());
    let mut seen = String::new();
    wait_for(&rx, &mut seen, "Allow?");
    assert!(seen.contains(&file.display().to_string()), "{seen}");
    writer.write_all(b"y\r").unwrap();
    wait_for(&rx, &mut seen, "granted-by-a-person");
    // The supervisor's PTY relay and the prompt both read this terminal; when the prompt
    // took the answer, the relay can be left in a blocking read of stdin after the command
    // ended (reported to the supervisor's owner). One more key releases it.
    let _ = writer.write_all(b"\r");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("Granted"), "{log}");
}

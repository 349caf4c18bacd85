//! `--capability-elevation` at a terminal: nono asks on /dev/tty, a person answers, and the
//! supervisor hands the file to the command. The "person" is this test on a PTY master.

use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{
    nono_bin, open_pty, read_on_a_thread, sandbox_available, wait_for_output, Scratch,
};

/// nono running `command` on a fresh PTY that is its controlling terminal; the test is the
/// person at that terminal.
struct AtTerminal {
    child: std::process::Child,
    writer: File,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl AtTerminal {
    fn start(s: &Scratch, audit: &std::path::Path, command: &[&str]) -> AtTerminal {
        let (writer, slave) = open_pty();

        // setsid -c: a new session whose controlling terminal is the PTY, so /dev/tty is ours.
        let child = Command::new("setsid")
            .args(["-w", "-c"])
            .arg(nono_bin())
            .args([
                "run",
                "--capability-elevation",
                "--audit-log",
                &audit.display().to_string(),
                "--",
            ])
            .args(command)
            .current_dir(&s.path)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let rx = read_on_a_thread(&writer);
        AtTerminal {
            child,
            writer,
            rx,
            seen: String::new(),
        }
    }

    fn wait_for(&mut self, needle: &str) {
        wait_for_output(&self.rx, &mut self.seen, needle, Duration::from_secs(120));
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.writer.write_all(keys).unwrap();
    }

    /// nono's exit code, with no further key typed. A generous guard against a hang only: a
    /// PTY relay left blocked reading the terminal kept nono from exiting until a key came.
    fn exit_code(mut self) -> Option<i32> {
        let guard = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > guard {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "nono did not exit after the command ended (a key typed now would release \
                     it); terminal so far:\n{}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(50));
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
    let mut t = AtTerminal::start(&s, &audit, &["cat", &file.display().to_string()]);
    t.wait_for("Allow?");
    assert!(t.seen.contains(&file.display().to_string()), "{}", t.seen);
    t.type_keys(b"y\r");
    t.wait_for("granted-by-a-person");
    // No key after the answer: nono must end with the command.
    let seen = t.seen.clone();
    assert_eq!(t.exit_code(), Some(0), "{seen}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("Granted"), "{log}");
}

/// The answer goes to the prompt, never to the command; what is typed after the prompt
/// closed goes to the command again.
#[test]
fn prompt_answer_is_not_relayed_to_the_command() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("prompt-relay");
    let file = s.write("data/asked.txt", "granted-by-a-person");
    let audit = s.join("audit.jsonl");
    let script = format!(
        "cat '{}' && IFS= read -r line && printf 'child read [%s]\\n' \"$line\"",
        file.display()
    );
    let mut t = AtTerminal::start(&s, &audit, &["sh", "-c", &script]);
    t.wait_for("Allow?");
    t.type_keys(b"y\r");
    t.wait_for("granted-by-a-person");
    t.type_keys(b"second\r");
    // Had the relay forwarded the answer, the command would read `y` here.
    t.wait_for("child read [second]");
    let seen = t.seen.clone();
    assert_eq!(t.exit_code(), Some(0), "{seen}");
}

/// The command cannot redraw the prompt while it is shown: it writes, over and over, the
/// sequence that moves up to the line with the path and rewrites it
/// (`ESC 7 ESC [1A CR ESC [2K  /harmless/path ESC 8`). Nothing of it reaches the terminal
/// between the question and the answer (the relay holds the command's output), the terminal
/// is reset before the question, and the answer line repeats the true path. Before, the
/// forged line was on screen while the person answered.
#[test]
fn prompt_cannot_be_redrawn_by_the_command() {
    if !sandbox_available() {
        return;
    }
    let s = Scratch::new("prompt-forge");
    let file = s.write("data/secret.txt", "the-real-file");
    let audit = s.join("audit.jsonl");
    let script = format!(
        "cat '{}' & c=$!; \
         while kill -0 $c 2>/dev/null; do \
           printf '\\0337\\033[1A\\r\\033[2K  /harmless/path FORGED\\0338'; sleep 0.1; \
         done; wait $c",
        file.display()
    );
    let mut t = AtTerminal::start(&s, &audit, &["sh", "-c", &script]);
    t.wait_for("Allow?");
    // The command keeps writing while the person reads the question.
    let until = Instant::now() + Duration::from_millis(1500);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Ok(chunk) = t.rx.recv_timeout(left) {
            t.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let asked = t.seen.rfind("nono: the sandboxed program").unwrap();
    let question = &t.seen[asked..];
    assert!(
        !question.contains("FORGED") && !question.contains("\x1b[1A"),
        "the command's output reached the terminal during the prompt: {question:?}"
    );
    let reset = String::from_utf8(nono_supervisor::approval::TERMINAL_RESET.to_vec()).unwrap();
    assert!(
        t.seen[..asked].ends_with(&format!("{reset}\r\n")),
        "no terminal reset right before the question: {:?}",
        &t.seen[asked.saturating_sub(80)..asked]
    );
    t.type_keys(b"y\r");
    let answer = format!("granted once: read access to {}\r\n", file.display());
    t.wait_for(&answer);
    t.wait_for("the-real-file");
    let answered = t.seen.find(&answer).unwrap();
    assert!(
        !t.seen[asked..answered].contains("FORGED"),
        "{:?}",
        &t.seen[asked..]
    );
    let seen = t.seen.clone();
    assert_eq!(t.exit_code(), Some(0), "{seen}");
}

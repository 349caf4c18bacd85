//! Approval backends: who decides a runtime request that no rule covers — a person at the
//! terminal ([`TerminalPrompt`]), nobody ([`DenyAll`]), or the embedding program
//! ([`Callback`]).
//!
//! # The terminal prompt
//! The prompt opens `/dev/tty` itself (never the child's stdin/stdout), discards pending
//! input first (so keys typed before the question cannot answer it), prints the request with
//! every control character escaped (a path or reason chosen by the child cannot move the
//! cursor or fake a line) with the program asking (its executable, `/proc/PID/exe`, and pid),
//! and reads one line: `y`/`yes` grants once, `a`/`always` grants that file for the session,
//! `d`/`directory` its directory and everything beneath it for the session (deny groups
//! still win inside), anything else denies. A line may end in `\n` or `\r` (a terminal left in raw
//! mode sends `\r`). Ctrl-C (a `0x03` byte: the PTY relay keeps our terminal in raw mode)
//! denies at once, Ctrl-D before any answer is end of input (denied). No answer before the
//! timeout → [`Decision::Timeout`]. When the run's [`CancelWatch`] fires (the command ended,
//! or `SIGINT`/`SIGTERM`/... was forwarded to it) the prompt stops waiting, prints
//! `(cancelled: the command ended)` and denies with [`CancelReason::as_denial`]'s reason
//! (so the audit log has one `Denied` entry for the abandoned request). Prompts are
//! serialised: concurrent requests wait their turn. While a prompt is open, the supervisor's
//! PTY relays do not read the terminal (`pty.rs`'s gate), so the answer cannot go to the child,
//! and they hold the child's output, so the child cannot redraw the prompt while it is shown.
//!
//! # What the person sees is what is asked
//! The command drew on the terminal before the prompt and may have left it in a state that
//! hides or fakes text: an unfinished escape or control string (everything after
//! `ESC ]` is swallowed as a window title until its terminator), invisible or
//! same-colour-as-background attributes, a hidden cursor, a one-line scroll region (the lines
//! with the path would scroll out of sight under a fake one drawn above), no auto-wrap (a long
//! path cut at the margin), insert mode, the DEC line-drawing character set, origin mode. On
//! a terminal the prompt first writes [`TERMINAL_RESET`], which undoes exactly those and
//! nothing the command may still want (the screen's contents, the alternate screen, the
//! cursor position it saved: not a reset of the whole terminal, which would also clear the
//! user's scroll-back), and asks on fresh lines at the bottom of the screen. The
//! line written with the answer repeats the access and the path (escaped), so the decision
//! shown is the one made. The output held meanwhile is shown after that line.
//!
//! The prompt logic is [`ask`], generic over a `BufRead`/`Write` pair; the timeout is the
//! reader's job ([`DeadlineReader`] polls an fd until a deadline and then reports
//! `ErrorKind::TimedOut`), and its cancellation (it polls the watch's fd too).
//!
//! [`CancelReason::as_denial`]: crate::cancel::CancelReason::as_denial

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};

use crate::cancel::{CancelWatch, Cancelled};
use crate::request::{Decision, GrantScope, RuntimeRequest};
pub use nono_policy::approval::{ApprovalBackend, Callback, CallbackFn, DenyAll};

/// Asks the person at the controlling terminal (`/dev/tty`).
#[derive(Debug)]
pub struct TerminalPrompt {
    timeout: Duration,
    tty: PathBuf,
    turn: Mutex<()>,
    no_terminal: NoTerminal,
}

/// The requests a [`TerminalPrompt`] denied because it had no terminal to ask (no
/// controlling terminal: a pipe, a service, CI), so the caller can say so after the run.
#[derive(Debug, Clone, Default)]
pub struct NoTerminal(Arc<Mutex<(u64, Option<String>)>>);

impl NoTerminal {
    fn note(&self, why: &str) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.0 += 1;
        st.1.get_or_insert_with(|| why.to_owned());
    }

    /// How many requests were denied that way.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Why the first one could not be asked (`open /dev/tty failed: ...`).
    #[must_use]
    pub fn why(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }
}

impl TerminalPrompt {
    /// Ask on `/dev/tty`, denying with [`Decision::Timeout`] after `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> TerminalPrompt {
        TerminalPrompt {
            timeout,
            tty: PathBuf::from("/dev/tty"),
            turn: Mutex::new(()),
            no_terminal: NoTerminal::default(),
        }
    }

    /// A handle on the count of requests denied for want of a terminal.
    #[must_use]
    pub fn no_terminal(&self) -> NoTerminal {
        self.no_terminal.clone()
    }

    /// Whether the terminal can be opened now (for a warning before the run).
    pub fn check_terminal(&self) -> Result<(), String> {
        rustix::fs::open(
            &self.tty,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(drop)
        .map_err(|e| format!("open {} failed: {e}", self.tty.display()))
    }

    /// Ask on another terminal device (tests, or a supervisor that owns a specific tty).
    #[must_use]
    pub fn with_tty_path(mut self, path: impl Into<PathBuf>) -> TerminalPrompt {
        self.tty = path.into();
        self
    }

    /// The timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl ApprovalBackend for TerminalPrompt {
    fn approve(&self, req: &RuntimeRequest) -> Decision {
        self.prompt(req, None)
    }

    fn approve_until(&self, req: &RuntimeRequest, cancel: &CancelWatch) -> Decision {
        self.prompt(req, Some(cancel))
    }

    fn name(&self) -> &str {
        "terminal"
    }
}

impl TerminalPrompt {
    fn prompt(&self, req: &RuntimeRequest, cancel: Option<&CancelWatch>) -> Decision {
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        // Cancelled while waiting for the turn: nobody needs this answer, do not ask.
        if let Some(why) = cancel.and_then(CancelWatch::cancelled) {
            return Decision::denied(why.as_denial());
        }
        // A PTY relay of this process reads the same terminal: it leaves stdin alone until
        // the answer is in (see pty.rs), so the answer reaches the prompt, not the child.
        let _terminal = crate::pty::hold_terminal();
        let fd = match rustix::fs::open(
            &self.tty,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                let why = format!("open {} failed: {e}", self.tty.display());
                self.no_terminal.note(&why);
                return Decision::denied(format!("no terminal to ask ({why})"));
            }
        };
        let is_tty = rustix::termios::isatty(&fd);
        if is_tty {
            // Keys typed before the question must not answer it.
            let _ = rustix::termios::tcflush(&fd, rustix::termios::QueueSelector::IFlush);
        }
        let mut writer = match fd.try_clone() {
            Ok(w) => File::from(w),
            Err(e) => {
                return Decision::denied(format!(
                    "no terminal to ask (dup of {} failed: {e})",
                    self.tty.display()
                ))
            }
        };
        if is_tty {
            // Whatever the command left the terminal in must not hide or fake the question.
            let _ = writer.write_all(TERMINAL_RESET);
        }
        let deadline = Instant::now() + self.timeout;
        let mut reader = BufReader::new(DeadlineReader::new(fd, deadline).cancelled_by(cancel));
        ask(req, self.timeout, &mut reader, &mut writer)
    }
}

/// Reads from an fd, but gives up with `ErrorKind::TimedOut` once `deadline` has passed,
/// or with a [`Cancelled`] error as soon as its [`CancelWatch`] (if any) fires.
#[derive(Debug)]
pub struct DeadlineReader<'c, F: AsFd> {
    fd: F,
    deadline: Instant,
    cancel: Option<&'c CancelWatch>,
}

impl<'c, F: AsFd> DeadlineReader<'c, F> {
    /// Wrap `fd`.
    pub fn new(fd: F, deadline: Instant) -> DeadlineReader<'c, F> {
        DeadlineReader {
            fd,
            deadline,
            cancel: None,
        }
    }

    /// Also stop waiting when `cancel` fires: the read fails with an error of kind `Other`
    /// carrying [`Cancelled`] (see [`Cancelled::of`]).
    #[must_use]
    pub fn cancelled_by(mut self, cancel: Option<&'c CancelWatch>) -> DeadlineReader<'c, F> {
        self.cancel = cancel;
        self
    }
}

impl<F: AsFd> Read for DeadlineReader<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(c) = self.cancel.filter(|c| c.cancelled().is_some()) {
                return Err(c.error());
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            let ts = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            });
            // Without a watch the second entry polls the same fd again (a fixed-size array).
            let mut fds = [
                PollFd::new(&self.fd, PollFlags::IN),
                PollFd::from_borrowed_fd(
                    self.cancel.map_or(self.fd.as_fd(), AsFd::as_fd),
                    if self.cancel.is_some() {
                        PollFlags::IN
                    } else {
                        PollFlags::empty()
                    },
                ),
            ];
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer before the timeout",
                    ))
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if self.cancel.is_some() && !fds[1].revents().is_empty() {
                continue;
            }
            match rustix::io::read(&self.fd, &mut *buf) {
                Ok(n) => return Ok(n),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Written to the terminal before a prompt: undoes what the command may have left that hides
/// or fakes text, and moves to the bottom line.
///
/// | bytes | undoes |
/// |---|---|
/// | `CAN` | an unfinished escape sequence, or an unterminated `OSC`/`DCS`/`APC` string that would swallow the prompt (`CAN` aborts either; outside one it does nothing) |
/// | `ESC [0m` | attributes: invisible (`8`), foreground = background colours, reverse, blink |
/// | `SI`, `ESC (B` | the line-drawing or another character set in G0, or G1 shifted in |
/// | `ESC [4l` | insert mode |
/// | `ESC [?6l` | origin mode (cursor addressing relative to a scroll region) |
/// | `ESC [r` | the scroll region (a one-line region keeps only the last line of the prompt in sight) |
/// | `ESC [?7h` | auto-wrap off (a long path cut at the right margin) |
/// | `ESC [?25h` | a hidden cursor |
/// | `ESC [9999;1H` | the position: the bottom line, so nothing the command drew is below the prompt |
///
/// The prompt then writes `CR LF` before its first line: the screen scrolls, and every line
/// of the prompt is a fresh, blank line (nothing the command drew shares one with it, or
/// shows after its end). Left alone: the alternate screen (a full-screen program keeps its
/// screen; the prompt is legible on either), the screen's contents and the scroll-back, and
/// the command's saved cursor (`ESC 7`).
pub const TERMINAL_RESET: &[u8] =
    b"\x18\x1b[0m\x0f\x1b(B\x1b[4l\x1b[?6l\x1b[r\x1b[?7h\x1b[?25h\x1b[9999;1H";

/// The longest answer line read; the rest is ignored.
const MAX_ANSWER: usize = 64;
/// The longest reason shown.
const MAX_REASON: usize = 200;

/// Print the question for `req` to `output` and read the answer from `input`.
///
/// `y`/`yes` → granted once; `a`/`always` → granted for the session; anything else (empty,
/// `n`, end of input) → denied; a reader error of kind `TimedOut` → [`Decision::Timeout`].
pub fn ask<R: BufRead, W: Write>(
    req: &RuntimeRequest,
    timeout: Duration,
    input: &mut R,
    output: &mut W,
) -> Decision {
    let path = crate::escape::capped(&req.path.to_string_lossy(), 4096);
    // The program, as the kernel names its executable (display only: the name is the
    // program's choice as much as the path is, so it is escaped like it).
    let program = std::fs::read_link(format!("/proc/{}/exe", req.pid)).map_or_else(
        |_| "the sandboxed program".to_owned(),
        |exe| crate::escape::capped(&exe.to_string_lossy(), 4096),
    );
    let dir = if req.path.is_dir() {
        req.path.clone()
    } else {
        req.path
            .parent()
            .map_or_else(|| req.path.clone(), Path::to_path_buf)
    };
    let dir_shown = crate::escape::capped(&dir.to_string_lossy(), 4096);
    let mut text = format!(
        "\r\nnono: {program} (pid {}) asks for {} access to\r\n  {path}\r\n",
        req.pid, req.access
    );
    if let Some(reason) = &req.reason {
        text.push_str(&format!(
            "  reason given by the program: \"{}\"\r\n",
            crate::escape::capped(reason, MAX_REASON)
        ));
    }
    text.push_str(&format!(
        "Allow? [y]es once / [a]lways this file / [d]irectory {dir_shown} and below, this session / [N]o  (denied in {}s): ",
        timeout.as_secs()
    ));
    if let Err(e) = output
        .write_all(text.as_bytes())
        .and_then(|()| output.flush())
    {
        return Decision::denied(format!(
            "no terminal to ask (writing the prompt failed: {e})"
        ));
    }
    let answer = match read_answer(input) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = output.write_all(b"\r\n(terminal closed: denied)\r\n");
            return Decision::denied("terminal closed before an answer");
        }
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            let _ = output.write_all(b"\r\n(no answer in time: denied)\r\n");
            return Decision::Timeout;
        }
        Err(e) if Cancelled::of(&e).is_some() => {
            let why = Cancelled::of(&e).unwrap_or(crate::cancel::CancelReason::Ended);
            let _ = output
                .write_all(format!("\r\n(cancelled: {why})\r\n").as_bytes())
                .and_then(|()| output.flush());
            return Decision::denied(why.as_denial());
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            let _ = output
                .write_all(b"^C\r\n(interrupted: denied)\r\n")
                .and_then(|()| output.flush());
            return Decision::denied("interrupted at the terminal prompt (Ctrl-C)");
        }
        Err(e) => return Decision::denied(format!("reading the answer failed: {e}")),
    };
    let decision = match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Decision::Granted {
            scope: GrantScope::Once,
            rule: "terminal prompt".to_owned(),
        },
        "a" | "always" => Decision::Granted {
            scope: GrantScope::Session,
            rule: "terminal prompt (always this session)".to_owned(),
        },
        "d" | "dir" | "directory" => Decision::Granted {
            scope: GrantScope::SessionDirectory,
            rule: format!("terminal prompt (the directory {dir_shown}, this session)"),
        },
        _ => Decision::denied("denied at the terminal prompt"),
    };
    // The answer line repeats what was decided, so a prompt redrawn by anything else would
    // still end in the truth.
    let verdict = match &decision {
        Decision::Granted {
            scope: GrantScope::Session,
            ..
        } => "granted for this session",
        Decision::Granted {
            scope: GrantScope::SessionDirectory,
            ..
        } => "granted for the directory, this session",
        Decision::Granted { .. } => "granted once",
        _ => "denied",
    };
    let note = format!("{verdict}: {} access to {path}\r\n", req.access);
    let _ = output
        .write_all(note.as_bytes())
        .and_then(|()| output.flush());
    decision
}

/// Ctrl-C and Ctrl-D as a terminal in raw mode sends them (the PTY relay puts ours in raw
/// mode, so they arrive as bytes instead of `SIGINT` / end of input).
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;

/// Read up to `\n` or `\r`; `None` at end of input (or Ctrl-D) before any byte; an error of
/// kind `Interrupted` at a Ctrl-C byte.
fn read_answer<R: BufRead>(input: &mut R) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut saw_any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(saw_any.then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let end = buf.iter().position(|&b| b == b'\n' || b == b'\r');
        let before_end = &buf[..end.unwrap_or(buf.len())];
        if before_end.contains(&CTRL_C) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        if !saw_any && line.is_empty() && buf.first() == Some(&CTRL_D) {
            return Ok(None);
        }
        saw_any = true;
        if let Some(i) = buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            if line.len() < MAX_ANSWER {
                line.extend_from_slice(&buf[..i.min(MAX_ANSWER - line.len())]);
            }
            input.consume(i + 1);
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
        let n = buf.len();
        if line.len() < MAX_ANSWER {
            line.extend_from_slice(&buf[..n.min(MAX_ANSWER - line.len())]);
        }
        input.consume(n);
    }
}

/// A pipe pair for tests of [`DeadlineReader`] (read end, write end).
#[cfg(test)]
fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RequestSource;
    use std::io::Cursor;

    fn req(reason: Option<&str>) -> RuntimeRequest {
        RuntimeRequest {
            path: PathBuf::from("/home/u/data/report.csv"),
            access: nono_wire::AccessMode::Read,
            pid: 99,
            reason: reason.map(str::to_owned),
            source: RequestSource::Sdk,
        }
    }

    fn answer(input: &str) -> (Decision, String) {
        let mut out = Vec::new();
        let d = ask(
            &req(Some("need it")),
            Duration::from_secs(30),
            &mut Cursor::new(input.as_bytes().to_vec()),
            &mut out,
        );
        (d, String::from_utf8(out).unwrap())
    }

    #[test]
    fn answers_map_to_decisions() {
        let once = |d: &Decision| {
            matches!(
                d,
                Decision::Granted {
                    scope: GrantScope::Once,
                    ..
                }
            )
        };
        let session = |d: &Decision| {
            matches!(
                d,
                Decision::Granted {
                    scope: GrantScope::Session,
                    ..
                }
            )
        };
        assert!(once(&answer("y\n").0));
        assert!(once(&answer("YES\n").0));
        assert!(once(&answer(" y \r").0), "raw-mode terminals send \\r");
        assert!(session(&answer("a\n").0));
        assert!(session(&answer("always\n").0));
        assert!(matches!(
            answer("d\n").0,
            Decision::Granted {
                scope: GrantScope::SessionDirectory,
                ..
            }
        ));
        for no in ["n\n", "\n", "no\n", "yy\n", "maybe\n", "y"] {
            let d = answer(no).0;
            // "y" without a line end at EOF is still an answer line.
            if no == "y" {
                assert!(once(&d));
            } else {
                assert!(matches!(d, Decision::Denied { .. }), "{no:?} -> {d:?}");
            }
        }
        let (d, _) = answer("");
        assert!(matches!(d, Decision::Denied { reason, .. } if reason.contains("closed")));
    }

    #[test]
    fn prompt_shows_request_and_escapes_control_characters() {
        let (_, shown) = answer("n\n");
        assert!(shown.contains("/home/u/data/report.csv"), "{shown}");
        assert!(
            shown.contains("pid 99") && shown.contains("read access"),
            "{shown}"
        );
        assert!(shown.contains("need it"));
        let mut evil = req(Some("ok\x1b[2K\rAllow? fake"));
        evil.path = PathBuf::from("/tmp/\x1b]0;title\x07x");
        let mut out = Vec::new();
        ask(
            &evil,
            Duration::from_secs(1),
            &mut Cursor::new(b"n\n".to_vec()),
            &mut out,
        );
        let shown = String::from_utf8(out).unwrap();
        assert!(
            !shown.contains('\x1b') && !shown.contains('\x07'),
            "{shown:?}"
        );
        assert!(shown.contains("\\u{1b}"), "{shown}");
    }

    /// The answer line names the decision, the access and the path again (escaped).
    #[test]
    fn the_answer_line_repeats_the_path() {
        let (_, shown) = answer("y\n");
        assert!(
            shown.ends_with("granted once: read access to /home/u/data/report.csv\r\n"),
            "{shown:?}"
        );
        let (_, shown) = answer("a\n");
        assert!(
            shown.ends_with("granted for this session: read access to /home/u/data/report.csv\r\n"),
            "{shown:?}"
        );
        let mut evil = req(None);
        evil.path = PathBuf::from("/tmp/x\x1b[2K\ry");
        let mut out = Vec::new();
        ask(
            &evil,
            Duration::from_secs(1),
            &mut Cursor::new(b"n\n".to_vec()),
            &mut out,
        );
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.ends_with(": denied: read access to /tmp/x\\u{1b}[2K\\u{d}y\r\n"),
            "{shown:?}"
        );
    }

    /// The reset written before a prompt on a terminal is control sequences only (nothing
    /// printable besides their parameters) and does not switch screens or reset the terminal.
    #[test]
    fn the_terminal_reset_leaves_the_screen_alone() {
        let reset = String::from_utf8(TERMINAL_RESET.to_vec()).unwrap();
        for keep in ["\x1bc", "?1049", "?47", "\x1b7", "\x1b8", "[2J", "[3J"] {
            assert!(!reset.contains(keep), "{keep:?} in {reset:?}");
        }
        assert!(
            reset.starts_with('\x18'),
            "aborts an unfinished sequence first"
        );
    }

    #[test]
    fn long_answer_lines_are_bounded() {
        let long = format!("{}\n", "y".repeat(10_000));
        assert!(matches!(answer(&long).0, Decision::Denied { .. }));
    }

    #[test]
    fn deadline_reader_answers_from_a_real_pipe() {
        let (r, w) = pipe();
        rustix::io::write(&w, b"a\n").unwrap();
        let mut input = BufReader::new(DeadlineReader::new(
            r,
            Instant::now() + Duration::from_secs(600),
        ));
        let d = ask(
            &req(None),
            Duration::from_secs(600),
            &mut input,
            &mut Vec::new(),
        );
        assert!(
            matches!(
                d,
                Decision::Granted {
                    scope: GrantScope::Session,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn deadline_reader_times_out_without_an_answer() {
        let (r, _w) = pipe();
        // The deadline has already passed: poll returns at once with nothing ready.
        let mut input = BufReader::new(DeadlineReader::new(r, Instant::now()));
        let mut shown = Vec::new();
        let d = ask(&req(None), Duration::ZERO, &mut input, &mut shown);
        assert_eq!(d, Decision::Timeout);
        assert!(String::from_utf8(shown)
            .unwrap()
            .contains("no answer in time"));
    }

    #[test]
    fn partial_answer_then_timeout_is_a_timeout() {
        let (r, w) = pipe();
        rustix::io::write(&w, b"y").unwrap();
        let mut input = BufReader::new(DeadlineReader::new(r, Instant::now()));
        // Data is ready, so the first read returns "y"; then the deadline stops the wait for
        // the line end.
        let d = ask(&req(None), Duration::ZERO, &mut input, &mut Vec::new());
        assert_eq!(d, Decision::Timeout);
    }

    #[test]
    fn a_cancelled_watch_stops_the_wait_and_denies() {
        let (r, _w) = pipe();
        let token = crate::cancel::CancelToken::new();
        let watch = token.watch().unwrap();
        let far = Instant::now() + Duration::from_secs(3600);
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || token.cancel())
        };
        let mut input = BufReader::new(DeadlineReader::new(r, far).cancelled_by(Some(&watch)));
        let mut shown = Vec::new();
        let d = ask(
            &req(None),
            Duration::from_secs(3600),
            &mut input,
            &mut shown,
        );
        canceller.join().unwrap();
        assert_eq!(
            d,
            Decision::denied(crate::cancel::CancelReason::Ended.as_denial())
        );
        assert!(String::from_utf8(shown)
            .unwrap()
            .contains("(cancelled: the command ended)"));
    }

    #[test]
    fn a_prompt_whose_run_already_ended_does_not_ask() {
        let token = crate::cancel::CancelToken::new();
        token.cancel();
        let watch = token.watch().unwrap();
        // /dev/null would answer "terminal closed"; a cancelled watch answers first.
        let p = TerminalPrompt::new(Duration::from_secs(5)).with_tty_path("/dev/null");
        let d = p.approve_until(&req(None), &watch);
        assert!(
            matches!(&d, Decision::Denied { reason, .. } if reason.starts_with("cancelled")),
            "{d:?}"
        );
    }

    #[test]
    fn ctrl_c_denies_and_ctrl_d_is_end_of_input() {
        let (d, shown) = answer("y\x03");
        assert!(
            matches!(&d, Decision::Denied { reason, .. } if reason.contains("Ctrl-C")),
            "{d:?}"
        );
        assert!(shown.contains("(interrupted: denied)"), "{shown}");
        let (d, shown) = answer("\x04");
        assert!(
            matches!(&d, Decision::Denied { reason, .. } if reason.contains("closed")),
            "{d:?}"
        );
        assert!(shown.contains("terminal closed"), "{shown}");
    }

    #[test]
    fn no_terminal_means_denied_with_a_reason() {
        let p =
            TerminalPrompt::new(Duration::from_secs(1)).with_tty_path("/nonexistent/nono-no-tty");
        let d = p.approve(&req(None));
        assert!(
            matches!(&d, Decision::Denied { reason, .. } if reason.starts_with("no terminal to ask")),
            "{d:?}"
        );
    }

    #[test]
    fn terminal_prompt_on_a_real_device_reads_the_answer() {
        // /dev/null is a real device that is not a tty: the prompt is written and discarded,
        // and the read sees end of input at once, denied as "terminal closed".
        let p = TerminalPrompt::new(Duration::from_secs(5)).with_tty_path("/dev/null");
        let d = p.approve(&req(None));
        assert!(
            matches!(&d, Decision::Denied { reason, .. } if reason.contains("closed")),
            "{d:?}"
        );
    }

    #[test]
    fn callback_and_deny_all() {
        let cb = Callback::new(|r: &RuntimeRequest| {
            if r.pid == 99 {
                Decision::Timeout
            } else {
                Decision::denied("x")
            }
        });
        assert_eq!(cb.approve(&req(None)), Decision::Timeout);
        assert_eq!(cb.name(), "callback");
        assert!(matches!(
            DenyAll.approve(&req(None)),
            Decision::Denied { .. }
        ));
        assert!(!DenyAll.throttled());
        assert_eq!(format!("{cb:?}"), "Callback(..)");
    }
}

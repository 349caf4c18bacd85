//! The child's pseudo-terminal: opened in the parent before fork when all three std streams
//! are terminals; the parent puts its own terminal in raw mode and relays bytes both ways on
//! a thread, and copies the window size on `SIGWINCH`.
//!
//! Why a PTY: a child on the user's real terminal could inject input into it (`TIOCSTI`, also
//! blocked by seccomp) or keep it after the supervisor exits. On its own PTY the child is the
//! session leader of a terminal that disappears with the supervisor.
//!
//! # Sharing the terminal with the approval prompt
//! Our terminal has two readers in this process: the relay (our stdin → the child) and the
//! terminal prompt of `--capability-elevation` (`/dev/tty`, see `approval.rs`). Both polled
//! it, and a key woke both: either the relay forwarded the person's answer to the child, or
//! the prompt took it and left the relay in a blocking `read` of stdin, which the end of the
//! run then waited on until the next key. So the terminal has a process-wide gate
//! ([`hold_terminal`]): while a prompt holds it the relay does not poll or read stdin (it keeps
//! copying the child's output), and the relay reads stdin only under the gate's lock, only
//! the bytes `FIONREAD` says are there — its stdin read never blocks, and the relay only
//! ever waits in `poll`, which the end of the run interrupts. The gate is process-wide
//! because the controlling terminal is: one prompt pauses every relay of the process.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{OptionalActions, Termios};

/// Whether the child runs on its own pseudo-terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PtyMode {
    /// A PTY when stdin, stdout and stderr are all terminals; otherwise plain inheritance.
    #[default]
    Auto,
    /// Never: the child inherits the std streams as they are (in a new session).
    Never,
}

impl PtyMode {
    pub(crate) fn wanted(self) -> bool {
        match self {
            PtyMode::Auto => {
                std::io::stdin().is_terminal()
                    && std::io::stdout().is_terminal()
                    && std::io::stderr().is_terminal()
            }
            PtyMode::Never => false,
        }
    }
}

/// The parent's side of the child's PTY.
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    saved: Option<Termios>,
}

impl Pty {
    /// Open a PTY pair sized and configured like our stdin terminal; returns the master side
    /// and the slave for the child.
    pub(crate) fn open() -> std::io::Result<(Pty, OwnedFd)> {
        let master =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            rustix::termios::tcsetattr(&slave, OptionalActions::Now, t)?;
        }
        if let Ok(ws) = rustix::termios::tcgetwinsize(&stdin) {
            rustix::termios::tcsetwinsize(&slave, ws)?;
        }
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            rustix::termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        }
        Ok((Pty { master, saved }, slave))
    }

    /// Copy our terminal's window size to the child's (on `SIGWINCH`).
    pub(crate) fn resize(&self) {
        if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdin()) {
            let _ = rustix::termios::tcsetwinsize(&self.master, ws);
        }
    }

    /// Start relaying: stdin → master and master → stdout, until the master reports EOF/EIO
    /// (every slave closed) or `stop` becomes readable.
    pub(crate) fn relay(&self, stop: OwnedFd) -> std::io::Result<JoinHandle<()>> {
        let master = self.master.try_clone()?;
        let waker = RelayWaker::register()?;
        std::thread::Builder::new()
            .name("nono-pty".into())
            .spawn(move || relay_loop(master.as_fd(), stop.as_fd(), &waker))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(std::io::stdin(), OptionalActions::Now, t);
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return false,
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The process-wide terminal gate: how many prompts hold the terminal, and the wake pipes of
/// the running relays (written when that changes, so a relay re-polls at once).
struct Gate {
    prompts: usize,
    relays: Vec<(u64, OwnedFd)>,
    next_id: u64,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    prompts: 0,
    relays: Vec::new(),
    next_id: 0,
});

fn gate() -> MutexGuard<'static, Gate> {
    GATE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    fn wake_relays(&self) {
        for (_, w) in &self.relays {
            // Non-blocking: a full pipe already means "wake up".
            let _ = rustix::io::write(w, b"w");
        }
    }
}

/// Held while a prompt reads the terminal; PTY relays leave stdin alone until it is dropped.
#[derive(Debug)]
#[must_use = "the terminal is released when this is dropped"]
pub(crate) struct TerminalHold(());

/// Take the terminal for a prompt: from now until the hold is dropped no PTY relay of this
/// process reads stdin (a relay in the middle of forwarding bytes finishes first — this waits
/// for the gate's lock).
pub(crate) fn hold_terminal() -> TerminalHold {
    let mut g = gate();
    g.prompts += 1;
    g.wake_relays();
    TerminalHold(())
}

impl Drop for TerminalHold {
    fn drop(&mut self) {
        let mut g = gate();
        g.prompts = g.prompts.saturating_sub(1);
        g.wake_relays();
    }
}

/// A relay's registration with the gate: the read end of its wake pipe.
struct RelayWaker {
    id: u64,
    read: OwnedFd,
}

impl RelayWaker {
    fn register() -> std::io::Result<RelayWaker> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let mut g = gate();
        let id = g.next_id;
        g.next_id += 1;
        g.relays.push((id, write));
        Ok(RelayWaker { id, read })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for RelayWaker {
    fn drop(&mut self) {
        gate().relays.retain(|(id, _)| *id != self.id);
    }
}

/// What the relay did with a readable stdin.
enum StdinRead {
    /// Forwarded (or nothing was there after all: another reader took it).
    Ok,
    /// A prompt holds the terminal: stop polling stdin until the gate changes.
    Paused,
    /// End of input or an error: stop reading stdin for good.
    Closed,
}

/// Forward what is waiting on stdin to the master, under the gate's lock and only if no
/// prompt holds the terminal; read only the bytes `FIONREAD` reports, so this never blocks.
fn forward_stdin(
    stdin: BorrowedFd<'_>,
    master: BorrowedFd<'_>,
    revents: PollFlags,
    buf: &mut [u8],
) -> StdinRead {
    let g = gate();
    if g.prompts > 0 {
        return StdinRead::Paused;
    }
    let want = match rustix::io::ioctl_fionread(stdin) {
        Ok(0) => {
            return if revents.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                StdinRead::Closed
            } else {
                StdinRead::Ok
            };
        }
        Ok(n) => usize::try_from(n).unwrap_or(usize::MAX).min(buf.len()),
        // Not a tty or a pipe (FIONREAD unsupported): poll said readable, read as before.
        Err(_) => buf.len(),
    };
    let result = rustix::io::read(stdin, &mut buf[..want]);
    drop(g);
    match result {
        Ok(0) => StdinRead::Closed,
        Ok(n) => {
            let _ = write_all(master, &buf[..n]);
            StdinRead::Ok
        }
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => StdinRead::Ok,
        Err(_) => StdinRead::Closed,
    }
}

fn relay_loop(master: BorrowedFd<'_>, stop: BorrowedFd<'_>, waker: &RelayWaker) {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let paused = gate().prompts > 0;
        let mut fds = [
            PollFd::new(&master, PollFlags::IN),
            PollFd::new(&stop, PollFlags::IN),
            PollFd::new(
                &stdin,
                if stdin_open && !paused {
                    PollFlags::IN
                } else {
                    PollFlags::empty()
                },
            ),
            PollFd::new(&waker.read, PollFlags::IN),
        ];
        if rustix::event::poll(&mut fds, None).is_err() {
            continue;
        }
        let (m, s, i, w) = (
            fds[0].revents(),
            fds[1].revents(),
            fds[2].revents(),
            fds[3].revents(),
        );
        if !w.is_empty() {
            waker.drain();
        }
        if !m.is_empty() {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !write_all(stdout.as_fd(), &buf[..n]) {
                        return;
                    }
                }
            }
        }
        if stdin_open && !paused && !i.is_empty() {
            match forward_stdin(stdin.as_fd(), master, i, &mut buf) {
                StdinRead::Ok | StdinRead::Paused => {}
                StdinRead::Closed => stdin_open = false,
            }
        }
        if !s.is_empty() {
            // The child is gone: drain what it left in the master, then stop.
            let _ = rustix::io::ioctl_fionbio(master, true);
            while let Ok(n) = rustix::io::read(master, &mut buf) {
                if n == 0 || !write_all(stdout.as_fd(), &buf[..n]) {
                    break;
                }
            }
            return;
        }
    }
}

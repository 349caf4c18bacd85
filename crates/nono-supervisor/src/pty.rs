//! The child's pseudo-terminal: opened in the parent before fork when all three std streams
//! are terminals; the parent puts its own terminal in raw mode and relays bytes both ways on
//! a thread, and copies the window size on `SIGWINCH`.
//!
//! Why a PTY: a child on the user's real terminal could inject input into it (`TIOCSTI`, also
//! blocked by seccomp) or keep it after the supervisor exits. On its own PTY the child is the
//! session leader of a terminal that disappears with the supervisor.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
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
        std::thread::Builder::new()
            .name("nono-pty".into())
            .spawn(move || relay_loop(master.as_fd(), stop.as_fd()))
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

fn relay_loop(master: BorrowedFd<'_>, stop: BorrowedFd<'_>) {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    loop {
        let mut fds = [
            PollFd::new(&master, PollFlags::IN),
            PollFd::new(&stop, PollFlags::IN),
            PollFd::new(
                &stdin,
                if stdin_open {
                    PollFlags::IN
                } else {
                    PollFlags::empty()
                },
            ),
        ];
        if rustix::event::poll(&mut fds, None).is_err() {
            continue;
        }
        let (m, s, i) = (fds[0].revents(), fds[1].revents(), fds[2].revents());
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
        if !i.is_empty() {
            match rustix::io::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = write_all(master, &buf[..n]);
                }
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

//! The child's pseudo-terminal: opened in the parent before fork when any of the three std
//! streams is a terminal. The child gets the PTY's slave in place of each std stream that is a
//! terminal (the others — a pipe, a file — it inherits as they are); the parent relays bytes
//! on a thread (the PTY → our terminal; our stdin → the PTY, in raw mode, when stdin is a
//! terminal and stdout is not a pipe), and copies the window size on `SIGWINCH`.
//!
//! Why no input when stdout is a pipe: the other end (`nono run … | less`) may read the same
//! terminal — a pager, `fzf` — and a relay reading it too would take keys meant for the
//! pager, and switch the terminal back from raw mode under it when the command ends first.
//! Then nono leaves our terminal alone: the command's stdin is the PTY (still a terminal to
//! it) with nothing typed into it — to give a piped command input, redirect its stdin
//! (`nono run … < answers | cat`). With stdout a file (`nono run … > log`) nothing else reads
//! the terminal, and input is relayed (a password prompt on `/dev/tty` works).
//!
//! Why a PTY: a child on the user's real terminal could inject input into it (`TIOCSTI`, also
//! blocked by seccomp) or keep it after the supervisor exits: a process it left behind (a
//! double-forked `setsid` daemon, which `leftovers.rs` cannot attribute) would read the lines
//! the user types into the shell next — a terminal fd that is not one's controlling terminal
//! is readable without any job-control check. So the child never gets a descriptor of the
//! user's terminal: on its own PTY it is the session leader of a terminal that disappears with
//! the supervisor (reads of a leftover slave fd then fail with `EIO`). This holds also when
//! only some streams are terminals (`nono run … | cat`, `nono run … < file`); only
//! [`PtyMode::Never`] gives the terminal fds themselves to the child.
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
//!
//! The gate holds the child's *output* too: otherwise the command could rewrite the prompt
//! while it is on screen (`ESC 7 ESC [1A CR ESC [2K  /harmless/path ESC 8` over the line with
//! the path) and the person would approve another path than the one shown. While a prompt
//! holds the terminal the relay stops reading the PTY — the kernel keeps what the command
//! writes (its PTY buffer is the bound: a command that writes more blocks until the answer)
//! — and it writes to our terminal only under the gate's lock, so a chunk it read just
//! before the prompt took the terminal is kept (at most one read buffer) and written after
//! the answer. `hold_terminal` returns only once no relay is writing.

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
    /// A PTY when any of stdin, stdout and stderr is a terminal: the child gets the PTY in
    /// place of each one that is, and never a descriptor of the user's terminal; otherwise
    /// plain inheritance. What is typed is relayed to it unless stdout is a pipe (whose
    /// reader may read the terminal itself: a pager; see the module docs).
    #[default]
    Auto,
    /// Never: the child inherits the std streams as they are (in a new session) — with a
    /// terminal among them, the child and whatever it leaves behind keep that terminal open
    /// after the run and can read what is typed into it next, and its output can overwrite
    /// an approval prompt. For programs whose std streams are never a person's terminal.
    Never,
}

impl PtyMode {
    /// Which std streams go to the child's PTY, or `None` for no PTY.
    pub(crate) fn wanted(self) -> Option<Terminals> {
        match self {
            PtyMode::Auto => Some(Terminals::now()).filter(|t| t.any()),
            PtyMode::Never => None,
        }
    }
}

/// Which of our std streams are terminals (each is replaced by the PTY's slave in the child).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Terminals {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Our stdout is a pipe or a socket (not a terminal, not a file).
    stdout_piped: bool,
}

impl Terminals {
    fn now() -> Terminals {
        Terminals {
            stdin: std::io::stdin().is_terminal(),
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
            stdout_piped: rustix::fs::fstat(rustix::stdio::stdout()).is_ok_and(|st| {
                matches!(
                    rustix::fs::FileType::from_raw_mode(st.st_mode),
                    rustix::fs::FileType::Fifo | rustix::fs::FileType::Socket
                )
            }),
        }
    }

    fn any(self) -> bool {
        self.stdin || self.stdout || self.stderr
    }

    /// Whether our stdin is relayed to the PTY (and put in raw mode): when it is a terminal
    /// and stdout is not a pipe, whose reader may read the terminal too.
    fn relays_input(self) -> bool {
        self.stdin && !self.stdout_piped
    }

    /// Our terminal: the first std stream that is one (its settings and size are copied to
    /// the PTY).
    fn terminal(self) -> BorrowedFd<'static> {
        if self.stdin {
            rustix::stdio::stdin()
        } else if self.stdout {
            rustix::stdio::stdout()
        } else {
            rustix::stdio::stderr()
        }
    }

    /// Where the relay writes what the PTY shows: our stdout or stderr when one is the
    /// terminal; with only stdin on the terminal (`nono run … >out 2>err`), the terminal
    /// through stdin's descriptor (what the command writes to `/dev/tty`, the echo of what
    /// is typed; nothing if that descriptor is read-only).
    fn output(self) -> BorrowedFd<'static> {
        if self.stdout {
            rustix::stdio::stdout()
        } else if self.stderr {
            rustix::stdio::stderr()
        } else {
            rustix::stdio::stdin()
        }
    }
}

/// The parent's side of the child's PTY.
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    streams: Terminals,
    /// Our stdin's settings before raw mode (only when its input is relayed).
    saved: Option<Termios>,
}

impl Pty {
    /// Open a PTY pair sized and configured like our terminal; returns the master side and
    /// the slave for the child (for the streams in `streams`). Our stdin goes to raw mode
    /// when its input is relayed: its keys go to the child's terminal, whose own line
    /// discipline turns Ctrl-C into `SIGINT` for the child's foreground job (otherwise our
    /// terminal keeps its mode, and Ctrl-C reaches nono, which forwards it).
    pub(crate) fn open(streams: Terminals) -> std::io::Result<(Pty, OwnedFd)> {
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
        let terminal = streams.terminal();
        let settings = rustix::termios::tcgetattr(terminal).ok();
        if let Some(t) = &settings {
            rustix::termios::tcsetattr(&slave, OptionalActions::Now, t)?;
        }
        if let Ok(ws) = rustix::termios::tcgetwinsize(terminal) {
            rustix::termios::tcsetwinsize(&slave, ws)?;
        }
        let saved = settings.filter(|_| streams.relays_input());
        if let Some(t) = &saved {
            // First make `^D` an ordinary character (`_POSIX_VDISABLE`, 0 on Linux, for
            // VEOF): an end-of-file key arriving from here on is stored as the byte itself,
            // which raw mode then relays and the child's PTY (with our original settings)
            // turns into its end-of-file. Only EOF marks queued before this point remain, and
            // `move_canonical_input` passes those on; without this step an EOF arriving
            // between that move and the switch to raw mode still became a NUL.
            let mut literal_eof = t.clone();
            literal_eof.special_codes[rustix::termios::SpecialCodeIndex::VEOF] = 0;
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                OptionalActions::Now,
                &literal_eof,
            );
            move_canonical_input(rustix::stdio::stdin(), &master, t);
            let mut raw = t.clone();
            raw.make_raw();
            rustix::termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &raw)?;
        }
        Ok((
            Pty {
                master,
                streams,
                saved,
            },
            slave,
        ))
    }

    /// Which std streams the child gets the slave for.
    pub(crate) fn streams(&self) -> Terminals {
        self.streams
    }

    /// Copy our terminal's window size to the child's (on `SIGWINCH`).
    pub(crate) fn resize(&self) {
        if let Ok(ws) = rustix::termios::tcgetwinsize(self.streams.terminal()) {
            let _ = rustix::termios::tcsetwinsize(&self.master, ws);
        }
    }

    /// Start relaying: stdin → master (when input is relayed) and master → our terminal,
    /// until the master reports EOF/EIO (every slave closed) or `stop` becomes readable.
    pub(crate) fn relay(&self, stop: OwnedFd) -> std::io::Result<JoinHandle<()>> {
        let master = self.master.try_clone()?;
        let waker = RelayWaker::register()?;
        let streams = self.streams;
        std::thread::Builder::new()
            .name("nono-pty".into())
            .spawn(move || relay_loop(master.as_fd(), stop.as_fd(), &waker, streams))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, t);
        }
    }
}

/// Before our terminal goes to raw mode: move the complete lines and end-of-file marks already
/// typed into it (canonical mode) to the child's PTY, as what they are.
///
/// Why: in canonical mode the kernel stores an end-of-file key (`^D`, or the EOF a driver
/// sends when its own input ends — script(1) does) as a NUL byte marking the end of a line.
/// Switched to raw mode, that mark becomes a plain NUL byte in the input, which the relay
/// forwarded and the child's PTY echoed as `^@` before the command's output (7 of 30 runs of
/// `script -c 'nono run -- echo a' </dev/null`: whenever the EOF arrived before the switch).
/// Read in canonical mode, an EOF mark is a `read` of 0 bytes: it is passed on as the child
/// terminal's own EOF character, which its line discipline turns into an EOF again. A line
/// still being typed is not complete, so `poll` does not report it and it is relayed in raw
/// mode as before. Never blocks: only what `poll` reports as ready now is read.
fn move_canonical_input(stdin: BorrowedFd<'_>, master: &OwnedFd, settings: &Termios) {
    if !settings
        .local_modes
        .contains(rustix::termios::LocalModes::ICANON)
    {
        return;
    }
    let eof = settings.special_codes[rustix::termios::SpecialCodeIndex::VEOF];
    let mut buf = [0u8; 4096];
    // A bound, so a flood of typed lines cannot keep nono from starting the command.
    for _ in 0..64 {
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())) {
            Ok(n) if n > 0 && fds[0].revents().contains(PollFlags::IN) => {}
            _ => return,
        }
        match rustix::io::read(stdin, &mut buf) {
            Ok(0) => {
                if eof != 0 {
                    let _ = write_all(master.as_fd(), &[eof]);
                }
            }
            Ok(n) => {
                let _ = write_all(master.as_fd(), &buf[..n]);
            }
            Err(_) => return,
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

/// The relay's side of the terminal's output: what it read from the PTY goes to our
/// terminal only while no prompt holds it.
struct Output {
    fd: BorrowedFd<'static>,
    /// Read from the PTY but not yet shown: a prompt took the terminal in between (at most
    /// one read buffer; the relay reads no more until it is written).
    held: Vec<u8>,
    /// Our terminal refused a write: what the PTY shows is read and dropped from now on (the
    /// child must not block on a full PTY because nobody shows its output).
    broken: bool,
}

impl Output {
    /// Show `bytes` (after anything held), under the gate's lock so that a prompt taking the
    /// terminal waits for the write to finish; keep them if a prompt holds the terminal.
    /// Returns whether nothing is held any more.
    fn show(&mut self, bytes: &[u8]) -> bool {
        self.held.extend_from_slice(bytes);
        let g = gate();
        if g.prompts > 0 {
            return self.held.is_empty();
        }
        if !self.broken && !self.held.is_empty() && !write_all(self.fd, &self.held) {
            self.broken = true;
        }
        drop(g);
        self.held.clear();
        true
    }
}

fn relay_loop(
    master: BorrowedFd<'_>,
    stop: BorrowedFd<'_>,
    waker: &RelayWaker,
    streams: Terminals,
) {
    let stdin = rustix::stdio::stdin();
    let mut out = Output {
        fd: streams.output(),
        held: Vec::new(),
        broken: false,
    };
    let mut buf = [0u8; 8192];
    let mut stdin_open = streams.relays_input();
    loop {
        let paused = gate().prompts > 0;
        if !paused && !out.held.is_empty() {
            out.show(&[]);
        }
        // While a prompt holds the terminal (or output is still held) the PTY is not read:
        // the kernel keeps the child's output, and the child blocks once its buffer is full.
        let read_master = !paused && out.held.is_empty();
        let read_stdin = stdin_open && !paused;
        // An fd not read now is replaced by the wake pipe with no events: `poll` reports
        // `POLLHUP` whatever the events asked, and a hung-up master or terminal that is not
        // read would make this loop spin until the prompt is answered.
        let idle = waker.read.as_fd();
        let mut fds = [
            if read_master {
                PollFd::new(&master, PollFlags::IN)
            } else {
                PollFd::from_borrowed_fd(idle, PollFlags::empty())
            },
            PollFd::new(&stop, PollFlags::IN),
            if read_stdin {
                PollFd::new(&stdin, PollFlags::IN)
            } else {
                PollFd::from_borrowed_fd(idle, PollFlags::empty())
            },
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
        if read_master && !m.is_empty() {
            match rustix::io::read(master, &mut buf) {
                Ok(0) | Err(_) => {
                    finish_output(&mut out, waker);
                    return;
                }
                Ok(n) => {
                    out.show(&buf[..n]);
                }
            }
        }
        if read_stdin && !i.is_empty() {
            match forward_stdin(stdin, master, i, &mut buf) {
                StdinRead::Ok | StdinRead::Paused => {}
                StdinRead::Closed => stdin_open = false,
            }
        }
        if !s.is_empty() {
            // The child is gone: drain what it left in the master, then stop — still never
            // over a prompt (one of another run of this process may be open).
            let _ = rustix::io::ioctl_fionbio(master, true);
            finish_output(&mut out, waker);
            while let Ok(n) = rustix::io::read(master, &mut buf) {
                if n == 0 {
                    break;
                }
                out.show(&buf[..n]);
                finish_output(&mut out, waker);
            }
            return;
        }
    }
}

/// Write what is held, waiting (on the gate's wake pipe) for an open prompt to be answered.
fn finish_output(out: &mut Output, waker: &RelayWaker) {
    while !out.show(&[]) {
        let mut fds = [PollFd::new(&waker.read, PollFlags::IN)];
        let _ = rustix::event::poll(&mut fds, None);
        waker.drain();
    }
}

//! Cost of a seccomp user-notification round trip: a child opens `/dev/null` in a loop while
//! a supervisor thread answers every trapped `openat` with CONTINUE; compared, in the same
//! run, with the same loop unsandboxed and under the deny-list filter alone.
//!
//! `cargo bench -p nono-sandbox --bench seccomp_notify`. The child is this binary,
//! re-executed with `NONO_BENCH_CHILD=1`: it reads a `u64` count from stdin, does that many
//! `open`+`close`, and answers with one byte.
#![allow(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{IoSlice, Read, Write};
    use std::mem::MaybeUninit;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use nono_sandbox::linux::seccomp::{Filter, NotifyFd, NotifySet};
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::net::{
        recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
        RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
    };

    const CHILD_ENV: &str = "NONO_BENCH_CHILD";

    fn child_loop() {
        let mut stdin = std::io::stdin().lock();
        let mut stdout = std::io::stdout().lock();
        let mut buf = [0u8; 8];
        while stdin.read_exact(&mut buf).is_ok() {
            let n = u64::from_le_bytes(buf);
            for _ in 0..n {
                let fd = rustix::fs::open(
                    "/dev/null",
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .expect("open /dev/null");
                drop(fd);
            }
            stdout.write_all(b"k").unwrap();
            stdout.flush().unwrap();
        }
    }

    struct Worker {
        child: Child,
        stdin: ChildStdin,
        stdout: ChildStdout,
        supervisor: Option<std::thread::JoinHandle<u64>>,
    }

    impl Worker {
        fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            self.stdin.write_all(&iters.to_le_bytes()).unwrap();
            self.stdin.flush().unwrap();
            let mut b = [0u8; 1];
            self.stdout.read_exact(&mut b).unwrap();
            start.elapsed()
        }

        fn finish(self) -> u64 {
            let Worker {
                mut child,
                stdin,
                stdout,
                supervisor,
            } = self;
            drop(stdin);
            drop(stdout);
            child.wait().unwrap();
            supervisor.map_or(0, |h| h.join().unwrap())
        }
    }

    fn command() -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        cmd
    }

    /// An unsandboxed child, or one under the deny-list filter (`deny`).
    fn plain(deny: bool) -> Worker {
        let mut cmd = command();
        if deny {
            let filter = Filter::for_network(&nono_sandbox::NetworkMode::Block).unwrap();
            // SAFETY: Filter::install is async-signal-safe (prebuilt program, no allocation).
            unsafe {
                cmd.pre_exec(move || filter.install().map_err(std::io::Error::from));
            }
        }
        let mut child = cmd.spawn().unwrap();
        Worker {
            stdin: child.stdin.take().unwrap(),
            stdout: child.stdout.take().unwrap(),
            child,
            supervisor: None,
        }
    }

    /// A child under the open-family notify filter, with a thread answering CONTINUE.
    fn notified(sync_wakeup: bool) -> Worker {
        let (parent_end, child_end) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let filter = Filter::notify(&NotifySet::open_family()).unwrap();
        let mut cmd = command();
        // SAFETY: only async-signal-safe work after fork: a prebuilt filter install and a
        // sendmsg with stack buffers.
        unsafe {
            cmd.pre_exec(move || {
                let listener: OwnedFd = filter.install_with_listener()?;
                let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut control = SendAncillaryBuffer::new(&mut space);
                let fds = [listener.as_fd()];
                control.push(SendAncillaryMessage::ScmRights(&fds));
                sendmsg(
                    &child_end,
                    &[IoSlice::new(b"L")],
                    &mut control,
                    SendFlags::empty(),
                )?;
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut byte = [0u8; 1];
        recvmsg(
            &parent_end,
            &mut [std::io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let listener = control
            .drain()
            .find_map(|m| match m {
                RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                _ => None,
            })
            .unwrap();
        let listener = NotifyFd::new(listener);
        if sync_wakeup {
            let supported = listener.set_sync_wakeup().unwrap();
            eprintln!("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP supported: {supported}");
        }
        let supervisor = std::thread::spawn(move || {
            let mut answered = 0u64;
            loop {
                let mut fds = [PollFd::new(&listener, PollFlags::IN)];
                poll(&mut fds, None).unwrap();
                let rev = fds[0].revents();
                if rev.contains(PollFlags::IN) {
                    if let Ok(n) = listener.recv() {
                        if listener.respond_continue(n.id).is_ok() {
                            answered += 1;
                        }
                    }
                } else if rev.intersects(PollFlags::HUP | PollFlags::ERR) {
                    return answered;
                }
            }
        });
        Worker {
            stdin: child.stdin.take().unwrap(),
            stdout: child.stdout.take().unwrap(),
            child,
            supervisor: Some(supervisor),
        }
    }

    pub fn main() {
        if std::env::var_os(CHILD_ENV).is_some() {
            child_loop();
            return;
        }
        let mut c = Criterion::default().configure_from_args();
        let mut group = c.benchmark_group("open_dev_null");
        let mut w = plain(false);
        group.bench_function("unsandboxed", |b| b.iter_custom(|n| w.run(n)));
        w.finish();
        let mut w = plain(true);
        group.bench_function("deny_filter", |b| b.iter_custom(|n| w.run(n)));
        w.finish();
        let mut w = notified(false);
        group.bench_function("notify_continue", |b| b.iter_custom(|n| w.run(n)));
        let answered = w.finish();
        eprintln!("notify_continue: {answered} notifications answered");
        let mut w = notified(true);
        group.bench_function("notify_continue_sync_wakeup", |b| {
            b.iter_custom(|n| w.run(n));
        });
        w.finish();
        group.finish();
        c.final_summary();
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    imp::main();
}

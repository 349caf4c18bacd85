//! Shared test support: temporary directories, raw socket writes, fd probes, re-exec helpers.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use nono_transport::Channel;
use nono_wire::{
    AccessMode, ApprovalDecision, CapabilityRequest, SupervisorMessage, SupervisorResponse,
};
use rustix::io::{Errno, IoSlice};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pipe::PipeFlags;

/// Environment variable that turns one `helpers::*` test into the body of a child process.
pub const HELPER_ENV: &str = "NONO_TRANSPORT_TEST_HELPER";

/// A directory under the system temp dir, mode 0755 (so that another uid may traverse it),
/// removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "nono-transport-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).unwrap();
        rustix::fs::chmod(&path, rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Names of the entries in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A channel whose peer is a bare socket, for writing crafted bytes and control messages.
pub fn raw_pair() -> (Channel, OwnedFd) {
    let (chan, raw) = Channel::pair().unwrap();
    (chan, OwnedFd::from(raw))
}

/// One `sendmsg` of `bytes` with `fds` attached as one `SCM_RIGHTS` message (none if empty).
pub fn send_raw(sock: &OwnedFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    }
    let sent = rustix::net::sendmsg(
        sock,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .unwrap();
    assert_eq!(sent, bytes.len());
}

/// A pipe whose write end is sent to a peer: once every copy of the write end is closed, a
/// read of the read end returns end-of-file. So "the probe reads EOF" proves that no copy
/// of a passed fd survived anywhere in this process.
#[derive(Debug)]
pub struct FdProbe {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl FdProbe {
    pub fn new() -> FdProbe {
        let (read, write) =
            rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).unwrap();
        FdProbe {
            read,
            write: Some(write),
        }
    }

    /// The write end, to be sent.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.write.as_ref().expect("probe still armed").as_fd()
    }

    /// Closes our own copy of the write end; after this only passed copies remain.
    pub fn disarm(&mut self) {
        self.write = None;
    }

    /// Whether every copy of the write end is closed.
    pub fn all_copies_closed(&self) -> bool {
        assert!(self.write.is_none(), "disarm the probe first");
        match rustix::io::read(&self.read, &mut [0u8; 1]) {
            Ok(0) => true,
            Err(Errno::AGAIN) => false,
            other => panic!("unexpected read result on the probe pipe: {other:?}"),
        }
    }
}

/// Entries in `/proc/self/fd` (the directory handle used for counting included, every time).
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A command that re-runs this test binary with only `helpers::<name>` enabled.
pub fn helper_command(name: &str, arg: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        &format!("helpers::{name}"),
        "--nocapture",
        "--test-threads=1",
    ])
    .env(HELPER_ENV, arg)
    // libtest's chatter would interleave with ours; panics still reach stderr.
    .stdout(std::process::Stdio::null());
    cmd
}

pub fn request(id: &str) -> SupervisorMessage {
    SupervisorMessage::Request(CapabilityRequest {
        request_id: id.to_owned(),
        path: "/home/user/notes.txt".into(),
        access: AccessMode::Read,
        reason: None,
        child_pid: 7,
        session_id: "session".to_owned(),
    })
}

pub fn granted(id: &str) -> SupervisorResponse {
    SupervisorResponse::Decision {
        request_id: id.to_owned(),
        decision: ApprovalDecision::Granted,
    }
}

/// A frame's bytes, as the channel would send them.
pub fn frame_of(msg: &SupervisorMessage) -> Vec<u8> {
    nono_wire::encode_frame(msg).unwrap()
}

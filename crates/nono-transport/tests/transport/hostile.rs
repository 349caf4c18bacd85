//! A hostile peer writing crafted bytes and control messages: each case ends in its typed
//! error, the channel is poisoned where the stream can no longer be trusted, and no passed
//! fd survives.

use std::os::fd::OwnedFd;

use nono_transport::{Channel, TransportError};
use nono_wire::{SupervisorMessage, WireError, MAX_FRAME_LEN};

use crate::support::{frame_of, raw_pair, request, send_raw, FdProbe};

/// What a hostile case leaves behind.
#[derive(Debug)]
pub struct Outcome {
    pub error: TransportError,
    pub channel: Channel,
    /// The hostile end, kept open until the outcome is dropped so that the channel sees
    /// no end-of-file it was not meant to.
    #[allow(dead_code)]
    pub raw: OwnedFd,
    pub probe: FdProbe,
}

/// The receive call the channel is making when the hostile bytes arrive.
#[derive(Debug, Clone, Copy)]
pub enum Recv {
    /// `recv_fd`: one data byte carrying exactly one fd.
    Fd,
    /// `recv_with_fd`: an fd, then the frame that goes with it.
    WithFd,
    /// `recv`: a frame and no fd.
    Frame,
}

/// A case: its name, the attack, the receive it hits, whether the error must poison the
/// channel, and the check of the error.
pub struct Case {
    pub name: &'static str,
    /// What the hostile end writes. The probe's write end is the fd it may pass; the probe
    /// is disarmed after the attack, so any copy still open afterwards is a leak.
    pub attack: fn(&OwnedFd, &FdProbe),
    pub recv: Recv,
    pub poisons: bool,
    pub expect: fn(&TransportError) -> bool,
}

impl Case {
    /// Runs the attack against a fresh channel and returns the error the receive gave.
    pub fn run(&self) -> Outcome {
        let (mut channel, raw) = raw_pair();
        let mut probe = FdProbe::new();
        (self.attack)(&raw, &probe);
        probe.disarm();
        let error = match self.recv {
            Recv::Fd => channel.recv_fd().map(drop),
            Recv::WithFd => channel.recv_with_fd::<SupervisorMessage>().map(drop),
            Recv::Frame => channel.recv::<SupervisorMessage>().map(drop),
        }
        .expect_err(self.name);
        Outcome {
            error,
            channel,
            raw,
            probe,
        }
    }

    /// Fails, naming the case, unless `error` is the one this case must give.
    #[track_caller]
    pub fn assert_expected(&self, error: &TransportError) {
        assert!((self.expect)(error), "{}: got {error:?}", self.name);
    }
}

fn unexpected_fds(e: &TransportError, want_expected: usize, want_received: usize) -> bool {
    matches!(
        e,
        TransportError::UnexpectedFds { expected, received }
            if (*expected, *received) == (want_expected, want_received)
    )
}

/// The hostile end stops writing: the channel reads end-of-file after what was sent.
fn hang_up(raw: &OwnedFd) {
    rustix::net::shutdown(raw, rustix::net::Shutdown::Write).unwrap();
}

pub const CASES: &[Case] = &[
    Case {
        name: "a frame where an fd was expected",
        attack: |raw, _| send_raw(raw, &frame_of(&request("no fd")), &[]),
        recv: Recv::Fd,
        poisons: true,
        expect: |e| matches!(e, TransportError::MissingFd),
    },
    Case {
        name: "two fds on one data byte",
        attack: |raw, probe| send_raw(raw, &[0], &[probe.fd(), probe.fd()]),
        recv: Recv::Fd,
        poisons: true,
        expect: |e| unexpected_fds(e, 1, 2),
    },
    Case {
        name: "two fds ahead of a frame read with recv_with_fd",
        attack: |raw, probe| {
            send_raw(raw, &[0], &[probe.fd(), probe.fd()]);
            send_raw(raw, &frame_of(&request("x")), &[]);
        },
        recv: Recv::WithFd,
        poisons: true,
        expect: |e| unexpected_fds(e, 1, 2),
    },
    Case {
        name: "so many fds that the control data is truncated",
        attack: |raw, probe| send_raw(raw, &[0], &[probe.fd(); 32]),
        recv: Recv::Fd,
        poisons: true,
        expect: |e| matches!(e, TransportError::ControlTruncated),
    },
    Case {
        name: "an fd attached to the bytes of a frame",
        attack: |raw, probe| send_raw(raw, &frame_of(&request("smuggled")), &[probe.fd()]),
        recv: Recv::Frame,
        poisons: true,
        expect: |e| unexpected_fds(e, 0, 1),
    },
    Case {
        name: "an fd attached to the middle of a frame",
        attack: |raw, probe| {
            let frame = frame_of(&request("smuggled"));
            send_raw(raw, &frame[..10], &[]);
            send_raw(raw, &frame[10..], &[probe.fd()]);
        },
        recv: Recv::Frame,
        poisons: true,
        expect: |e| unexpected_fds(e, 0, 1),
    },
    Case {
        name: "an fd unit where recv expects a frame",
        attack: |raw, probe| {
            send_raw(raw, &[0], &[probe.fd()]);
            send_raw(raw, &frame_of(&request("after fd")), &[]);
        },
        recv: Recv::Frame,
        poisons: true,
        expect: |e| unexpected_fds(e, 0, 1),
    },
    Case {
        name: "a second fd unit where the frame after an fd should be",
        attack: |raw, probe| {
            send_raw(raw, &[0], &[probe.fd()]);
            send_raw(raw, &[0], &[probe.fd()]);
        },
        recv: Recv::WithFd,
        poisons: true,
        expect: |e| unexpected_fds(e, 0, 1),
    },
    Case {
        name: "a huge length header",
        attack: |raw, _| send_raw(raw, &[0x7f, 0xff, 0xff, 0xff, b'{'], &[]),
        recv: Recv::Frame,
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::FrameTooLarge {
                    len: 0x7fff_ffff,
                    max: MAX_FRAME_LEN
                }
            )
        },
    },
    Case {
        name: "a frame of bad JSON after a granted fd",
        attack: |raw, probe| {
            send_raw(raw, &[0], &[probe.fd()]);
            send_raw(raw, &[0, 0, 0, 3, b'{', b'{', b'{'], &[]);
        },
        recv: Recv::WithFd,
        poisons: false,
        expect: |e| matches!(e, TransportError::Wire(WireError::Json { .. })) && e.is_recoverable(),
    },
    Case {
        name: "the peer closes mid-frame",
        attack: |raw, _| {
            let frame = frame_of(&request("cut short"));
            send_raw(raw, &frame[..frame.len() / 2], &[]);
            hang_up(raw);
        },
        recv: Recv::Frame,
        poisons: true,
        expect: |e| matches!(e, TransportError::TruncatedFrame { .. }),
    },
    Case {
        name: "the peer closes mid-header",
        attack: |raw, _| {
            send_raw(raw, &[0, 0], &[]);
            hang_up(raw);
        },
        recv: Recv::Frame,
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::TruncatedFrame {
                    received: 2,
                    expected: 4
                }
            )
        },
    },
    Case {
        name: "the peer closes after an fd, before its frame",
        attack: |raw, probe| {
            send_raw(raw, &[0], &[probe.fd()]);
            hang_up(raw);
        },
        recv: Recv::WithFd,
        poisons: false,
        expect: |e| matches!(e, TransportError::Closed),
    },
];

#[test]
fn every_hostile_case_gives_its_typed_error_and_closes_every_passed_fd() {
    for case in CASES {
        let outcome = case.run();
        case.assert_expected(&outcome.error);
        assert!(
            outcome.probe.all_copies_closed(),
            "{}: a passed fd is still open while the channel lives",
            case.name
        );
        let mut channel = outcome.channel;
        // The peer sends nothing more: a usable channel times out, a poisoned one says so.
        channel
            .set_read_timeout(Some(std::time::Duration::from_millis(10)))
            .unwrap();
        let next = channel.recv::<SupervisorMessage>();
        if case.poisons {
            assert!(
                matches!(next, Err(TransportError::Poisoned)),
                "{}: {next:?}",
                case.name
            );
            assert!(!outcome.error.is_recoverable(), "{}", case.name);
        } else {
            assert!(
                !matches!(next, Err(TransportError::Poisoned)),
                "{}: {next:?}",
                case.name
            );
        }
    }
}

#[test]
fn after_bad_json_the_next_frame_is_read() {
    let (mut channel, raw) = raw_pair();
    send_raw(&raw, &[0, 0, 0, 2, b'{', b'}'], &[]);
    send_raw(&raw, &frame_of(&request("fine")), &[]);
    let err = channel.recv::<SupervisorMessage>().unwrap_err();
    assert!(
        matches!(err, TransportError::Wire(WireError::Json { .. })),
        "{err:?}"
    );
    assert_eq!(
        channel.recv::<SupervisorMessage>().unwrap(),
        request("fine")
    );
}

#[test]
fn fd_count_is_unchanged_by_every_hostile_case_in_a_fresh_process() {
    // Counting /proc/self/fd only works with no other test opening fds at the same time:
    // run the count in a child process that runs nothing else.
    let status = crate::support::helper_command("count_fds_across_hostile_cases", "count")
        .status()
        .unwrap();
    assert!(status.success(), "fd counting child failed: {status}");
}

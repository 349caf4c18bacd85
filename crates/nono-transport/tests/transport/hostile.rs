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

/// A case: its name, the attack, whether the error must poison the channel, and the check
/// of the error.
pub struct Case {
    pub name: &'static str,
    pub run: fn() -> Outcome,
    pub poisons: bool,
    pub expect: fn(&TransportError) -> bool,
}

pub const CASES: &[Case] = &[
    Case {
        name: "a frame where an fd was expected",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            probe.disarm();
            send_raw(&raw, &frame_of(&request("no fd")), &[]);
            let error = channel.recv_fd().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| matches!(e, TransportError::MissingFd),
    },
    Case {
        name: "two fds on one data byte",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd(), probe.fd()]);
            probe.disarm();
            let error = channel.recv_fd().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 1,
                    received: 2
                }
            )
        },
    },
    Case {
        name: "two fds ahead of a frame read with recv_with_fd",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd(), probe.fd()]);
            send_raw(&raw, &frame_of(&request("x")), &[]);
            probe.disarm();
            let error = channel.recv_with_fd::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 1,
                    received: 2
                }
            )
        },
    },
    Case {
        name: "so many fds that the control data is truncated",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            let fds = vec![probe.fd(); 32];
            send_raw(&raw, &[0], &fds);
            drop(fds);
            probe.disarm();
            let error = channel.recv_fd().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| matches!(e, TransportError::ControlTruncated),
    },
    Case {
        name: "an fd attached to the bytes of a frame",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &frame_of(&request("smuggled")), &[probe.fd()]);
            probe.disarm();
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 0,
                    received: 1
                }
            )
        },
    },
    Case {
        name: "an fd attached to the middle of a frame",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            let frame = frame_of(&request("smuggled"));
            send_raw(&raw, &frame[..10], &[]);
            send_raw(&raw, &frame[10..], &[probe.fd()]);
            probe.disarm();
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 0,
                    received: 1
                }
            )
        },
    },
    Case {
        name: "an fd unit where recv expects a frame",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd()]);
            send_raw(&raw, &frame_of(&request("after fd")), &[]);
            probe.disarm();
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 0,
                    received: 1
                }
            )
        },
    },
    Case {
        name: "a second fd unit where the frame after an fd should be",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd()]);
            send_raw(&raw, &[0], &[probe.fd()]);
            probe.disarm();
            let error = channel.recv_with_fd::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| {
            matches!(
                e,
                TransportError::UnexpectedFds {
                    expected: 0,
                    received: 1
                }
            )
        },
    },
    Case {
        name: "a huge length header",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            probe.disarm();
            send_raw(&raw, &[0x7f, 0xff, 0xff, 0xff, b'{'], &[]);
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
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
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd()]);
            send_raw(&raw, &[0, 0, 0, 3, b'{', b'{', b'{'], &[]);
            probe.disarm();
            let error = channel.recv_with_fd::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: false,
        expect: |e| matches!(e, TransportError::Wire(WireError::Json { .. })) && e.is_recoverable(),
    },
    Case {
        name: "the peer closes mid-frame",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            probe.disarm();
            let frame = frame_of(&request("cut short"));
            send_raw(&raw, &frame[..frame.len() / 2], &[]);
            rustix::net::shutdown(&raw, rustix::net::Shutdown::Write).unwrap();
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: true,
        expect: |e| matches!(e, TransportError::TruncatedFrame { .. }),
    },
    Case {
        name: "the peer closes mid-header",
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            probe.disarm();
            send_raw(&raw, &[0, 0], &[]);
            rustix::net::shutdown(&raw, rustix::net::Shutdown::Write).unwrap();
            let error = channel.recv::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
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
        run: || {
            let (mut channel, raw) = raw_pair();
            let mut probe = FdProbe::new();
            send_raw(&raw, &[0], &[probe.fd()]);
            probe.disarm();
            rustix::net::shutdown(&raw, rustix::net::Shutdown::Write).unwrap();
            let error = channel.recv_with_fd::<SupervisorMessage>().unwrap_err();
            Outcome {
                error,
                channel,
                raw,
                probe,
            }
        },
        poisons: false,
        expect: |e| matches!(e, TransportError::Closed),
    },
];

#[test]
fn every_hostile_case_gives_its_typed_error_and_closes_every_passed_fd() {
    for case in CASES {
        let outcome = (case.run)();
        assert!(
            (case.expect)(&outcome.error),
            "{}: got {:?}",
            case.name,
            outcome.error
        );
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

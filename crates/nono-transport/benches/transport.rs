//! Criterion benches of `Channel` round trips over a socketpair with a peer thread: request →
//! response frames, an fd passed there and back, and a full grant (request → fd + Decision).
//! Throughput is one element per round trip, so criterion's elem/s is round trips per second.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::thread::JoinHandle;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nono_transport::{Channel, TransportError};
use nono_wire::{
    AccessMode, ApprovalDecision, CapabilityRequest, SupervisorMessage, SupervisorResponse,
};

fn request() -> SupervisorMessage {
    SupervisorMessage::Request(CapabilityRequest {
        request_id: "req-000042".into(),
        path: PathBuf::from("/home/user/project/target/debug/build/output.log"),
        access: AccessMode::ReadWrite,
        reason: Some("write the build log".into()),
        child_pid: 4242,
        session_id: "session-7f3a9c".into(),
    })
}

fn decision(id: &str, decision: ApprovalDecision) -> SupervisorResponse {
    SupervisorResponse::Decision {
        request_id: id.to_owned(),
        decision,
    }
}

/// Runs `serve` on the supervisor end in a thread until the bench side hangs up.
fn supervisor(
    mut end: Channel,
    mut serve: impl FnMut(&mut Channel) -> Result<(), TransportError> + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || loop {
        match serve(&mut end) {
            Ok(()) => {}
            Err(TransportError::Closed) => return,
            Err(e) => panic!("supervisor thread: {e}"),
        }
    })
}

fn round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("transport");
    group.throughput(Throughput::Elements(1));

    // A SupervisorResponse echoed for each CapabilityRequest.
    let (mut child, end) = Channel::pair().expect("socketpair");
    let server = supervisor(end, |end| {
        let msg: SupervisorMessage = end.recv()?;
        end.send(&decision(
            msg.request_id(),
            ApprovalDecision::Denied {
                reason: "bench".into(),
            },
        ))
    });
    let msg = request();
    group.bench_function("request_response_round_trip", |b| {
        b.iter(|| {
            child.send(black_box(&msg)).expect("send");
            black_box(child.recv::<SupervisorResponse>().expect("recv"))
        });
    });
    drop(child);
    server.join().expect("server thread");

    // An fd sent to the peer and sent back (two SCM_RIGHTS transfers).
    let (mut child, end) = Channel::pair().expect("socketpair");
    let server = supervisor(end, |end| {
        let fd = end.recv_fd()?;
        end.send_fd(fd.as_fd())
    });
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    group.bench_function("fd_passing_round_trip", |b| {
        b.iter(|| {
            child.send_fd(file.as_fd()).expect("send_fd");
            black_box(child.recv_fd().expect("recv_fd"))
        });
    });
    drop(child);
    server.join().expect("server thread");

    // The grant path: a request answered by an fd and the Granted decision.
    let (mut child, end) = Channel::pair().expect("socketpair");
    let server = supervisor(end, move |end| {
        let msg: SupervisorMessage = end.recv()?;
        end.send_with_fd(
            file.as_fd(),
            &decision(msg.request_id(), ApprovalDecision::Granted),
        )
    });
    group.bench_function("grant_round_trip", |b| {
        b.iter(|| {
            child.send(black_box(&msg)).expect("send");
            let (answer, fd) = child
                .recv_with_fd::<SupervisorResponse>()
                .expect("recv_with_fd");
            black_box((answer, fd.expect("an fd with the grant")))
        });
    });
    drop(child);
    server.join().expect("server thread");

    group.finish();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);

//! Criterion bench: encoding and decoding one `CapabilityRequest` frame, in frames per second.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nono_wire::{
    encode_frame, encode_frame_into, AccessMode, CapabilityRequest, FrameDecoder, SupervisorMessage,
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

fn codec(c: &mut Criterion) {
    let msg = request();
    let frame = encode_frame(&msg).expect("the bench message encodes");
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));

    group.bench_function("encode CapabilityRequest frame", |b| {
        let mut out = Vec::with_capacity(frame.len());
        b.iter(|| {
            out.clear();
            encode_frame_into(black_box(&msg), &mut out).expect("encodes");
            black_box(out.len())
        });
    });

    group.bench_function("decode CapabilityRequest frame", |b| {
        let mut decoder = FrameDecoder::new();
        b.iter(|| {
            decoder.feed(black_box(&frame));
            let got: SupervisorMessage = decoder
                .next_message()
                .expect("decodes")
                .expect("one whole frame");
            black_box(got)
        });
    });

    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);

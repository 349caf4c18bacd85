//! criterion: the in-process hot paths of the proxy — the rule decision and the head parser.
//! Whole-load numbers (1 GiB CONNECT throughput vs direct, added latency, 1000 tunnels, RSS)
//! come from `cargo run --release -p nono-proxy --example proxy_load`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use nono_proxy::{parse_request_head, profile_hosts, Access, Host, Rules};

fn decide(c: &mut Criterion) {
    let mut allow: Vec<String> = profile_hosts("developer")
        .unwrap()
        .into_iter()
        .map(str::to_owned)
        .collect();
    allow.extend((0..200).map(|i| format!("host{i}.example.com")));
    allow.push("10.0.0.0/8".into());
    let rules = Rules::parse(&allow, &["evil.example.com"]).unwrap();
    let host = Host::parse("objects.githubusercontent.com").unwrap();
    let addr: IpAddr = "185.199.108.133".parse().unwrap();
    c.bench_function("decide/allowed_subdomain_240_rules", |b| {
        b.iter(|| rules.decide(black_box(&host), 443, addr, Access::Tunnel))
    });
    let refused = Host::parse("unknown.example.org").unwrap();
    c.bench_function("decide/refused_240_rules", |b| {
        b.iter(|| rules.decide_name(black_box(&refused), 443, Access::Tunnel))
    });
    c.bench_function("host_parse/odd_ipv4", |b| {
        b.iter(|| Host::parse(black_box("0x7f.1")))
    });
}

fn head(c: &mut Criterion) {
    let req = b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\nProxy-Authorization: Basic bm9ubzowMTIzNDU2Nzg5YWJjZGVm\r\nUser-Agent: curl/8.5.0\r\n\r\n";
    c.bench_function("head/connect", |b| {
        b.iter(|| parse_request_head(black_box(req), 32 * 1024, 100))
    });
}

criterion_group!(benches, decide, head);
criterion_main!(benches);

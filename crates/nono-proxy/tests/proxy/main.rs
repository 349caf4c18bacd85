//! nono-proxy end to end on loopback: servers started by each test, names mapped to
//! 127.0.0.0/8 by a static resolver, real sockets through the real proxy.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nono_proxy::{
    CredentialRoute, DenyReason, EndpointRule, EventKind, Limits, Proxy, ProxyConfig, ProxyEvent,
    ProxyHandle, RejectReason, Resolver, Rules, Secret, Verdict,
};

pub(crate) const T: Duration = Duration::from_secs(10);

mod tls;

fn resolver() -> Resolver {
    let mut m: HashMap<String, Vec<IpAddr>> = HashMap::new();
    m.insert("allowed.test".into(), vec!["127.0.0.1".parse().unwrap()]);
    m.insert("other.test".into(), vec!["127.0.0.2".parse().unwrap()]);
    m.insert("rebind.test".into(), vec!["127.0.0.1".parse().unwrap()]);
    // Nothing listens on 127.0.0.3; the second address answers.
    m.insert(
        "multi.test".into(),
        vec!["127.0.0.3".parse().unwrap(), "127.0.0.1".parse().unwrap()],
    );
    // The metadata address first: it must be skipped, never connected to.
    m.insert(
        "mixed.test".into(),
        vec![
            "169.254.169.254".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ],
    );
    Resolver::Static(m)
}

fn start(allow: &[String], deny: &[String], limits: Limits) -> ProxyHandle {
    let mut cfg = ProxyConfig::new(Rules::parse(allow, deny).unwrap());
    cfg.resolver = resolver();
    cfg.limits = limits;
    Proxy::start(cfg).unwrap()
}

fn auth(p: &ProxyHandle) -> String {
    format!(
        "Proxy-Authorization: {}\r\n",
        p.token().unwrap().header_value()
    )
}

/// An echo server on 127.0.0.1; returns its port.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
    port
}

/// An HTTP server that records each request head+body and answers `200 ok:<path>`.
fn http_server() -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let tx = tx.clone();
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                // Read until the peer half-closes (the proxy sends Connection: close and shuts
                // down its write side after the body), so everything forwarded is recorded.
                let mut all = Vec::new();
                let _ = s.read_to_end(&mut all);
                let text = String::from_utf8_lossy(&all).into_owned();
                let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                let body = format!("ok:{path}");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tx.send(text);
            });
        }
    });
    (port, rx)
}

pub(crate) fn send(p: &ProxyHandle, req: &str) -> String {
    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn next_event(p: &ProxyHandle) -> ProxyEvent {
    p.events().recv_timeout(T).expect("an audit event")
}

/// CONNECT and return the stream after the 200, or the refusal text.
fn connect(p: &ProxyHandle, target: &str, with_auth: bool) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let a = if with_auth { auth(p) } else { String::new() };
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{a}\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    if line.starts_with("HTTP/1.1 200") {
        let mut l2 = String::new();
        r.read_line(&mut l2).unwrap();
        assert_eq!(l2, "\r\n");
        Ok(s)
    } else {
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        Err(line + &rest)
    }
}

fn roundtrip(mut s: TcpStream) {
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[test]
fn tokenless_or_wrong_token_gets_407() {
    let port = echo_server();
    let p = start(&[format!("127.0.0.1:{port}")], &[], Limits::default());
    let err = connect(&p, &format!("127.0.0.1:{port}"), false).unwrap_err();
    assert!(err.starts_with("HTTP/1.1 407"), "{err}");
    assert!(err.contains("Proxy-Authenticate: Basic"), "{err}");
    let ev = next_event(&p);
    assert_eq!(ev.kind, EventKind::Rejected(RejectReason::Unauthenticated));
    let r = send(
        &p,
        &format!(
            "GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Authorization: Basic bm9ubzp3cm9uZw==\r\n\r\n"
        ),
    );
    assert!(r.starts_with("HTTP/1.1 407"), "{r}");
    // The control: with the token, the same CONNECT works.
    roundtrip(connect(&p, &format!("127.0.0.1:{port}"), true).unwrap());
}

#[test]
fn connect_tunnel_carries_bytes_and_is_audited() {
    let port = echo_server();
    let p = start(
        &[format!("allowed.test:{port}"), "127.0.0.0/8".into()],
        &[],
        Limits::default(),
    );
    let s = connect(&p, &format!("ALLOWED.test.:{port}"), true).unwrap();
    roundtrip(s);
    let ev = next_event(&p);
    assert_eq!(ev.kind, EventKind::Tunnel);
    assert_eq!(ev.host, "allowed.test");
    assert_eq!(ev.addr, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(
        ev.verdict,
        Some(Verdict::Allow {
            rule: format!("allowed.test:{port}")
        })
    );
    assert_eq!((ev.bytes_up, ev.bytes_down), (4, 4));
}

#[test]
fn connect_to_refused_address_through_allowed_name() {
    let port = echo_server();
    // The name is allowed, but it resolves to loopback and no IP/CIDR rule covers that.
    let p = start(&[format!("rebind.test:{port}")], &[], Limits::default());
    let err = connect(&p, &format!("rebind.test:{port}"), true).unwrap_err();
    assert!(err.starts_with("HTTP/1.1 403"), "{err}");
    assert!(err.contains("resolved to 127.0.0.1"), "{err}");
    assert!(err.contains("add --allow-domain 127.0.0.1"), "{err}");
    let ev = next_event(&p);
    assert!(matches!(
        ev.verdict,
        Some(Verdict::Deny {
            reason: DenyReason::SpecialAddress { .. },
            ..
        })
    ));
    // A name with no rule is never resolved, and is refused naming the flag.
    let err = connect(&p, &format!("other.test:{port}"), true).unwrap_err();
    assert!(
        err.contains(&format!("add --allow-domain other.test:{port}")),
        "{err}"
    );
}

#[test]
fn only_judged_addresses_of_the_one_lookup_are_connected() {
    let port = echo_server();
    let p = start(
        &[
            format!("multi.test:{port}"),
            format!("mixed.test:{port}"),
            "127.0.0.0/8".into(),
        ],
        &[],
        Limits::default(),
    );
    roundtrip(connect(&p, &format!("multi.test:{port}"), true).unwrap());
    assert_eq!(next_event(&p).addr, Some("127.0.0.1".parse().unwrap()));
    roundtrip(connect(&p, &format!("mixed.test:{port}"), true).unwrap());
    assert_eq!(next_event(&p).addr, Some("127.0.0.1".parse().unwrap()));
}

#[test]
fn odd_ip_spellings_are_judged_by_address() {
    let port = echo_server();
    let p = start(&[format!("127.0.0.1:{port}")], &[], Limits::default());
    for spelled in [
        "2130706433",
        "0x7f.1",
        "127.1",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
    ] {
        roundtrip(
            connect(&p, &format!("{spelled}:{port}"), true)
                .unwrap_or_else(|e| panic!("{spelled}: {e}")),
        );
    }
    // And a deny by address catches every spelling.
    let p = start(
        &["127.0.0.0/8".into()],
        &[format!("127.0.0.1:{port}")],
        Limits::default(),
    );
    for spelled in ["2130706433", "0x7f.1", "127.1", "[::ffff:7f00:1]"] {
        let err = connect(&p, &format!("{spelled}:{port}"), true).unwrap_err();
        assert!(err.starts_with("HTTP/1.1 403"), "{spelled}: {err}");
    }
}

#[test]
fn host_header_mismatch_is_refused() {
    let (port, rx) = http_server();
    let p = start(&[format!("127.0.0.1:{port}")], &[], Limits::default());
    let r = send(
        &p,
        &format!(
            "GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: evil.test\r\n{}\r\n",
            auth(&p)
        ),
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("Host header does not match"), "{r}");
    let r = send(
        &p,
        &format!(
            "GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.test\r\n{}\r\n",
            auth(&p)
        ),
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(rx.try_recv().is_err(), "nothing reached the server");
    // Control: a matching Host is forwarded.
    let r = send(
        &p,
        &format!(
            "GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: 2130706433:{port}\r\n{}\r\n",
            auth(&p)
        ),
    );
    assert!(r.ends_with("ok:/x"), "{r}");
}

#[test]
fn plain_http_forwarding_and_path_rules() {
    let (port, rx) = http_server();
    let p = start(
        &[
            format!("http://allowed.test:{port}/api/**"),
            "127.0.0.1".into(),
        ],
        &[],
        Limits::default(),
    );
    let a = auth(&p);
    let r = send(
        &p,
        &format!("POST http://allowed.test:{port}/api/v1?q=1 HTTP/1.1\r\nHost: allowed.test:{port}\r\n{a}Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET http://allowed.test:{port}/admin HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n"),
    );
    assert!(r.ends_with("ok:/api/v1?q=1"), "{r}");
    let seen = rx.recv_timeout(T).unwrap();
    assert!(seen.starts_with("POST /api/v1?q=1 HTTP/1.1\r\n"), "{seen}");
    assert!(!seen.contains("Proxy-Authorization"), "{seen}");
    assert!(seen.contains("Connection: close"), "{seen}");
    assert!(
        seen.ends_with("3\r\nabc\r\n0\r\n\r\n"),
        "pipelined request not forwarded: {seen}"
    );
    for path in ["/admin", "/api/../admin", "/api/%2e%2e/admin"] {
        let r = send(
            &p,
            &format!("GET http://allowed.test:{port}{path} HTTP/1.1\r\nHost: allowed.test:{port}\r\n{a}\r\n"),
        );
        assert!(r.starts_with("HTTP/1.1 403"), "{path}: {r}");
    }
    // A path rule never opens a tunnel.
    assert!(connect(&p, &format!("allowed.test:{port}"), true).is_err());
    // Smuggling shapes are refused.
    let r = send(
        &p,
        &format!("POST http://allowed.test:{port}/api/x HTTP/1.1\r\nHost: allowed.test:{port}\r\n{a}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"),
    );
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}

#[test]
fn oversize_header_gets_431() {
    let p = start(
        &[],
        &[],
        Limits {
            max_header_bytes: 4096,
            max_headers: 16,
            ..Limits::default()
        },
    );
    let r = send(
        &p,
        &format!(
            "GET http://a.test/ HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(8000)
        ),
    );
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let many: String = (0..20).map(|i| format!("X{i}: y\r\n")).collect();
    let r = send(&p, &format!("GET http://a.test/ HTTP/1.1\r\n{many}\r\n"));
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
}

#[test]
fn slow_client_is_cut_off() {
    let p = start(
        &[],
        &[],
        Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
    );
    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let t0 = Instant::now();
    // Slowloris: a byte at a time, never finishing the head.
    for b in b"GET http://a.test/ HTTP/1.1\r\nX-Slow: " {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(40));
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn flood_is_bounded_and_the_proxy_keeps_serving() {
    let port = echo_server();
    let p = start(
        &[format!("127.0.0.1:{port}")],
        &[],
        Limits {
            max_connections: 32,
            header_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
    );
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(TcpStream::connect(p.addr()).unwrap());
    }
    // Let the accept loop count them.
    let t0 = Instant::now();
    while p.active() < 32 && t0.elapsed() < T {
        thread::sleep(Duration::from_millis(10));
    }
    let r = send(&p, "GET http://a.test/ HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    drop(held);
    // The idle ones time out or close; then the proxy serves again.
    let t0 = Instant::now();
    loop {
        match connect(&p, &format!("127.0.0.1:{port}"), true) {
            Ok(s) => {
                roundtrip(s);
                break;
            }
            Err(e) if t0.elapsed() < T => {
                assert!(e.contains("503"), "{e}");
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("proxy did not recover: {e}"),
        }
    }
}

#[test]
fn tunnel_idle_timeout() {
    let port = echo_server();
    let p = start(
        &[format!("127.0.0.1:{port}")],
        &[],
        Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    );
    let mut s = connect(&p, &format!("127.0.0.1:{port}"), true).unwrap();
    let mut buf = [0u8; 1];
    let t0 = Instant::now();
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

/// How long an SSE upstream waits for the test to acknowledge an event before it gives up
/// and marks the response as not streamed (a bound for a failing test, not a measurement).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Serve one request on `s`: send its head to `heads`; without `expect_header` answer 401;
/// else stream three server-sent events, each after the test acknowledged the one before on
/// `acks`. A proxy that buffered the response would hold event 0 back, the acknowledgement
/// would never come, and the stream then carries `data: not-streamed`.
pub(crate) fn serve_sse(
    s: &mut (impl Read + Write),
    expect_header: &str,
    heads: &mpsc::Sender<String>,
    acks: &Mutex<mpsc::Receiver<()>>,
) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let ok = head.lines().any(|l| l.eq_ignore_ascii_case(expect_header));
    let _ = heads.send(head);
    if !ok {
        let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        let _ = s.flush();
        return;
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
    let acks = acks.lock().unwrap();
    for i in 0..3 {
        let _ = write!(s, "data: {i}\n\n");
        let _ = s.flush();
        if i < 2 && acks.recv_timeout(ACK_WAIT).is_err() {
            let _ = write!(s, "data: not-streamed\n\n");
        }
    }
    let _ = s.flush();
}

/// Read an SSE response to the end, acknowledging each event as it arrives (see
/// [`serve_sse`]); returns everything read.
pub(crate) fn read_sse(s: impl Read, ack: &mpsc::Sender<()>) -> String {
    let mut r = BufReader::new(s);
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("data: ") {
            let _ = ack.send(());
        }
        all.push_str(&line);
    }
    all
}

/// A plain-HTTP upstream on 127.0.0.1 that checks the real key, then streams events in
/// lockstep with the test ([`serve_sse`]). Returns its port, the request heads it saw, and
/// the sender of acknowledgements.
fn sse_upstream(expect_header: &'static str) -> (u16, mpsc::Receiver<String>, mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let (ack_tx, ack_rx) = mpsc::channel();
    let acks = Arc::new(Mutex::new(ack_rx));
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (tx, acks) = (tx.clone(), Arc::clone(&acks));
            thread::spawn(move || serve_sse(&mut s, expect_header, &tx, &acks));
        }
    });
    (port, rx, ack_tx)
}

#[test]
fn credential_route_injects_the_key_and_streams() {
    let (uport, seen, ack) = sse_upstream("authorization: Bearer sk-real-key");
    let mut route = CredentialRoute::new(
        "svc",
        &format!("http://127.0.0.1:{uport}/v1"),
        "Authorization",
        "Bearer {}",
        Secret::new("sk-real-key"),
    )
    .unwrap();
    route.allow_endpoints = vec![EndpointRule::parse("POST:/chat/**").unwrap()];
    let phantom = route.phantom.clone();
    let mut cfg = ProxyConfig::new(Rules::default());
    cfg.credentials = vec![route];
    let p = Proxy::start(cfg).unwrap();

    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "POST /svc/chat/completions?stream=1 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {phantom}\r\nContent-Length: 2\r\n\r\n{{}}",
        p.addr()
    )
    .unwrap();
    let all = read_sse(s, &ack);
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(all.contains("data: 2"), "{all}");
    // Streamed: each event reached the client before the upstream sent the next one.
    assert!(!all.contains("not-streamed"), "{all}");
    let head = seen.recv_timeout(T).unwrap();
    assert!(
        head.starts_with("POST /v1/chat/completions?stream=1 HTTP/1.1"),
        "{head}"
    );
    assert!(head.contains(&format!("Host: 127.0.0.1:{uport}")), "{head}");
    assert!(!head.contains(&phantom), "{head}");
    let ev = next_event(&p);
    assert!(matches!(ev.kind, EventKind::Credential { ref service, .. } if service == "svc"));
    assert!(!format!("{ev:?}").contains("sk-real-key"));

    // Without the phantom: 401, nothing forwarded.
    let r = send(
        &p,
        "POST /svc/chat/x HTTP/1.1\r\nAuthorization: Bearer sk-guess\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    // Outside the allowed endpoints: 403 naming the flag.
    let r = send(
        &p,
        &format!("GET /svc/models HTTP/1.1\r\nAuthorization: Bearer {phantom}\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(r.contains("--allow-endpoint svc:GET:/models"), "{r}");
    let r = send(
        &p,
        &format!("POST /svc/chat/../admin HTTP/1.1\r\nAuthorization: Bearer {phantom}\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    assert!(
        seen.try_recv().is_err(),
        "refused requests never reach the upstream"
    );
    let r = send(&p, "GET /nope/x HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

#[test]
fn shutdown_stops_accepting() {
    let p = start(&[], &[], Limits::default());
    let addr: SocketAddr = p.addr();
    p.shutdown();
    let t0 = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Err(_) => break,
            Ok(mut s) => {
                let mut b = [0u8; 1];
                s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                if matches!(s.read(&mut b), Ok(0) | Err(_)) {
                    break;
                }
            }
        }
        assert!(t0.elapsed() < T);
    }
}

//! Credential routes over real TLS: a loopback upstream whose certificate comes from a test
//! CA (rcgen), trusted by the proxy only through `UpstreamRoots::OnlyPem` — the hook the CLI
//! sets from `NONO_TEST_PROXY_CA`.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use nono_proxy::{
    CredentialRoute, EventKind, Proxy, ProxyConfig, ProxyError, Resolver, Rules, Secret,
    UpstreamRoots,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{next_event, read_sse, send, serve_sse, T};

/// The upstream's name (mapped to 127.0.0.1 by the proxy's static resolver).
const NAME: &str = "api.tls.test";

/// A test CA and a server certificate for [`NAME`] signed by it.
struct TestPki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn ca() -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "nono test CA");
    (params.self_signed(&key).unwrap(), key)
}

fn pki() -> TestPki {
    let (ca_cert, ca_key) = ca();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![NAME.to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    #[allow(deprecated)] // ring: as the proxy (no cmake/C toolchain for aws-lc-rs)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// A TLS upstream on 127.0.0.1 serving [`serve_sse`]; returns its port, the request heads it
/// saw (only after a completed handshake), the acknowledgement sender, and the handshake
/// errors it saw.
fn tls_upstream(
    server: Arc<rustls::ServerConfig>,
    expect_header: &'static str,
) -> (
    u16,
    mpsc::Receiver<String>,
    mpsc::Sender<()>,
    mpsc::Receiver<String>,
) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let (ack_tx, ack_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    let acks = Arc::new(Mutex::new(ack_rx));
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut tcp) = s else { continue };
            let (tx, acks, err_tx, server) = (
                tx.clone(),
                Arc::clone(&acks),
                err_tx.clone(),
                Arc::clone(&server),
            );
            thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(server).unwrap();
                while conn.is_handshaking() {
                    if let Err(e) = conn.complete_io(&mut tcp) {
                        let _ = err_tx.send(e.to_string());
                        return;
                    }
                }
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                serve_sse(&mut tls, expect_header, &tx, &acks);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, rx, ack_tx, err_rx)
}

fn resolver() -> Resolver {
    let mut m: HashMap<String, Vec<IpAddr>> = HashMap::new();
    m.insert(NAME.into(), vec!["127.0.0.1".parse().unwrap()]);
    Resolver::Static(m)
}

fn route(port: u16) -> CredentialRoute {
    CredentialRoute::new(
        "svc",
        &format!("https://{NAME}:{port}/v1"),
        "Authorization",
        "Bearer {}",
        Secret::new("sk-tls-real-key"),
    )
    .unwrap()
}

/// Through the proxy, with the test CA as the only trust anchor: the upstream gets the real
/// key (and never the phantom) over a verified TLS connection, and the server-sent events
/// reach the client one by one.
#[test]
fn tls_upstream_gets_the_real_key_and_streams() {
    let pki = pki();
    let (port, heads, ack, errors) = tls_upstream(
        Arc::clone(&pki.server),
        "authorization: Bearer sk-tls-real-key",
    );
    let route = route(port);
    let phantom = route.phantom.clone();
    let mut cfg = ProxyConfig::new(Rules::default());
    cfg.resolver = resolver();
    cfg.upstream_roots = UpstreamRoots::OnlyPem(pki.ca_pem.clone().into_bytes());
    cfg.credentials = vec![route];
    let p = Proxy::start(cfg).unwrap();

    let mut s = TcpStream::connect(p.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "POST /svc/chat?stream=1 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {phantom}\r\nContent-Length: 2\r\n\r\n{{}}",
        p.addr()
    )
    .unwrap();
    let all = read_sse(s, &ack);
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(all.contains("data: 0") && all.contains("data: 2"), "{all}");
    assert!(
        !all.contains("not-streamed"),
        "buffered, not streamed: {all}"
    );
    assert!(!all.contains("sk-tls-real-key"), "{all}");
    assert!(errors.try_recv().is_err());
    let head = heads.recv_timeout(T).unwrap();
    assert!(
        head.starts_with("POST /v1/chat?stream=1 HTTP/1.1"),
        "{head}"
    );
    assert!(head.contains(&format!("Host: {NAME}:{port}")), "{head}");
    assert!(
        head.contains("Authorization: Bearer sk-tls-real-key"),
        "{head}"
    );
    assert!(!head.contains(&phantom), "{head}");
    let ev = next_event(&p);
    assert!(matches!(ev.kind, EventKind::Credential { ref service, .. } if service == "svc"));
    assert_eq!(ev.error, None, "{ev:?}");
    assert!(!format!("{ev:?}").contains("sk-tls-real-key"));
}

/// A certificate that does not chain to a trusted CA (here: another test CA is the only
/// anchor) is refused during the handshake: the client gets a 502 that says why, the event
/// carries the error, and the upstream never receives a request (so never the key).
#[test]
fn untrusted_upstream_certificate_is_refused_with_a_clear_error() {
    let pki = pki();
    let (other_ca, _) = ca();
    let (port, heads, _ack, errors) = tls_upstream(
        Arc::clone(&pki.server),
        "authorization: Bearer sk-tls-real-key",
    );
    let route = route(port);
    let phantom = route.phantom.clone();
    let mut cfg = ProxyConfig::new(Rules::default());
    cfg.resolver = resolver();
    cfg.upstream_roots = UpstreamRoots::OnlyPem(other_ca.pem().into_bytes());
    cfg.credentials = vec![route];
    let p = Proxy::start(cfg).unwrap();

    let r = send(
        &p,
        &format!("GET /svc/models HTTP/1.1\r\nAuthorization: Bearer {phantom}\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 502"), "{r}");
    assert!(r.contains("credential svc"), "{r}");
    assert!(
        r.contains(&format!(
            "TLS handshake with https://{NAME}:{port}/v1 failed"
        )),
        "{r}"
    );
    assert!(r.contains("invalid peer certificate"), "{r}");
    assert!(r.contains("does not chain to a trusted CA"), "{r}");
    let ev = next_event(&p);
    let err = ev.error.clone().unwrap_or_default();
    assert!(err.contains("invalid peer certificate"), "{ev:?}");
    // The upstream saw the handshake fail and no request.
    let e = errors.recv_timeout(T).unwrap();
    assert!(!e.is_empty());
    assert!(
        heads.try_recv().is_err(),
        "the request reached the upstream"
    );
}

/// The trust hook refuses PEM text without a certificate at start (no silent fallback to
/// the system's CAs).
#[test]
fn upstream_roots_without_a_certificate_are_refused_at_start() {
    for pem in [
        &b""[..],
        b"not pem",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let mut cfg = ProxyConfig::new(Rules::default());
        cfg.upstream_roots = UpstreamRoots::OnlyPem(pem.to_vec());
        match Proxy::start(cfg) {
            Err(ProxyError::Roots(why)) => assert!(!why.is_empty()),
            other => panic!("{pem:?}: {other:?}"),
        }
    }
}

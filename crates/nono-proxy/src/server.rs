//! The proxy server: accept loop, per-connection handling (authenticate, parse, decide,
//! resolve once, connect to the checked address, tunnel or forward), audit events.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{ProxyConfig, ProxyToken, UpstreamRoots};
use crate::credential::CredentialRoute;
use crate::event::{EventKind, ProxyEvent, RejectReason};
use crate::head::{parse_authority, parse_request_head, HeadError, RequestHead, Target};
use crate::host::Host;
use crate::rule::normalize_request_path;
use crate::rules::{Access, DenyReason, Verdict};
use crate::tunnel::{copy_body, copy_scrubbed, copy_streaming, pump, Activity, BodyKind};

/// Audit events kept when nobody reads them; more are counted in `dropped_events`.
const EVENT_QUEUE: usize = 16 * 1024;
/// Stack of a connection thread: the head parser, rustls and the copies run on it.
const CONN_STACK: usize = 256 * 1024;
/// Stack of a tunnel's second direction: splice only.
const PUMP_STACK: usize = 64 * 1024;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// bind(2)/listen(2) failed.
    #[error("cannot listen on {addr}: {source} (is the port in use? pick another with --proxy-port, or 0 for any)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// The accept thread could not be started.
    #[error("cannot start the proxy thread: {0}")]
    Spawn(io::Error),
    /// [`crate::UpstreamRoots::OnlyPem`] holds no usable certificate.
    #[error("upstream CA certificates: {0}")]
    Roots(String),
}

/// Starts proxies.
#[derive(Debug)]
pub struct Proxy;

struct Shared {
    config: ProxyConfig,
    expected_auth: Option<String>,
    events: SyncSender<ProxyEvent>,
    dropped: AtomicU64,
    active: AtomicUsize,
    stopping: AtomicBool,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

/// A running proxy. Dropping it stops accepting (as [`ProxyHandle::shutdown`]).
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    token: Option<ProxyToken>,
    events: Receiver<ProxyEvent>,
    shared: Arc<Shared>,
    listener: Option<TcpListener>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Raise this process's soft `RLIMIT_NOFILE` to its hard limit; returns the new soft limit.
///
/// A tunnel holds 6 descriptors (two sockets, two splice pipes), so the common soft limit of
/// 1024 would cap a proxy at ~170 tunnels. [`Proxy::start`] calls this. The limit is
/// process-wide and inherited by children started afterwards; a spawner that wants the
/// original limit for its child sets it back there (as Go's `os/exec` does).
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    let (Some(cur), hard) = (lim.current, lim.maximum) else {
        return u64::MAX; // unlimited already
    };
    let target = hard.unwrap_or(u64::MAX);
    if cur >= target {
        return cur;
    }
    lim.current = Some(target);
    match setrlimit(Resource::Nofile, lim) {
        Ok(()) => target,
        Err(_) => cur,
    }
}

impl Proxy {
    /// Bind, then serve on background threads until [`ProxyHandle::shutdown`]. Raises the
    /// soft descriptor limit first ([`raise_nofile_limit`]).
    pub fn start(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
        if let UpstreamRoots::OnlyPem(pem) = &config.upstream_roots {
            pem_roots(pem).map_err(ProxyError::Roots)?;
        }
        raise_nofile_limit();
        let listener = TcpListener::bind(config.listen).map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let wake = listener.try_clone().map_err(ProxyError::Spawn)?;
        let (tx, rx) = sync_channel(EVENT_QUEUE);
        let shared = Arc::new(Shared {
            expected_auth: config.token.as_ref().map(ProxyToken::header_value),
            config: config.clone(),
            events: tx,
            dropped: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            tls: OnceLock::new(),
        });
        let s2 = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("nono-proxy-accept".into())
            .spawn(move || accept_loop(listener, s2))
            .map_err(ProxyError::Spawn)?;
        Ok(ProxyHandle {
            addr,
            token: config.token,
            events: rx,
            shared,
            listener: Some(wake),
            accept: Some(accept),
        })
    }
}

impl ProxyHandle {
    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://nono:TOKEN@ADDR` (or `http://ADDR` without a token): the value for
    /// `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`.
    pub fn url(&self) -> String {
        match &self.token {
            Some(t) => format!("http://{}:{}@{}", ProxyToken::USER, t.as_str(), self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// The token clients must present.
    pub fn token(&self) -> Option<&ProxyToken> {
        self.token.as_ref()
    }

    /// Base URL of a credential route: `http://ADDR/NAME`.
    pub fn route_url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// The audit stream: one event per decision or rejected request.
    pub fn events(&self) -> &Receiver<ProxyEvent> {
        &self.events
    }

    /// Events dropped because the queue was full (nobody reading).
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Connections being handled now.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Stop accepting and refuse requests not yet decided. Tunnels already open run until
    /// either side closes or goes idle.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(l) = self.listener.take() {
            // shutdown(2) on a listening socket wakes a blocked accept(2) on Linux; the
            // connect is the portable fallback.
            let _ = rustix::net::shutdown(&l, rustix::net::Shutdown::Read);
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let errno = rustix::io::Errno::from_io_error(&e);
                if errno == Some(rustix::io::Errno::MFILE)
                    || errno == Some(rustix::io::Errno::NFILE)
                {
                    // Out of fds: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let n = shared.active.fetch_add(1, Ordering::SeqCst);
        let guard = ActiveGuard(Arc::clone(&shared));
        if n >= shared.config.limits.max_connections {
            reject_now(&shared, stream, RejectReason::TooManyConnections);
            drop(guard);
            continue;
        }
        let s2 = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("nono-proxy-conn".into())
            .stack_size(CONN_STACK)
            .spawn(move || {
                let _guard = guard;
                handle_connection(stream, &s2);
            });
        // If the thread cannot start, the closure is dropped: the stream closes and the guard
        // gives the slot back.
        drop(spawned);
    }
}

fn reject_now(shared: &Shared, mut stream: TcpStream, why: RejectReason) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 38\r\nConnection: close\r\n\r\nnono: proxy connection limit reached\r\n",
    );
    let _ = stream.shutdown(Shutdown::Both);
    emit(shared, rejected(why, Instant::now()));
}

fn emit(shared: &Shared, ev: ProxyEvent) {
    match shared.events.try_send(ev) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn rejected(why: RejectReason, start: Instant) -> ProxyEvent {
    ProxyEvent {
        time: SystemTime::now() - start.elapsed(),
        kind: EventKind::Rejected(why),
        host: String::new(),
        port: 0,
        addr: None,
        verdict: None,
        bytes_up: 0,
        bytes_down: 0,
        duration: start.elapsed(),
        error: None,
    }
}

/// Write a short response and close.
fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let msg = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(msg.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Drain a little so the close does not turn into a RST that eats the response.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut sink = [0u8; 1024];
    let _ = stream.read(&mut sink);
}

enum HeadRead {
    Head(RequestHead, Vec<u8>),
    Failed(RejectReason, &'static str, String),
    Closed,
}

/// Read one request head within the limits; returns it and the bytes read after it.
fn read_head(stream: &mut TcpStream, shared: &Shared) -> HeadRead {
    let limits = &shared.config.limits;
    let deadline = Instant::now() + limits.header_timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return HeadRead::Failed(
                RejectReason::HeaderTimeout,
                "408 Request Timeout",
                "nono: request head not received in time\n".into(),
            );
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        let room = limits.max_header_bytes.saturating_sub(buf.len()).max(1);
        let want = chunk.len().min(room);
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return HeadRead::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return HeadRead::Closed,
        }
        match parse_request_head(&buf, limits.max_header_bytes, limits.max_headers) {
            Ok(Some((head, n))) => {
                let rest = buf.split_off(n);
                return HeadRead::Head(head, rest);
            }
            Ok(None) => {}
            Err(HeadError::TooLarge(n)) => {
                return HeadRead::Failed(
                    RejectReason::HeaderTooLarge,
                    "431 Request Header Fields Too Large",
                    format!("nono: request head larger than {n} bytes\n"),
                )
            }
            Err(HeadError::TooManyHeaders(n)) => {
                return HeadRead::Failed(
                    RejectReason::TooManyHeaders,
                    "431 Request Header Fields Too Large",
                    format!("nono: more than {n} request headers\n"),
                )
            }
            Err(e) => {
                return HeadRead::Failed(
                    RejectReason::BadRequest,
                    "400 Bad Request",
                    format!("nono: {e}\n"),
                )
            }
        }
    }
}

fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let start = Instant::now();
    let _ = stream.set_nodelay(true);
    let (head, rest) = match read_head(&mut stream, shared) {
        HeadRead::Head(h, r) => (h, r),
        HeadRead::Closed => return,
        HeadRead::Failed(why, status, body) => {
            respond(&mut stream, status, "", &body);
            emit(shared, rejected(why, start));
            return;
        }
    };
    if shared.stopping.load(Ordering::SeqCst) {
        respond(
            &mut stream,
            "503 Service Unavailable",
            "",
            "nono: proxy is stopping\n",
        );
        return;
    }
    if let Target::Origin(path) = &head.target {
        let path = path.clone();
        serve_credential(stream, shared, &head, &path, rest, start);
        return;
    }
    if !authenticated(&head, shared) {
        respond(
            &mut stream,
            "407 Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"nono\"\r\n",
            "nono: this proxy needs the credentials in the proxy URL nono gave the sandbox\n",
        );
        emit(shared, rejected(RejectReason::Unauthenticated, start));
        return;
    }
    match head.target.clone() {
        Target::Authority { host, port } => {
            serve_connect(stream, shared, &head, host, port, rest, start)
        }
        Target::Absolute {
            host,
            port,
            path_and_query,
        } => serve_http(
            stream,
            shared,
            &head,
            host,
            port,
            &path_and_query,
            rest,
            start,
        ),
        Target::Origin(_) => {}
    }
}

fn authenticated(head: &RequestHead, shared: &Shared) -> bool {
    let Some(expected) = &shared.expected_auth else {
        return true;
    };
    let mut values = head.header_values("proxy-authorization");
    let (Some(v), None) = (values.next(), values.next()) else {
        return false;
    };
    let v = v.trim_ascii();
    let (scheme, cred) = match v.iter().position(|b| *b == b' ') {
        Some(i) => (&v[..i], v[i + 1..].trim_ascii()),
        None => return false,
    };
    let exp = expected.as_bytes();
    scheme.eq_ignore_ascii_case(b"basic") && crate::ct_eq(cred, &exp[6..])
}

/// The `Host` header, when present, must name the target (host and, if given, port).
fn host_header_agrees(
    head: &RequestHead,
    host: &Host,
    port: u16,
    default_port: u16,
) -> Result<bool, ()> {
    let value = match head.header("host") {
        Err(_) => return Err(()),
        Ok(None) => return Ok(true),
        Ok(Some(v)) => v,
    };
    let Ok(text) = std::str::from_utf8(value.trim_ascii()) else {
        return Ok(false);
    };
    match parse_authority(text, Some(default_port)) {
        Ok((h, p)) => Ok(&h == host && p == port),
        Err(_) => Ok(false),
    }
}

struct Decided {
    /// The allowed address connected to (after `connect_decided`, the one that answered).
    addr: IpAddr,
    /// Further allowed addresses of the same lookup, tried in order if `addr` fails.
    alternates: Vec<IpAddr>,
    rule: String,
}

/// Connect to the first allowed address that answers — only addresses the rules judged,
/// all from the one lookup.
/// Connect to the address the request was decided for ([`connect_decided`]); when that
/// fails, answer `502` naming the address and record the event. `None`: answered already.
#[allow(clippy::too_many_arguments)]
fn connect_or_502(
    shared: &Shared,
    stream: &mut TcpStream,
    decided: &mut Decided,
    host: &Host,
    port: u16,
    kind: EventKind,
    verdict: &Verdict,
    start: Instant,
) -> Option<TcpStream> {
    match connect_decided(shared, decided, port) {
        Ok(u) => Some(u),
        Err(e) => {
            respond(
                stream,
                "502 Bad Gateway",
                "",
                &format!(
                    "nono: cannot connect to {host}:{port} ({}): {e}\n",
                    decided.addr
                ),
            );
            emit(
                shared,
                event(
                    kind,
                    host,
                    port,
                    Some(decided.addr),
                    verdict.clone(),
                    0,
                    0,
                    start,
                    Some(e.to_string()),
                ),
            );
            None
        }
    }
}

fn connect_decided(shared: &Shared, d: &mut Decided, port: u16) -> io::Result<TcpStream> {
    let mut last = match connect(shared, d.addr, port) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    for addr in std::mem::take(&mut d.alternates) {
        match connect(shared, addr, port) {
            Ok(s) => {
                d.addr = addr;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Decide by name, resolve once, decide by address; allowed addresses in resolver order.
fn decide_and_resolve(
    shared: &Shared,
    host: &Host,
    port: u16,
    access: Access<'_>,
) -> Result<Decided, (Verdict, Option<IpAddr>)> {
    let rules = &shared.config.rules;
    let verdict = rules.decide_name(host, port, access);
    if !verdict.is_allow() {
        return Err((verdict, None));
    }
    let addrs = match host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(n) => match shared.config.resolver.resolve(n, port) {
            Ok(a) => a,
            Err(_) => {
                return Err((
                    Verdict::Deny {
                        reason: DenyReason::Unresolved,
                        rule_hint: None,
                    },
                    None,
                ))
            }
        },
    };
    let mut first_refusal = None;
    let mut allowed: Option<Decided> = None;
    for addr in addrs {
        match rules.decide(host, port, addr, access) {
            Verdict::Allow { rule } => match &mut allowed {
                None => {
                    allowed = Some(Decided {
                        addr,
                        alternates: Vec::new(),
                        rule,
                    })
                }
                Some(d) => d.alternates.push(addr),
            },
            v => {
                if first_refusal.is_none() {
                    first_refusal = Some((v, Some(addr)));
                }
            }
        }
    }
    if let Some(d) = allowed {
        return Ok(d);
    }
    Err(first_refusal.unwrap_or((
        Verdict::Deny {
            reason: DenyReason::Unresolved,
            rule_hint: None,
        },
        None,
    )))
}

fn deny_body(what: &str, host: &Host, port: u16, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Deny {
            reason,
            rule_hint: Some(h),
        } => format!("nono: denied {what} {host}:{port}: {reason}; add --allow-domain {h}\n"),
        Verdict::Deny { reason, .. } => format!("nono: denied {what} {host}:{port}: {reason}\n"),
        Verdict::Allow { .. } => String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn event(
    kind: EventKind,
    host: &Host,
    port: u16,
    addr: Option<IpAddr>,
    verdict: Verdict,
    up: u64,
    down: u64,
    start: Instant,
    error: Option<String>,
) -> ProxyEvent {
    ProxyEvent {
        time: SystemTime::now() - start.elapsed(),
        kind,
        host: host.to_string(),
        port,
        addr,
        verdict: Some(verdict),
        bytes_up: up,
        bytes_down: down,
        duration: start.elapsed(),
        error,
    }
}

fn connect(shared: &Shared, addr: IpAddr, port: u16) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(
        &SocketAddr::new(addr, port),
        shared.config.limits.connect_timeout,
    )?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// 400 for a `Host` header that disagrees with the request's target (`what`), audited.
fn refuse_host_mismatch(
    stream: &mut TcpStream,
    shared: &Shared,
    host: &Host,
    port: u16,
    what: &str,
    start: Instant,
) {
    respond(
        stream,
        "400 Bad Request",
        "",
        &format!("nono: the Host header does not match the {what}\n"),
    );
    let mut ev = rejected(RejectReason::HostMismatch, start);
    ev.host = host.to_string();
    ev.port = port;
    emit(shared, ev);
}

fn serve_connect(
    mut stream: TcpStream,
    shared: &Shared,
    head: &RequestHead,
    host: Host,
    port: u16,
    rest: Vec<u8>,
    start: Instant,
) {
    if !matches!(host_header_agrees(head, &host, port, port), Ok(true)) {
        refuse_host_mismatch(&mut stream, shared, &host, port, "CONNECT target", start);
        return;
    }
    let mut decided = match decide_and_resolve(shared, &host, port, Access::Tunnel) {
        Ok(d) => d,
        Err((verdict, addr)) => {
            respond(
                &mut stream,
                "403 Forbidden",
                "",
                &deny_body("CONNECT to", &host, port, &verdict),
            );
            emit(
                shared,
                event(
                    EventKind::Tunnel,
                    &host,
                    port,
                    addr,
                    verdict,
                    0,
                    0,
                    start,
                    None,
                ),
            );
            return;
        }
    };
    let verdict = Verdict::Allow {
        rule: decided.rule.clone(),
    };
    let Some(mut upstream) = connect_or_502(
        shared,
        &mut stream,
        &mut decided,
        &host,
        port,
        EventKind::Tunnel,
        &verdict,
        start,
    ) else {
        return;
    };
    if stream
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let mut up = 0u64;
    if !rest.is_empty() {
        if upstream.write_all(&rest).is_err() {
            return;
        }
        up += rest.len() as u64;
    }
    let idle = shared.config.limits.idle_timeout;
    let activity = Activity::new();
    // A scoped thread borrows the sockets: no dup'd descriptors (6 fds per tunnel with the
    // two splice pipes).
    let (down, up_more, error) = std::thread::scope(|scope| {
        let back = std::thread::Builder::new()
            .name("nono-proxy-pump".into())
            .stack_size(PUMP_STACK)
            .spawn_scoped(scope, || pump(&upstream, &stream, &activity, idle));
        match back {
            Ok(back) => {
                let r_up = pump(&stream, &upstream, &activity, idle);
                let r_down = back
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("pump panicked")));
                let err = r_up
                    .as_ref()
                    .err()
                    .or(r_down.as_ref().err())
                    .map(ToString::to_string);
                (r_down.unwrap_or(0), r_up.unwrap_or(0), err)
            }
            Err(e) => (0, 0, Some(format!("cannot start tunnel thread: {e}"))),
        }
    });
    let _ = stream.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    emit(
        shared,
        event(
            EventKind::Tunnel,
            &host,
            port,
            Some(decided.addr),
            verdict,
            up + up_more,
            down,
            start,
            error,
        ),
    );
}

/// [`body_kind`], or a 400 naming why the request's framing is refused (audited).
fn body_or_refuse(
    stream: &mut TcpStream,
    shared: &Shared,
    head: &RequestHead,
    start: Instant,
) -> Option<BodyKind> {
    match body_kind(head) {
        Ok(b) => Some(b),
        Err(why) => {
            respond(stream, "400 Bad Request", "", &format!("nono: {why}\n"));
            emit(shared, rejected(RejectReason::BadRequest, start));
            None
        }
    }
}

/// Content-Length / Transfer-Encoding → framing; refuses ambiguous combinations (smuggling).
fn body_kind(head: &RequestHead) -> Result<BodyKind, &'static str> {
    let te: Vec<&[u8]> = head.header_values("transfer-encoding").collect();
    let cl: Vec<&[u8]> = head.header_values("content-length").collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err("both Transfer-Encoding and Content-Length");
        }
        if te.len() != 1 || !te[0].trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err("unsupported Transfer-Encoding (only chunked)");
        }
        return Ok(BodyKind::Chunked);
    }
    match cl.as_slice() {
        [] => Ok(BodyKind::None),
        [v] => {
            let v = v.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err("bad Content-Length");
            }
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad Content-Length")?;
            Ok(if n == 0 {
                BodyKind::None
            } else {
                BodyKind::Length(n)
            })
        }
        _ => Err("more than one Content-Length"),
    }
}

/// Request headers some servers and frameworks obey to replace the request's path
/// (`X-Original-URL`, `X-Rewrite-URL`: IIS, Symfony) or method (`X-HTTP-Method-Override` and
/// friends: Google APIs, many frameworks). Where a path or endpoint rule decided the request,
/// such a header would make the server answer another request than the one the rule allowed.
const REWRITING_HEADERS: &[&str] = &[
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The first header of [`REWRITING_HEADERS`] the request carries.
fn rewriting_header(head: &RequestHead) -> Option<&str> {
    head.headers
        .iter()
        .map(|(n, _)| n.as_str())
        .find(|n| REWRITING_HEADERS.iter().any(|r| n.eq_ignore_ascii_case(r)))
}

/// Headers that never cross the proxy.
fn is_hop_by_hop(name: &str, connection_tokens: &[String]) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
    ];
    let lower = name.to_ascii_lowercase();
    HOP.contains(&lower.as_str()) || connection_tokens.contains(&lower)
}

fn connection_tokens(head: &RequestHead) -> Vec<String> {
    head.header_values("connection")
        .flat_map(|v| v.split(|b| *b == b','))
        .filter_map(|t| std::str::from_utf8(t.trim_ascii()).ok())
        .map(str::to_ascii_lowercase)
        .filter(|t| !t.is_empty())
        .collect()
}

/// The forwarded head: origin-form target, `Host`, end-to-end headers, `Connection: close`.
fn forward_head(
    head: &RequestHead,
    target: &str,
    host_value: &str,
    replace: Option<(&str, &str)>,
) -> Vec<u8> {
    let tokens = connection_tokens(head);
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(
        format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            head.method, target, host_value
        )
        .as_bytes(),
    );
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("host") || is_hop_by_hop(name, &tokens) {
            continue;
        }
        if let Some((rname, _)) = replace {
            if name.eq_ignore_ascii_case(rname) {
                continue;
            }
        }
        // On a credential route the response is scrubbed of the key (`copy_scrubbed`), which
        // needs it uncompressed: the command's Accept-Encoding is replaced by `identity`.
        if replace.is_some()
            && (name.eq_ignore_ascii_case("expect") || name.eq_ignore_ascii_case("accept-encoding"))
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some((rname, rvalue)) = replace {
        out.extend_from_slice(
            format!("{rname}: {rvalue}\r\nAccept-Encoding: identity\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

#[allow(clippy::too_many_arguments)]
fn serve_http(
    mut stream: TcpStream,
    shared: &Shared,
    head: &RequestHead,
    host: Host,
    port: u16,
    path_and_query: &str,
    rest: Vec<u8>,
    start: Instant,
) {
    let path_only = path_and_query
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .to_owned();
    let kind = EventKind::Http {
        method: head.method.clone(),
        path: path_only.clone(),
    };
    if !matches!(host_header_agrees(head, &host, port, 80), Ok(true)) {
        refuse_host_mismatch(&mut stream, shared, &host, port, "request URL", start);
        return;
    }
    // A path the rules cannot judge unambiguously (an odd spelling, or a header that asks the
    // server to use another path or method): 403, audited.
    let refuse_ambiguous = |stream: &mut _| {
        let verdict = Verdict::Deny {
            reason: DenyReason::AmbiguousPath,
            rule_hint: None,
        };
        respond(
            stream,
            "403 Forbidden",
            "",
            &deny_body("request to", &host, port, &verdict),
        );
        emit(
            shared,
            event(kind.clone(), &host, port, None, verdict, 0, 0, start, None),
        );
    };
    let Some(path) = normalize_request_path(path_and_query) else {
        refuse_ambiguous(&mut stream);
        return;
    };
    let rules = &shared.config.rules;
    let path_rules = rules
        .allow
        .iter()
        .chain(&rules.deny)
        .any(|r| r.path.is_some());
    if path_rules && rewriting_header(head).is_some() {
        refuse_ambiguous(&mut stream);
        return;
    }
    let Some(body) = body_or_refuse(&mut stream, shared, head, start) else {
        return;
    };
    let mut decided = match decide_and_resolve(shared, &host, port, Access::Http { path: &path }) {
        Ok(d) => d,
        Err((verdict, addr)) => {
            respond(
                &mut stream,
                "403 Forbidden",
                "",
                &deny_body("request to", &host, port, &verdict),
            );
            emit(
                shared,
                event(kind, &host, port, addr, verdict, 0, 0, start, None),
            );
            return;
        }
    };
    let verdict = Verdict::Allow {
        rule: decided.rule.clone(),
    };
    let Some(upstream) = connect_or_502(
        shared,
        &mut stream,
        &mut decided,
        &host,
        port,
        kind.clone(),
        &verdict,
        start,
    ) else {
        return;
    };
    let host_value = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let idle = shared.config.limits.idle_timeout;
    let _ = stream.set_read_timeout(Some(idle));
    let _ = upstream.set_read_timeout(Some(idle));
    let _ = upstream.set_write_timeout(Some(idle));
    let _ = stream.set_write_timeout(Some(idle));
    let fwd = forward_head(head, path_and_query, &host_value, None);
    let (up, down, error) = std::thread::scope(|scope| {
        let mut up_w = &upstream;
        let mut client_w = &stream;
        let resp = scope.spawn(move || copy_streaming(&mut up_w, &mut client_w));
        let mut client_r = &stream;
        let mut up_w2 = &upstream;
        let sent = up_w2
            .write_all(&fwd)
            .and_then(|()| copy_body(body, &rest, &mut client_r, &mut up_w2));
        let _ = upstream.shutdown(Shutdown::Write);
        let got = resp
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("response copy panicked")));
        let err = sent
            .as_ref()
            .err()
            .or(got.as_ref().err())
            .map(ToString::to_string);
        (sent.unwrap_or(0), got.unwrap_or(0), err)
    });
    let _ = stream.shutdown(Shutdown::Both);
    emit(
        shared,
        event(
            kind,
            &host,
            port,
            Some(decided.addr),
            verdict,
            up,
            down,
            start,
            error,
        ),
    );
}

/// Upstream of a credential route: plain TCP or rustls over it.
enum UpstreamConn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for UpstreamConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            UpstreamConn::Plain(s) => s.read(buf),
            UpstreamConn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for UpstreamConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            UpstreamConn::Plain(s) => s.write(buf),
            UpstreamConn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            UpstreamConn::Plain(s) => s.flush(),
            UpstreamConn::Tls(s) => s.flush(),
        }
    }
}

/// The certificates of PEM text as trust anchors (at least one, all valid).
fn pem_roots(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("bad PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CERTIFICATE block in the PEM text".into());
    }
    Ok(roots)
}

fn tls_config(shared: &Shared) -> Result<Arc<rustls::ClientConfig>, String> {
    shared
        .tls
        .get_or_init(|| {
            let roots = match &shared.config.upstream_roots {
                UpstreamRoots::OnlyPem(pem) => pem_roots(pem)?,
                UpstreamRoots::System => {
                    let mut roots = rustls::RootCertStore::empty();
                    let loaded = rustls_native_certs::load_native_certs();
                    for cert in loaded.certs {
                        let _ = roots.add(cert);
                    }
                    if roots.is_empty() {
                        return Err(
                            "no system CA certificates found (install ca-certificates)".into()
                        );
                    }
                    roots
                }
            };
            // ring rather than aws-lc-rs: no cmake/C toolchain in the build. rustls marks it
            // deprecated for lacking post-quantum key exchange, which these API calls do not need.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| format!("TLS setup failed: {e}"))
        })
        .clone()
}

fn open_upstream(
    shared: &Shared,
    route: &CredentialRoute,
) -> Result<(UpstreamConn, IpAddr), String> {
    let up = &route.upstream;
    let addr = match &up.host {
        Host::Ip(ip) => *ip,
        Host::Name(n) => *shared
            .config
            .resolver
            .resolve(n, up.port)
            .map_err(|e| format!("cannot resolve {n}: {e}"))?
            .first()
            .ok_or_else(|| format!("{n} has no address"))?,
    };
    let idle = shared.config.limits.idle_timeout;
    let mut tcp =
        connect(shared, addr, up.port).map_err(|e| format!("cannot connect to {}: {e}", up.url))?;
    let _ = tcp.set_read_timeout(Some(idle));
    let _ = tcp.set_write_timeout(Some(idle));
    if !up.tls {
        return Ok((UpstreamConn::Plain(tcp), addr));
    }
    let config = tls_config(shared)?;
    let name = match &up.host {
        Host::Name(n) => {
            rustls::pki_types::ServerName::try_from(n.clone()).map_err(|e| e.to_string())?
        }
        Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
    };
    let mut conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| format!("TLS to {}: {e}", up.url))?;
    // Handshake now, before anything is sent: a certificate that does not verify is refused
    // here with its reason, answered as a 502, and the request (with the key) is never written.
    // Bounded like the connect (a silent upstream does not hold the request for the idle time).
    let _ = tcp.set_read_timeout(Some(shared.config.limits.connect_timeout));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            let bad_cert = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
            let hint = if bad_cert {
                " (the upstream's certificate is not valid for it or does not chain to a trusted CA)"
            } else {
                ""
            };
            return Err(format!("TLS handshake with {} failed: {e}{hint}", up.url));
        }
    }
    let _ = tcp.set_read_timeout(Some(idle));
    Ok((
        UpstreamConn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))),
        addr,
    ))
}

fn serve_credential(
    mut stream: TcpStream,
    shared: &Shared,
    head: &RequestHead,
    target: &str,
    rest: Vec<u8>,
    start: Instant,
) {
    // Exactly one leading '/': `//svc/...` names no route.
    let after_slash = target.strip_prefix('/').unwrap_or(target);
    let name_end = after_slash.find(['/', '?']).unwrap_or(after_slash.len());
    let (name, below) = after_slash.split_at(name_end);
    let Some(route) = shared.config.credentials.iter().find(|r| r.name == name) else {
        respond(&mut stream, "404 Not Found", "", "nono: no credential route here; proxy requests need an absolute http:// URL or CONNECT\n");
        emit(shared, rejected(RejectReason::UnknownRoute, start));
        return;
    };
    // What follows /NAME: "" | "/..." | "?...".
    let below = if below.is_empty() || below.starts_with('?') {
        format!("/{below}")
    } else {
        below.to_owned()
    };
    let path_only = below.split(['?', '#']).next().unwrap_or("/").to_owned();
    let kind = EventKind::Credential {
        service: route.name.clone(),
        method: head.method.clone(),
        path: path_only.clone(),
    };
    let host = route.upstream.host.clone();
    let port = route.upstream.port;
    let carries = head
        .header_values(&route.header)
        .any(|v| route.carries_phantom(v));
    if !carries {
        respond(
            &mut stream,
            "401 Unauthorized",
            "",
            &format!(
                "nono: requests to /{} must carry the key nono gave the sandbox in the {} header\n",
                route.name, route.header
            ),
        );
        let mut ev = rejected(RejectReason::Unauthenticated, start);
        ev.host = host.to_string();
        ev.port = port;
        emit(shared, ev);
        return;
    }
    if head.method.eq_ignore_ascii_case("TRACE") || head.method.eq_ignore_ascii_case("TRACK") {
        // TRACE echoes the request — with the real key in it — back to the sandbox.
        respond(
            &mut stream,
            "405 Method Not Allowed",
            "",
            &format!(
                "nono: {} is refused on credential routes (it echoes the injected key)\n",
                head.method
            ),
        );
        let mut ev = rejected(RejectReason::EndpointNotAllowed, start);
        ev.host = host.to_string();
        ev.port = port;
        emit(shared, ev);
        return;
    }
    let Some(path) = normalize_request_path(&below) else {
        respond(
            &mut stream,
            "403 Forbidden",
            "",
            "nono: the path has dot segments or encoded slashes\n",
        );
        emit(shared, rejected(RejectReason::BadRequest, start));
        return;
    };
    if let Some(h) = rewriting_header(head).filter(|_| !route.allow_endpoints.is_empty()) {
        respond(
            &mut stream,
            "403 Forbidden",
            "",
            &format!("nono: the {h} header would make {} answer another call than the one --allow-endpoint allowed\n", route.name),
        );
        let mut ev = rejected(RejectReason::EndpointNotAllowed, start);
        ev.host = host.to_string();
        ev.port = port;
        emit(shared, ev);
        return;
    }
    if !route.allow_endpoints.is_empty()
        && !route
            .allow_endpoints
            .iter()
            .any(|e| e.matches(&head.method, &path))
    {
        respond(&mut stream, "403 Forbidden", "", &format!("nono: {} {} is not an allowed endpoint of credential {}; add --allow-endpoint {}:{}:{}\n", head.method, path, route.name, route.name, head.method, path));
        let mut ev = rejected(RejectReason::EndpointNotAllowed, start);
        ev.host = host.to_string();
        ev.port = port;
        emit(shared, ev);
        return;
    }
    let Some(body) = body_or_refuse(&mut stream, shared, head, start) else {
        return;
    };
    let verdict = Verdict::Allow {
        rule: format!("--credential {}", route.name),
    };
    let (mut upstream, addr) = match open_upstream(shared, route) {
        Ok(u) => u,
        Err(e) => {
            respond(
                &mut stream,
                "502 Bad Gateway",
                "",
                &format!("nono: credential {}: {e}\n", route.name),
            );
            emit(
                shared,
                event(kind, &host, port, None, verdict, 0, 0, start, Some(e)),
            );
            return;
        }
    };
    let idle = shared.config.limits.idle_timeout;
    let _ = stream.set_read_timeout(Some(idle));
    let _ = stream.set_write_timeout(Some(idle));
    let expects_continue = head
        .header_values("expect")
        .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue
        && body != BodyKind::None
        && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
    {
        return;
    }
    let upstream_target = format!("{}{}", route.upstream.base_path, below);
    let real = route.real_header_value();
    let fwd = forward_head(
        head,
        &upstream_target,
        &route.upstream.authority(),
        Some((&route.header, &real)),
    );
    drop(real);
    let sent = upstream
        .write_all(&fwd)
        .and_then(|()| copy_body(body, &rest, &mut stream, &mut upstream))
        .and_then(|n| upstream.flush().map(|()| n));
    let (up, down, error) = match sent {
        Err(e) => (0, 0, Some(e.to_string())),
        Ok(up) => {
            // An upstream that echoes the request (TRACE, a debug endpoint, an error page
            // quoting the header) must not hand the key to the sandbox.
            let got = copy_scrubbed(&mut upstream, &mut stream, route.secret.expose().as_bytes());
            let err = got.as_ref().err().map(ToString::to_string);
            (up, got.unwrap_or(0), err)
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    emit(
        shared,
        event(
            kind,
            &host,
            port,
            Some(addr),
            verdict,
            up,
            down,
            start,
            error,
        ),
    );
}

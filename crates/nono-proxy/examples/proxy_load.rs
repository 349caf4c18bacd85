//! Load measurement for the proxy's I/O model (the numbers in docs/ARCHITECTURE.md):
//!
//! - CONNECT throughput for a 1 GiB transfer, as a ratio to the same transfer over a direct
//!   loopback connection measured in the same run (target ≥ 0.8);
//! - added latency of a new proxied connection (connect + CONNECT + one round trip, minus the
//!   direct connect + round trip), p50/p99 (target p50 ≤ 0.5 ms);
//! - 1000 concurrent tunnels held open, each doing a round trip (target: all complete);
//! - the proxy process's RSS while they are held (target ≤ 64 MiB).
//!
//! The proxy runs in a child process (this binary re-executed with `serve`), like the
//! supervisor, so its RSS is measured alone. Loopback only.
//!
//! `cargo run --release -p nono-proxy --example proxy_load [-- --gib N --rounds N --tunnels N --samples N --json]`
//! (`cargo xtask bench` runs it with `--json`.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nono_proxy::{Limits, Proxy, ProxyConfig, ProxyToken, Rules};

const TOKEN: &str = "loadtesttoken";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn serve() {
    // The two server ports on 127.0.0.1 (a port-less rule would cover 80/443 only).
    let ports: Vec<String> = std::env::args().skip(2).collect();
    let rules = Rules::parse(ports.iter().map(|p| format!("127.0.0.1:{p}")), [""; 0]).unwrap();
    let mut cfg = ProxyConfig::new(rules);
    cfg.token = ProxyToken::new(TOKEN);
    cfg.limits = Limits {
        max_connections: 4096,
        ..Limits::default()
    };
    let p = Proxy::start(cfg).unwrap();
    println!("{}", p.addr());
    std::io::stdout().flush().unwrap();
    // Drain events so the queue never fills (the supervisor does the same).
    thread::spawn(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        std::process::exit(0);
    });
    while p.events().recv().is_ok() {}
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process in seconds (clock ticks at the usual 100 Hz).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // rest starts at field 3 (state, not a number), so utime (14) is index 10 of the numbers.
    (f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)) as f64 / 100.0
}

/// Context switches (voluntary + involuntary) of each thread of a process so far.
fn ctxt_switches(pid: u32) -> HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .map(|t| {
            let n = std::fs::read_to_string(t.path().join("status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            (t.file_name().to_string_lossy().into_owned(), n)
        })
        .collect()
}

/// Samples [`ctxt_switches`] every 50 ms until stopped, keeping each thread's last count (a
/// tunnel's threads may end before the transfer's end is seen).
struct SwitchSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: thread::JoinHandle<HashMap<String, u64>>,
}

impl SwitchSampler {
    fn start(pid: u32) -> SwitchSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = std::sync::Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut seen = HashMap::new();
            loop {
                seen.extend(ctxt_switches(pid));
                if s2.load(std::sync::atomic::Ordering::Relaxed) {
                    return seen;
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        SwitchSampler { stop, thread }
    }

    /// Switches since `before` (threads that started since count from zero).
    fn since(self, before: &HashMap<String, u64>) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let after = self.thread.join().unwrap_or_default();
        after
            .iter()
            .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
            .sum()
    }
}

fn threads(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sink: read until EOF, then write one byte.
fn sink_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"k");
            });
        }
    });
    port
}

/// Echo: small stack threads, one per connection.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn open_tunnel(proxy: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_nodelay(true).unwrap();
    let auth = ProxyToken::new(TOKEN).unwrap().header_value();
    write!(
        s,
        "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nProxy-Authorization: {auth}\r\n\r\n"
    )
    .unwrap();
    // "HTTP/1.1 200 Connection established\r\n\r\n" is 39 bytes.
    let mut resp = [0u8; 39];
    s.read_exact(&mut resp).unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    s
}

fn transfer(mut s: TcpStream, bytes: u64) -> Duration {
    let buf = vec![0x5au8; 1 << 20];
    let t0 = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut k = [0u8; 1];
    s.read_exact(&mut k).unwrap();
    t0.elapsed()
}

fn roundtrip(s: &mut TcpStream) {
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        serve();
        return;
    }
    // The client and echo sides hold 2 descriptors per tunnel too.
    nono_proxy::raise_nofile_limit();
    let gib = arg("--gib", 1);
    let tunnels = arg("--tunnels", 1000) as usize;
    let samples = arg("--samples", 500) as usize;
    let sink = sink_server();
    let echo = echo_server();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["serve", &sink.to_string(), &echo.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proxy = line.trim().to_owned();
    let idle_rss = rss_kib(pid);

    let rounds = arg("--rounds", 3);
    // Throughput: best of `rounds` each, interleaved.
    let bytes = gib << 30;
    let (mut direct, mut proxied) = (Duration::MAX, Duration::MAX);
    let (mut proxy_cpu, mut self_cpu_direct, mut self_cpu_proxied) = (0.0, 0.0, 0.0);
    let pid_s = pid.to_string();
    let mut proxy_switches = 0u64;
    for _ in 0..rounds {
        // Like for like: the same client and sink code, buffers and socket options on both
        // paths (the tunnel's client socket has TCP_NODELAY, so the direct one has it too).
        let d = TcpStream::connect(("127.0.0.1", sink)).unwrap();
        d.set_nodelay(true).unwrap();
        let c0 = cpu_secs("self");
        direct = direct.min(transfer(d, bytes));
        self_cpu_direct += cpu_secs("self") - c0;
        let tunnel = open_tunnel(&proxy, sink);
        let (c0, p0, s0) = (cpu_secs("self"), cpu_secs(&pid_s), ctxt_switches(pid));
        let sampler = SwitchSampler::start(pid);
        proxied = proxied.min(transfer(tunnel, bytes));
        self_cpu_proxied += cpu_secs("self") - c0;
        proxy_cpu += cpu_secs(&pid_s) - p0;
        proxy_switches += sampler.since(&s0);
    }
    let gbps = |d: Duration| bytes as f64 * 8.0 / d.as_secs_f64() / 1e9;
    let ratio = direct.as_secs_f64() / proxied.as_secs_f64();
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0);
    let (cpu_direct, cpu_proxied, cpu_proxy) = (
        self_cpu_direct / rounds as f64 / gib as f64,
        self_cpu_proxied / rounds as f64 / gib as f64,
        proxy_cpu / rounds as f64 / gib as f64,
    );
    // Wall-clock ratios swing with the machine's other load; CPU per byte does not. The
    // direct path's CPU over the proxied path's (endpoints + proxy) is the ratio an otherwise
    // idle machine approaches when every path is CPU-bound on all its cores.
    let cpu_ratio = cpu_direct / (cpu_proxied + cpu_proxy);
    let switches_per_gib = proxy_switches / rounds / gib;

    // Latency of a new connection + first round trip, interleaved.
    let mut added = Vec::with_capacity(samples);
    let (mut ds, mut ps) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let t0 = Instant::now();
        let mut d = TcpStream::connect(("127.0.0.1", echo)).unwrap();
        d.set_nodelay(true).unwrap();
        roundtrip(&mut d);
        let direct = t0.elapsed().as_secs_f64() * 1e3;
        let t0 = Instant::now();
        let mut p = open_tunnel(&proxy, echo);
        roundtrip(&mut p);
        let prox = t0.elapsed().as_secs_f64() * 1e3;
        ds.push(direct);
        ps.push(prox);
        added.push(prox - direct);
    }
    let (direct_p50, proxied_p50) = (pct(&mut ds, 0.5), pct(&mut ps, 0.5));
    let (added_p50, added_p99) = (pct(&mut added, 0.5), pct(&mut added, 0.99));

    // Concurrent tunnels held open.
    thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let mut held = Vec::with_capacity(tunnels);
    for _ in 0..tunnels {
        held.push(open_tunnel(&proxy, echo));
    }
    let mut ok = 0;
    for s in &mut held {
        roundtrip(s);
        ok += 1;
    }
    thread::sleep(Duration::from_millis(200));
    let held_secs = t0.elapsed().as_secs_f64();
    let rss = rss_kib(pid) as f64 / 1024.0;
    let nthreads = threads(pid);
    let idle_rss = idle_rss as f64 / 1024.0;
    if std::env::args().any(|a| a == "--json") {
        println!(
            "{{\"gib\":{gib},\"direct_gbit_s\":{:.3},\"proxied_gbit_s\":{:.3},\"throughput_ratio\":{ratio:.3},\
             \"cpu_s_per_gib_direct\":{cpu_direct:.3},\"cpu_s_per_gib_proxied_endpoints\":{cpu_proxied:.3},\
             \"cpu_s_per_gib_proxy\":{cpu_proxy:.3},\"cpu_ratio\":{cpu_ratio:.3},\"proxy_ctxt_switches_per_gib\":{switches_per_gib},\"cpus\":{cpus},\"load\":{load},\
             \"connect_direct_p50_ms\":{direct_p50:.3},\"connect_proxied_p50_ms\":{proxied_p50:.3},\
             \"added_latency_p50_ms\":{added_p50:.3},\"added_latency_p99_ms\":{added_p99:.3},\
             \"tunnels\":{tunnels},\"tunnels_completed\":{ok},\"tunnels_secs\":{held_secs:.3},\
             \"proxy_rss_mib\":{rss:.1},\"proxy_threads\":{nthreads},\"proxy_idle_rss_mib\":{idle_rss:.1}}}",
            gbps(direct),
            gbps(proxied)
        );
    } else {
        println!(
            "CONNECT {gib} GiB: direct {:.2} Gbit/s, proxied {:.2} Gbit/s, ratio {ratio:.3} (target >= 0.8)",
            gbps(direct),
            gbps(proxied)
        );
        println!(
            "  CPU s/GiB: endpoints {cpu_direct:.2} direct, {cpu_proxied:.2} proxied; proxy {cpu_proxy:.2} \
             (CPU ratio direct/proxied {cpu_ratio:.3}; proxy {switches_per_gib} context switches/GiB; {cpus} CPUs, load {load})"
        );
        println!(
            "new connection + round trip: direct p50 {direct_p50:.3} ms, proxied p50 {proxied_p50:.3} ms; \
             added p50 {added_p50:.3} ms, p99 {added_p99:.3} ms (target p50 <= 0.5)"
        );
        println!(
            "{tunnels} concurrent tunnels: {ok} completed a round trip in {held_secs:.2} s; proxy RSS \
             {rss:.1} MiB with them ({nthreads} threads), {idle_rss:.1} MiB idle (target <= 64 MiB)"
        );
    }
    drop(held);
    drop(child.stdin.take());
    let _ = child.wait();
}

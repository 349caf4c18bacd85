//! Egress by domain: `--allow-domain` and friends under `run` (the proxy, its variables, the
//! report), `--dry-run`, `why --host`, the usage errors of `wrap`, profiles, and credential
//! injection against a loopback upstream. Names are mapped to 127.0.0.0/8 by the test
//! (`NONO_TEST_PROXY_RESOLVE`, read by nono itself); every server is the test's own.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::harness::{nono, nono_cmd, output, sandbox_available, Scratch};

const RESOLVE: &str = "NONO_TEST_PROXY_RESOLVE";

fn curl() -> Option<&'static str> {
    ["/usr/bin/curl", "/bin/curl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// An HTTP server on `addr` answering `hello`; every request head it received is kept.
fn server(addr: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = vec![0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            h.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    (port, heads)
}

/// A TLS server on `addr` for `name`, with a certificate from a fresh test CA, answering
/// `hello`; returns its port, the request heads it received after a completed handshake,
/// and the CA certificate (PEM) to trust.
fn tls_server(addr: &str, name: &str) -> (u16, Arc<Mutex<Vec<String>>>, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "nono e2e test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    #[allow(deprecated)] // ring, as nono's proxy
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap(),
    );
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut tcp) = c else { continue };
            let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut ok = true;
            while ok && conn.is_handshaking() {
                ok = conn.complete_io(&mut tcp).is_ok();
            }
            if !ok {
                continue;
            }
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && tls.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            h.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let _ = tls.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, heads, ca.pem())
}

#[test]
fn run_reaches_allowed_domains_through_the_proxy_and_reports_the_rest() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("egress-run");
    let (port, heads) = server("127.0.0.5");
    let script = format!(
        "env | grep -E '^(HTTP_PROXY|HTTPS_PROXY|ALL_PROXY|http_proxy|https_proxy|all_proxy|NO_PROXY|no_proxy|NODE_USE_ENV_PROXY|{RESOLVE})=' | sed 's/=.*//' | sort | tr '\\n' ' '; echo; \
         echo \"$HTTP_PROXY\" | grep -q '^http://nono:[0-9a-f]*@127.0.0.1:' && echo token-in-url; \
         {curl} -sS -m 5 http://pkg.test:{port}/a; echo; \
         {curl} -sS -m 5 -o /dev/null -w 'other=%{{http_code}}\\n' http://other.test:{port}/; \
         {curl} -sS -m 5 -o /dev/null -w 'denied=%{{http_code}}\\n' http://bad.pkg.test:{port}/"
    );
    let out = output(
        nono_cmd(&s.path)
            .env(
                RESOLVE,
                "pkg.test=127.0.0.5;other.test=127.0.0.5;bad.pkg.test=127.0.0.5",
            )
            .args(["run", "--audit-log", &s.s("audit.jsonl")])
            .args(["--allow-domain", &format!("pkg.test:{port}")])
            .args(["--allow-domain", &format!("*.pkg.test:{port}")])
            .args(["--deny-domain", "bad.pkg.test"])
            .args(["--allow-domain", "127.0.0.5"])
            .args(["--", "sh", "-c", &script]),
    );
    out.expect_code(0)
        .stdout_has("token-in-url")
        .stdout_has("hello")
        .stdout_has("other=403")
        .stdout_has("denied=403")
        .stderr_has(&format!(
            "nono: denied connect to other.test:{port} → add --allow-domain other.test:{port}"
        ))
        .stderr_has(&format!(
            "nono: denied connect to bad.pkg.test:{port}: refused by --deny-domain bad.pkg.test"
        ));
    let names: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "NODE_USE_ENV_PROXY",
    ] {
        assert!(names.contains(&v), "{v} not set for the command\n{out}");
    }
    assert!(
        !names.contains(&RESOLVE),
        "the test mapping reached the command\n{out}"
    );
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}\n{out}");
    assert!(heads[0].starts_with("GET /a HTTP/1.1"), "{heads:?}");
    assert!(!heads[0].contains("Proxy-Authorization"), "{heads:?}");
    // Every decision is an audit record: host, port, address, decision, rule, bytes.
    let audit = std::fs::read_to_string(s.join("audit.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["egress"].clone())
        .filter(|v| !v.is_null())
        .collect();
    let allowed = records
        .iter()
        .find(|r| r["host"] == "pkg.test")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(allowed["decision"], "allow", "{audit}");
    assert_eq!(allowed["rule"], format!("pkg.test:{port}"), "{audit}");
    assert_eq!(allowed["address"], "127.0.0.5", "{audit}");
    assert!(allowed["bytes_down"].as_u64().unwrap() > 0, "{audit}");
    let denied = records
        .iter()
        .find(|r| r["host"] == "other.test")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(denied["decision"], "deny", "{audit}");
}

/// `nono proxy`: the same proxy alone in the foreground; it prints the variables a client
/// needs (token included) and refuses requests without the token.
#[test]
fn proxy_subcommand_serves_in_the_foreground() {
    use std::io::BufRead as _;
    let s = Scratch::new("egress-proxy-cmd");
    let (port, heads) = server("127.0.0.8");
    let mut child = nono_cmd(&s.path)
        .env(RESOLVE, "fg.test=127.0.0.8")
        .args(["proxy", "--allow-domain", &format!("fg.test:{port}")])
        .args(["--allow-domain", "127.0.0.8"])
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("nono proxy printed nothing").unwrap();
        if let Some(v) = line.strip_prefix("HTTP_PROXY=") {
            break v.to_owned();
        }
    };
    let rest = url.strip_prefix("http://nono:").expect(&url);
    let (token, addr) = rest.split_once('@').unwrap();
    let ask = |auth: Option<&str>| {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let auth = auth.map_or_else(String::new, |a| {
            format!("Proxy-Authorization: Basic {a}\r\n")
        });
        write!(
            c,
            "GET http://fg.test:{port}/x HTTP/1.1\r\nHost: fg.test:{port}\r\n{auth}\r\n"
        )
        .unwrap();
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        got
    };
    let without = ask(None);
    let with = ask(Some(&base64(&format!("nono:{token}"))));
    let _ = child.kill();
    let _ = child.wait();
    assert!(without.starts_with("HTTP/1.1 407"), "{without}");
    assert!(
        with.starts_with("HTTP/1.1 200") && with.ends_with("hello"),
        "{with}"
    );
    assert_eq!(heads.lock().unwrap().len(), 1);
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn dry_run_shows_the_rules_the_proxy_and_the_confinement() {
    let s = Scratch::new("egress-dry");
    let out = nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--allow-domain",
            "pypi.org",
            "--deny-domain",
            "*.evil.test",
            "--network-profile",
            "github",
            "--proxy-port",
            "40123",
            "--allow-connect-port",
            "5432",
            "--",
            "true",
        ],
    );
    out.expect_code(0)
        .stdout_has("confined to nono's egress proxy on 127.0.0.1:40123")
        .stdout_has("and to ports 5432 on loopback")
        .stdout_has("allow  pypi.org")
        .stdout_has("--allow-domain")
        .stdout_has("network profile github")
        .stdout_has("deny   *.evil.test")
        .stdout_has("HTTP_PROXY, HTTPS_PROXY, ALL_PROXY");
    let json = nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--json",
            "--allow-domain",
            "pypi.org",
            "--",
            "true",
        ],
    );
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["egress"]["allow"][0]["rule"], "pypi.org", "{json}");
    assert_eq!(v["network"]["mode"], "proxy", "{json}");
    // Port exceptions without domain rules: loopback only under run, any host under wrap.
    nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "--allow-connect-port",
            "5432",
            "--",
            "true",
        ],
    )
    .expect_code(0)
    .stdout_has("(loopback only: the supervisor checks the address)");
}

#[test]
fn https_path_rules_and_bad_rules_are_refused_at_start() {
    let s = Scratch::new("egress-bad");
    nono(
        &s.path,
        [
            "run",
            "--allow-domain",
            "https://api.example.com/v1/**",
            "--",
            "true",
        ],
    )
    .expect_code(125)
    .stderr_has("TLS interception");
    nono(
        &s.path,
        ["run", "--allow-domain", "exa mple.com", "--", "true"],
    )
    .expect_code(125)
    .stderr_has("--allow-domain exa mple.com");
    nono(&s.path, ["run", "--network-profile", "nope", "--", "true"])
        .expect_code(125)
        .stderr_has("developer");
    nono(&s.path, ["run", "--credential", "nope", "--", "true"])
        .expect_code(125)
        .stderr_has("openai");
}

#[test]
fn wrap_refuses_domain_rules_and_unchecked_port_exceptions() {
    let s = Scratch::new("egress-wrap");
    for flags in [
        &["--allow-domain", "x.test"][..],
        &["--network-profile", "minimal"][..],
        &["--credential", "openai"][..],
        &["--proxy-port", "4000"][..],
    ] {
        let out = nono(&s.path, ["wrap"].iter().chain(flags).chain(&["--", "true"]));
        out.expect_code(2).stderr_has("use nono run");
    }
    let out = nono(
        &s.path,
        [
            "wrap",
            "--block-net",
            "--allow-connect-port",
            "443",
            "--",
            "true",
        ],
    );
    out.expect_code(125)
        .stderr_has("ANY host")
        .stderr_has("--accept-wrap-gaps");
    nono(
        &s.path,
        [
            "wrap",
            "--allow-connect-port",
            "443",
            "--accept-wrap-gaps",
            "--",
            "true",
        ],
    )
    .expect_code(0)
    .stderr_has("ANY host");
}

#[test]
fn why_answers_for_domain_rules() {
    let s = Scratch::new("egress-why");
    let out = nono(
        &s.path,
        [
            "why",
            "--allow-domain",
            "*.example.com",
            "--host",
            "api.example.com",
        ],
    );
    out.expect_code(0)
        .stdout_has("allowed")
        .stdout_has("--allow-domain *.example.com");
    let out = nono(
        &s.path,
        [
            "why",
            "--allow-domain",
            "*.example.com",
            "--host",
            "example.com",
            "--port",
            "443",
            "--json",
        ],
    );
    out.expect_code(1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "denied", "{out}");
    assert_eq!(v["hint"], "example.com", "{out}");
    nono(
        &s.path,
        [
            "why",
            "--allow-domain",
            "x.test",
            "--deny-domain",
            "x.test",
            "--host",
            "x.test",
        ],
    )
    .expect_code(1)
    .stdout_has("--deny-domain x.test");
    // Without domain rules, a port exception reaches loopback only.
    nono(
        &s.path,
        [
            "why",
            "--allow-connect-port",
            "5432",
            "--host",
            "10.1.2.3",
            "--port",
            "5432",
        ],
    )
    .expect_code(1)
    .stdout_has("loopback");
}

#[test]
fn profiles_list_network_profiles_and_carry_domain_keys() {
    let s = Scratch::new("egress-profile");
    nono(&s.path, ["profile", "list"])
        .expect_code(0)
        .stdout_has("developer")
        .stdout_has("llm-apis")
        .stdout_has("package-registries");
    nono(&s.path, ["profile", "show", "github"])
        .expect_code(0)
        .stdout_has("github.com");
    let p = s.write(
        "p.json",
        r#"{"name": "p", "extends": "default",
            "network": {"allow_domain": ["pypi.org"], "deny_domain": ["evil.test"],
                        "network_profile": ["docs"]}}"#,
    );
    let ps = p.display().to_string();
    nono(&s.path, ["profile", "validate", &ps]).expect_code(0);
    nono(&s.path, ["run", "--dry-run", "-p", &ps, "--", "true"])
        .expect_code(0)
        .stdout_has("allow  pypi.org")
        .stdout_has("network profile docs")
        .stdout_has("deny   evil.test");
    nono(&s.path, ["wrap", "-p", &ps, "--", "true"])
        .expect_code(2)
        .stderr_has("nono run");
    let bad = s.write(
        "bad.json",
        r#"{"name": "bad", "network": {"network_profile": ["nope"]}}"#,
    );
    nono(&s.path, ["profile", "validate", &bad.display().to_string()])
        .expect_code(1)
        .stderr_has("nope");
}

/// The key stays in nono: the command gets the service's base URL and a phantom key; the
/// upstream (the test's loopback server) receives the real key in the service's header.
#[test]
fn credential_injection_keeps_the_key_out_of_the_sandbox() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("egress-cred");
    let (port, heads) = server("127.0.0.6");
    let secret = format!("sk-real-{}", std::process::id());
    let p = s.write(
        "p.json",
        &format!(
            r#"{{"name": "p", "extends": "default", "network": {{"credentials": {{"example": {{
                "upstream": "http://127.0.0.6:{port}/base", "header": "Authorization",
                "format": "Bearer {{}}", "source": {{"env": "E2E_EXAMPLE_SECRET"}},
                "base_url_env": "EXAMPLE_BASE_URL", "key_env": "EXAMPLE_KEY"}}}}}}}}"#
        ),
    );
    let script = format!(
        "env | grep -c {secret}; echo base=$EXAMPLE_BASE_URL; \
         {curl} -sS -m 5 -H \"Authorization: Bearer $EXAMPLE_KEY\" \"$EXAMPLE_BASE_URL/v1/models\"; echo; \
         {curl} -sS -m 5 -o /dev/null -w 'post=%{{http_code}}\\n' -X POST -H \"Authorization: Bearer $EXAMPLE_KEY\" \"$EXAMPLE_BASE_URL/v1/other\""
    );
    let out = output(
        nono_cmd(&s.path)
            .env("E2E_EXAMPLE_SECRET", &secret)
            .args(["run", "-p", &p.display().to_string()])
            .args(["--credential", "example"])
            .args(["--allow-endpoint", "example:GET:/v1/**"])
            .args(["--", "sh", "-c", &script]),
    );
    out.expect_code(0)
        .stdout_has("0\n")
        .stdout_has("base=http://127.0.0.1:")
        .stdout_has("hello")
        .stdout_has("post=403")
        .stderr_has("outside its --allow-endpoint rules");
    assert!(!out.stdout.contains(&secret), "{out}");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}\n{out}");
    assert!(heads[0].starts_with("GET /base/v1/models"), "{heads:?}");
    assert!(
        heads[0].contains(&format!("Bearer {secret}")),
        "the upstream did not get the real key: {heads:?}"
    );
}

/// `--credential` to a real TLS upstream (the test's loopback server, certificate from a test
/// CA trusted through `NONO_TEST_PROXY_CA`): the upstream gets the real key over verified
/// TLS, the command only ever sees the phantom and neither test hook; without the CA the
/// upstream's certificate is refused with the reason and no request reaches it.
#[test]
fn credential_injection_over_tls_trusts_the_test_ca_only_when_told() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("egress-cred-tls");
    let (port, heads, ca_pem) = tls_server("127.0.0.7", "api.example.test");
    let ca = s.write("ca.pem", &ca_pem);
    let secret = format!("sk-tls-{}", std::process::id());
    let p = s.write(
        "p.json",
        &format!(
            r#"{{"name": "p", "extends": "default", "network": {{"credentials": {{"example": {{
                "upstream": "https://api.example.test:{port}/base", "header": "Authorization",
                "format": "Bearer {{}}", "source": {{"env": "E2E_TLS_SECRET"}},
                "base_url_env": "EXAMPLE_BASE_URL", "key_env": "EXAMPLE_KEY"}}}}}}}}"#
        ),
    );
    let script = format!(
        "echo leaks=$(env | grep -c -e {secret} -e NONO_TEST_PROXY); echo key=$EXAMPLE_KEY; \
         {curl} -sS -m 10 -w '\\ncode=%{{http_code}}\\n' -H \"Authorization: Bearer $EXAMPLE_KEY\" \"$EXAMPLE_BASE_URL/v1/models\""
    );
    let run = |with_ca: bool| {
        let mut cmd = nono_cmd(&s.path);
        cmd.env("E2E_TLS_SECRET", &secret)
            .env(RESOLVE, "api.example.test=127.0.0.7");
        if with_ca {
            cmd.env("NONO_TEST_PROXY_CA", &ca);
        } else {
            cmd.env_remove("NONO_TEST_PROXY_CA");
        }
        output(
            cmd.args(["run", "-p", &p.display().to_string()])
                .args(["--credential", "example"])
                .args(["--", "sh", "-c", &script]),
        )
    };

    let out = run(true);
    out.expect_code(0)
        .stdout_has("leaks=0\n")
        .stdout_has("key=nono-phantom-")
        .stdout_has("hello")
        .stdout_has("code=200");
    assert!(!out.stdout.contains(&secret), "{out}");
    {
        let heads = heads.lock().unwrap();
        assert_eq!(heads.len(), 1, "{heads:?}\n{out}");
        assert!(heads[0].starts_with("GET /base/v1/models"), "{heads:?}");
        assert!(
            heads[0].contains(&format!("Authorization: Bearer {secret}")),
            "the upstream did not get the real key: {heads:?}"
        );
        assert!(!heads[0].contains("nono-phantom-"), "{heads:?}");
    }

    // The same run without the hook: the system's CAs do not know the test CA.
    let out = run(false);
    out.expect_code(0)
        .stdout_has("code=502")
        .stdout_has("nono: credential example:");
    assert!(
        out.stdout.contains("invalid peer certificate")
            || out.stdout.contains("no system CA certificates"),
        "{out}"
    );
    assert!(!out.stdout.contains(&secret), "{out}");
    assert_eq!(
        heads.lock().unwrap().len(),
        1,
        "a request reached the upstream"
    );

    // A hook naming a file without a certificate is an error at start, not a fallback.
    let bad = s.write("bad.pem", "not a certificate\n");
    let out = output(
        nono_cmd(&s.path)
            .env("E2E_TLS_SECRET", &secret)
            .env("NONO_TEST_PROXY_CA", &bad)
            .args(["run", "-p", &p.display().to_string()])
            .args(["--credential", "example", "--", "true"]),
    );
    out.expect_code(125).stderr_has("NONO_TEST_PROXY_CA");
}

/// `learn` with domain rules as an upper bound writes the destinations the command used as
/// `network.allow_domain` (the address too when a name resolved into a special range).
#[test]
fn learn_records_the_domains_used() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("egress-learn");
    let (port, _heads) = server("127.0.0.7");
    let out_file = s.join("learned.json");
    let out = output(
        nono_cmd(&s.path)
            .env(RESOLVE, "used.test=127.0.0.7;unused.test=127.0.0.7")
            .args(["learn", "-o", &out_file.display().to_string()])
            .args(["--allow-domain", &format!("used.test:{port}")])
            .args(["--allow-domain", &format!("unused.test:{port}")])
            .args(["--allow-domain", "127.0.0.0/8"])
            .args([
                "--",
                "sh",
                "-c",
                &format!("{curl} -sS -m 5 http://used.test:{port}/"),
            ]),
    );
    out.expect_code(0).stdout_has("hello");
    let text = std::fs::read_to_string(&out_file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let domains: Vec<&str> = v["network"]["allow_domain"]
        .as_array()
        .unwrap_or_else(|| panic!("no network.allow_domain in {text}\n{out}"))
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        domains,
        ["127.0.0.7".to_owned(), format!("used.test:{port}")],
        "{text}"
    );
    nono(
        &s.path,
        [
            "run",
            "--dry-run",
            "-p",
            &out_file.display().to_string(),
            "--",
            "true",
        ],
    )
    .expect_code(0)
    .stdout_has(&format!("allow  used.test:{port}"));
}

//! Escapes found by the third adversarial (red-team) pass, over the egress proxy of issue 12
//! (domain rules, path rules, credential routes), kept as regression tests: each failed on the
//! code it was written against and passes since the fix (see docs/THREAT_MODEL.md, "Third
//! red-team pass: egress (issue 12)"). Every server is the test's own, on a loopback address
//! the test maps names to (`NONO_TEST_PROXY_RESOLVE`). Names start with `redteam3_`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::harness::{nono_cmd, output, sandbox_available, Run, Scratch};

fn curl() -> Option<&'static str> {
    ["/usr/bin/curl", "/bin/curl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// An HTTP server on `addr` that records every request head and answers with the head it
/// received as the body (an "echo" endpoint, like httpbin's `/anything` or a TRACE).
fn echo_server(addr: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let h = h.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(3)));
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                h.lock().unwrap().push(head.clone());
                if head.starts_with("GET /chunked") {
                    // Chunked, cut in the middle of the key (as a server's write buffer may).
                    let cut = head.find("Bearer ").map_or(head.len() / 2, |i| i + 12);
                    let (a, b) = head.split_at(cut);
                    let _ = c.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                            a.len(),
                            b.len()
                        )
                        .as_bytes(),
                    );
                    return;
                }
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                        head.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    (port, heads)
}

fn first_lines(heads: &Mutex<Vec<String>>) -> Vec<String> {
    heads
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.lines().next().unwrap_or("").to_owned())
        .collect()
}

/// RED TEAM 3 finding 1: path rules of plain-HTTP domain rules were matched on the path as
/// written, while the server resolves an equivalent spelling to the same resource. With
/// `--allow-domain svc.test --deny-domain http://svc.test/admin/**` the deny rule refused
/// `/admin/x` but let through (and forwarded verbatim):
/// - `/%61dmin/x` — a percent-encoded unreserved character, which RFC 3986 says is the same
///   path: every server decodes it (Python, Go, nginx, Node);
/// - `/ADMIN/x` (IIS and case-insensitive file systems), `//admin/x` (nginx `merge_slashes`),
///   `/admin;p=1/x` (Tomcat/Spring path parameters).
///
/// And an allow path rule (`--allow-domain http://api.test/api/**`) allowed
/// `/api/..;/admin/x`, which Tomcat-style servers resolve to `/admin/x` (`..;` is `..` with
/// an empty path parameter; only the bare `..` was refused).
///
/// Fix: `normalize_request_path` decodes escaped unreserved characters before any rule sees
/// the path and refuses dot segments that carry parameters (`..;`, `.;x`), overlong `%c0`/
/// `%c1` and `%u` escapes; deny rules match loosely (`PathPattern::matches_loose`: any case,
/// empty segments and path parameters ignored) — an allow rule still matches strictly.
#[test]
fn redteam3_path_rules_hold_against_equivalent_spellings() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("rt3-paths");
    let (port, heads) = echo_server("127.0.0.9");
    let code = |name: &str, url: String| {
        format!("{curl} -sS -m 5 --path-as-is -o /dev/null -w '{name}=%{{http_code}}\\n' '{url}';")
    };
    let svc = |p: &str| format!("http://svc.test:{port}{p}");
    let api = |p: &str| format!("http://api.test:{port}{p}");
    let attacks = [
        ("plain", svc("/admin/x")),
        ("encoded", svc("/%61dmin/x")),
        ("upper", svc("/ADMIN/x")),
        ("slashes", svc("//admin/x")),
        ("params", svc("/admin;p=1/x")),
        ("dotparam", api("/api/..;/admin/x")),
    ];
    let mut script: String = attacks.iter().map(|(n, u)| code(n, u.clone())).collect();
    // Controls: what the rules allow is served, in the same run.
    script.push_str(&code("public", svc("/public/x")));
    script.push_str(&code("apiok", api("/api/%7Euser")));
    let run: Run = output(
        nono_cmd(&s.path)
            .env(
                "NONO_TEST_PROXY_RESOLVE",
                "svc.test=127.0.0.9;api.test=127.0.0.9",
            )
            .args(["run", "--allow-domain", &format!("svc.test:{port}")])
            .args(["--allow-domain", &format!("http://api.test:{port}/api/**")])
            .args(["--allow-domain", "127.0.0.9"])
            .args(["--deny-domain", &format!("http://svc.test:{port}/admin/**")])
            .args(["--", "sh", "-c", &script]),
    );
    assert!(run.stdout.contains("public=200\n"), "{run}");
    assert!(run.stdout.contains("apiok=200\n"), "{run}");
    let served = first_lines(&heads);
    for (name, _) in &attacks {
        assert!(
            run.stdout.contains(&format!("{name}=403\n")),
            "{name} was not refused\nserver saw: {served:?}\n{run}"
        );
    }
    // The server saw the two controls and nothing under /admin, however spelled.
    assert_eq!(served.len(), 2, "{served:?}\n{run}");
    assert!(
        served
            .iter()
            .all(|l| !l.to_ascii_lowercase().contains("dmin")),
        "{served:?}"
    );
}

/// RED TEAM 3 finding 2: a credential route sent the real key upstream and copied the
/// response back verbatim. An upstream that echoes the request — `TRACE` (which the proxy
/// forwarded), an echo/debug endpoint (httpbin's `/anything`, `/headers`), an error page
/// quoting the header — handed the **real key** to the sandboxed command, which only ever
/// should see the phantom. (Without `--allow-endpoint` every method and path is forwarded.)
///
/// Fix: `TRACE`/`TRACK` are refused on credential routes (405); the upstream is asked for
/// `Accept-Encoding: identity` (a gzip'd echo would hide the key from any scrubber); the
/// response is copied through `copy_scrubbed`, which replaces every occurrence of the secret
/// — also split across reads, and across two chunks of a chunked body (decoded, scrubbed and
/// chunked again) — by as many `*`.
#[test]
fn redteam3_credential_key_echoed_by_the_upstream_stays_out() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("rt3-echo");
    let (port, heads) = echo_server("127.0.0.10");
    let secret = format!("sk-rt3-real-{}", std::process::id());
    let p = s.write(
        "p.json",
        &format!(
            r#"{{"name": "p", "extends": "default", "network": {{"credentials": {{"echo": {{
                "upstream": "http://127.0.0.10:{port}", "header": "Authorization",
                "format": "Bearer {{}}", "source": {{"env": "RT3_ECHO_SECRET"}},
                "base_url_env": "ECHO_BASE_URL", "key_env": "ECHO_KEY"}}}}}}}}"#
        ),
    );
    let script = format!(
        "{curl} -sS -m 5 -H \"Authorization: Bearer $ECHO_KEY\" \"$ECHO_BASE_URL/anything\"; echo; \
         {curl} -sS -m 5 -H \"Authorization: Bearer $ECHO_KEY\" \"$ECHO_BASE_URL/chunked\"; echo; \
         {curl} -sS -m 5 --compressed -o /dev/null -w 'gz=%{{http_code}}\\n' -H \"Authorization: Bearer $ECHO_KEY\" \"$ECHO_BASE_URL/gz\"; \
         {curl} -sS -m 5 -X TRACE -w 'trace=%{{http_code}}\\n' -H \"Authorization: Bearer $ECHO_KEY\" \"$ECHO_BASE_URL/\"; echo"
    );
    let run = output(
        nono_cmd(&s.path)
            .env("RT3_ECHO_SECRET", &secret)
            .args(["run", "-p", &p.display().to_string()])
            .args(["--credential", "echo"])
            .args(["--", "sh", "-c", &script]),
    );
    let seen = heads.lock().unwrap().clone();
    // Control: the upstream got the real key and echoed a response the command read.
    assert!(
        seen.iter().any(|h| h.contains(&format!("Bearer {secret}"))),
        "the upstream never got the key: {seen:?}\n{run}"
    );
    assert!(run.stdout.contains("GET /anything HTTP/1.1"), "{run}");
    assert!(run.stdout.contains("GET /chunked HTTP/1.1"), "{run}");
    assert!(
        !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
        "the real key reached the sandboxed command:\n{run}"
    );
    assert!(run.stdout.contains("trace=405"), "{run}");
    // The scrubber needs the response uncompressed: whatever the command asks for, the
    // upstream is asked for `identity`.
    assert!(run.stdout.contains("gz=200"), "{run}");
    let gz = seen
        .iter()
        .find(|h| h.starts_with("GET /gz"))
        .unwrap_or_else(|| panic!("no /gz request: {seen:?}"));
    assert!(
        gz.contains("Accept-Encoding: identity") && !gz.contains("gzip"),
        "{gz}"
    );
    assert!(
        !seen.iter().any(|h| h.starts_with("TRACE")),
        "TRACE was forwarded: {seen:?}"
    );
}

/// RED TEAM 3 finding 3: a path rule (`--allow-domain http://api.test/api/**`) or an
/// endpoint rule (`--allow-endpoint SERVICE:GET:/v1/**`) judged the request line, but the
/// proxy forwarded headers that many servers obey *instead of* the request line:
/// `X-Original-URL` / `X-Rewrite-URL` (IIS, Symfony: the path) and `X-HTTP-Method-Override`
/// / `X-HTTP-Method` / `X-Method-Override` (Google APIs, many frameworks: the method). A
/// `GET /api/x` with `X-Original-URL: /admin`, or an allowed `GET` with
/// `X-HTTP-Method-Override: DELETE` and the injected key, reached the server.
///
/// Fix: where a path rule exists (plain HTTP) or the credential route has endpoint rules,
/// a request carrying one of these headers is refused (403).
#[test]
fn redteam3_rewriting_headers_cannot_change_the_judged_request() {
    if !sandbox_available() {
        return;
    }
    let Some(curl) = curl() else {
        eprintln!("skipping: no curl");
        return;
    };
    let s = Scratch::new("rt3-rewrite");
    let (port, heads) = echo_server("127.0.0.11");
    let secret = format!("sk-rt3-rw-{}", std::process::id());
    let p = s.write(
        "p.json",
        &format!(
            r#"{{"name": "p", "extends": "default", "network": {{"credentials": {{"echo": {{
                "upstream": "http://127.0.0.11:{port}", "header": "Authorization",
                "format": "Bearer {{}}", "source": {{"env": "RT3_RW_SECRET"}},
                "base_url_env": "ECHO_BASE_URL", "key_env": "ECHO_KEY"}}}}}}}}"#
        ),
    );
    let c = |name: &str, args: &str| {
        format!("{curl} -sS -m 5 -o /dev/null -w '{name}=%{{http_code}}\\n' {args};")
    };
    let auth = "-H \"Authorization: Bearer $ECHO_KEY\"";
    let script = [
        c("path_ok", &format!("http://api.test:{port}/api/ok")),
        c(
            "path_rewrite",
            &format!("-H 'X-Original-URL: /admin' http://api.test:{port}/api/x"),
        ),
        c("ep_ok", &format!("{auth} \"$ECHO_BASE_URL/v1/ok\"")),
        c(
            "ep_override",
            &format!("{auth} -H 'X-HTTP-Method-Override: DELETE' \"$ECHO_BASE_URL/v1/x\""),
        ),
    ]
    .concat();
    let run = output(
        nono_cmd(&s.path)
            .env("RT3_RW_SECRET", &secret)
            .env("NONO_TEST_PROXY_RESOLVE", "api.test=127.0.0.11")
            .args(["run", "-p", &p.display().to_string()])
            .args(["--allow-domain", &format!("http://api.test:{port}/api/**")])
            .args(["--allow-domain", "127.0.0.11"])
            .args(["--credential", "echo"])
            .args(["--allow-endpoint", "echo:GET:/v1/**"])
            .args(["--", "sh", "-c", &script]),
    );
    let served = first_lines(&heads);
    // Controls: the same requests without the header are served.
    assert!(run.stdout.contains("path_ok=200\n"), "{served:?}\n{run}");
    assert!(run.stdout.contains("ep_ok=200\n"), "{served:?}\n{run}");
    assert!(
        run.stdout.contains("path_rewrite=403\n"),
        "{served:?}\n{run}"
    );
    assert!(
        run.stdout.contains("ep_override=403\n"),
        "{served:?}\n{run}"
    );
    assert_eq!(served.len(), 2, "{served:?}\n{run}");
    let all = heads.lock().unwrap().concat().to_ascii_lowercase();
    assert!(
        !all.contains("x-original-url") && !all.contains("method-override"),
        "{all}"
    );
}

// Finding 4 (listen() autobind) is fixed; its test is tests/escape/listen.rs.

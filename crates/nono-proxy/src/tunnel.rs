//! Moving bytes: a CONNECT tunnel (two directions, `splice(2)` through a pipe) and the
//! bounded copies the plain-HTTP and credential paths use (request bodies, responses).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::pipe::{pipe_with, splice, PipeFlags, SpliceFlags};

/// How long a blocking read waits before the idle check looks at both directions.
const POLL_SLICE: Duration = Duration::from_secs(5);
/// Pipe capacities tried, largest first, once a direction carries bulk data (a splice filled
/// the pipe). Measured on loopback (`proxy_load`, CPU per GiB of the proxy): 64 KiB 0.33 s,
/// 256 KiB 0.29 s, 1 MiB 0.23 s — fewer splices, wakeups and ACK rounds per byte. A tunnel
/// starts with the kernel's default pipe, so idle and small tunnels (most of them) do not
/// count against the per-user pipe budget (`fs.pipe-user-pages-soft`, 64 MiB by default for
/// unprivileged users); a size the kernel refuses (`fs.pipe-max-size`, the budget) is
/// skipped, and the pipe as it is still works.
const BULK_PIPE_SIZES: [usize; 3] = [1024 * 1024, 512 * 1024, 256 * 1024];

/// Activity shared by both directions of a tunnel.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Copy `src` → `dst` until EOF, then half-close `dst`. Returns the bytes moved. Stops with
/// an error once neither direction has moved a byte for `idle`.
pub(crate) fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    activity: &Activity,
    idle: Duration,
) -> io::Result<u64> {
    let slice = POLL_SLICE.min(idle).max(Duration::from_millis(10));
    src.set_read_timeout(Some(slice))?;
    dst.set_write_timeout(Some(idle))?;
    let result = match splice_pump(src, dst, activity, idle) {
        Err(SpliceFail::Unsupported) => copy_pump(src, dst, activity, idle),
        Err(SpliceFail::Io(e)) => Err(e),
        Ok(n) => Ok(n),
    };
    match &result {
        // Half-close: the other direction may still be talking.
        Ok(_) => {
            let _ = dst.shutdown(Shutdown::Write);
        }
        // Reset, idle timeout, write failure: end both directions now, so the other pump
        // (blocked on the same sockets) wakes instead of waiting for its own timeout.
        Err(_) => {
            let _ = src.shutdown(Shutdown::Both);
            let _ = dst.shutdown(Shutdown::Both);
        }
    }
    result
}

enum SpliceFail {
    Unsupported,
    Io(io::Error),
}

fn splice_pump(
    src: &TcpStream,
    dst: &TcpStream,
    activity: &Activity,
    idle: Duration,
) -> Result<u64, SpliceFail> {
    let (pr, pw) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| SpliceFail::Io(e.into()))?;
    let mut chunk = rustix::pipe::fcntl_getpipe_size(&pw).unwrap_or(64 * 1024);
    let mut grown = false;
    let mut total: u64 = 0;
    loop {
        let n = match splice(src, None, &pw, None, chunk, SpliceFlags::MOVE) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                if activity.idle_for() >= idle {
                    return Err(SpliceFail::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "tunnel idle timeout",
                    )));
                }
                continue;
            }
            Err(Errno::INVAL) if total == 0 => return Err(SpliceFail::Unsupported),
            Err(e) => return Err(SpliceFail::Io(e.into())),
        };
        activity.touch();
        let mut left = n;
        while left > 0 {
            match splice(&pr, None, dst, None, left, SpliceFlags::MOVE) {
                Ok(0) => {
                    return Err(SpliceFail::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "peer closed",
                    )))
                }
                Ok(k) => {
                    left -= k;
                    total += k as u64;
                    activity.touch();
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(SpliceFail::Io(e.into())),
            }
        }
        // The pipe is empty again; a full one means bulk data: grow it once.
        if n >= chunk && !grown {
            grown = true;
            if let Some(size) = BULK_PIPE_SIZES
                .iter()
                .find_map(|&want| rustix::pipe::fcntl_setpipe_size(&pw, want).ok())
            {
                chunk = size;
            }
        }
    }
}

fn copy_pump(
    mut src: &TcpStream,
    mut dst: &TcpStream,
    activity: &Activity,
    idle: Duration,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                if activity.idle_for() >= idle {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "tunnel idle timeout",
                    ));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        total += n as u64;
        activity.touch();
    }
}

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Streaming scanner for chunked framing: passes bytes through verbatim and says where the
/// body ends (so bytes after it — a pipelined request — are never forwarded unchecked).
#[derive(Debug)]
pub(crate) struct ChunkScanner {
    state: ChunkState,
    size: u64,
    line_len: usize,
    saw_digit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 8 * 1024;

impl ChunkScanner {
    pub(crate) fn new() -> ChunkScanner {
        ChunkScanner {
            state: ChunkState::Size,
            size: 0,
            line_len: 0,
            saw_digit: false,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consume bytes; returns how many belong to the body (all of `buf` unless the end is
    /// inside it).
    pub(crate) fn feed(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bad =
            |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("chunked body: {why}"));
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Data => {
                    let take =
                        (buf.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::Size => {
                    self.line_len += 1;
                    if let Some(d) = (b as char).to_digit(16) {
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or_else(|| bad("chunk size overflows"))?;
                        self.saw_digit = true;
                    } else if !self.saw_digit {
                        return Err(bad("missing chunk size"));
                    } else if b == b';' || b == b' ' || b == b'\t' {
                        self.state = ChunkState::Ext;
                    } else if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else {
                        return Err(bad("bad chunk size"));
                    }
                }
                ChunkState::Ext => {
                    self.line_len += 1;
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    } else if b == b'\n' {
                        return Err(bad("bare LF"));
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(bad("expected LF"));
                    }
                    self.line_len = 0;
                    self.saw_digit = false;
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(bad("expected CR after chunk data"));
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(bad("expected LF after chunk data"));
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::TrailerStart => {
                    self.state = if b == b'\r' {
                        ChunkState::FinalLf
                    } else {
                        self.line_len = 1;
                        ChunkState::Trailer
                    };
                }
                ChunkState::Trailer => {
                    self.line_len += 1;
                    if b == b'\r' {
                        self.state = ChunkState::TrailerLf;
                    }
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(bad("expected LF in trailer"));
                    }
                    self.line_len = 0;
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::FinalLf => {
                    if b != b'\n' {
                        return Err(bad("expected LF at the end"));
                    }
                    self.state = ChunkState::Done;
                    return Ok(i + 1);
                }
            }
            if self.line_len > MAX_CHUNK_LINE {
                return Err(bad("line too long"));
            }
            i += 1;
        }
        Ok(buf.len())
    }
}

/// Forward a request body: `prefix` (bytes read with the head) first, then from `src`,
/// exactly as far as the framing says. Bytes after the body are dropped.
pub(crate) fn copy_body(
    kind: BodyKind,
    prefix: &[u8],
    src: &mut impl Read,
    dst: &mut impl Write,
) -> io::Result<u64> {
    let mut total = 0u64;
    match kind {
        BodyKind::None => Ok(0),
        BodyKind::Length(mut left) => {
            let take = prefix
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            dst.write_all(&prefix[..take])?;
            left -= take as u64;
            total += take as u64;
            let mut buf = vec![0u8; 16 * 1024];
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = src.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "body cut short",
                    ));
                }
                dst.write_all(&buf[..n])?;
                left -= n as u64;
                total += n as u64;
            }
            dst.flush()?;
            Ok(total)
        }
        BodyKind::Chunked => {
            let mut scanner = ChunkScanner::new();
            let n = scanner.feed(prefix)?;
            dst.write_all(&prefix[..n])?;
            total += n as u64;
            let mut buf = vec![0u8; 16 * 1024];
            while !scanner.done() {
                let r = src.read(&mut buf)?;
                if r == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "body cut short",
                    ));
                }
                let n = scanner.feed(&buf[..r])?;
                dst.write_all(&buf[..n])?;
                total += n as u64;
            }
            dst.flush()?;
            Ok(total)
        }
    }
}

/// Copy until EOF, flushing after every read (server-sent events arrive as they are sent).
pub(crate) fn copy_streaming(src: &mut impl Read, dst: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify: the response is over.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        dst.flush()?;
        total += n as u64;
    }
}

/// Replaces every occurrence of a secret in a byte stream by as many `*` (same length, so
/// lengths stay right), also when it is split across pushes. Only a tail that could be the
/// start of the secret is held back until the next push (a response's last bytes — `\n\n`
/// of a server-sent event — never are: a secret has no line break).
struct Scrubber<'a> {
    secret: &'a [u8],
    pending: Vec<u8>,
}

impl<'a> Scrubber<'a> {
    fn new(secret: &'a [u8]) -> Scrubber<'a> {
        Scrubber {
            secret,
            pending: Vec::new(),
        }
    }

    /// Bytes that are safe to send now.
    fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        mask_all(&mut self.pending, self.secret);
        let len = self.pending.len();
        let keep = (1..self.secret.len().min(len + 1))
            .rev()
            .find(|&k| self.pending[len - k..] == self.secret[..k])
            .unwrap_or(0);
        self.pending.drain(..len - keep).collect()
    }

    /// The end of the stream: everything held back.
    fn finish(&mut self) -> Vec<u8> {
        mask_all(&mut self.pending, self.secret);
        std::mem::take(&mut self.pending)
    }
}

fn mask_all(buf: &mut [u8], secret: &[u8]) {
    if secret.is_empty() {
        return;
    }
    let mut i = 0;
    while i + secret.len() <= buf.len() {
        if buf[i..i + secret.len()] == *secret {
            buf[i..i + secret.len()].fill(b'*');
            i += secret.len();
        } else {
            i += 1;
        }
    }
}

/// Longest response head (status line and headers) the scrubber parses; a longer one is
/// scrubbed as raw bytes.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Read from `src` into `buf`; `Ok(0)` at the end (a TLS peer that closes without
/// close_notify included).
fn read_more(src: &mut impl Read, buf: &mut Vec<u8>, chunk: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
    }
}

fn send(dst: &mut impl Write, data: &[u8], total: &mut u64) -> io::Result<()> {
    if !data.is_empty() {
        dst.write_all(data)?;
        dst.flush()?;
        *total += data.len() as u64;
    }
    Ok(())
}

/// [`copy_streaming`] of an HTTP response that never lets `secret` through to `dst`: the
/// response heads and a `Content-Length` or close-delimited body are scrubbed as bytes
/// ([`Scrubber`]); a chunked body is decoded, scrubbed as content and chunked again, so a
/// secret the server split across two chunks (`...sk-ab\r\n5\r\ncdef...`) is caught too.
pub(crate) fn copy_scrubbed(
    src: &mut impl Read,
    dst: &mut impl Write,
    secret: &[u8],
) -> io::Result<u64> {
    if secret.is_empty() {
        return copy_streaming(src, dst);
    }
    let mut chunk = vec![0u8; 16 * 1024];
    let mut raw: Vec<u8> = Vec::new();
    let mut total = 0u64;
    // Heads: interim 1xx responses, then the final one.
    let chunked = loop {
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break Some(i + 4);
            }
            if raw.len() > MAX_RESPONSE_HEAD || read_more(src, &mut raw, &mut chunk)? == 0 {
                break None;
            }
        };
        let Some(end) = end else {
            // No parsable head: scrub everything as bytes.
            return scrub_raw(raw, src, dst, secret, total);
        };
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(_)) = resp.parse(&raw[..end]) else {
            return scrub_raw(raw, src, dst, secret, total);
        };
        let code = resp.code.unwrap_or(0);
        let chunked = resp.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("transfer-encoding")
                && h.value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        });
        let mut head: Vec<u8> = raw.drain(..end).collect();
        mask_all(&mut head, secret);
        send(dst, &head, &mut total)?;
        if (100..200).contains(&code) && code != 101 {
            continue;
        }
        break chunked;
    };
    if !chunked {
        return scrub_raw(raw, src, dst, secret, total);
    }
    let mut content = Scrubber::new(secret);
    let mut remaining: u64 = 0;
    let mut need_crlf = false;
    let write_chunk = |dst: &mut dyn Write, data: Vec<u8>, total: &mut u64| -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
        framed.extend_from_slice(&data);
        framed.extend_from_slice(b"\r\n");
        dst.write_all(&framed)?;
        dst.flush()?;
        *total += framed.len() as u64;
        Ok(())
    };
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("chunked response: {why}"),
        )
    };
    loop {
        loop {
            if remaining > 0 {
                if raw.is_empty() {
                    break;
                }
                let take = raw
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let out = content.push(&raw[..take]);
                raw.drain(..take);
                remaining -= take as u64;
                need_crlf = remaining == 0;
                write_chunk(dst, out, &mut total)?;
                continue;
            }
            if need_crlf {
                if raw.len() < 2 {
                    break;
                }
                if &raw[..2] != b"\r\n" {
                    return Err(bad("no CRLF after chunk data"));
                }
                raw.drain(..2);
                need_crlf = false;
                continue;
            }
            let Some(i) = raw.windows(2).position(|w| w == b"\r\n") else {
                if raw.len() > MAX_CHUNK_LINE {
                    return Err(bad("chunk size line too long"));
                }
                break;
            };
            let digits: Vec<u8> = raw[..i]
                .iter()
                .copied()
                .take_while(|b| b.is_ascii_hexdigit())
                .collect();
            let size = std::str::from_utf8(&digits)
                .ok()
                .filter(|d| !d.is_empty() && d.len() <= 15)
                .and_then(|d| u64::from_str_radix(d, 16).ok())
                .ok_or_else(|| bad("bad chunk size"))?;
            raw.drain(..i + 2);
            if size == 0 {
                write_chunk(dst, content.finish(), &mut total)?;
                send(dst, b"0\r\n", &mut total)?;
                // Trailers and the final CRLF, as bytes.
                return scrub_raw(raw, src, dst, secret, total);
            }
            remaining = size;
        }
        if read_more(src, &mut raw, &mut chunk)? == 0 {
            write_chunk(dst, content.finish(), &mut total)?;
            return Ok(total);
        }
    }
}

/// Scrub `prefix`, then everything `src` sends, as bytes.
fn scrub_raw(
    prefix: Vec<u8>,
    src: &mut impl Read,
    dst: &mut impl Write,
    secret: &[u8],
    mut total: u64,
) -> io::Result<u64> {
    let mut sc = Scrubber::new(secret);
    let out = sc.push(&prefix);
    send(dst, &out, &mut total)?;
    let mut chunk = vec![0u8; 16 * 1024];
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        if read_more(src, &mut buf, &mut chunk)? == 0 {
            let out = sc.finish();
            send(dst, &out, &mut total)?;
            return Ok(total);
        }
        let out = sc.push(&buf);
        send(dst, &out, &mut total)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_end_is_found_across_splits() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        let mut with_next = body.to_vec();
        with_next.extend_from_slice(b"GET http://evil/ HTTP/1.1\r\n\r\n");
        for split in 0..with_next.len() {
            let mut s = ChunkScanner::new();
            let a = s.feed(&with_next[..split]).unwrap();
            let total = if s.done() {
                a
            } else {
                a + s.feed(&with_next[split..]).unwrap()
            };
            assert_eq!(total, body.len(), "split at {split}");
            assert!(s.done());
        }
        for bad in [
            &b"x\r\n"[..],
            b"ffffffffffffffffff\r\n",
            b"4\r\nWikiXX",
            b"4\nWiki",
        ] {
            assert!(ChunkScanner::new().feed(bad).is_err(), "{bad:?}");
        }
    }

    /// A reader that returns its parts one per read.
    struct Parts<'a>(Vec<&'a [u8]>);
    impl Read for Parts<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let part = self.0.remove(0);
            buf[..part.len()].copy_from_slice(part);
            Ok(part.len())
        }
    }

    fn scrub_split(resp: &[u8], split: usize, secret: &[u8]) -> Vec<u8> {
        let (a, b) = resp.split_at(split);
        let parts = [a, b].into_iter().filter(|p| !p.is_empty()).collect();
        let mut out = Vec::new();
        copy_scrubbed(&mut Parts(parts), &mut out, secret).unwrap();
        out
    }

    #[test]
    fn secret_is_scrubbed_across_any_split() {
        let secret = b"sk-abcabd";
        let resp =
            b"HTTP/1.1 200 OK\r\nX-Echo: sk-abcabd\r\n\r\nkey=sk-abcabd;again=sk-abcabd;half=sk-abc";
        let want: Vec<u8> = String::from_utf8(resp.to_vec())
            .unwrap()
            .replace("sk-abcabd", "*********")
            .into_bytes();
        for split in 0..resp.len() {
            assert_eq!(scrub_split(resp, split, secret), want, "split at {split}");
        }
    }

    #[test]
    fn secret_split_across_chunks_is_scrubbed() {
        let secret = b"sk-abcabd";
        // The server cut the key in two chunks (a 4 KiB write buffer, say).
        let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6;x=y\r\nk=sk-a\r\n7\r\nbcabd;h\r\n0\r\nT: sk-abcabd\r\n\r\n";
        for split in 0..resp.len() {
            let out = scrub_split(resp, split, secret);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("sk-abcabd"), "split at {split}: {text}");
            // De-chunk what the client gets: the content is the masked key.
            let body = text
                .splitn(3, "\r\n\r\n")
                .nth(2)
                .unwrap_or_else(|| panic!("{text}"));
            let mut content = String::new();
            let mut rest = body;
            loop {
                let (size, after) = rest.split_once("\r\n").unwrap();
                let n = usize::from_str_radix(size, 16).unwrap();
                if n == 0 {
                    assert_eq!(after, "T: *********\r\n\r\n", "split at {split}");
                    break;
                }
                content.push_str(&after[..n]);
                rest = &after[n + 2..];
            }
            assert_eq!(content, "k=*********;h", "split at {split}: {text}");
        }
    }

    #[test]
    fn length_body_stops_at_length() {
        let mut out = Vec::new();
        let n = copy_body(BodyKind::Length(5), b"hel", &mut &b"loEXTRA"[..], &mut out).unwrap();
        assert_eq!((n, out.as_slice()), (5, &b"hello"[..]));
    }
}

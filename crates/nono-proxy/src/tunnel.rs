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
/// Pipe capacity asked for (fewer splice calls per byte; the pages are kernel memory, used
/// only while data is in flight). The default 64 KiB is kept if the kernel refuses.
const PIPE_SIZE: usize = 256 * 1024;

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
    let chunk = rustix::pipe::fcntl_setpipe_size(&pw, PIPE_SIZE).unwrap_or(64 * 1024);
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

/// [`copy_streaming`] that never lets `secret` through: every occurrence is replaced by as
/// many `*` (same length, so `Content-Length` and chunk sizes stay right), also when it is
/// split across reads. Only a tail that could be the start of the secret is held back until
/// the next read (a response's last bytes — `\n\n` of a server-sent event — never are: a
/// secret has no line break).
pub(crate) fn copy_scrubbed(
    src: &mut impl Read,
    dst: &mut impl Write,
    secret: &[u8],
) -> io::Result<u64> {
    if secret.is_empty() {
        return copy_streaming(src, dst);
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::with_capacity(16 * 1024 + secret.len());
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        pending.extend_from_slice(&buf[..n]);
        mask_all(&mut pending, secret);
        // Hold back the longest tail that is a proper prefix of the secret (at EOF: nothing).
        let keep = if n == 0 {
            0
        } else {
            (1..secret.len().min(pending.len() + 1))
                .rev()
                .find(|&k| pending[pending.len() - k..] == secret[..k])
                .unwrap_or(0)
        };
        let send = pending.len() - keep;
        if send > 0 {
            dst.write_all(&pending[..send])?;
            dst.flush()?;
            total += send as u64;
            pending.drain(..send);
        }
        if n == 0 {
            return Ok(total);
        }
    }
}

fn mask_all(buf: &mut [u8], secret: &[u8]) {
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

    #[test]
    fn secret_is_scrubbed_across_any_split() {
        let secret = b"sk-abcabd";
        let resp = b"HTTP/1.1 200 OK\r\n\r\nkey=sk-abcabd;again=sk-abcabd;half=sk-abc".to_vec();
        let want: Vec<u8> = String::from_utf8(resp.clone())
            .unwrap()
            .replace("sk-abcabd", "*********")
            .into_bytes();
        for split in 0..resp.len() {
            struct Two<'a>(Vec<&'a [u8]>);
            impl Read for Two<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    if self.0.is_empty() {
                        return Ok(0);
                    }
                    let part = self.0.remove(0);
                    buf[..part.len()].copy_from_slice(part);
                    Ok(part.len())
                }
            }
            let (a, b) = resp.split_at(split);
            let mut out = Vec::new();
            let parts = [a, b].into_iter().filter(|p| !p.is_empty()).collect();
            copy_scrubbed(&mut Two(parts), &mut out, secret).unwrap();
            assert_eq!(out, want, "split at {split}");
        }
    }

    #[test]
    fn length_body_stops_at_length() {
        let mut out = Vec::new();
        let n = copy_body(BodyKind::Length(5), b"hel", &mut &b"loEXTRA"[..], &mut out).unwrap();
        assert_eq!((n, out.as_slice()), (5, &b"hello"[..]));
    }
}

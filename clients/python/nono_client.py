"""nono_client: ask the nono supervisor for a file or a URL from inside the sandbox.

A program running under ``nono run`` with runtime grants on (``--approve DIR``,
``--capability-elevation``, or a profile's approve rules) inherits a Unix socket whose fd
number is in ``NONO_SUPERVISOR_FD``. Over it the program can ask the supervisor, which runs
outside the sandbox, to open a path for it -- the answer is an open file descriptor, never a
wider sandbox -- or to open a URL in the user's browser.

This module speaks the protocol of ``docs/PROTOCOL.md`` (the ``nono-wire`` crate) with the
standard library only, like the Rust crate ``nono-client``::

    import nono_client

    with nono_client.open_path("/home/me/notes.txt", "Read", reason="summarise notes") as f:
        print(f.read())

    try:
        fd = nono_client.request_fd("/etc/shadow", "Read")
    except nono_client.Denied as e:
        print("denied:", e.reason)

    nono_client.open_url("https://login.example.com/oauth/authorize?...")

Exceptions (all subclasses of ``NonoError``): ``NotSupervised`` (no supervisor socket: not
under ``nono run`` with runtime grants), ``Denied`` (with ``.reason``; ``Timeout`` is a
``Denied`` nobody decided in time), ``UrlNotOpened`` (with ``.error``), ``ProtocolError``
(the supervisor's answer did not fit, or the connection ended).

Run as a script, ``python3 nono_client.py cat PATH`` asks for read access to PATH and copies
what the granted fd reads to stdout (exit 3 when denied, 4 on other errors);
``python3 nono_client.py url URL`` asks for a URL to be opened.

Requires Python 3.3+ on Linux (``socket.recvmsg`` with ``SCM_RIGHTS``).
"""

import array
import json
import os
import socket
import struct
import sys
import threading

__all__ = [
    "SUPERVISOR_FD_ENV",
    "PROTOCOL_VERSION",
    "MAX_FRAME_LEN",
    "NonoError",
    "NotSupervised",
    "Denied",
    "Timeout",
    "UrlNotOpened",
    "ProtocolError",
    "Client",
    "client",
    "request_fd",
    "open_path",
    "open_url",
]

#: The environment variable naming the inherited supervisor socket's fd number.
SUPERVISOR_FD_ENV = "NONO_SUPERVISOR_FD"
#: The protocol revision this module speaks (nono-wire's ``PROTOCOL_VERSION``; not sent).
PROTOCOL_VERSION = 1
#: The largest frame payload either side may send (64 KiB).
MAX_FRAME_LEN = 65536
_HEADER = struct.Struct(">I")
_default_lock = threading.Lock()
_ACCESS = {
    "read": "Read",
    "r": "Read",
    "write": "Write",
    "w": "Write",
    "readwrite": "ReadWrite",
    "rw": "ReadWrite",
}
# What os.fdopen gets for each access when the caller names no mode.
_DEFAULT_MODE = {"Read": "rb", "Write": "wb", "ReadWrite": "r+b"}


class NonoError(Exception):
    """Anything that went wrong talking to the nono supervisor."""


class NotSupervised(NonoError):
    """No supervisor socket: not running under ``nono run`` with runtime grants on, or
    ``NONO_SUPERVISOR_FD`` does not name an inherited socket."""


class Denied(NonoError):
    """The supervisor refused the request; ``reason`` says why."""

    def __init__(self, reason):
        super().__init__("the supervisor denied the request: %s" % reason)
        self.reason = reason


class Timeout(Denied):
    """Nobody decided in time (treated as a denial)."""

    def __init__(self):
        super().__init__("nobody decided in time")


class UrlNotOpened(NonoError):
    """The supervisor did not open the URL (origin not allowed, malformed URL, or the
    opener failed); ``error`` is its reason."""

    def __init__(self, error):
        super().__init__("the supervisor did not open the URL: %s" % error)
        self.error = error


class ProtocolError(NonoError):
    """The supervisor's answer did not fit the protocol, or the connection ended."""


def _access_name(access):
    name = _ACCESS.get(str(access).replace("_", "").replace("-", "").lower())
    if name is None:
        raise ValueError(
            "access must be Read, Write or ReadWrite (or r, w, rw), not %r" % (access,)
        )
    return name


def _path_text(path):
    """The path as the protocol's UTF-8 string. A relative path is joined to this process's
    working directory here (not normalised: the supervisor resolves ``..`` and symlinks),
    because the supervisor would resolve it against the working directory of the command
    nono started, which need not be this process."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        try:
            path = path.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a path that is not UTF-8 cannot be sent: %r" % (path,))
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a path that is not UTF-8 cannot be sent: %r" % (path,))
    if not path.startswith("/"):
        try:
            path = os.path.join(os.getcwd(), path)
        except OSError:
            pass  # no working directory: the supervisor decides what a relative path means
    return path


def encode_frame(message):
    """One frame: the big-endian u32 length, then the message as compact UTF-8 JSON (the
    bytes nono-wire's encoder produces for the same value)."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME_LEN:
        raise ValueError(
            "message of %d bytes exceeds the %d-byte frame limit" % (len(body), MAX_FRAME_LEN)
        )
    return _HEADER.pack(len(body)) + body


def _close_fds(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _fds_of(ancdata, flags):
    """The fds in SCM_RIGHTS control messages (every one, so none is leaked), and whether
    the control data was truncated."""
    fds = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            whole = len(data) - len(data) % array.array("i").itemsize
            got = array.array("i")
            got.frombytes(data[:whole])
            fds.extend(got)
    return fds, bool(flags & getattr(socket, "MSG_CTRUNC", 0x8))


class Client:
    """A connection to the supervisor over a connected Unix stream socket.

    Requests are answered one at a time; a ``Client`` may be shared between threads (each
    call holds the connection until its answer is in).
    """

    def __init__(self, sock):
        self._sock = sock
        self._pid = os.getpid()
        self._next = 1
        self._lock = threading.Lock()
        self._recv_flags = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
        self._ancbuf = socket.CMSG_SPACE(4 * array.array("i").itemsize)

    @classmethod
    def from_env(cls):
        """The client for the socket named by ``NONO_SUPERVISOR_FD``. Takes ownership of that
        fd (it is made close-on-exec), so call it once per process and keep the client (the
        module-level functions do that for you through :func:`client`)."""
        global _taken
        value = os.environ.get(SUPERVISOR_FD_ENV)
        if value is None:
            raise NotSupervised(
                "%s is not set: not running under a nono supervisor with the SDK socket "
                "enabled (`nono run` offers it with runtime grants on: --approve DIR or "
                "--capability-elevation)" % SUPERVISOR_FD_ENV
            )
        try:
            fd = int(value.strip())
            if fd < 0:
                raise ValueError
        except ValueError:
            raise NotSupervised("%s=%r is not an fd number" % (SUPERVISOR_FD_ENV, value))
        with _default_lock:
            if _taken:
                raise NonoError(
                    "Client.from_env was already called in this process; keep and reuse that "
                    "client (nono_client.client() does)"
                )
            _taken = True
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            raise NotSupervised(
                "%s=%r does not name an inherited socket: %s" % (SUPERVISOR_FD_ENV, value, e)
            )
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            sock.detach()
            raise NotSupervised(
                "%s=%r is not a Unix stream socket" % (SUPERVISOR_FD_ENV, value)
            )
        sock.set_inheritable(False)
        return cls(sock)

    def close(self):
        """Close the connection (the supervisor sees the end of the stream)."""
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        return self._sock.fileno()

    def _request_id(self):
        rid = "%d-%d" % (self._pid, self._next)
        self._next += 1
        return rid

    # -- receiving: exactly one unit at a time, always with recvmsg, so no fd is swallowed
    # or attached to the wrong unit (docs/PROTOCOL.md, "A grant: the fd first").

    def _recv_some(self, n):
        """Up to ``n`` bytes and the fds that came with them."""
        while True:
            try:
                data, ancdata, flags, _ = self._sock.recvmsg(n, self._ancbuf, self._recv_flags)
            except InterruptedError:
                continue
            except socket.timeout:
                raise ProtocolError("the supervisor did not answer in time")
            except OSError as e:
                raise ProtocolError("reading from the supervisor failed: %s" % e)
            fds, truncated = _fds_of(ancdata, flags)
            if truncated:
                _close_fds(fds)
                raise ProtocolError("truncated control data (more fds than the protocol allows)")
            return data, fds

    def _recv_exact(self, n, what):
        """Exactly ``n`` bytes, none of which may carry an fd."""
        buf = b""
        while len(buf) < n:
            data, fds = self._recv_some(n - len(buf))
            if fds:
                _close_fds(fds)
                raise ProtocolError("an fd was attached to the bytes of %s" % what)
            if not data:
                raise ProtocolError(
                    "the supervisor closed the connection inside %s" % what
                    if buf
                    else "the supervisor closed the connection"
                )
            buf += data
        return buf

    def _recv_frame(self, first=b""):
        header = first + self._recv_exact(4 - len(first), "a frame header")
        (length,) = _HEADER.unpack(header)
        if length > MAX_FRAME_LEN:
            raise ProtocolError(
                "frame of %d bytes exceeds the %d-byte limit" % (length, MAX_FRAME_LEN)
            )
        payload = self._recv_exact(length, "a frame payload")
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("the supervisor's frame is not JSON: %s" % e)

    def _recv_answer_with_fd(self):
        """A ``Decision``: an fd unit may come first (on a grant). Read one byte: with an fd
        attached it was the fd unit; without, it is the first byte of the frame header."""
        data, fds = self._recv_some(1)
        if not data:
            _close_fds(fds)
            raise ProtocolError("the supervisor closed the connection")
        if len(fds) > 1:
            _close_fds(fds)
            raise ProtocolError("more than one fd in one unit")
        if fds:
            try:
                return self._recv_frame(), fds[0]
            except BaseException:
                _close_fds(fds)
                raise
        return self._recv_frame(first=data), None

    def _send(self, message):
        frame = encode_frame(message)
        try:
            self._sock.sendall(frame)
        except OSError as e:
            raise ProtocolError("writing to the supervisor failed: %s" % e)

    # -- the API

    def request_fd(self, path, access="Read", reason=None):
        """Ask for ``access`` ("Read", "Write" or "ReadWrite") to ``path`` (absolute, or
        relative to this process's working directory). Blocks until the supervisor answers
        (it may be asking a person). Returns the open fd (close-on-exec, owned by the
        caller); raises :class:`Denied` (or :class:`Timeout`)."""
        path, access = _path_text(path), _access_name(access)
        reason = None if reason is None else str(reason)
        with self._lock:
            rid = self._request_id()
            self._send(
                {
                    "Request": {
                        "request_id": rid,
                        "path": path,
                        "access": access,
                        "reason": reason,
                        "child_pid": self._pid,
                        "session_id": "",
                    }
                }
            )
            answer, fd = self._recv_answer_with_fd()
        try:
            decision = _field(answer, "Decision", rid)["decision"]
            if decision == "Granted":
                if fd is None:
                    raise ProtocolError("granted without an fd")
                result, fd = fd, None
                return result
            if decision == "Timeout":
                raise Timeout()
            if isinstance(decision, dict) and isinstance(decision.get("Denied"), dict):
                raise Denied(str(decision["Denied"].get("reason")))
            raise ProtocolError("unknown decision %r" % (decision,))
        finally:
            if fd is not None:
                _close_fds([fd])

    def open_path(self, path, access="Read", reason=None, mode=None, **kwargs):
        """:meth:`request_fd`, wrapped in a file object (``os.fdopen``). ``mode`` defaults
        to "rb", "wb" or "r+b" for Read, Write and ReadWrite; pass e.g. ``mode="r"`` for
        text. Extra keyword arguments go to ``os.fdopen`` (``encoding``, ``buffering`` ...)."""
        access = _access_name(access)
        fd = self.request_fd(path, access, reason)
        try:
            return os.fdopen(fd, mode or _DEFAULT_MODE[access], **kwargs)
        except BaseException:
            os.close(fd)
            raise

    def open_url(self, url):
        """Ask the supervisor to open ``url`` in the user's browser, outside the sandbox.
        Blocks until the opener has it; raises :class:`UrlNotOpened` when refused."""
        with self._lock:
            rid = self._request_id()
            self._send(
                {
                    "OpenUrl": {
                        "request_id": rid,
                        "url": str(url),
                        "child_pid": self._pid,
                        "session_id": "",
                    }
                }
            )
            answer = self._recv_frame()
        opened = _field(answer, "UrlOpened", rid)
        if opened.get("success") is True:
            return None
        raise UrlNotOpened(opened.get("error") or "no reason given")


def _field(answer, kind, rid):
    """The payload of ``{kind: {...}}`` answering request ``rid``."""
    if not isinstance(answer, dict) or len(answer) != 1 or kind not in answer:
        raise ProtocolError("expected %s, got %.200r" % (kind, answer))
    payload = answer[kind]
    if not isinstance(payload, dict):
        raise ProtocolError("malformed %s: %.200r" % (kind, payload))
    if payload.get("request_id") != rid:
        raise ProtocolError("the answer is for another request (%r, not %r)"
                            % (payload.get("request_id"), rid))
    return payload


_default = None
_taken = False
_client_lock = threading.Lock()


def client():
    """This process's client (made by :meth:`Client.from_env` on first use, then reused)."""
    global _default
    with _client_lock:
        if _default is None:
            _default = Client.from_env()
        return _default


def request_fd(path, access="Read", reason=None):
    """:meth:`Client.request_fd` on this process's client."""
    return client().request_fd(path, access, reason)


def open_path(path, access="Read", reason=None, mode=None, **kwargs):
    """:meth:`Client.open_path` on this process's client."""
    return client().open_path(path, access, reason, mode, **kwargs)


def open_url(url):
    """:meth:`Client.open_url` on this process's client."""
    return client().open_url(url)


def _main(argv):
    usage = "usage: nono_client.py cat PATH [REASON] | nono_client.py url URL"
    if len(argv) < 2 or argv[0] not in ("cat", "url"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "url":
            open_url(argv[1])
            return 0
        reason = argv[2] if len(argv) > 2 else None
        with open_path(argv[1], "Read", reason) as f:
            out = sys.stdout.buffer
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                out.write(chunk)
            out.flush()
        return 0
    except (Denied, UrlNotOpened) as e:
        print("nono_client: %s" % e, file=sys.stderr)
        return 3
    except NonoError as e:
        print("nono_client: %s" % e, file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

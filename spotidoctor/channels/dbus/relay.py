"""The authentication relay between the container and ``xdg-dbus-proxy`` (asyncio, one thread).

For each client on the container's socket: answer the SASL line phase here (``sasl.py``);
when the client is about to be told ``OK``, connect to the proxy and authenticate there as
the user (NUL, ``AUTH EXTERNAL <our uid>``) to learn the bus's GUID, and answer the client
with it: the GUID names the server the client really ends up talking to, as it does for a
client of the proxy alone (which passes the bus's ``OK`` through), and a client never gets
``OK`` for a connection the bus has not accepted. On the client's ``BEGIN`` send ``BEGIN``
upstream and splice the message streams both ways. The client never sees the upstream exchange.

Bounds: the auth phase has a deadline and bounded lines; the splice holds one chunk per
direction (the other side's socket applies backpressure); the number of clients is capped.
Bytes are read with ``recvmsg`` and no room for ancillary data: file descriptors a client
tries to pass are discarded by the kernel and flagged (``MSG_CTRUNC``), and the client is
disconnected. Refusals are logged with the peer's pid/uid and a reason, never with what
the client sent.
"""
from __future__ import annotations

import asyncio
import collections
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from contextlib import suppress

from spotidoctor.channels.dbus.sasl import (
    CRLF,
    MAX_LINE,
    UPSTREAM_BEGIN,
    Authenticated,
    Refused,
    Send,
    ServerAuth,
    UpstreamRefused,
    parse_upstream_ok,
    upstream_hello,
)

__all__ = ["Relay", "RelayThread", "RefusalLog", "Refusal", "probe_upstream", "listen_socket", "AUTH_TIMEOUT_S",
           "MAX_CLIENTS", "CHUNK"]

AUTH_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 5.0
MAX_CLIENTS = 32
CHUNK = 64 * 1024
AUTH_READ = 4096
LISTEN_BACKLOG = 16
KEEP_REFUSALS = 100
THREAD_TIMEOUT_S = 5.0


class Refusal(Exception):
    """A client is disconnected; the message says why (for the log)."""


class RefusalLog:
    """The last refusals, kept for the launch log and tests, and passed on to ``on_refusal``."""

    def __init__(self, on_refusal: Callable[[str], None] | None = None, keep: int = KEEP_REFUSALS) -> None:
        self._entries: collections.deque[str] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._on_refusal = on_refusal

    def add(self, text: str) -> None:
        with self._lock:
            self._entries.append(text)
        if self._on_refusal is not None:
            self._on_refusal(text)

    def entries(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._entries)


def listen_socket(path: str, mode: int = 0o666) -> socket.socket:
    """A listening unix socket at ``path`` (which must not exist), chmod'ed to ``mode``.

    The directory is the caller's private one, so nothing can swap the path in between.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(f"{path} is not the socket just bound")
        os.chmod(path, mode)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def peer_text(sock: socket.socket) -> str:
    """``pid N uid M`` of a unix-socket peer (as the kernel reports it), for the log."""
    try:
        pid, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return "a client"
    return f"client pid {pid} uid {uid}"


def probe_upstream(path: str, uid: int, timeout: float = UPSTREAM_TIMEOUT_S) -> str:
    """Authenticate once at ``path`` (blocking) and return the bus's GUID: proof that the proxy
    is up and the bus behind it accepts us. Raises ``UpstreamRefused`` or ``OSError``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(upstream_hello(uid))
        buffer = b""
        while CRLF not in buffer:
            chunk = sock.recv(256)
            if not chunk:
                raise UpstreamRefused("the proxy closed the connection: it could not reach the session bus")
            buffer += chunk
            if len(buffer) > MAX_LINE:
                raise UpstreamRefused("the proxy's answer to AUTH is not a D-Bus line")
        return parse_upstream_ok(buffer.split(CRLF, 1)[0])


async def _ready(loop: asyncio.AbstractEventLoop, sock: socket.socket, *, write: bool = False) -> None:
    """Wait until ``sock`` is readable (or writable)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if write else loop.add_reader)(sock.fileno(), wake)
    try:
        await ready
    finally:
        (loop.remove_writer if write else loop.remove_reader)(sock.fileno())


async def recv_bytes(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int, who: str) -> bytes:
    """Up to ``size`` bytes (b"" at EOF); ancillary data (passed descriptors) is a ``Refusal``."""
    while True:
        try:
            data, ancillary, flags, _ = sock.recvmsg(size)
        except (BlockingIOError, InterruptedError):
            await _ready(loop, sock)
            continue
        if ancillary or flags & socket.MSG_CTRUNC:
            raise Refusal(f"{who} passed file descriptors; they were discarded")
        return data


async def send_bytes(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> None:
    """All of ``data``; a peer that went away is an ``OSError`` (never SIGPIPE, whatever its disposition)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view, socket.MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            await _ready(loop, sock, write=True)
            continue
        view = view[sent:]


class Relay:
    """Accepts clients on ``listener`` and relays each one to the proxy at ``upstream_path``."""

    def __init__(self, listener: socket.socket, upstream_path: str, uid: int, log: RefusalLog, *,
                 auth_timeout: float = AUTH_TIMEOUT_S, max_clients: int = MAX_CLIENTS) -> None:
        self._listener = listener
        self._upstream_path = upstream_path
        self._uid = uid
        self._log = log
        self._auth_timeout = auth_timeout
        self._max_clients = max_clients
        self._clients: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        """Accept clients until cancelled; then end every client connection."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    conn, _ = await loop.sock_accept(self._listener)
                except OSError as exc:  # out of descriptors: say so, then go on
                    self._log.add(f"cannot accept a client: {exc}")
                    await asyncio.sleep(0.1)
                    continue
                if len(self._clients) >= self._max_clients:
                    self._log.add(f"{peer_text(conn)}: refused, already {self._max_clients} clients")
                    conn.close()
                    continue
                task = asyncio.create_task(self._client(conn))
                self._clients.add(task)
                task.add_done_callback(self._clients.discard)
        finally:
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)

    async def _client(self, conn: socket.socket) -> None:
        peer = peer_text(conn)
        upstream: tuple[socket.socket, bytes] | None = None  # the proxy connection, what to send first
        try:
            upstream = await asyncio.wait_for(self._authenticate(conn), self._auth_timeout)
            await self._splice(conn, *upstream)
        except asyncio.TimeoutError:
            self._log.add(f"{peer}: no complete authentication within {self._auth_timeout:g}s")
        except Refusal as exc:
            self._log.add(f"{peer}: {exc}")
        except OSError:
            pass  # a peer went away: an ordinary end of a connection
        finally:
            conn.close()
            if upstream is not None:
                upstream[0].close()

    async def _authenticate(self, conn: socket.socket) -> tuple[socket.socket, bytes]:
        loop = asyncio.get_running_loop()
        auth = ServerAuth()
        upstream: tuple[socket.socket, str] | None = None
        try:
            while True:
                data = await recv_bytes(loop, conn, AUTH_READ, "the client")
                if not data:
                    raise Refusal(auth.eof().reason)
                for action in auth.feed(data):
                    if isinstance(action, Send):
                        await send_bytes(loop, conn, action.line.encode("ascii") + CRLF)
                    elif isinstance(action, Refused):
                        raise Refusal(action.reason)
                    elif isinstance(action, Authenticated):
                        assert upstream is not None  # BEGIN is accepted only after OK
                        await send_bytes(loop, upstream[0], UPSTREAM_BEGIN)
                        return upstream[0], action.rest
                    else:  # SendOk
                        upstream = upstream or await self._connect_upstream()
                        await send_bytes(loop, conn, f"OK {upstream[1]}".encode("ascii") + CRLF)
        except BaseException:
            if upstream is not None:
                upstream[0].close()
            raise

    async def _connect_upstream(self) -> tuple[socket.socket, str]:
        """Connect to the proxy and authenticate as the user, up to (not including) BEGIN."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, self._upstream_path)
            await send_bytes(loop, sock, upstream_hello(self._uid))
            line = bytearray()
            while CRLF not in line:
                chunk = await recv_bytes(loop, sock, 256, "the proxy")
                if not chunk or len(line) + len(chunk) > MAX_LINE:
                    raise UpstreamRefused("the proxy closed the connection or sent no D-Bus line")
                line += chunk
            head, _, extra = bytes(line).partition(CRLF)
            if extra:
                raise UpstreamRefused("the proxy sent more than one line before BEGIN")
            return sock, parse_upstream_ok(head)
        except (OSError, UpstreamRefused) as exc:
            sock.close()
            raise Refusal(f"cannot authenticate to the D-Bus proxy: {exc}") from None
        except BaseException:
            sock.close()
            raise

    async def _splice(self, client: socket.socket, upstream: socket.socket, first: bytes) -> None:
        """Copy both ways until both sides are done; an error on either side ends both."""
        pumps = [asyncio.create_task(self._pump(client, upstream, first, "the client")),
                 asyncio.create_task(self._pump(upstream, client, b"", "the proxy"))]
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    @staticmethod
    async def _pump(source: socket.socket, sink: socket.socket, first: bytes, who: str) -> None:
        loop = asyncio.get_running_loop()
        if first:
            await send_bytes(loop, sink, first)
        while data := await recv_bytes(loop, source, CHUNK, who):
            await send_bytes(loop, sink, data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # pass the end on; the other direction may still run


class RelayThread:
    """Runs a ``Relay`` on an event loop in a daemon thread, so the launcher stays synchronous."""

    def __init__(self, listener: socket.socket, upstream_path: str, uid: int, log: RefusalLog, *,
                 auth_timeout: float = AUTH_TIMEOUT_S, max_clients: int = MAX_CLIENTS) -> None:
        self._relay = Relay(listener, upstream_path, uid, log, auth_timeout=auth_timeout, max_clients=max_clients)
        self._listener = listener
        self._log = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spotidoctor-dbus-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(THREAD_TIMEOUT_S):
            raise RuntimeError("the D-Bus relay thread did not start")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """End every connection, close the listener and wait for the thread (bounded)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            with suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stopping.set)
            self._thread.join(THREAD_TIMEOUT_S)
        self._listener.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        except Exception as exc:  # the relay must not die silently: the launch log says why
            self._log.add(f"the D-Bus relay stopped: {type(exc).__name__}: {exc}")
        finally:
            self._started.set()
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stopping = asyncio.Event()
        self._loop = loop
        serving = asyncio.create_task(self._relay.serve())
        self._started.set()
        try:
            await self._stopping.wait()
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

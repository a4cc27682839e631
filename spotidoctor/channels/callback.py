"""The browser's sign-in callback reaches the client: host 127.0.0.1:PORT -> container 127.0.0.1:PORT.

Spotify's sign-in ends with the host's browser sent to ``http://127.0.0.1:4381/login?code=...``;
the client listens on the container's own loopback, which no ``--network`` mode but ``host``
shares with the host (slirp4netns' port forwarding does not reach a listener bound to
127.0.0.1, and ``none`` has no forwarding at all). So spotidoctor listens on the host's
loopback and relays each connection into the container's network namespace, with sockets
made there by a helper (``netns``), within limits of number, size and time (``pump``).

The listener binds 127.0.0.1 only. A port already in use is a ``problem`` the launch prints
(it goes on without the relay). The relay ends when the container's process does (a pidfd),
or at ``stop()``.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from spotidoctor.channels.netns import INSPECT_TIMEOUT_S, HelperSockets, NetnsError, ProcessWatch, container_pid
from spotidoctor.channels.pump import PumpEnd, PumpLimits, pump
from spotidoctor.channels.ratelimit import LogLine, ThrottledLog, TokenBucket
from spotidoctor.probes.command import CommandRunner, ProcessStarter

__all__ = ["CallbackRelay", "RelayLimits", "RelayRunner", "RelayStats", "SocketSource", "DEFAULT_PORT", "LOOPBACK"]

DEFAULT_PORT = 4381
LOOPBACK = "127.0.0.1"


class RelayRunner(CommandRunner, ProcessStarter, Protocol):
    """``run`` for ``podman inspect``, ``start`` for the helper."""


@dataclass(frozen=True)
class RelayLimits:
    max_connections: int = 8  # at once; more are closed at once
    max_request_bytes: int = 64 * 1024  # browser -> client (a GET with a code)
    max_response_bytes: int = 4 * 1024 * 1024  # client -> browser
    idle_timeout_s: float = 10.0
    max_duration_s: float = 30.0
    connect_timeout_s: float = 5.0

    def pump_limits(self) -> PumpLimits:
        return PumpLimits(self.max_request_bytes, self.max_response_bytes, self.idle_timeout_s, self.max_duration_s)


class SocketSource(Protocol):
    """Unconnected TCP sockets that belong to the container's network namespace."""

    def socket(self) -> socket.socket: ...

    def close(self) -> None: ...


# -- the relay ---------------------------------------------------------------------------------

@dataclass
class RelayStats:
    relayed: int = 0  # connections that reached the container
    refused_busy: int = 0  # over max_connections
    failed: int = 0  # nothing listening inside, helper gone, ...
    cut: int = 0  # ended by a size or time limit
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class CallbackRelay:
    """Start with ``CallbackRelay.start`` (a container by name) or ``serve`` (a socket source).

    ``problem`` is set when the relay could not listen or reach the container: a warning for
    the user, never an exception. ``stop()`` closes the port and ends the helper."""

    def __init__(self, listener: socket.socket | None, container_port: int, limits: RelayLimits,
                 log: LogLine, problem: str | None = None) -> None:
        self._listener = listener
        self.port: int | None = listener.getsockname()[1] if listener else None
        self.container_port = container_port
        self.limits = limits
        self.problem = problem
        self.stats = RelayStats()
        self._log = log
        self._noisy = ThrottledLog(log, TokenBucket(20, 0.1))
        self._source: SocketSource | None = None
        self._watch: ProcessWatch | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._settled = threading.Event()  # attached, or given up (see problem)
        self._ended = threading.Event()
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._conns: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread: threading.Thread | None = None
        self.helper_pid: int | None = None  # the namespace helper, while it runs (logs, tests)

    # -- starting --------------------------------------------------------------------------------

    @classmethod
    def start(cls, runner: RelayRunner, container: str, *, port: int = DEFAULT_PORT, container_port: int | None = None,
              limits: RelayLimits | None = None, log: LogLine | None = None, python: str = sys.executable,
              wait_s: float = 120.0) -> CallbackRelay:
        """Listen now; in the background wait (up to ``wait_s``) for the container to run, enter
        its network namespace and relay. Never raises for a busy port: see ``problem``."""
        relay = cls._listening(port, container_port, limits, log)
        if relay._listener is not None:
            relay._run(lambda: relay._attach(runner, container, python, wait_s))
        return relay

    @classmethod
    def serve(cls, source: SocketSource, *, port: int = DEFAULT_PORT, container_port: int | None = None,
              limits: RelayLimits | None = None, log: LogLine | None = None,
              watch_pid: int | None = None) -> CallbackRelay:
        """Relay at once through a ``source`` made elsewhere (tests, or a launcher that holds one)."""
        relay = cls._listening(port, container_port, limits, log)
        if relay._listener is not None:
            relay._source = source
            relay._watch = ProcessWatch(watch_pid) if watch_pid else None
            relay._run(lambda: True)
        else:
            source.close()
        return relay

    @classmethod
    def _listening(cls, port: int, container_port: int | None, limits: RelayLimits | None,
                   log: LogLine | None) -> CallbackRelay:
        limits = limits or RelayLimits()
        say = log or (lambda line: None)
        inside = port if container_port is None else container_port
        try:
            listener = _listen(port)
        except OSError as exc:
            problem = _bind_problem(port, exc)
            say(f"callback relay: {problem}")
            return cls(None, inside, limits, say, problem)
        return cls(listener, inside, limits, say)

    def _run(self, attach: Callable[[], bool]) -> None:
        self._thread = threading.Thread(target=self._main, args=(attach,), name="spotidoctor-callback-relay",
                                        daemon=True)
        self._thread.start()

    def _attach(self, runner: RelayRunner, container: str, python: str, wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        pid = None
        while pid is None:
            if self._stopping.is_set():
                return False
            if time.monotonic() >= deadline:
                self._fail(f"container {container} was not running after {wait_s:.0f}s; the sign-in callback "
                           "is not relayed")
                return False
            pid = container_pid(runner, container)
            if pid is None:
                self._sleep(0.25)
        self._watch = ProcessWatch(pid)
        try:
            helper = HelperSockets.start(runner, pid, python)
        except NetnsError as exc:
            self._fail(str(exc))
            return False
        self._source, self.helper_pid = helper, helper.pid
        self._log(f"callback relay: host {LOOPBACK}:{self.port} -> {LOOPBACK}:{self.container_port} in container "
                  f"{container} (pid {pid}; namespace helper pid {helper.pid})")
        return True

    def _fail(self, problem: str) -> None:
        self.problem = problem
        self._log(f"callback relay: {problem}")

    def _sleep(self, seconds: float) -> None:
        select.select([self._wake_r], [], [], seconds)

    # -- serving ----------------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait until connections are relayed, or the relay gave up (then False and ``problem``
        says why). Tests use it; the launch need not wait."""
        self._settled.wait(timeout)
        return self._ready.is_set()

    def _main(self, attach: Callable[[], bool]) -> None:
        try:
            attached = attach()
            if attached:
                self._ready.set()
            self._settled.set()
            if attached:
                self._accept_loop()
        except Exception as exc:  # never a traceback on the user's terminal; the problem says it
            self._fail(f"stopped by an unexpected error ({type(exc).__name__}: {exc})")
        finally:
            self._settled.set()
            self._close_listener()
            self._close_source()  # the helper must not keep an ended container's namespace alive
            self._ended.set()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        self._listener.setblocking(False)
        poller = select.poll()
        poller.register(self._listener.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        watch_fd = self._watch.fd if self._watch else None
        if watch_fd is not None:
            poller.register(watch_fd, select.POLLIN)
        while not self._stopping.is_set():
            events = dict(poller.poll(None if watch_fd is not None or self._watch is None else 1000))
            if self._stopping.is_set():
                return
            if self._watch is not None and self._watch.ended():
                self._log("callback relay: the container has ended; the port is closed")
                return
            if events.get(self._listener.fileno()) and not self._accept_one():
                return

    def _accept_one(self) -> bool:
        """Accept one connection and start relaying it; False when the listener is broken."""
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return True
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self._noisy(f"callback relay: cannot accept ({exc.strerror})")
                self._sleep(0.1)
                return True
            self._log(f"callback relay: stopped, the listener failed ({exc.strerror or exc})")
            return False
        if not self._slots.acquire(blocking=False):
            self.stats.add("refused_busy")
            self._noisy(f"callback relay: {self.limits.max_connections} connections already open; one was closed")
            conn.close()
            return True
        thread = threading.Thread(target=self._relay_one, args=(conn,), name="spotidoctor-callback-conn",
                                  daemon=True)
        with self._lock:
            self._conns.add(thread)
        thread.start()
        return True

    def _relay_one(self, conn: socket.socket) -> None:
        try:
            with conn:
                upstream = self._connect_inside()
                if upstream is None:
                    return
                with upstream:
                    self.stats.add("relayed")
                    done = pump(conn, upstream, self.limits.pump_limits(), stop=self._stopping)
                if done.end in (PumpEnd.IDLE, PumpEnd.TOO_LONG, PumpEnd.TOO_BIG):
                    self.stats.add("cut")
                    self._noisy(f"callback relay: a connection was cut ({done.end.value}; "
                                f"{done.up_bytes} bytes in, {done.down_bytes} out)")
        except Exception as exc:  # one bad connection must not print a traceback or end the relay
            self.stats.add("failed")
            self._noisy(f"callback relay: a connection failed ({type(exc).__name__})")
        finally:
            self._slots.release()
            with self._lock:
                self._conns.discard(threading.current_thread())

    def _connect_inside(self) -> socket.socket | None:
        assert self._source is not None
        try:
            upstream = self._source.socket()
        except NetnsError as exc:
            self.stats.add("failed")
            self._noisy(f"callback relay: {exc}")
            return None
        upstream.settimeout(self.limits.connect_timeout_s)
        try:
            upstream.connect((LOOPBACK, self.container_port))
        except OSError as exc:
            upstream.close()
            self.stats.add("failed")
            self._noisy(f"callback relay: nothing answers on {LOOPBACK}:{self.container_port} in the container "
                        f"({exc.strerror or exc})")
            return None
        return upstream

    # -- stopping ---------------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._ended.is_set()

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _close_source(self) -> None:
        with self._lock:
            source, self._source = self._source, None
        if source is not None:
            source.close()

    def stop(self) -> None:
        """Close the port, end open connections and the helper. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(INSPECT_TIMEOUT_S + 5)  # it may be inside one `podman inspect`
        self._close_listener()
        with self._lock:
            conns = list(self._conns)
        for thread in conns:
            thread.join(5)
        self._close_source()
        if self._thread is None or not self._thread.is_alive():  # never close an fd a thread still uses
            if self._watch is not None:
                self._watch.close()
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
        self._noisy.flush()


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers, not a second listener
        sock.bind((LOOPBACK, port))
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_problem(port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"{LOOPBACK}:{port} is already in use by another program (a Spotify outside the container?): "
                "the browser's sign-in callback will not reach this Spotify. Sign in with the QR code, or "
                "free the port (`ss -ltnp` shows who holds it)")
    return f"cannot listen on {LOOPBACK}:{port} ({exc.strerror or exc}): the sign-in callback is not relayed"

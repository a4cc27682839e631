"""Copy bytes both ways between two connected sockets, within limits of size and time.

Non-blocking with a bounded buffer per direction, so a peer that never reads cannot make the
relay buffer without end or block it: it runs into the idle or total time limit instead.
A half-close is passed on (EOF one way shuts the other socket's write side).
"""
from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum

from spotidoctor.channels.ratelimit import Clock

CHUNK = 64 * 1024
TICK_S = 0.25  # how often a pump looks at its stop event


@dataclass(frozen=True)
class PumpLimits:
    max_up_bytes: int  # first socket -> second (the browser's request)
    max_down_bytes: int  # second -> first (the answer)
    idle_timeout_s: float  # nothing moved for this long
    max_duration_s: float  # the whole exchange


class PumpEnd(str, Enum):
    DONE = "done"  # both sides finished
    IDLE = "idle"
    TOO_LONG = "too long"
    TOO_BIG = "too big"
    RESET = "reset"  # a peer reset the connection
    STOPPED = "stopped"


@dataclass(frozen=True)
class PumpResult:
    end: PumpEnd
    up_bytes: int
    down_bytes: int


class _Direction:
    def __init__(self, src: socket.socket, dst: socket.socket, cap: int) -> None:
        self.src, self.dst, self.cap = src, dst, cap
        self.buf = bytearray()
        self.eof = False
        self.shut = False
        self.total = 0

    @property
    def finished(self) -> bool:
        return self.eof and not self.buf and self.shut

    @property
    def wants_read(self) -> bool:
        return not self.eof and len(self.buf) < CHUNK

    def read(self) -> bool:
        """Read what is there; False when the cap is exceeded."""
        try:
            data = self.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            self.eof = True
            return True
        self.total += len(data)
        self.buf += data
        return self.total <= self.cap

    def write(self) -> None:
        try:
            sent = self.dst.send(self.buf)
        except (BlockingIOError, InterruptedError):
            return
        del self.buf[:sent]

    def pass_eof(self) -> None:
        if self.eof and not self.buf and not self.shut:
            self.shut = True
            try:
                self.dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def _interest(up: _Direction, down: _Direction) -> dict[int, int]:
    masks = {up.src.fileno(): 0, down.src.fileno(): 0}
    for d in (up, down):
        if d.wants_read:
            masks[d.src.fileno()] |= select.POLLIN
        if d.buf:
            masks[d.dst.fileno()] |= select.POLLOUT
    return masks


def pump(first: socket.socket, second: socket.socket, limits: PumpLimits, *,
         stop: threading.Event | None = None, clock: Clock = time.monotonic) -> PumpResult:
    """Relay until both directions are done or a limit is hit; the caller closes the sockets."""
    for sock in (first, second):
        sock.setblocking(False)
    up = _Direction(first, second, limits.max_up_bytes)
    down = _Direction(second, first, limits.max_down_bytes)
    started = last = clock()

    def result(end: PumpEnd) -> PumpResult:
        return PumpResult(end, up.total, down.total)

    while not (up.finished and down.finished):
        now = clock()
        if stop is not None and stop.is_set():
            return result(PumpEnd.STOPPED)
        if now - started >= limits.max_duration_s:
            return result(PumpEnd.TOO_LONG)
        if now - last >= limits.idle_timeout_s:
            return result(PumpEnd.IDLE)
        poller = select.poll()
        for fd, mask in _interest(up, down).items():
            if mask:
                poller.register(fd, mask)
        wait = min(TICK_S, limits.idle_timeout_s - (now - last), limits.max_duration_s - (now - started))
        events = dict(poller.poll(max(0.0, wait) * 1000))
        if not events:
            continue
        before = _progress(up, down)
        try:
            for d in (up, down):
                if events.get(d.src.fileno(), 0) & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    if not d.read():
                        return result(PumpEnd.TOO_BIG)
            for d in (up, down):
                if d.buf and events.get(d.dst.fileno(), 0) & (select.POLLOUT | select.POLLERR):
                    d.write()
        except OSError:  # reset, broken pipe
            return result(PumpEnd.RESET)
        for d in (up, down):
            d.pass_eof()
        if _progress(up, down) != before:  # only moving data (or an EOF) counts against idleness
            last = clock()
    return result(PumpEnd.DONE)


def _progress(up: _Direction, down: _Direction) -> tuple[int, ...]:
    return up.total, down.total, len(up.buf), len(down.buf), up.eof, down.eof

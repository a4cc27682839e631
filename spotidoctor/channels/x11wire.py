"""A small X11 client for the few requests spotidoctor makes itself, every one bounded.

python-xlib and libxcb wait forever on a server that accepts and never answers, and
python-xlib ignores FamilyWild cookies. This client speaks the little-endian wire protocol
directly on a unix socket: connection setup, ``QueryExtension`` and extension requests.
Each operation (the setup, one request and its reply) has a deadline; a server that does
not answer in time raises ``ProbeTimeout``. A ``before_auth`` hook sees the connected
socket before the setup request, i.e. before any cookie byte is sent.

Cookie bytes are only ever written to the socket: never into errors or ``repr``.
"""
from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.probes.x11 import setup_request

__all__ = ["XWire", "XRequestError", "XSetupRefused", "XServerGone", "ExtensionInfo", "query_extension_request",
           "parse_query_extension", "pad4"]

X_QUERY_EXTENSION = 98
X_GET_INPUT_FOCUS = 43
REPLY_HEAD = 32
# Core error codes worth a name in messages (X11 protocol, "Errors").
CORE_ERRORS = {1: "BadRequest", 2: "BadValue", 8: "BadMatch", 10: "BadAccess", 11: "BadAlloc",
               16: "BadLength", 17: "BadImplementation"}


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


class XSetupRefused(ProbeUnavailable):
    """The server answered the connection setup with Failed or Authenticate."""


class XServerGone(ProbeUnavailable):
    """No server listens: the socket file is missing or nobody accepts on it."""


class XRequestError(ProbeUnavailable):
    """The server answered a request with an X error."""

    def __init__(self, code: int, major: int, minor: int, what: str) -> None:
        self.code, self.major, self.minor = code, major, minor
        name = CORE_ERRORS.get(code, f"error {code}")
        super().__init__(f"{what}: the X server answered {name} (request {major}.{minor})")


@dataclass(frozen=True)
class ExtensionInfo:
    present: bool
    major_opcode: int
    first_event: int
    first_error: int


def query_extension_request(name: bytes) -> bytes:
    body = pad4(name)
    return struct.pack("<BxHH2x", X_QUERY_EXTENSION, 2 + len(body) // 4, len(name)) + body


def parse_query_extension(reply: bytes) -> ExtensionInfo:
    present, major, event, error = struct.unpack_from("<BBBB", reply, 8)
    return ExtensionInfo(bool(present), major, event, error)


_GET_INPUT_FOCUS = struct.pack("<BxH", X_GET_INPUT_FOCUS, 1)


class XWire:
    """One connection. ``label`` names it in messages (``X server :0``)."""

    def __init__(self, sock: socket.socket, label: str, timeout: float) -> None:
        self._sock = sock
        self.label = label
        self.timeout = timeout
        self._sequence = 0  # of the last request sent (16-bit on the wire)

    @classmethod
    def connect(cls, path: str, auth: tuple[bytes, bytes], *, timeout: float, label: str,
                before_auth: Callable[[socket.socket], None] | None = None) -> XWire:
        """Connect and complete the setup. ``XSetupRefused`` when the server says no;
        ``ProbeTimeout`` when it does not answer; ``ProbeUnavailable`` when nobody listens."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        wire = cls(sock, label, timeout)
        try:
            sock.settimeout(timeout)
            try:
                sock.connect(path)
            except TimeoutError as exc:
                raise ProbeTimeout(f"{label}: connecting to {path} took longer than {timeout:g}s") from exc
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise XServerGone(f"{label}: nobody listens on {path}: {exc.strerror or exc}") from exc
            except OSError as exc:
                raise ProbeUnavailable(f"{label}: cannot connect to {path}: {exc.strerror or exc}") from exc
            if before_auth is not None:
                before_auth(sock)
            wire._setup(*auth)
        except BaseException:
            sock.close()
            raise
        return wire

    # -- reading with a deadline ---------------------------------------------------------
    def _recv_exactly(self, count: int, deadline: float, what: str) -> bytes:
        data = bytearray()
        while len(data) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeTimeout(f"{self.label} did not answer {what} within {self.timeout:g}s")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(min(count - len(data), 1 << 16))
            except TimeoutError as exc:
                raise ProbeTimeout(f"{self.label} did not answer {what} within {self.timeout:g}s") from exc
            except OSError as exc:
                raise ProbeUnavailable(f"{self.label}: connection lost during {what}: "
                                       f"{exc.strerror or exc}") from exc
            if not chunk:
                raise ProbeUnavailable(f"{self.label} closed the connection during {what}")
            data += chunk
        return bytes(data)

    def _send(self, data: bytes, what: str) -> None:
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise ProbeTimeout(f"{self.label} did not take {what} within {self.timeout:g}s") from exc
        except OSError as exc:
            raise ProbeUnavailable(f"{self.label}: connection lost sending {what}: {exc.strerror or exc}") from exc

    def _setup(self, auth_name: bytes, auth_data: bytes) -> None:
        deadline = time.monotonic() + self.timeout
        self._send(setup_request(auth_name, auth_data), "the connection setup")
        head = self._recv_exactly(8, deadline, "the connection setup")
        (extra_words,) = struct.unpack_from("<H", head, 6)
        body = self._recv_exactly(extra_words * 4, deadline, "the connection setup")
        if head[0] == 1:
            return
        if head[0] == 2:
            raise XSetupRefused(f"{self.label} wants another authentication protocol")
        reason = body[:head[1]].decode("latin-1", errors="replace").strip()
        raise XSetupRefused(f"{self.label} refused the connection: {reason or 'no reason given'}")

    # -- requests ------------------------------------------------------------------------
    def request(self, data: bytes, what: str) -> bytes:
        """Send one request that has a reply; return the whole reply (32 bytes and more)."""
        self._send(data, what)
        self._sequence += 1
        return self._await(self._sequence & 0xFFFF, what, time.monotonic() + self.timeout)

    def checked(self, data: bytes, what: str) -> None:
        """Send one request without a reply, then a round trip that reports its error."""
        self._send(data + _GET_INPUT_FOCUS, what)
        self._sequence += 2
        self._await(self._sequence & 0xFFFF, what, time.monotonic() + self.timeout)

    def _await(self, sequence: int, what: str, deadline: float) -> bytes:
        while True:
            packet = self._recv_exactly(REPLY_HEAD, deadline, what)
            if packet[0] == 0:  # an error: for our request or the round trip after it
                major, minor = packet[10], struct.unpack_from("<H", packet, 8)[0]
                raise XRequestError(packet[1], major, minor, f"{self.label}: {what}")
            if packet[0] != 1:
                continue  # an event (MappingNotify goes to every client)
            (extra,) = struct.unpack_from("<I", packet, 4)
            body = self._recv_exactly(extra * 4, deadline, what)
            if struct.unpack_from("<H", packet, 2)[0] == sequence:
                return packet + body

    def query_extension(self, name: str) -> ExtensionInfo:
        reply = self.request(query_extension_request(name.encode("ascii")), f"QueryExtension {name}")
        return parse_query_extension(reply)

    def detach(self) -> socket.socket:
        """Hand the socket over (to keep the connection open), no longer used here."""
        return self._sock

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> XWire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

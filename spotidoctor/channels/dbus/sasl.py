"""The D-Bus authentication (SASL) line phase, as a state machine without I/O.

Why the relay answers it itself: the container's uid (1500) is a subordinate uid on the
host, so when a client's ``AUTH EXTERNAL <hex uid>`` reaches the session bus, the bus
compares the claimed uid with the kernel's view of the proxy connection (the user) and
rejects it; libdbus and sd-bus always claim their uid. GDBus >= 2.74 claims none and gets
through. So the relay accepts EXTERNAL with any claimed uid or none, and authenticates
upstream itself as the user. Access control is the socket: only the container can reach it.

Server side (``ServerAuth``), per the D-Bus specification's "Server states":

- the first byte must be NUL (clients send their credentials with it);
- ``AUTH`` alone lists the mechanisms: ``REJECTED EXTERNAL``;
- ``AUTH EXTERNAL <hex>`` with a decimal uid (any) -> ``OK <guid>``; with none ->
  ``DATA``, then ``DATA [hex]`` -> ``OK <guid>``; any other mechanism or identity ->
  ``REJECTED EXTERNAL``;
- ``NEGOTIATE_UNIX_FD`` -> ``ERROR``: no file descriptors cross the sandbox;
- ``CANCEL``/``ERROR`` -> ``REJECTED EXTERNAL`` (back to the start); ``BEGIN`` before
  ``OK`` ends the connection; anything else -> ``ERROR``;
- ``BEGIN`` after ``OK``: authenticated; bytes after it are the first messages.

Lines are bounded, so are the number of commands; a line that is not printable ASCII ends
the connection. Pipelined input (sd-bus sends AUTH, NEGOTIATE_UNIX_FD and BEGIN at once)
is answered in order. The GUID in ``OK`` is the driver's business (``SendOk``): the relay
answers with the upstream bus's own GUID.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["ServerAuth", "Send", "SendOk", "Authenticated", "Refused", "Action", "MAX_LINE", "MAX_COMMANDS", "CRLF",
           "MECHANISM", "upstream_hello", "parse_upstream_ok", "UpstreamRefused", "UPSTREAM_BEGIN", "is_guid"]

MECHANISM = "EXTERNAL"
MAX_LINE = 1024  # bytes without CRLF; real lines are under 100
MAX_COMMANDS = 32  # a real client needs 3 to 5
CRLF = b"\r\n"
REJECTED = f"REJECTED {MECHANISM}"
NO_FDS = 'ERROR "file descriptors are not passed into the sandbox"'
UNKNOWN = 'ERROR "unknown or unexpected command"'
UPSTREAM_BEGIN = b"BEGIN\r\n"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_GUID = re.compile(r"[0-9a-f]{32}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")


@dataclass(frozen=True)
class Send:
    """Send this line (CRLF is added)."""

    line: str


@dataclass(frozen=True)
class SendOk:
    """Send ``OK <guid>``: the driver knows the GUID."""


@dataclass(frozen=True)
class Authenticated:
    """``BEGIN`` arrived after ``OK``; ``rest`` is what the client sent after it (messages)."""

    rest: bytes


@dataclass(frozen=True)
class Refused:
    """End the connection; ``reason`` is for the log (never the client's bytes)."""

    reason: str


Action = Send | SendOk | Authenticated | Refused


class _State(Enum):
    NUL = "waiting for the NUL byte"
    AUTH = "waiting for AUTH"
    DATA = "waiting for DATA"
    BEGIN = "waiting for BEGIN"
    DONE = "authenticated"
    CLOSED = "refused"


class ServerAuth:
    """Feed it the client's bytes; it says what to answer, when to go on and when to refuse."""

    def __init__(self, *, max_line: int = MAX_LINE, max_commands: int = MAX_COMMANDS) -> None:
        self._state = _State.NUL
        self._buffer = bytearray()
        self._max_line = max_line
        self._max_commands = max_commands
        self._commands = 0
        self.claimed_uid: str | None = None  # what the client said it was ("" = nothing)

    @property
    def finished(self) -> bool:
        return self._state in (_State.DONE, _State.CLOSED)

    @property
    def state(self) -> str:
        return self._state.value

    def feed(self, data: bytes) -> list[Action]:
        """Consume ``data``; return the actions in order. Nothing more is accepted once finished."""
        if self.finished:
            raise RuntimeError(f"authentication already {self._state.value}")
        self._buffer += data
        actions: list[Action] = []
        if self._state is _State.NUL:
            if not self._buffer:
                return actions
            if self._buffer[0] != 0:
                return self._refuse(actions, "the first byte was not NUL: not a D-Bus client")
            del self._buffer[0]
            self._state = _State.AUTH
        while not self.finished:
            line = self._next_line(actions)
            if line is None:
                break
            actions.extend(self._command(line))
        if self._state is _State.DONE:
            actions.append(Authenticated(bytes(self._buffer)))
            self._buffer.clear()
        return actions

    def eof(self) -> Refused:
        """The client closed the connection before ``BEGIN``."""
        return Refused(f"the client closed the connection while {self._state.value}")

    def _refuse(self, actions: list[Action], reason: str) -> list[Action]:
        self._state = _State.CLOSED
        self._buffer.clear()
        actions.append(Refused(reason))
        return actions

    def _next_line(self, actions: list[Action]) -> str | None:
        end = self._buffer.find(CRLF)
        if end < 0:
            if len(self._buffer) > self._max_line:
                self._refuse(actions, f"an authentication line longer than {self._max_line} bytes")
            return None
        if end > self._max_line:
            self._refuse(actions, f"an authentication line longer than {self._max_line} bytes")
            return None
        raw = bytes(self._buffer[:end])
        del self._buffer[:end + len(CRLF)]
        self._commands += 1
        if self._commands > self._max_commands:
            self._refuse(actions, f"more than {self._max_commands} authentication commands")
            return None
        if not raw or not _PRINTABLE.fullmatch(raw):
            self._refuse(actions, "an authentication line that is not printable ASCII")
            return None
        return raw.decode("ascii")

    def _command(self, line: str) -> list[Action]:
        command, _, argument = line.partition(" ")
        if command == "BEGIN":
            if self._state is _State.BEGIN:
                self._state = _State.DONE
                return []
            return self._refuse([], f"BEGIN while {self._state.value}")
        if command == "ERROR" or (command == "CANCEL" and self._state is not _State.AUTH):
            self._state = _State.AUTH
            return [Send(REJECTED)]
        if self._state is _State.AUTH and command == "AUTH":
            return self._auth(argument)
        if self._state is _State.DATA and command == "DATA":
            return self._identity(argument.strip())
        if self._state is _State.BEGIN and command == "NEGOTIATE_UNIX_FD":
            return [Send(NO_FDS)]
        return [Send(UNKNOWN)]

    def _auth(self, argument: str) -> list[Action]:
        mechanism, space, response = argument.partition(" ")
        if mechanism != MECHANISM:  # also plain `AUTH`: the list of mechanisms
            return [Send(REJECTED)]
        if not space:  # no initial response (GDBus >= 2.74): ask for it with an empty challenge
            self._state = _State.DATA
            return [Send("DATA")]
        return self._identity(response)

    def _identity(self, hex_identity: str) -> list[Action]:
        """Any decimal uid, or none, is accepted: the bus sees the relay's user anyway."""
        identity = _decimal_identity(hex_identity)
        if identity is None:
            self._state = _State.AUTH
            return [Send(REJECTED)]
        self.claimed_uid = identity
        self._state = _State.BEGIN
        return [SendOk()]


def _decimal_identity(hex_identity: str) -> str | None:
    """The hex-decoded identity when it is a decimal uid or empty; None otherwise."""
    if not _HEX.fullmatch(hex_identity):
        return None
    raw = bytes.fromhex(hex_identity)
    return raw.decode("ascii") if raw == b"" or raw.isdigit() else None


# -- the relay's own authentication, upstream -------------------------------------------------

class UpstreamRefused(Exception):
    """The proxy (the bus behind it) did not answer ``OK <guid>``."""


def upstream_hello(uid: int) -> bytes:
    """NUL, then ``AUTH EXTERNAL`` with our own uid (decimal, hex-encoded)."""
    return b"\0AUTH " + MECHANISM.encode() + b" " + str(uid).encode().hex().encode() + CRLF


def is_guid(text: str) -> bool:
    return bool(_GUID.fullmatch(text))


def parse_upstream_ok(line: bytes) -> str:
    """The GUID from the bus's ``OK <guid>`` line (CRLF stripped); anything else raises."""
    text = line.decode("ascii", errors="replace")
    if text.startswith("OK ") and is_guid(text[3:]):
        return text[3:]
    if text.startswith("REJECTED"):
        raise UpstreamRefused("the session bus rejected the proxy's authentication as this user")
    raise UpstreamRefused("the proxy answered the authentication with something other than OK")

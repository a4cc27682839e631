"""D-Bus addresses and where the user's session bus is (pure helpers for the ``dbus.*`` checks).

An address is ``transport:key=value,...`` and may list several, separated by ``;``, tried
in order; values escape bytes outside ``[-0-9A-Za-z_/.\\*]`` as ``%XX`` (D-Bus
specification, "Server Addresses"). The session bus is ``$DBUS_SESSION_BUS_ADDRESS`` or,
when that is unset, the socket ``$XDG_RUNTIME_DIR/bus`` (the systemd-logind convention
libdbus, GDBus and sd-bus all fall back to).

``unix:abstract=`` names live in the host's network namespace, which the container (with
its own) cannot reach; that does not matter here, because the proxy connects on the host.
"""
from __future__ import annotations

import os
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from spotidoctor.errors import ParseError

__all__ = ["BusAddress", "SessionBus", "SessionBusFinding", "parse_address", "escape_value", "unix_path_address",
           "find_session_bus", "ENV_VAR", "DEFAULT_SOCKET_NAME"]

ENV_VAR = "DBUS_SESSION_BUS_ADDRESS"
DEFAULT_SOCKET_NAME = "bus"
_PLAIN = frozenset(string.ascii_letters + string.digits + "-_/.\\*")
_LISTEN_ONLY = ("tmpdir", "dir")  # unix:tmpdir= and unix:dir= are for servers, not clients


@dataclass(frozen=True)
class BusAddress:
    transport: str
    params: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.params if name == key), None)


def _unescape(value: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "%":
            pair = value[i + 1:i + 3]
            if len(pair) != 2 or any(c not in string.hexdigits for c in pair):
                raise ParseError(f"bad %-escape in {value!r}")
            out.append(int(pair, 16))
            i += 3
        else:
            out += value[i].encode()
            i += 1
    return out.decode("utf-8", errors="surrogateescape")


def parse_address(text: str) -> tuple[BusAddress, ...]:
    """Every address in ``text`` (``;``-separated), values unescaped. Raises ``ParseError``."""
    found = []
    for entry in (part for part in text.strip().split(";") if part):
        transport, colon, rest = entry.partition(":")
        if not colon or not transport:
            raise ParseError(f"{entry!r} has no transport (like unix:)")
        params = []
        for pair in (p for p in rest.split(",") if p):
            key, equals, value = pair.partition("=")
            if not equals or not key:
                raise ParseError(f"{pair!r} in {entry!r} is not key=value")
            params.append((key, _unescape(value)))
        found.append(BusAddress(transport, tuple(params)))
    if not found:
        raise ParseError("the address is empty")
    return tuple(found)


def escape_value(value: str) -> str:
    """Escape a value for an address (every byte outside the plain set becomes %XX)."""
    return "".join(c if c in _PLAIN else "".join(f"%{b:02x}" for b in c.encode("utf-8", "surrogateescape"))
                   for c in value)


def unix_path_address(path: str) -> str:
    return f"unix:path={escape_value(path)}"


@dataclass(frozen=True)
class SessionBus:
    address: str  # what the proxy is given
    source: str  # "DBUS_SESSION_BUS_ADDRESS" or "$XDG_RUNTIME_DIR/bus"
    socket_path: str | None = None  # a filesystem socket, seen to exist
    abstract: str | None = None  # an abstract socket name (cannot be checked from here)
    note: str | None = None


@dataclass(frozen=True)
class SessionBusFinding:
    """Either a usable ``bus`` or a ``problem`` saying why there is none."""

    bus: SessionBus | None
    problem: str | None = None


def find_session_bus(env: Mapping[str, str], is_socket: Callable[[str], bool]) -> SessionBusFinding:
    """Where the session bus is, from ``env`` (``is_socket`` checks filesystem sockets)."""
    text = env.get(ENV_VAR, "").strip()
    if text:
        return _from_variable(text, env, is_socket)
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if not runtime:
        return SessionBusFinding(None, f"no session bus: {ENV_VAR} and XDG_RUNTIME_DIR are both unset")
    path = os.path.join(runtime, DEFAULT_SOCKET_NAME)
    if is_socket(path):
        return SessionBusFinding(SessionBus(unix_path_address(path), "$XDG_RUNTIME_DIR/bus", socket_path=path))
    return SessionBusFinding(None, f"no session bus: {ENV_VAR} is unset and {path} is not a socket")


def _from_variable(text: str, env: Mapping[str, str], is_socket: Callable[[str], bool]) -> SessionBusFinding:
    try:
        entries = parse_address(text)
    except ParseError as exc:
        return SessionBusFinding(None, f"{ENV_VAR} is not a D-Bus address: {exc}")
    reasons = []
    for entry in entries:
        bus, reason = _usable(entry, text, env, is_socket)
        if bus is not None:
            return SessionBusFinding(bus)
        reasons.append(reason)
    return SessionBusFinding(None, f"{ENV_VAR} names no reachable bus: {'; '.join(reasons)}")


def _usable(entry: BusAddress, text: str, env: Mapping[str, str],
            is_socket: Callable[[str], bool]) -> tuple[SessionBus | None, str]:
    source = ENV_VAR
    if entry.transport == "unix":
        path = entry.get("path")
        if path is None and entry.get("runtime") == "yes" and env.get("XDG_RUNTIME_DIR"):
            path = os.path.join(env["XDG_RUNTIME_DIR"], DEFAULT_SOCKET_NAME)
        if path is not None:
            if is_socket(path):
                return SessionBus(text, source, socket_path=path), ""
            return None, f"{path} is not a socket (an address left over from an earlier session?)"
        abstract = entry.get("abstract")
        if abstract is not None:
            return SessionBus(text, source, abstract=abstract,
                              note="an abstract socket: only the host's network namespace reaches it, which is "
                                   "where the proxy runs; the container never connects to it"), ""
        if any(entry.get(key) is not None for key in _LISTEN_ONLY):
            return None, "unix:tmpdir=/unix:dir= is an address to listen on, not to connect to"
        return None, "a unix: address without path= or abstract="
    if entry.transport in ("tcp", "nonce-tcp"):
        return SessionBus(text, source, note="a TCP address: unusual for a session bus"), ""
    return None, f"the {entry.transport}: transport is not supported here"

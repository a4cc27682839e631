"""X11 names and cookies: DISPLAY parsing, Xauthority reading, FamilyWild cookie files.

Pure functions over strings and bytes (no python-xlib: it ignores FamilyWild entries and
has no writer). Parsers raise only ``ParseError``. Cookie bytes live in
``XauthEntry.data``, which is kept out of ``repr`` so they cannot leak into messages.
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from spotidoctor.errors import ParseError

__all__ = [
    "DisplayName", "XauthEntry", "parse_display", "parse_xauthority", "encode_xauthority",
    "cookie_entries", "wild_cookie_file", "best_auth", "xauthority_path", "digest",
    "socket_path", "hostname_from", "HOSTNAME_FILE", "FAMILY_LOCAL", "FAMILY_WILD", "FAMILY_INTERNET",
    "FAMILY_INTERNET6",
    "FAMILY_SERVER_INTERPRETED", "FAMILY_LOCALHOST", "MIT_MAGIC_COOKIE", "MAX_DISPLAY_NUMBER",
]

# Xauthority families (Xauth.h) and host-list families (X.h); 252 has no python-xlib name.
FAMILY_INTERNET = 0
FAMILY_INTERNET6 = 6
FAMILY_SERVER_INTERPRETED = 5
FAMILY_LOCALHOST = 252
FAMILY_LOCAL = 256
FAMILY_WILD = 0xFFFF
MIT_MAGIC_COOKIE = b"MIT-MAGIC-COOKIE-1"

# TCP displays listen on 6000+n, so n above 59535 cannot exist anywhere.
MAX_DISPLAY_NUMBER = 65535 - 6000
MAX_SCREEN_NUMBER = 255
MAX_XAUTHORITY_BYTES = 1 << 20
X11_SOCKET_DIR = "/tmp/.X11-unix"

# python-xlib's grammar, with bounded digit runs.
_DISPLAY_RE = re.compile(
    r"(?:(?P<proto>tcp|unix)/)?(?P<host>[-:a-zA-Z0-9._]*):(?P<number>[0-9]{1,9})(?:\.(?P<screen>[0-9]{1,9}))?"
)


def socket_path(number: int) -> str:
    return f"{X11_SOCKET_DIR}/X{number}"


@dataclass(frozen=True)
class DisplayName:
    """A parsed DISPLAY. Local means a unix socket the container can have bind-mounted."""

    raw: str
    protocol: str | None  # "unix", "tcp" or None (automatic)
    host: str
    number: int
    screen: int

    @property
    def is_local(self) -> bool:
        # `unix:0` is local (python-xlib and libxcb both special-case the host "unix").
        if self.protocol == "tcp":
            return False
        return self.protocol == "unix" or self.host in ("", "unix")

    @property
    def canonical(self) -> str:
        """The local form the container gets (screen dropped: DISPLAY=:n works for all)."""
        return f":{self.number}"

    @property
    def socket_path(self) -> str:
        return socket_path(self.number)


def parse_display(value: str) -> DisplayName:
    """Parse ``:0``, ``:0.0``, ``unix:0``, ``unix/:0``, ``host:0``, ``tcp/host:0``."""
    if not value:
        raise ParseError("DISPLAY is empty")
    match = _DISPLAY_RE.fullmatch(value)
    if match is None:
        raise ParseError(f"DISPLAY {value!r} is not of the form [host]:number[.screen]")
    number = int(match["number"])
    screen = int(match["screen"] or 0)
    if number > MAX_DISPLAY_NUMBER:
        raise ParseError(f"DISPLAY {value!r}: display number {number} is out of range "
                         f"(0..{MAX_DISPLAY_NUMBER})")
    if screen > MAX_SCREEN_NUMBER:
        raise ParseError(f"DISPLAY {value!r}: screen number {screen} is out of range")
    host = match["host"]
    if match["proto"] == "unix" and host not in ("", "unix"):
        raise ParseError(f"DISPLAY {value!r}: a unix socket display cannot name a host")
    return DisplayName(value, match["proto"], host, number, screen)


# -- Xauthority --------------------------------------------------------------------------

@dataclass(frozen=True)
class XauthEntry:
    """One Xauthority record. ``data`` is the secret: never shown, logged or returned."""

    family: int
    address: bytes
    number: bytes
    name: bytes
    data: bytes = field(repr=False)

    @property
    def display_number(self) -> int | None:
        text = self.number.decode("ascii", errors="replace")
        return int(text) if text.isdigit() and len(text) <= 9 else None

    def describe(self) -> str:
        """Safe text for messages (like ``xauth list`` without the cookie)."""
        family = {FAMILY_LOCAL: "local", FAMILY_WILD: "wild", FAMILY_INTERNET: "inet",
                  FAMILY_INTERNET6: "inet6"}.get(self.family, str(self.family))
        address = self.address.decode("utf-8", errors="replace") if self.family in (
            FAMILY_LOCAL, FAMILY_WILD) else self.address.hex()
        return (f"{family} {address}:{self.number.decode('ascii', errors='replace')} "
                f"{self.name.decode('ascii', errors='replace')}")


def _read_counted(data: bytes, offset: int, what: str, index: int) -> tuple[bytes, int]:
    if offset + 2 > len(data):
        raise ParseError(f"Xauthority is truncated in entry {index} ({what} length)")
    (length,) = struct.unpack_from(">H", data, offset)
    offset += 2
    if offset + length > len(data):
        raise ParseError(f"Xauthority is truncated in entry {index} ({what}: {length} bytes expected, "
                         f"{len(data) - offset} left)")
    return data[offset:offset + length], offset + length


def _entries(data: bytes) -> Iterator[XauthEntry]:
    """Entries in file order; ``ParseError`` at the first damaged one."""
    offset = 0
    index = 0
    while offset < len(data):
        index += 1
        if offset + 2 > len(data):
            raise ParseError(f"Xauthority is truncated in entry {index} (family)")
        (family,) = struct.unpack_from(">H", data, offset)
        offset += 2
        fields = []
        for what in ("address", "display number", "auth name", "auth data"):
            value, offset = _read_counted(data, offset, what, index)
            fields.append(value)
        yield XauthEntry(family, *fields)


def parse_xauthority(data: bytes) -> tuple[XauthEntry, ...]:
    """All entries of an Xauthority file; ``ParseError`` if it is empty, truncated or huge."""
    if not data:
        raise ParseError("Xauthority file is empty")
    if len(data) > MAX_XAUTHORITY_BYTES:
        raise ParseError(f"Xauthority file is larger than the {MAX_XAUTHORITY_BYTES // 1024} KiB spotidoctor reads "
                         "(a normal one holds a few hundred bytes)")
    return tuple(_entries(data))


def readable_entries(data: bytes) -> tuple[XauthEntry, ...]:
    """The entries before any damage, never an error: for scanning a file for its cookies."""
    found: list[XauthEntry] = []
    try:
        for entry in _entries(data):
            found.append(entry)
    except ParseError:
        pass
    return tuple(found)


def encode_xauthority(entries: Iterable[XauthEntry]) -> bytes:
    """The file format libXau reads: big-endian family, then four length-prefixed fields."""
    out = bytearray()
    for entry in entries:
        out += struct.pack(">H", entry.family)
        for value in (entry.address, entry.number, entry.name, entry.data):
            if len(value) > 0xFFFF:
                raise ParseError("Xauthority field longer than 65535 bytes")
            out += struct.pack(">H", len(value)) + value
    return bytes(out)


def _matches_host(entry: XauthEntry, hostname: str | None) -> bool:
    if entry.family == FAMILY_WILD:
        return True
    if entry.family != FAMILY_LOCAL:
        return False
    return hostname is None or entry.address == hostname.encode()


def cookie_entries(entries: Sequence[XauthEntry], number: int,
                   hostname: str | None) -> tuple[XauthEntry, ...]:
    """MIT-MAGIC-COOKIE-1 entries a local client of display ``number`` would use, in file order.

    Like ``xauth nlist :n``: FamilyLocal entries for this host (any host when ``hostname``
    is None) and FamilyWild entries.
    """
    wanted = str(number).encode()
    return tuple(e for e in entries
                 if e.number == wanted and e.name == MIT_MAGIC_COOKIE and _matches_host(e, hostname))


def wild_cookie_file(entries: Sequence[XauthEntry], number: int, hostname: str | None) -> bytes:
    """A FamilyWild Xauthority for display ``number``.

    Byte-identical to ``xauth nlist :n | sed 's/^..../ffff/' | xauth -f F nmerge -``.
    ``ParseError`` when the display has no cookie to copy.
    """
    chosen = cookie_entries(entries, number, hostname)
    if not chosen:
        raise ParseError(f"no MIT-MAGIC-COOKIE-1 entry for display :{number}")
    wild = []
    seen: set[tuple[bytes, bytes, bytes]] = set()
    for entry in chosen:
        key = (entry.address, entry.number, entry.name)
        if key in seen:  # nmerge keeps one entry per (family, address, number, name)
            continue
        seen.add(key)
        wild.append(XauthEntry(FAMILY_WILD, entry.address, entry.number, entry.name, entry.data))
    return encode_xauthority(wild)


def best_auth(entries: Sequence[XauthEntry], number: int, hostname: str | None) -> tuple[bytes, bytes]:
    """(auth name, auth data) for a local connection, as libXau picks it; empty if none."""
    chosen = cookie_entries(entries, number, hostname)
    if not chosen:
        return b"", b""
    return chosen[0].name, chosen[0].data


def digest(data: bytes) -> str:
    """A comparable stand-in for secret bytes (compare this, never print the bytes)."""
    return hashlib.sha256(data).hexdigest()


def xauthority_path(env: Mapping[str, str], home: str | None = None) -> str | None:
    """$XAUTHORITY, else ~/.Xauthority (libXau's rule); None if neither can be formed."""
    explicit = env.get("XAUTHORITY", "")
    if explicit:
        return explicit
    base = env.get("HOME", "") or home or ""
    return os.path.join(base, ".Xauthority") if base else None


HOSTNAME_FILE = "/proc/sys/kernel/hostname"


def hostname_from(text: str | None) -> str | None:
    """The host name libXau matches FamilyLocal entries against (None: unknown)."""
    name = (text or "").strip()
    return name or None

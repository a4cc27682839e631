"""What a URL from the container may be before the host opens it (pure; no I/O).

Lines arrive from a FIFO the container writes, so every byte may be hostile: only printable
ASCII, only ``http``/``https`` (with a host, without ``user@`` and not the host's own
loopback, which the container cannot reach otherwise) and ``spotify:`` URIs, at most
``MAX_URL_BYTES``. Refusals are described by scheme and length only: a refused line is never
repeated into a log.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

# With its newline below PIPE_BUF (4096 on Linux): the shim's single write arrives whole even
# when several writers share the FIFO.
MAX_URL_BYTES = 4000
WEB_SCHEMES = ("http", "https")
SPOTIFY_SCHEME = "spotify"
_SCHEME = re.compile(rb"([A-Za-z][A-Za-z0-9+.-]{0,31}):")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


class UrlKind(str, Enum):
    WEB = "web"  # http/https: the host's browser opens it
    SPOTIFY = "spotify"  # spotify: URI: handed to the running client


@dataclass(frozen=True)
class Verdict:
    """``url`` and ``kind`` are set when accepted; ``reason`` says why not otherwise."""

    scheme: str  # lower-case scheme, "" when the line has none
    length: int
    url: str | None = None
    kind: UrlKind | None = None
    host: str = ""
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.url is not None

    def describe(self) -> str:
        """A log-safe summary: scheme, host (accepted web URLs only) and length, never the URL."""
        scheme = self.scheme or "(none)"
        where = f" host={self.host}" if self.accepted and self.host else ""
        text = f"scheme={scheme}{where} length={self.length}"
        return text if self.accepted else f"{text}: {self.reason}"


def _refused(scheme: str, length: int, reason: str) -> Verdict:
    return Verdict(scheme, length, reason=reason)


def scheme_of(line: bytes) -> str:
    match = _SCHEME.match(line)
    return match.group(1).decode("ascii").lower() if match else ""


def check_url(line: bytes) -> Verdict:
    """Judge one line (without its newline)."""
    scheme, length = scheme_of(line), len(line)
    if length == 0:
        return _refused("", 0, "empty line")
    if length > MAX_URL_BYTES:
        return _refused(scheme, length, f"longer than {MAX_URL_BYTES} bytes")
    if any(b < 0x21 or b > 0x7E for b in line):
        return _refused(scheme, length, "whitespace, control or non-ASCII characters")
    if b"\\" in line:
        return _refused(scheme, length, "a backslash (browsers and this check could read the URL differently)")
    text = line.decode("ascii")
    if scheme == SPOTIFY_SCHEME:
        if len(text) == len("spotify:"):
            return _refused(scheme, length, "an empty spotify: URI")
        return Verdict(scheme, length, text, UrlKind.SPOTIFY)
    if scheme not in WEB_SCHEMES:
        return _refused(scheme, length, "scheme not allowed (only http, https and spotify:)")
    return _check_web(text, scheme, length)


def _check_web(text: str, scheme: str, length: int) -> Verdict:
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        return _refused(scheme, length, "a malformed host")
    if not text[len(scheme) + 1:].startswith("//"):
        return _refused(scheme, length, "no //host after the scheme")
    if "@" in parts.netloc:
        return _refused(scheme, length, "a user name in the URL (user@host hides the real host)")
    try:
        _ = parts.port
    except ValueError:
        return _refused(scheme, length, "an invalid port")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return _refused(scheme, length, "no host")
    problem = _local_host_problem(host)
    if problem:
        return _refused(scheme, length, problem)
    return Verdict(scheme, length, text, UrlKind.WEB, host=host)


def _local_host_problem(host: str) -> str:
    """Why ``host`` must not be opened: the host's own loopback, in any spelling a browser reads."""
    loopback = "the host's own loopback (the container must not reach services on it)"
    if host == "localhost" or host.endswith(".localhost"):
        return loopback
    if ":" in host:  # an IPv6 literal (urlsplit took the brackets off)
        try:
            addr = ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return "a malformed IPv6 address"
        mapped = addr.ipv4_mapped
        if addr.is_loopback or addr.is_unspecified or (mapped is not None and _ipv4_local(mapped)):
            return loopback
        return ""
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        # Browsers read 127.1, 0x7f.1 and 2130706433 as IPv4 addresses, as inet_aton does.
        try:
            packed = socket.inet_aton(host)
        except OSError:
            return "a malformed IPv4 address"
        if _ipv4_local(ipaddress.IPv4Address(packed)):
            return loopback
    return ""


def _ipv4_local(addr: ipaddress.IPv4Address) -> bool:
    return addr.is_loopback or addr.is_unspecified


# -- framing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Overlong:
    """A line that outgrew the limit; the rest of it (up to its newline) is discarded."""

    limit: int


Frame = bytes | Overlong


class LineFramer:
    """Splits a byte stream into lines without ever holding more than ``max_line`` bytes: a
    writer that never sends a newline, or sends megabytes, costs one ``Overlong``."""

    def __init__(self, max_line: int = MAX_URL_BYTES) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held now."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            if not self._discarding:
                if len(self._buf) + (end - start) > self.max_line:
                    frames.append(Overlong(self.max_line))
                    self._buf.clear()
                    self._discarding = True
                else:
                    self._buf += data[start:end]
            if newline < 0:
                break
            if not self._discarding:
                frames.append(bytes(self._buf))
            self._buf.clear()
            self._discarding = False
            start = newline + 1
        return frames

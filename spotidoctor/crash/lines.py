"""Chromium/CEF log lines and the wrappers around them: parsers for one line each.

Spotify is CEF, so its stderr carries Chromium log lines
(``[MMDD/HHMMSS.micro:LEVEL:file(line)] message``) in several prefix shapes; podman's
k8s-file log driver wraps every line as ``TIMESTAMP stdout|stderr F|P message``, the user
journal as ``TIME HOST IDENT[PID]: message``. The parsers raise only ``ParseError``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from spotidoctor.errors import ParseError

QUOTE_LIMIT = 400

# '[' [pid ':'] [tid ':'] [MMDD/HHMMSS[.frac] ':'] [tick ':'] LEVEL ':' file(line)|path:line '] ' msg
# Digit runs are bounded so that int() never meets a huge number and backtracking stays
# linear; searched (not matched) because other loggers wrap the lines.
_CHROMIUM = re.compile(r"""
    \[
    (?:(?P<pid>\d{1,10}):)?
    (?:(?P<tid>\d{1,10}):)?
    (?:(?P<stamp>(?P<mon>\d\d)(?P<day>\d\d)/(?P<hh>\d\d)(?P<mi>\d\d)(?P<ss>\d\d)
        (?:\.(?P<frac>\d{6}|\d{3}))?):)?
    (?:(?P<tick>\d{1,20}):)?
    (?P<level>VERBOSE\d{1,3}|INFO|WARNING|ERROR|FATAL|UNKNOWN)
    :(?P<file>[^\]\s():]{1,512}?)
    (?:\((?P<line_p>\d{1,9})\)|:(?P<line_c>\d{1,9}))
    \]\ ?(?P<msg>.*)
""", re.X | re.S)

K8S_LINE = re.compile(r"""
    (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d))
    \ (?P<stream>stdout|stderr)
    \ (?P<tag>[FP])(?::\S*)?
    (?:\ (?P<msg>.*))?\Z
""", re.X | re.S)

# journalctl -o short-iso: "2026-11-29T22:51:29+0000 host ident[pid]: message"
JOURNAL_LINE = re.compile(r"""
    (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)
    \ (?P<host>\S+)
    \ (?P<ident>[^\s\[:]+)(?:\[(?P<pid>\d{1,10})\])?:
    (?:\ (?P<msg>.*))?\Z
""", re.X | re.S)

# podman logs --timestamps: "2026-11-29T22:51:23.392108588Z message"
TIMESTAMPED_LINE = re.compile(r"""
    (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d))
    (?:\ (?P<msg>.*))?\Z
""", re.X | re.S)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def as_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise ParseError(f"expected text, got {type(value).__name__}")


def printable(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Safe to print: control characters (terminal escapes) replaced, length capped."""
    text = _CONTROL.sub("?", text.rstrip("\r\n"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ChromiumLine:
    """One Chromium/CEF log line; ``stamp`` is container-local time without a year."""

    level: str
    location: str  # as printed: "memory.cc" or "base/process/memory.cc"
    line_no: int
    message: str
    pid: int | None = None
    tid: int | None = None
    stamp: str | None = None  # "1103/173130.577407" (MMDD/HHMMSS[.frac])
    tick: int | None = None

    @property
    def basename(self) -> str:
        return self.location.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def is_fatal(self) -> bool:
        return self.level == "FATAL"

    def when(self, year: int) -> datetime | None:
        """The stamp as a naive datetime in ``year``; None for bogus stamps (zygote ``0100/000000``)."""
        if not self.stamp:
            return None
        date, _, clock = self.stamp.partition("/")
        hms, _, frac = clock.partition(".")
        try:
            micros = int(frac.ljust(6, "0")) if frac else 0
            return datetime(year, int(date[:2]), int(date[2:]), int(hms[:2]), int(hms[2:4]), int(hms[4:6]), micros)
        except ValueError:
            return None

    def display_stamp(self) -> str | None:
        """``11-29 23:59:59.123999`` for messages."""
        if not self.stamp:
            return None
        date, _, clock = self.stamp.partition("/")
        hms, _, frac = clock.partition(".")
        text = f"{date[:2]}-{date[2:]} {hms[:2]}:{hms[2:4]}:{hms[4:6]}"
        return f"{text}.{frac}" if frac else text


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def find_chromium(text: str | bytes) -> ChromiumLine | None:
    """The Chromium log line inside ``text`` (anywhere: wrappers allowed), or None."""
    m = _CHROMIUM.search(as_text(text))
    if m is None:
        return None
    return ChromiumLine(
        level=m["level"], location=m["file"], line_no=int(m["line_p"] or m["line_c"]),
        message=m["msg"].rstrip("\r\n"), pid=_int(m["pid"]), tid=_int(m["tid"]),
        stamp=m["stamp"], tick=_int(m["tick"]),
    )


def parse_chromium(text: str | bytes) -> ChromiumLine:
    """Like ``find_chromium`` but a line without a Chromium prefix is a ``ParseError``."""
    found = find_chromium(text)
    if found is None:
        raise ParseError(f"not a Chromium log line: {printable(as_text(text), 80)!r}")
    return found


@dataclass(frozen=True)
class K8sRecord:
    """One record of podman's k8s-file log: ``TIME STREAM F|P MESSAGE``."""

    time: str
    stream: str
    partial: bool
    message: str


def parse_k8s(text: str | bytes) -> K8sRecord:
    m = K8S_LINE.match(as_text(text).rstrip("\r\n"))
    if m is None:
        raise ParseError(f"not a k8s-file log record: {printable(as_text(text), 80)!r}")
    return K8sRecord(m["time"], m["stream"], m["tag"] == "P", m["msg"] or "")


@dataclass(frozen=True)
class JournalRecord:
    time: str
    host: str
    ident: str
    pid: int | None
    message: str


def parse_journal(text: str | bytes) -> JournalRecord:
    """One ``journalctl -o short-iso`` line."""
    m = JOURNAL_LINE.match(as_text(text).rstrip("\r\n"))
    if m is None:
        raise ParseError(f"not a journal line: {printable(as_text(text), 80)!r}")
    return JournalRecord(m["time"], m["host"], m["ident"], _int(m["pid"]), m["msg"] or "")


def parse_timestamped(text: str | bytes) -> tuple[str, str]:
    """One ``podman logs --timestamps`` line: (timestamp, message)."""
    m = TIMESTAMPED_LINE.match(as_text(text).rstrip("\r\n"))
    if m is None:
        raise ParseError(f"not a timestamped log line: {printable(as_text(text), 80)!r}")
    return m["time"], m["msg"] or ""


def parse_log_time(value: str) -> datetime | None:
    """An RFC 3339 / short-iso timestamp (nanoseconds and ``+0000`` allowed) as aware UTC."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?", value.strip())
    if m is None:
        return None
    zone = m[3] or "Z"
    zone = "+00:00" if zone == "Z" else (zone if ":" in zone else zone[:3] + ":" + zone[3:])
    frac = (m[2] or "0")[:6].ljust(6, "0")
    try:
        return datetime.fromisoformat(f"{m[1]}.{frac}{zone}").astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: the zone shift leaves years 1..9999
        return None

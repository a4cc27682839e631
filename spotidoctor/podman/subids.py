"""Subordinate ids: /etc/subuid and /etc/subgid, ``getsubids``, uid_map/gid_map, the mapping.

Pure functions over text, so the checks, the storage fixes and the
launcher agree on one answer to "which host id does container uid 1500 become?".

- ``parse_subid_text``: ``NAME_OR_UID:START:COUNT`` lines; malformed lines are collected as
  ``ParseError``s with their line numbers, never raised past the caller (``strict=True``
  raises the first one instead).
- ``parse_getsubids``: ``0: alice 100000 65536`` lines (also covers NSS ``subid:``).
- ``parse_id_map``: ``/proc/self/uid_map`` (``inside outside length`` per line).
- ``default_map``: the map rootless podman builds: 0 -> the user, then the ranges laid end
  to end in file order (one range ``START:COUNT`` maps uid N to START + N - 1);
  ``IdMap.to_host`` does the arithmetic.
- ``overlaps`` and ``choose_free_start``: overlap detection (the lines of one uid_map must
  not overlap, ``man 7 user_namespaces``; other users' ranges must not either) and the first
  free range for ``usermod --add-subuids A-B --add-subgids A-B USER`` (``man 8 usermod``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.errors import ParseError

if TYPE_CHECKING:
    from spotidoctor.types import JSONValue

__all__ = ["SubIdRange", "SubIdFile", "IdMapEntry", "IdMap", "Overlap", "LoginDefs",
           "parse_subid_text", "parse_subid_line", "parse_getsubids", "parse_id_map",
           "parse_login_defs", "default_map", "total_count", "overlaps", "choose_free_start",
           "MAX_FILE_BYTES", "MAX_ID", "RECOMMENDED_COUNT"]

# /etc/subuid of a big site has a few thousand lines; anything past 1 MiB is not a subuid file.
MAX_FILE_BYTES = 1 << 20
MAX_ERRORS = 50  # malformed lines kept for the report; the rest are only counted
MAX_ID = (1 << 32) - 2  # uid_t is 32 bits and (uid_t)-1 means "no id"
RECOMMENDED_COUNT = 65536  # useradd's SUB_UID_COUNT default, what podman documents
_NUMBER = re.compile(r"[0-9]{1,10}", re.ASCII)  # int() would accept "+1", "1_0", "١٢", " 1"
# No blanks, separators, control characters, U+FFFD (undecodable bytes) or U+FEFF (a UTF-8
# byte-order mark an editor saved: invisible, yet part of the name shadow compares).
_NAME = re.compile(r"[^\s:#\x00-\x1f\x7f\ufffd\ufeff]{1,256}")
_MAP_LINE = re.compile(r"\s*([0-9]{1,10})\s+([0-9]{1,10})\s+([0-9]{1,10})\s*", re.ASCII)
_GETSUBIDS_LINE = re.compile(r"\s*[0-9]+:\s+(\S+)\s+([0-9]{1,10})\s+([0-9]{1,10})\s*", re.ASCII)


@dataclass(frozen=True)
class SubIdRange:
    """One ``owner:start:count`` line; ``line`` is its 1-based line number (0: not from a file)."""

    owner: str
    start: int
    count: int
    line: int = 0

    @property
    def last(self) -> int:
        return self.start + self.count - 1

    def overlaps(self, other: SubIdRange) -> bool:
        return self.start <= other.last and other.start <= self.last

    def belongs_to(self, name: str, uid: int) -> bool:
        # Entries may name the user or give the numeric uid (man 5 subuid, containers/storage#1264).
        return self.owner == name or self.owner == str(uid)

    def usermod_span(self) -> str:
        return f"{self.start}-{self.last}"

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.owner}:{self.start}:{self.count}{where}"


@dataclass(frozen=True)
class SubIdFile:
    """What one subuid/subgid file says: the good ranges and the malformed lines."""

    ranges: tuple[SubIdRange, ...] = ()
    errors: tuple[ParseError, ...] = ()
    more_errors: int = 0  # malformed lines beyond MAX_ERRORS
    truncated: bool = False  # the file was longer than the cap we read

    def for_user(self, name: str, uid: int) -> tuple[SubIdRange, ...]:
        return tuple(r for r in self.ranges if r.belongs_to(name, uid))

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.more_errors


def parse_subid_line(line: str, number: int) -> SubIdRange | None:
    """One line; None for blank lines and ``#`` comments; ``ParseError`` when malformed."""
    text = line.rstrip("\r").strip(" \t")
    if not text or text.startswith("#"):
        return None
    fields = text.split(":")
    if len(fields) != 3:
        raise ParseError(f"expected NAME_OR_UID:START:COUNT, got {len(fields)} field(s): {_show(text)}",
                         line=number)
    owner, start_s, count_s = fields
    if not _NAME.fullmatch(owner):
        raise ParseError(f"bad user name or uid {_show(owner)}", line=number)
    start = _number(start_s, "START", number)
    count = _number(count_s, "COUNT", number)
    if count == 0:
        raise ParseError("COUNT is 0 (the range is empty)", line=number)
    if start + count - 1 > MAX_ID:
        raise ParseError(f"range {start}+{count} goes past the largest id {MAX_ID}", line=number)
    return SubIdRange(owner, start, count, number)


def _number(text: str, what: str, line: int) -> int:
    if not _NUMBER.fullmatch(text):
        raise ParseError(f"{what} is not a number: {_show(text)}", line=line)
    return int(text)


def _show(text: str, limit: int = 60) -> str:
    """A printable, bounded rendering of bad input for messages (binary junk included)."""
    shown = repr(text[:limit])
    return shown + ("…" if len(text) > limit else "")


def parse_subid_text(text: str | bytes, *, strict: bool = False,
                     limit: int = MAX_FILE_BYTES) -> SubIdFile:
    """Parse a whole subuid/subgid file. Collects malformed lines unless ``strict``."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    truncated = len(data) > limit
    if truncated:  # drop the partial last line as well
        data = data[:limit].rsplit(b"\n", 1)[0]
    decoded = data.decode("utf-8", errors="replace")
    ranges: list[SubIdRange] = []
    errors: list[ParseError] = []
    more = 0
    # Split on "\n" only: str.splitlines also splits on \x0b, \x1c, U+2028..., which would
    # make our line numbers disagree with `sed -n Np` and with shadow's own reader.
    for number, line in enumerate(decoded.split("\n"), 1):
        try:
            parsed = parse_subid_line(line, number)
        except ParseError as exc:
            if strict:
                raise
            if len(errors) < MAX_ERRORS:
                errors.append(exc)
            else:
                more += 1
            continue
        if parsed is not None:
            ranges.append(parsed)
    return SubIdFile(tuple(ranges), tuple(errors), more, truncated)


def parse_getsubids(text: str, *, owner: str | None = None) -> tuple[SubIdRange, ...]:
    """``getsubids USER`` output (``0: alice 100000 65536``); raises ``ParseError``."""
    ranges = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        match = _GETSUBIDS_LINE.fullmatch(line)
        if not match:
            raise ParseError(f"unexpected getsubids output: {_show(line)}", line=number)
        name, start, count = match.group(1), int(match.group(2)), int(match.group(3))
        if count == 0 or start + count - 1 > MAX_ID:
            raise ParseError(f"impossible range {start}+{count}", line=number)
        ranges.append(SubIdRange(owner or name, start, count))
    return tuple(ranges)


# -- uid_map / gid_map --------------------------------------------------------------------

@dataclass(frozen=True)
class IdMapEntry:
    inside: int
    outside: int
    length: int

    def to_json(self) -> list[JSONValue]:
        return [self.inside, self.outside, self.length]


@dataclass(frozen=True)
class IdMap:
    """A user namespace id map (``man 7 user_namespaces``): inside -> outside, in ranges."""

    entries: tuple[IdMapEntry, ...]

    def to_host(self, inside: int) -> int | None:
        """The host id of namespace id ``inside``, or None when it is not mapped."""
        for entry in self.entries:
            if entry.inside <= inside < entry.inside + entry.length:
                return entry.outside + (inside - entry.inside)
        return None

    def to_inside(self, host: int) -> int | None:
        """The namespace id that host id ``host`` appears as, or None (shown as 65534)."""
        for entry in self.entries:
            if entry.outside <= host < entry.outside + entry.length:
                return entry.inside + (host - entry.outside)
        return None

    @property
    def size(self) -> int:
        return sum(e.length for e in self.entries)

    def to_json(self) -> list[JSONValue]:
        return [e.to_json() for e in self.entries]

    def render(self) -> str:
        return " / ".join(f"{e.inside} {e.outside} {e.length}" for e in self.entries)


def parse_id_map(text: str) -> IdMap:
    """``/proc/self/uid_map`` text (right-aligned columns); raises ``ParseError``."""
    entries = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        match = _MAP_LINE.fullmatch(line)
        if not match:
            raise ParseError(f"expected 'inside outside length', got {_show(line)}", line=number)
        inside, outside, length = (int(g) for g in match.groups())
        if length == 0:
            raise ParseError("a map line of length 0", line=number)
        entries.append(IdMapEntry(inside, outside, length))
    if not entries:
        raise ParseError("the id map is empty")
    if len(entries) > 340:  # the kernel's limit since 4.15
        raise ParseError(f"{len(entries)} map lines; the kernel allows at most 340")
    return IdMap(tuple(entries))


def default_map(own_id: int, ranges: Sequence[SubIdRange]) -> IdMap:
    """The map rootless podman asks newuidmap for: 0 -> the user, then each range in order."""
    entries = [IdMapEntry(0, own_id, 1)]
    inside = 1
    for r in ranges:
        entries.append(IdMapEntry(inside, r.start, r.count))
        inside += r.count
    return IdMap(tuple(entries))


def total_count(ranges: Iterable[SubIdRange]) -> int:
    return sum(r.count for r in ranges)


# -- overlaps and free ranges ---------------------------------------------------------------

@dataclass(frozen=True)
class Overlap:
    first: SubIdRange
    second: SubIdRange

    def __str__(self) -> str:
        return f"{self.first} overlaps {self.second}"


def overlaps(mine: Sequence[SubIdRange], others: Sequence[SubIdRange] = ()) -> tuple[Overlap, ...]:
    """Pairs among ``mine`` that overlap (``others`` empty), or ``mine`` x ``others`` pairs."""
    found = []
    if not others:
        for i, a in enumerate(mine):
            found += [Overlap(a, b) for b in mine[i + 1:] if a.overlaps(b)]
        return tuple(found)
    for a in mine:
        found += [Overlap(a, b) for b in others if a.overlaps(b)]
    return tuple(found)


@dataclass(frozen=True)
class LoginDefs:
    """The SUB_UID_* / SUB_GID_* settings useradd allocates with (Debian defaults)."""

    sub_min: int = 100000
    sub_max: int = 600100000
    sub_count: int = RECOMMENDED_COUNT


def parse_login_defs(text: str) -> LoginDefs:
    """SUB_UID_MIN/MAX/COUNT (and the GID ones: the stricter of both wins); junk is ignored."""
    values: dict[str, int] = {}
    for line in text.split("\n"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("SUB_") and _NUMBER.fullmatch(parts[1]):
            values[parts[0]] = int(parts[1])
    base = LoginDefs()
    low = max(values.get("SUB_UID_MIN", base.sub_min), values.get("SUB_GID_MIN", base.sub_min))
    high = min(values.get("SUB_UID_MAX", base.sub_max), values.get("SUB_GID_MAX", base.sub_max))
    count = max(values.get("SUB_UID_COUNT", base.sub_count), values.get("SUB_GID_COUNT", base.sub_count))
    if high <= low or count <= 0:
        return base
    return LoginDefs(low, min(high, MAX_ID), count)


def choose_free_start(taken: Iterable[SubIdRange], size: int = RECOMMENDED_COUNT, *,
                      floor: int = 100000, ceiling: int = 600100000,
                      avoid: Iterable[int] = ()) -> int | None:
    """The lowest start >= ``floor`` whose ``size`` ids overlap no taken range and no id in
    ``avoid`` (real accounts), ending at or below ``ceiling``; None when there is no room.

    Pass the ranges of BOTH files, so one span works for ``--add-subuids`` and ``--add-subgids``.
    """
    spans = sorted([*((r.start, r.last) for r in taken), *((i, i) for i in avoid)])
    start = floor
    for first, last in spans:
        if last < start:
            continue
        if first > start + size - 1:
            break  # the gap before this span is big enough
        start = last + 1
    if start + size - 1 > min(ceiling, MAX_ID):
        return None
    return start

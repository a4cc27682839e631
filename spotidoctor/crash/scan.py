"""Scanning logs for crash signatures: logical lines, bounded streaming scans, the fast file scan.

Everything here streams and is bounded: lines are capped at ``MAX_LINE`` characters, hits
at ``MAX_HITS``, so memory stays flat however large a log is. podman's k8s-file log splits
long lines into partial (``P``) records, which are joined here. ``scan_file`` is the fast
path for big seekable logs: one cheap byte search for ``FATAL:`` over the whole file (the
part that costs about what ``grep -F`` costs), then full line parsing only of the windows
that matter — the log's tail and the context before each FATAL line. The scanners never
raise on content (binary junk is just text that does not match).
"""
from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from spotidoctor.crash.lines import JOURNAL_LINE, K8S_LINE, TIMESTAMPED_LINE, ChromiumLine, find_chromium, printable
from spotidoctor.crash.signatures import SIGNATURE_KEYS, classify

MAX_LINE = 16 * 1024  # characters kept of one logical line (joined partials included)
MAX_HITS = 256  # most recent signature hits kept per scan
CHUNK_BYTES = 4 * 1024 * 1024
TAIL_WINDOW = 2 * 1024 * 1024  # the end of a log is where a crash is: parse it fully
CONTEXT_BEFORE = 64 * 1024  # precursors of a FATAL line (mojo broker, /dev/shm warnings)
CONTEXT_AFTER = 8 * 1024
MAX_FATAL_WINDOWS = 32  # context windows for the most recent FATAL lines
FATAL_MARKER = b"FATAL:"
_FATAL_SEARCH = re.compile(re.escape(FATAL_MARKER))


class LogFile(Protocol):
    """What the scanners need of an open binary file."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...



# -- logical lines -----------------------------------------------------------------------


class Wrapper(str, Enum):
    """How a source wraps Chromium's lines."""

    K8S = "k8s"  # k8s-file log; lines that are not records are taken as they are
    JOURNAL = "journal"  # journalctl -o short-iso
    TIMESTAMPED = "timestamped"  # podman logs --timestamps
    RAW = "raw"


@dataclass(frozen=True)
class LogLine:
    """A logical line: wrapper removed, partial records joined, capped at ``MAX_LINE``."""

    text: str
    offset: int  # byte offset (files) or line index (text sources) where it starts
    logged_at: str | None = None  # the wrapper's timestamp (k8s, journal, podman)
    stream: str | None = None
    truncated: bool = False


class _Assembler:
    """Unwraps physical lines and joins k8s partial records (per stream: they interleave)."""

    def __init__(self, wrapper: Wrapper, max_line: int) -> None:
        self._wrapper = wrapper
        self._max = max_line
        self._partial: dict[str, tuple[int, str, list[str], int, bool]] = {}

    def feed(self, offset: int, raw: str, cut: bool) -> Iterator[LogLine]:
        raw = raw.rstrip("\r")
        if self._wrapper is Wrapper.K8S:
            yield from self._k8s(offset, raw, cut)
        elif self._wrapper is Wrapper.JOURNAL:
            m = JOURNAL_LINE.match(raw)
            yield LogLine(m["msg"] or "", offset, m["time"], m["ident"], cut) if m else LogLine(raw, offset, None,
                                                                                                 None, cut)
        elif self._wrapper is Wrapper.TIMESTAMPED:
            m = TIMESTAMPED_LINE.match(raw)
            yield LogLine(m["msg"] or "", offset, m["time"], None, cut) if m else LogLine(raw, offset, None, None, cut)
        else:
            yield LogLine(raw, offset, None, None, cut)

    def _k8s(self, offset: int, raw: str, cut: bool) -> Iterator[LogLine]:
        m = K8S_LINE.match(raw)
        if m is None:
            yield LogLine(raw, offset, None, None, cut)
            return
        stream, msg = m["stream"], m["msg"] or ""
        start, stamp, parts, size, trunc = self._partial.pop(stream, (offset, m["time"], [], 0, False))
        room = self._max - size
        parts.append(msg[:max(room, 0)])
        trunc = trunc or cut or len(msg) > room
        size += min(len(msg), max(room, 0))
        if m["tag"] == "P":
            self._partial[stream] = (start, stamp, parts, size, trunc)
            return
        yield LogLine("".join(parts), start, stamp, stream, trunc)

    def flush(self) -> Iterator[LogLine]:
        """Partial records still open at the end of the input (the writer died mid-line)."""
        for stream, (start, stamp, parts, _size, trunc) in sorted(self._partial.items(), key=lambda i: i[1][0]):
            yield LogLine("".join(parts), start, stamp, stream, trunc)
        self._partial.clear()


def split_lines(chunks: Iterable[bytes], *, base: int = 0,
                max_bytes: int = MAX_LINE * 4) -> Iterator[tuple[int, bytes, bool]]:
    """(offset, line, truncated) for each ``\\n``-terminated line of a byte stream.

    A line longer than ``max_bytes`` keeps its head and is flagged; the rest is skipped
    without being held, so one endless line cannot grow memory.
    """
    head = bytearray()
    head_off = base
    cut = False
    pos = base
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            end = len(chunk) if nl < 0 else nl
            room = max_bytes - len(head)
            if room > 0:
                head += chunk[start:min(end, start + room)]
            cut = cut or end - start > max(room, 0)
            if nl < 0:
                break
            yield head_off, bytes(head), cut
            head.clear()
            cut = False
            head_off = pos + nl + 1
            start = nl + 1
        pos += len(chunk)
    if head or cut:
        yield head_off, bytes(head), cut


# -- scanning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A line that matched a signature."""

    signature: str
    line: LogLine
    groups: Mapping[str, str] = field(default_factory=dict)

    @property
    def chromium(self) -> ChromiumLine | None:
        return find_chromium(self.line.text)

    @property
    def quote(self) -> str:
        return printable(self.line.text)

    @property
    def size(self) -> int | None:
        value = self.groups.get("size")
        return int(value) if value is not None else None


@dataclass(frozen=True)
class ScanResult:
    hits: tuple[Hit, ...] = ()  # the most recent MAX_HITS, in log order
    latest: Mapping[str, Hit] = field(default_factory=dict)  # latest hit of each signature
    counts: Mapping[str, int] = field(default_factory=dict)
    lines: int = 0  # logical lines parsed
    bytes_total: int = 0  # size of the source
    bytes_skipped: int = 0  # head of the source left out by the size bound
    fatal_lines: int = 0  # "FATAL:" occurrences found by the fast pass (scan_file only)
    truncated_lines: int = 0
    incomplete: str | None = None  # why the scan stopped early (deadline)

    def last(self, *keys: str) -> Hit | None:
        """The latest hit among ``keys`` (in log order)."""
        found = [self.latest[k] for k in keys if k in self.latest]
        return max(found, key=lambda h: h.line.offset) if found else None

    def facts(self) -> dict[str, object]:
        return {"lines": self.lines, "bytes": self.bytes_total, "bytes_skipped": self.bytes_skipped,
                "fatal_lines": self.fatal_lines, "signatures": dict(self.counts),
                "incomplete": self.incomplete}


class _Collector:
    def __init__(self, max_hits: int) -> None:
        self.hits: collections.deque[Hit] = collections.deque(maxlen=max_hits)
        self.latest: dict[str, Hit] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.lines = 0
        self.truncated = 0

    def add(self, line: LogLine) -> None:
        self.lines += 1
        self.truncated += line.truncated
        for key, groups in classify(line.text):
            hit = Hit(key, line, groups)
            self.hits.append(hit)
            self.latest[key] = hit
            self.counts[key] += 1

    def result(self, *, bytes_total: int, bytes_skipped: int = 0, fatal_lines: int = 0,
               incomplete: str | None = None) -> ScanResult:
        counts = {k: self.counts[k] for k in SIGNATURE_KEYS if self.counts[k]}
        return ScanResult(tuple(self.hits), dict(self.latest), counts, self.lines, bytes_total, bytes_skipped,
                          fatal_lines, self.truncated, incomplete)


def _feed_bytes(collector: _Collector, assembler: _Assembler, chunks: Iterable[bytes], base: int) -> None:
    for offset, raw, cut in split_lines(chunks, base=base):
        for line in assembler.feed(offset, raw.decode("utf-8", errors="replace"), cut):
            collector.add(line)


class LineScanner:
    """Incremental ``scan_lines``: feed text lines as they arrive (streamed command output)."""

    def __init__(self, wrapper: Wrapper = Wrapper.RAW, *, max_hits: int = MAX_HITS) -> None:
        self._collector = _Collector(max_hits)
        self._assembler = _Assembler(wrapper, MAX_LINE)
        self._index = 0
        self._total = 0

    def feed(self, raw: str) -> None:
        self._total += len(raw)
        text = raw if len(raw) <= MAX_LINE else raw[:MAX_LINE]
        for line in self._assembler.feed(self._index, text, len(raw) > MAX_LINE):
            self._collector.add(line)
        self._index += 1

    def result(self, incomplete: str | None = None) -> ScanResult:
        for line in self._assembler.flush():
            self._collector.add(line)
        return self._collector.result(bytes_total=self._total, incomplete=incomplete)


def scan_lines(lines: Iterable[str], wrapper: Wrapper = Wrapper.RAW, *, max_hits: int = MAX_HITS) -> ScanResult:
    """Scan text lines (command output); ``offset`` of each hit is its line index."""
    scanner = LineScanner(wrapper, max_hits=max_hits)
    for raw in lines:
        scanner.feed(raw)
    return scanner.result()


def scan_chunks(chunks: Iterable[bytes], wrapper: Wrapper = Wrapper.K8S, *, max_hits: int = MAX_HITS) -> ScanResult:
    """Scan every line of a byte stream (pipes, small files). Memory stays flat."""
    collector = _Collector(max_hits)
    assembler = _Assembler(wrapper, MAX_LINE)
    total = 0

    def counted() -> Iterator[bytes]:
        nonlocal total
        for chunk in chunks:
            total += len(chunk)
            yield chunk

    _feed_bytes(collector, assembler, counted(), 0)
    for line in assembler.flush():
        collector.add(line)
    return collector.result(bytes_total=total)


@dataclass(frozen=True)
class _Plan:
    start: int  # first byte in scope (size bound)
    size: int
    fatal_offsets: tuple[int, ...]  # most recent first
    fatal_count: int
    incomplete: str | None


def _find_fatal(fh: LogFile, start: int, size: int, keep: int, deadline: float | None,
                chunk_bytes: int) -> _Plan:
    """Walk the file backwards (newest first, so a deadline costs the oldest part) and
    note where ``FATAL:`` occurs. One byte search per chunk: this is the grep-like part."""
    overlap = len(FATAL_MARKER) - 1
    buf = bytearray(chunk_bytes + overlap)
    view = memoryview(buf)
    offsets: list[int] = []
    count = 0
    end = size
    while end > start:
        if deadline is not None and time.monotonic() > deadline:
            return _Plan(start, size, tuple(offsets), count, f"stopped at byte {end} of {size} (time limit)")
        begin = max(start, end - chunk_bytes)
        fh.seek(begin)
        want = min(end + overlap, size) - begin
        got = fh.readinto(view[:want]) or 0
        found = _offsets_in(buf, got, end - begin)
        count += len(found)
        for i in reversed(found):
            if len(offsets) >= keep:
                break
            offsets.append(begin + i)
        end = begin
    return _Plan(start, size, tuple(offsets), count, None)


def _offsets_in(buf: bytearray, length: int, limit: int) -> list[int]:
    """Positions of ``FATAL:`` that start before ``limit`` (the overlap belongs to the next chunk)."""
    # sre's literal-prefix search beats bytes.find here by about a fifth (measured).
    return [m.start() for m in _FATAL_SEARCH.finditer(buf, 0, length) if m.start() < limit]


def _windows(plan: _Plan, tail: int, before: int, after: int) -> list[tuple[int, int]]:
    spans = [(max(plan.start, plan.size - tail), plan.size)]
    spans += [(max(plan.start, off - before), min(plan.size, off + after)) for off in plan.fatal_offsets]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _read_window(fh: LogFile, lo: int, hi: int, floor: int, size: int, slack: int) -> tuple[int, bytes]:
    """The window widened to whole lines (by at most ``slack`` bytes each side)."""
    begin = max(floor, lo - slack)
    fh.seek(begin)
    data = fh.read(min(size, hi + slack) - begin)
    head = lo - begin
    if lo > floor:
        nl = data.rfind(b"\n", 0, head)
        head = nl + 1 if nl >= 0 else 0
    else:
        head = 0
    tail = hi - begin
    if hi < size:
        nl = data.find(b"\n", tail)
        tail = nl + 1 if nl >= 0 else len(data)
    return begin + head, data[head:tail]


def scan_file(fh: LogFile, size: int, *, max_bytes: int | None = None, deadline: float | None = None,
              tail_window: int = TAIL_WINDOW, context_before: int = CONTEXT_BEFORE,
              context_after: int = CONTEXT_AFTER, chunk_bytes: int = CHUNK_BYTES,
              wrapper: Wrapper = Wrapper.K8S) -> ScanResult:
    """Scan a seekable log of ``size`` bytes: the last ``max_bytes`` of it (None: all).

    Finds every ``FATAL:`` with a byte search, then parses fully the tail of the log and
    the context of the most recent FATAL lines. Signatures that occur only in the middle
    of a huge log, far from any FATAL line, are not reported: a crash is at the end of
    its log, and its precursors are right before it.
    """
    start = max(0, size - max_bytes) if max_bytes is not None else 0
    plan = _find_fatal(fh, start, size, MAX_FATAL_WINDOWS, deadline, chunk_bytes)
    collector = _Collector(MAX_HITS)
    done = start  # widened windows may touch: never parse a byte twice
    for lo, hi in _windows(plan, tail_window, context_before, context_after):
        begin, data = _read_window(fh, lo, hi, start, size, MAX_LINE * 4)
        if begin < done:
            data, begin = data[done - begin:], done
        done = begin + len(data)
        assembler = _Assembler(wrapper, MAX_LINE)  # windows are not contiguous: no joins across
        _feed_bytes(collector, assembler, (data,), begin)
        for line in assembler.flush():
            collector.add(line)
    return collector.result(bytes_total=size, bytes_skipped=start, fatal_lines=plan.fatal_count,
                            incomplete=plan.incomplete)



def read_chunks(fh: LogFile, chunk_bytes: int = CHUNK_BYTES, limit: int | None = None,
                deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """A file as bounded chunks (stops at ``limit`` bytes or the deadline)."""
    left = limit
    while left is None or left > 0:
        if deadline is not None and clock() > deadline:
            return
        data = fh.read(chunk_bytes if left is None else min(chunk_bytes, left))
        if not data:
            return
        if left is not None:
            left -= len(data)
        yield data

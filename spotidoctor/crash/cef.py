"""What a Spotify build's libcef.so says about its Chromium: version, OOM logging, memfd."""
from __future__ import annotations

import collections
import re
from collections.abc import Iterable
from dataclasses import dataclass

VERSION_PATTERN = r"[0-9]{2,3}\.0\.[0-9]{4}\.[0-9]{1,3}"
_VERSION = re.compile(rb"(?<![0-9.])" + VERSION_PATTERN.encode() + rb"(?![0-9.])")
LEGACY_OOM = "Out of memory. size="
MEMFD_MARKER = "shared-memory-region"


@dataclass(frozen=True)
class CefFacts:
    """What a Spotify build's libcef.so says about its Chromium."""

    version: str | None  # most frequent ``NN.0.NNNN.NN`` string
    legacy_oom_log: bool  # contains "Out of memory. size=": OOMs are logged (<= ~M90)
    memfd: bool  # contains "shared-memory-region": memfd shared memory, /dev/shm is a fallback

    @property
    def milestone(self) -> int | None:
        return int(self.version.split(".")[0]) if self.version else None

    def to_json(self) -> dict[str, object]:
        return {"chromium_version": self.version, "logs_oom_line": self.legacy_oom_log, "memfd": self.memfd}


def cef_facts(matches: Iterable[str]) -> CefFacts:
    """From ``grep -a -o`` output: one match (version, marker) per line."""
    versions: collections.Counter[str] = collections.Counter()
    legacy = memfd = False
    for raw in matches:
        item = raw.strip()
        if item == LEGACY_OOM:
            legacy = True
        elif item == MEMFD_MARKER:
            memfd = True
        elif re.fullmatch(VERSION_PATTERN, item):
            versions[item] += 1
    version = max(versions.items(), key=lambda kv: (kv[1], kv[0]))[0] if versions else None
    return CefFacts(version, legacy, memfd)


def scan_cef_binary(chunks: Iterable[bytes]) -> CefFacts:
    """The same facts from the library's bytes (a host-installed Spotify), streamed.

    Each chunk is searched together with the last ``keep`` bytes of the previous one, and
    a version string is counted in the round where it starts, so none is counted twice.
    """
    versions: collections.Counter[str] = collections.Counter()
    legacy = memfd = False
    keep = 64  # longer than every marker and version string
    carry = b""
    first = 0  # matches starting before this (relative) position were counted already
    for chunk in chunks:
        data = carry + chunk
        legacy = legacy or LEGACY_OOM.encode() in data
        memfd = memfd or MEMFD_MARKER.encode() in data
        cut = max(len(data) - keep, first)
        for m in _VERSION.finditer(data, first):
            if m.start() < cut:
                versions[m.group().decode()] += 1
        carry = data[max(cut - 1, 0):]
        first = 1 if cut > 0 else 0
    for m in _VERSION.finditer(carry, first):
        versions[m.group().decode()] += 1
    version = max(versions.items(), key=lambda kv: (kv[1], kv[0]))[0] if versions else None
    return CefFacts(version, legacy, memfd)

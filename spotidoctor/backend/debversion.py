"""Debian package versions: parsing and ordering, as dpkg does it.

``[epoch:]upstream_version[-debian_revision]`` (Debian Policy 5.6.12). Epochs compare as
integers; the other two parts alternate non-digit and digit runs: digit runs compare as
numbers, non-digit runs character by character where ``~`` sorts before everything (even
the end of the string, so ``1.0~rc1`` < ``1.0``), then the end, then letters, then every
other character. A missing revision equals ``0``. This is dpkg's ``verrevcmp``
(lib/dpkg/version.c); Spotify's versions look like ``1:1.2.52.442.g01893f6b``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from spotidoctor.errors import ParseError

__all__ = ["DebVersion", "parse_version", "compare_versions", "version_key"]

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")  # ':' only with an epoch, '-' only with a revision
_REVISION = re.compile(r"^[A-Za-z0-9.+~]+$")
_MAX_EPOCH = 2**31 - 1  # dpkg: INT_MAX


@dataclass(frozen=True)
class DebVersion:
    epoch: int
    upstream: str
    revision: str  # "" when the version has none

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.upstream}" + (f"-{self.revision}" if self.revision else "")


def parse_version(text: str) -> DebVersion:
    """A version string as dpkg reads it; ``ParseError`` for anything dpkg would refuse."""
    version = text.strip()
    if not version or not version.isascii() or any(c.isspace() for c in version):
        raise ParseError(f"not a Debian version: {text!r}")
    epoch_text, colon, rest = version.partition(":")
    if not colon:
        epoch_text, rest = "", version
    elif not (epoch_text and set(epoch_text) <= _DIGITS) or int(epoch_text) > _MAX_EPOCH:
        raise ParseError(f"bad epoch in Debian version {text!r}")
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    elif not _REVISION.match(revision):
        raise ParseError(f"bad revision in Debian version {text!r}")
    if not _UPSTREAM.match(upstream) or (":" in upstream and not colon):
        raise ParseError(f"bad upstream version in Debian version {text!r}")
    return DebVersion(int(epoch_text or "0"), upstream, revision)


def _order(char: str) -> int:
    if char in _DIGITS or not char:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit and digit runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac, bc = _order(a[i] if i < len(a) else ""), _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        start_a, start_b = i, j
        while i < len(a) and a[i] in _DIGITS:
            i += 1
        while j < len(b) and b[j] in _DIGITS:
            j += 1
        diff = _compare_digits(a[start_a:i], b[start_b:j])
        if diff:
            return diff
    return 0


def _compare_digits(a: str, b: str) -> int:
    """Two digit runs as numbers, without int() (runs of any length)."""
    a, b = a.lstrip("0"), b.lstrip("0")
    if len(a) != len(b):
        return len(a) - len(b)
    return (a > b) - (a < b)


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def compare_versions(a: str | DebVersion, b: str | DebVersion) -> int:
    """-1, 0 or 1, like ``dpkg --compare-versions A lt|eq|gt B``."""
    left = a if isinstance(a, DebVersion) else parse_version(a)
    right = b if isinstance(b, DebVersion) else parse_version(b)
    if left.epoch != right.epoch:
        return _sign(left.epoch - right.epoch)
    return _sign(_compare_part(left.upstream, right.upstream)
                 or _compare_part(left.revision, right.revision))


version_key = functools.cmp_to_key(compare_versions)

"""An apt repository's ``Packages`` index: its stanzas, and the newest version of a package.

The index is deb822: stanzas separated by blank lines, ``Field: value`` lines, continuation
lines starting with a space or tab. Spotify's repository lists several ``spotify-client``
versions in ``dists/stable/non-free/binary-amd64/Packages``; the newest one is what a
rebuild would install (the update check compares it with the image's label).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from spotidoctor.backend.debversion import DebVersion, compare_versions, parse_version
from spotidoctor.errors import ParseError

__all__ = ["PackageEntry", "stanzas", "parse_packages", "newest_version"]


@dataclass(frozen=True)
class PackageEntry:
    package: str
    version: DebVersion
    architecture: str = ""
    filename: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


def stanzas(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line number, fields) per stanza; field names are case-insensitive (kept as written)."""
    fields: dict[str, str] = {}
    start = 0
    last = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, ""
            continue
        if line[0] in " \t":
            if not last:
                raise ParseError("continuation line outside a field", line=number)
            fields[last] += "\n" + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or " " in name:
            raise ParseError(f"not a 'Field: value' line: {line[:80]!r}", line=number)
        if not fields:
            start = number
        last = name
        fields[name] = value.strip()
    if fields:
        yield start, fields


def _get(fields: Mapping[str, str], name: str) -> str:
    return next((v for k, v in fields.items() if k.lower() == name.lower()), "")


def parse_packages(text: str) -> list[PackageEntry]:
    """Every stanza with a Package and a Version; ``ParseError`` (with the line) for a malformed index."""
    entries = []
    for line, fields in stanzas(text):
        package, version = _get(fields, "Package"), _get(fields, "Version")
        if not package or not version:
            raise ParseError("stanza without Package or Version", line=line)
        try:
            parsed = parse_version(version)
        except ParseError as exc:
            raise ParseError(str(exc), line=line) from None
        entries.append(PackageEntry(package, parsed, _get(fields, "Architecture"), _get(fields, "Filename"), fields))
    return entries


def newest_version(text: str, package: str, architecture: str | None = None) -> PackageEntry | None:
    """The newest ``package`` in the index (for ``architecture`` or ``all`` when given), or None."""
    best: PackageEntry | None = None
    for entry in parse_packages(text):
        if entry.package != package:
            continue
        if architecture is not None and entry.architecture not in (architecture, "all"):
            continue
        if best is None or compare_versions(entry.version, best.version) > 0:
            best = entry
    return best

"""An apt repository's ``Release`` file (the text ``InRelease`` signs) and the ``Packages``
index it vouches for, as apt reads them.

``Release`` is one deb822 stanza; its ``SHA256`` field lists `` <sha256> <size> <path>`` for
every index file, relative to ``dists/<suite>/``. A ``Packages`` file is trusted only when
its size and SHA-256 are the ones the verified Release names (spotify-launcher's apt.rs
does the same). ``clearsigned_text`` takes the signed text out of an ``InRelease`` without
checking the signature: only for when gpgv is missing, and then said so.
"""
from __future__ import annotations

import gzip
import hashlib
import lzma
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from spotidoctor.backend.aptindex import stanzas
from spotidoctor.errors import ParseError

__all__ = ["IndexFile", "Release", "parse_release", "packages_candidates", "check_index", "decompress",
           "clearsigned_text", "COMPRESSIONS"]

COMPRESSIONS = (".xz", ".gz", "")  # preferred first: the smallest download
_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"


@dataclass(frozen=True)
class IndexFile:
    path: str  # relative to dists/<suite>/, e.g. non-free/binary-amd64/Packages.gz
    size: int
    sha256: str


@dataclass(frozen=True)
class Release:
    fields: Mapping[str, str] = field(default_factory=dict)
    files: tuple[IndexFile, ...] = ()

    def get(self, name: str) -> str:
        return next((v for k, v in self.fields.items() if k.lower() == name.lower()), "")

    @property
    def architectures(self) -> tuple[str, ...]:
        return tuple(self.get("Architectures").split())

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.get("Components").split())


def parse_release(text: str) -> Release:
    """The Release stanza and its SHA256 list; ``ParseError`` for a malformed one."""
    fields = next(stanzas(text), (0, {}))[1]  # one stanza; anything after it is not part of Release
    sums = next((v for k, v in fields.items() if k.lower() == "sha256"), "")
    files = []
    for entry in sums.splitlines():
        parts = entry.split()
        if not parts:
            continue
        if len(parts) != 3 or len(parts[0]) != 64 or not parts[1].isdigit():
            raise ParseError(f"not a 'sha256 size path' entry: {entry[:80]!r}")
        files.append(IndexFile(parts[2], int(parts[1]), parts[0].lower()))
    return Release(fields, tuple(files))


def packages_candidates(release: Release, component: str, arch: str) -> list[IndexFile]:
    """The Packages index files of ``component``/``arch`` the Release lists, smallest download first."""
    by_path = {f.path: f for f in release.files}
    base = f"{component}/binary-{arch}/Packages"
    return [by_path[base + ext] for ext in COMPRESSIONS if base + ext in by_path]


def check_index(entry: IndexFile, data: bytes) -> str:
    """"" when ``data`` is the file the Release vouches for, else what differs."""
    if len(data) != entry.size:
        return f"{entry.path} has {len(data)} bytes, the signed Release says {entry.size}"
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        return f"{entry.path} has SHA-256 {digest[:16]}…, the signed Release says {entry.sha256[:16]}…"
    return ""


def decompress(path: str, data: bytes, limit: int) -> bytes:
    """The uncompressed index (by its name's extension), refusing more than ``limit`` bytes."""
    try:
        if path.endswith(".xz"):
            out = lzma.LZMADecompressor().decompress(data, max_length=limit + 1)
        elif path.endswith(".gz"):
            out = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data, limit + 1)
        else:
            out = data
    except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise ParseError(f"{path} cannot be decompressed: {exc}") from None
    if len(out) > limit:
        raise ParseError(f"{path} is larger than {limit} bytes uncompressed")
    return out


def clearsigned_text(data: bytes) -> str:
    """The text of a clearsigned message (RFC 4880 section 7), dash-escaping undone; NOT verified."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    try:
        start = lines.index(_BEGIN)
        end = lines.index(_SIGNATURE, start)
    except ValueError:
        raise ParseError("not a clearsigned message (no PGP SIGNED MESSAGE block)") from None
    body: Sequence[str] = lines[start + 1:end]
    while body and body[0].strip():  # the armor headers ("Hash: SHA512") end at an empty line
        body = body[1:]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body[1:]) + "\n"

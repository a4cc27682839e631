"""Write the bundle as a ``.tar.gz`` (mode 0600) and read it back for the leak scan.

Headers carry nothing about the host: owner ``0:0`` with empty user/group names, no gzip
file name, members 0600 under one top directory. The archive is first written to a
private temporary file next to the target; the caller scans that file and only then
moves it into place, so a failed scan leaves nothing behind.
"""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    name: str  # relative to the archive's top directory
    data: bytes


@dataclass(frozen=True)
class ReadMember:
    name: str  # the full name in the archive
    headers: str  # every other header text: link name, owner names, pax records
    data: bytes


def default_name(now: float | None = None) -> str:
    return time.strftime("spotidoctor-report-%Y%m%d-%H%M%S", time.localtime(now))


def write_temp(directory: str, top: str, members: Sequence[Member], *, now: float | None = None) -> str:
    """Write the archive to a new 0600 temporary file in ``directory``; return its path."""
    fd, tmp = tempfile.mkstemp(prefix=".spotidoctor-report-", suffix=".tar.gz.tmp", dir=directory)
    mtime = int(now if now is not None else time.time())
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw:
            # filename="" keeps the output path (which may name the user) out of the gzip header.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for member in members:
                        tar.addfile(_info(f"{top}/{member.name}", len(member.data), mtime), io.BytesIO(member.data))
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        discard(tmp)
        raise
    return tmp


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class NameTaken(FileExistsError):
    """The output name exists and replacing it was not asked for."""


def publish(tmp: str, target: str, *, overwrite: bool = False) -> None:
    """Give the scanned temporary archive its final name (0600, atomic). Without ``overwrite``
    an existing name (a file, a directory, a symlink) is never replaced: ``link`` fails with
    EEXIST instead. With it, a symlink at the name is replaced, never written through. The
    temporary file is gone afterwards either way."""
    try:
        os.chmod(tmp, 0o600)
        if overwrite:
            if os.path.isdir(target) and not os.path.islink(target):
                raise NameTaken(f"{target} is a directory")
            os.replace(tmp, target)
            return
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise NameTaken(f"{target} exists") from None
    finally:
        discard(tmp)


def discard(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def gzip_header_name(path: str) -> bytes:
    """The FNAME field of a gzip header (empty when absent)."""
    with open(path, "rb") as fh:
        header = fh.read(10)
        if len(header) < 10 or header[:2] != b"\x1f\x8b" or not header[3] & 0x08:
            return b""
        if header[3] & 0x04:  # FEXTRA comes first
            extra = int.from_bytes(fh.read(2), "little")
            fh.read(extra)
        name = bytearray()
        while (byte := fh.read(1)) not in (b"", b"\0"):
            name += byte
        return bytes(name)


def raw_tar(path: str) -> bytes:
    """The whole decompressed tar stream (headers included)."""
    with gzip.open(path, "rb") as gz:
        return gz.read()


def read_members(path: str) -> Iterator[ReadMember]:
    with tarfile.open(path, mode="r:gz") as tar:
        for info in tar:
            data = b""
            if info.isfile():
                extracted = tar.extractfile(info)
                data = extracted.read() if extracted else b""
            headers = " ".join([info.linkname, info.uname, info.gname,
                                *(f"{k}={v}" for k, v in (info.pax_headers or {}).items())])
            yield ReadMember(info.name, headers, data)

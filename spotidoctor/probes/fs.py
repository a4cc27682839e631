"""Filesystem access for checks and fix steps, rooted at a ``sysroot``.

Every absolute path a check uses (``/etc/subuid``, ``/tmp/.X11-unix/X0``, ``~/.spotify``)
is resolved under ``sysroot``; tests point it at a temporary tree (the sos idea), the real
tool at ``/``. Nothing here follows a symlink unless asked to.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
import tempfile
from dataclasses import dataclass
from pathlib import Path

from spotidoctor import privatefs


@dataclass(frozen=True)
class StatInfo:
    uid: int
    gid: int
    mode: int  # full st_mode
    size: int
    mtime: float
    dev: int
    ino: int
    nlink: int = 1  # names of this inode: a regular file with more has a hard link somewhere

    @property
    def perms(self) -> int:
        return stat_mod.S_IMODE(self.mode)

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat_mod.S_ISREG(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat_mod.S_ISLNK(self.mode)

    @property
    def is_socket(self) -> bool:
        return stat_mod.S_ISSOCK(self.mode)

    @classmethod
    def from_os(cls, st: os.stat_result) -> StatInfo:
        return cls(st.st_uid, st.st_gid, st.st_mode, st.st_size, st.st_mtime, st.st_dev, st.st_ino, st.st_nlink)


@dataclass(frozen=True)
class DiskUsage:
    free_bytes: int
    total_bytes: int


class RealFS:
    """The filesystem probe. ``sysroot='/'`` is the host; anything else is a test tree."""

    def __init__(self, sysroot: str | os.PathLike[str] = "/") -> None:
        self.sysroot = os.path.abspath(os.fspath(sysroot))

    # -- path mapping -------------------------------------------------------------------
    def host(self, path: str) -> str:
        """Map an absolute path to where it lives under the sysroot."""
        path = os.path.normpath(path)
        if self.sysroot == "/":
            return path
        return os.path.join(self.sysroot, path.lstrip("/"))

    def unhost(self, real: str) -> str:
        if self.sysroot == "/":
            return real
        rel = os.path.relpath(real, self.sysroot)
        return "/" if rel == "." else "/" + rel

    # -- reading ------------------------------------------------------------------------
    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        with open(self.host(path), "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)

    def read_text(self, path: str, limit: int | None = None) -> str:
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")

    def read_text_or_none(self, path: str, limit: int | None = None) -> str | None:
        try:
            return self.read_text(path, limit)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def lstat(self, path: str) -> StatInfo | None:
        try:
            return StatInfo.from_os(os.lstat(self.host(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def stat(self, path: str) -> StatInfo | None:
        """Follows symlinks; None when missing or dangling."""
        try:
            return StatInfo.from_os(os.stat(self.host(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return self.lstat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.is_dir

    def is_socket(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.is_socket

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.host(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def realpath(self, path: str) -> str:
        """Resolve symlinks; under a test sysroot absolute link targets stay inside it."""
        if self.sysroot == "/":
            return os.path.realpath(path)
        parts = [p for p in os.path.normpath(path).split("/") if p]
        resolved = "/"
        hops = 0
        while parts:
            candidate = os.path.join(resolved, parts.pop(0))
            target = self.readlink(candidate)
            if target is None:
                resolved = os.path.normpath(candidate)
                continue
            hops += 1
            if hops > 40:  # a loop: stop like the kernel's ELOOP would
                return os.path.normpath(os.path.join(candidate, *parts))
            base = "/" if target.startswith("/") else resolved
            parts = [p for p in os.path.normpath(os.path.join(base, target)).split("/") if p] + parts
            resolved = "/"
        return resolved

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self.host(path))
        except OSError:
            return None

    def ismount(self, path: str) -> bool:
        return os.path.ismount(self.host(path))

    def access(self, path: str, mode: int) -> bool:
        return os.access(self.host(path), mode)

    def disk_usage(self, path: str) -> DiskUsage | None:
        try:
            st = os.statvfs(self.host(path))
        except OSError:
            return None
        return DiskUsage(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)

    def getxattr(self, path: str, name: str) -> bytes | None:
        try:
            return os.getxattr(self.host(path), name, follow_symlinks=False)
        except OSError:
            return None

    # -- writing (fix steps only) --------------------------------------------------------
    def write_atomic(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
        target = Path(self.host(path))
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(target.parent)

    def write_private(self, path: str, data: bytes, *, mode: int, top: str | None = None) -> None:
        """Like ``write_atomic``, for spotidoctor's own files: every directory from ``top``
        (default: the file's own) down to it must be ours, not writable by others and is made
        0700; never through a symlink (``privatefs``, ``tighten=True``)."""
        privatefs.write_private(self.host(path), data, mode=mode, top=self.host(top) if top else None, tighten=True)

    def make_private_dirs(self, path: str, *, top: str | None = None) -> None:
        privatefs.make_private_dirs(self.host(path), top=self.host(top) if top else None, tighten=True)

    def makedirs(self, path: str, *, mode: int = 0o700) -> None:
        os.makedirs(self.host(path), mode=mode, exist_ok=True)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.host(path), mode)

    def copy_file(self, src: str, dst: str, *, mode: int) -> None:
        self.write_atomic(dst, self.read_bytes(src), mode=mode)

    def unlink(self, path: str) -> None:
        try:
            os.unlink(self.host(path))
        except FileNotFoundError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)

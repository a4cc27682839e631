"""Reading inside the container-writable tree (Spotify's storage) without ever leaving it.

Spotify, as the container user, can put anything into ``~/.spotify/config`` and ``cache``:
``config/prefs`` replaced by a symlink to ``~/.bash_history`` must not bring that file into a
report, with or without ``--no-redact``. So a path inside the storage is opened from the
storage directory down, one component at a time, each with ``O_NOFOLLOW`` relative to its
parent's descriptor; the file itself is checked on its open descriptor (``fstat``): a
regular file, one name only (a hard link may be a file from outside), on the storage's
filesystem. Anything else is refused with the reason, and the report's manifest shows it.
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod

from spotidoctor.api import Context
from spotidoctor.probes.fs import RealFS

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

SYMLINK = "a symlink inside Spotify's storage (never followed: the container can point it anywhere)"
PARENT_SYMLINK = "a directory on its path inside Spotify's storage is a symlink (never followed)"
NOT_REGULAR = "not a regular file"
HARD_LINK = ("a hard link ({count} names) inside Spotify's storage: its content may be a file from outside "
             "the storage (never read)")
OTHER_FS = "on another filesystem than Spotify's storage (never read)"


class Refused(Exception):
    """A path inside the storage that is not read; ``str()`` says why (for the manifest)."""


def container_trees(ctx: Context) -> tuple[str, ...]:
    """Directories the container can write into (mounted read-write): the storage."""
    return (os.path.normpath(ctx.storage_dir),)


def tree_of(path: str, trees: tuple[str, ...]) -> str | None:
    """The container-writable tree ``path`` lies in (a proper descendant), or None."""
    norm = os.path.normpath(path)
    return next((t for t in trees if norm.startswith(t.rstrip("/") + "/")), None)


def _walk(fs: RealFS, root: str, path: str) -> tuple[int, str, int]:
    """(descriptor of the directory holding ``path``, its last name, the root's device)."""
    parts = os.path.relpath(os.path.normpath(path), root).split("/")
    fd = os.open(fs.host(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    device = os.fstat(fd).st_dev
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused(PARENT_SYMLINK) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1], device


def _open_file(fs: RealFS, root: str, path: str) -> int:
    dir_fd, name, device = _walk(fs, root, path)
    try:
        try:
            fd = os.open(name, _FILE, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Refused(SYMLINK) from None
            raise
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    problem = (NOT_REGULAR if not stat_mod.S_ISREG(st.st_mode)
               else HARD_LINK.format(count=st.st_nlink) if st.st_nlink > 1
               else OTHER_FS if st.st_dev != device else None)
    if problem:
        os.close(fd)
        raise Refused(problem)
    return fd


def read_bytes(fs: RealFS, root: str, path: str, limit: int) -> tuple[bytes, int]:
    """(up to ``limit`` bytes of ``path``, its size). ``Refused`` or ``OSError`` otherwise."""
    fd = _open_file(fs, root, path)
    try:
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        got = 0
        while got < limit and (chunk := os.read(fd, min(1 << 16, limit - got))):
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks), size
    finally:
        os.close(fd)


def is_file(fs: RealFS, root: str, path: str) -> bool:
    """A regular, singly linked file reached without a symlink."""
    try:
        os.close(_open_file(fs, root, path))
        return True
    except (Refused, OSError):
        return False


def listdir(fs: RealFS, root: str, path: str) -> list[str]:
    """The names in the directory ``path`` (sorted), reached without a symlink; [] otherwise."""
    try:
        if os.path.normpath(path) == os.path.normpath(root):
            fd = os.open(fs.host(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            dir_fd, name, _ = _walk(fs, root, path)
            try:
                fd = os.open(name, _DIR, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
    except (Refused, OSError):
        return []
    try:
        return sorted(os.listdir(fd))
    except OSError:
        return []
    finally:
        os.close(fd)

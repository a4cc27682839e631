"""Files in the user's own data and config directories (``~/.local/share/applications``, the
icon theme, ``mimeapps.list``): written atomically, never through a symlink.

Unlike ``channels.privatefile`` the directories need not be 0700 (desktops read them as the
user anyway), but each one written into must be a real directory (opened with
``O_NOFOLLOW``), owned by the user and writable by nobody else (group-writable only for the
user's own group, as a umask of 002 with per-user groups leaves it). Everything then happens
relative to that descriptor: the temp file is created with ``O_EXCL | O_NOFOLLOW``,
fsynced and renamed over the name (a symlink there is replaced, never written through);
reads and removals refuse anything but a regular file.
"""
from __future__ import annotations

import errno
import os
import stat

from spotidoctor.errors import SpotidoctorError
from spotidoctor.privatefs import replace_at

__all__ = ["UnsafePlace", "make_dirs", "write_user_file", "read_user_file", "remove_user_file", "remove_empty_dir",
           "DIR_MODE"]

DIR_MODE = 0o700  # the XDG base directory specification's mode for directories it creates
MAX_READ = 4 << 20


class UnsafePlace(SpotidoctorError):
    """A directory that is a symlink, not the user's, or writable by others: nothing was written."""


def _open_dir(directory: str) -> int:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePlace(f"{directory} is not a directory (a symlink?): refusing to write into it") from exc
        raise UnsafePlace(f"cannot open {directory}: {exc.strerror or exc}") from exc
    st = os.fstat(fd)
    problem = None
    if st.st_uid != os.getuid():
        problem = f"{directory} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    elif st.st_mode & 0o002 or (st.st_mode & 0o020 and st.st_gid != os.getgid()):
        problem = f"{directory} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem:
        os.close(fd)
        raise UnsafePlace(f"{problem}: refusing to write into it")
    return fd


def make_dirs(path: str, mode: int = DIR_MODE) -> list[str]:
    """Create the missing directories of ``path``; return those created, top first."""
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UnsafePlace(f"cannot create {directory}: {exc.strerror or exc}") from exc
        created.append(directory)
    return created


def write_user_file(path: str, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; its directory must exist and be safe."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = _open_dir(directory)
    try:
        replace_at(dir_fd, name, data, mode, shown_as=directory)
    finally:
        os.close(dir_fd)


def read_user_file(path: str, limit: int = MAX_READ) -> bytes | None:
    """The file's bytes (up to ``limit``); None when it is missing, a symlink or not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = bytearray()
        while len(chunks) < limit and (chunk := os.read(fd, min(65536, limit - len(chunks)))):
            chunks += chunk
        return bytes(chunks)
    finally:
        os.close(fd)


def remove_user_file(path: str) -> bool:
    """Remove ``path`` if it is a regular file in a safe directory; False when it was not there."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        dir_fd = _open_dir(directory)
    except UnsafePlace:
        return False
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return False
        os.unlink(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(dir_fd)


def remove_empty_dir(path: str) -> bool:
    """``rmdir`` when it is an empty real directory; anything else stays."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        os.rmdir(path)
        return True
    except OSError:
        return False

"""Write a file into a directory only this user can enter: atomically, never through a symlink.

The directory is opened with ``O_NOFOLLOW`` and checked on the open descriptor (owned by us,
no group or other bits), then everything happens relative to that descriptor: the temp file is
created with ``O_EXCL | O_NOFOLLOW``, fsynced and renamed over the name (rename replaces a
symlink there instead of writing through it). So a directory someone else made, or swapped in
between the check and the write, is refused rather than written into.
"""
from __future__ import annotations

import errno
import os
import secrets

from spotidoctor.errors import SpotidoctorError

__all__ = ["UnsafeDirectory", "write_private", "remove_private", "PRIVATE_DIR_MODE"]

PRIVATE_DIR_MODE = 0o700


class UnsafeDirectory(SpotidoctorError):
    """The directory is not private to this user (or is a symlink): nothing was written."""


def _open_private_dir(directory: str, *, create: bool) -> int:
    if create:
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UnsafeDirectory(f"cannot create {directory}: {exc.strerror or exc}") from exc
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeDirectory(f"{directory} is not a directory (a symlink?): refusing to write into it") from exc
        raise UnsafeDirectory(f"cannot open {directory}: {exc.strerror or exc}") from exc
    st = os.fstat(fd)
    problem = None
    if st.st_uid != os.getuid():
        problem = f"{directory} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    elif st.st_mode & 0o077:
        problem = f"{directory} is open to other users (mode {st.st_mode & 0o7777:04o}; needs 0700)"
    if problem:
        os.close(fd)
        raise UnsafeDirectory(f"{problem}: refusing to write into it")
    return fd


def write_private(path: str, data: bytes, *, mode: int, create_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` (file mode ``mode``) inside a private directory."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = _open_private_dir(directory, create=create_dir)
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    finally:
        os.close(dir_fd)


def remove_private(path: str) -> bool:
    """Remove ``path`` if it is a file in a private directory; False when there was nothing."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        dir_fd = _open_private_dir(directory, create=False)
    except UnsafeDirectory:
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    finally:
        os.close(dir_fd)

"""Files spotidoctor writes for itself: only inside directories it owns, private, never through a symlink.

Cookie copies, the lock, the result cache, backups, launch records and logs, the token map and
crash logs all go below spotidoctor's own directories (``$XDG_RUNTIME_DIR/spotidoctor``,
``$XDG_STATE_HOME/spotidoctor``). From ``top`` (the directory spotidoctor owns) down to the
file, every directory is opened with ``O_NOFOLLOW`` relative to its parent's descriptor and
checked on that descriptor: owned by this uid and without group or other bits. A directory
someone else made, opened to others, or swapped for a symlink is refused with
``UnsafeDirectory`` and nothing is written. Files are created with ``O_EXCL | O_NOFOLLOW`` as a
temporary name and renamed over the target, so a symlink planted at the name is replaced, not
written through. Directories above ``top`` (``~/.local/state``, ``$XDG_RUNTIME_DIR``) are
the user's: created 0700 when missing, otherwise taken as they are.

``tighten=True``: a directory of ours that others may only read or enter (0755: Python's
``os.makedirs`` gives intermediate directories the umask's mode) is made 0700 on its
descriptor instead of refused: nobody else could have put anything into it. One others may
write into is always refused.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat as stat_mod

from spotidoctor.errors import SpotidoctorError
from spotidoctor.exitcodes import ExitCode

__all__ = ["UnsafeDirectory", "PRIVATE_DIR_MODE", "open_private_dir", "make_private_dirs", "write_private",
           "replace_at", "remove_private", "open_private_file"]

PRIVATE_DIR_MODE = 0o700
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeDirectory(SpotidoctorError, PermissionError):
    """A directory on the way is not private to this user (or is a symlink): nothing was written.

    Also a ``PermissionError``, so code that already treats an unwritable state directory as
    "could not save" (the result cache) keeps doing so."""

    exit_code = ExitCode.PROBLEMS

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unsafe directory"


def _private_problem(path: str, st: os.stat_result) -> str | None:
    uid = os.getuid()
    if st.st_uid != uid:
        return (f"{path} belongs to uid {st.st_uid}, not to you (uid {uid}): refusing to write into it; "
                "remove it (as its owner) and run spotidoctor again")
    if st.st_mode & 0o077:
        mode = stat_mod.S_IMODE(st.st_mode)
        return (f"{path} is open to other users (mode {mode:04o}; needs 0700): refusing to write into it; "
                f"`chmod 700 {path}` if you made it, or remove it")
    return None


def _checked(fd: int, path: str, tighten: bool) -> int:
    st = os.fstat(fd)
    if tighten and st.st_uid == os.getuid() and st.st_mode & 0o077 and not st.st_mode & 0o022:
        os.fchmod(fd, PRIVATE_DIR_MODE)
        st = os.fstat(fd)
    problem = _private_problem(path, st)
    if problem:
        os.close(fd)
        raise UnsafeDirectory(problem)
    return fd


def _open_dir(name: str, path: str, dir_fd: int | None, *, create: bool, tighten: bool) -> int:
    if create:
        try:
            os.mkdir(name, PRIVATE_DIR_MODE, dir_fd=dir_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UnsafeDirectory(f"cannot create {path}: {exc.strerror or exc}") from exc
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeDirectory(f"{path} is not a directory (a symlink?): refusing to write into it") from exc
        raise UnsafeDirectory(f"cannot open {path}: {exc.strerror or exc}") from exc
    return _checked(fd, path, tighten)


def _below(path: str, top: str) -> list[str]:
    rel = os.path.relpath(path, top)
    if rel == ".":
        return []
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        raise ValueError(f"{path} is not inside {top}")
    return rel.split("/")


def open_private_dir(path: str, *, top: str | None = None, create: bool = True, tighten: bool = False) -> int:
    """An ``O_NOFOLLOW`` descriptor of the directory ``path``; every directory from ``top``
    (default: ``path`` itself) down to it is private to this uid (created 0700 when missing
    and ``create``). The caller closes it. ``UnsafeDirectory`` otherwise."""
    path = os.path.abspath(path)
    top = os.path.abspath(top) if top else path
    parts = _below(path, top)
    if create:
        parent = os.path.dirname(top)
        try:
            os.makedirs(parent, mode=PRIVATE_DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise UnsafeDirectory(f"cannot create {parent}: {exc.strerror or exc}") from exc
    fd = _open_dir(top, top, None, create=create, tighten=tighten)
    current = top
    for name in parts:
        current = os.path.join(current, name)
        try:
            child = _open_dir(name, current, fd, create=create, tighten=tighten)
        finally:
            os.close(fd)
        fd = child
    return fd


def make_private_dirs(path: str, *, top: str | None = None, tighten: bool = False) -> None:
    """Create ``path`` (and the directories from ``top`` down to it) private, or refuse."""
    os.close(open_private_dir(path, top=top, tighten=tighten))


def write_private(path: str, data: bytes, *, mode: int, top: str | None = None, create_dir: bool = True,
                  tighten: bool = False) -> None:
    """Replace ``path`` with ``data`` (file mode ``mode``), atomically, inside private directories
    (``top``: the highest one that must be private; default the file's own directory)."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = open_private_dir(directory, top=top or directory, create=create_dir, tighten=tighten)
    try:
        replace_at(dir_fd, name, data, mode, shown_as=directory)
    finally:
        os.close(dir_fd)


def replace_at(dir_fd: int, name: str, data: bytes, mode: int, *, shown_as: str) -> None:
    """Replace ``name`` in the directory ``dir_fd`` with ``data`` (file mode ``mode``): a new
    temporary file (``O_EXCL | O_NOFOLLOW``), fsynced and renamed over the name, so a symlink
    planted there is replaced, never written through. Errors name ``shown_as``."""
    tmp = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
        except OSError as exc:  # name the directory, not the temporary name nobody knows
            raise type(exc)(exc.errno, exc.strerror, shown_as) from None
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        try:
            os.fsync(dir_fd)
        except OSError as exc:  # some filesystems refuse fsync on directories
            if exc.errno not in (errno.EINVAL, errno.EBADF):
                raise
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def remove_private(path: str) -> bool:
    """Remove ``path`` if it is a file in a private directory; False when there was nothing."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        dir_fd = open_private_dir(directory, create=False)
    except UnsafeDirectory:
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    finally:
        os.close(dir_fd)


def open_private_file(path: str, flags: int, *, mode: int = 0o600, top: str | None = None,
                      tighten: bool = False) -> int:
    """Open (or create, with ``os.O_CREAT`` in ``flags``) a regular file of ours inside private
    directories, never through a symlink: for the lock and append-only logs. The caller closes it."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = open_private_dir(directory, top=top or directory, create=bool(flags & os.O_CREAT), tighten=tighten)
    try:
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeDirectory(f"{path} is a symlink: refusing to open it") from exc
            raise
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat_mod.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_nlink > 1:
        os.close(fd)
        raise UnsafeDirectory(f"{path} is not a private regular file of yours: refusing to use it")
    os.set_blocking(fd, True)
    return fd

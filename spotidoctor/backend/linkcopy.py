"""Replace hard-linked files in Spotify's storage by private copies (run inside ``podman unshare``).

    python -m spotidoctor.backend.linkcopy --owner UID:GID -- DIR...

A regular file below ``DIR`` with more than one name shares its inode, owner and content with
a file elsewhere (``~/.bashrc`` hard-linked into ``~/.spotify``). ``chown`` acts on the inode, so
the storage fix never chowns such a file; this helper gives the storage its own copy instead:
the content is copied into a new file next to it (``O_EXCL | O_NOFOLLOW``), the copy gets
``UID:GID`` (namespace ids: the container user) and the original's mode without set-id bits
and times, and is renamed over the storage's name. Every other name keeps the original inode,
its owner and its content. Nothing is followed: directories are opened with ``O_NOFOLLOW``
relative to their parent, other filesystems are not entered. Standard library only.

Prints ``copied PATH`` per file; failures go to stderr and make the exit status 1.
"""
from __future__ import annotations

import argparse
import os
import secrets
import stat as stat_mod
import sys
from collections.abc import Iterator

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def _entries(root: str) -> Iterator[tuple[int, str, str]]:
    """(directory fd, name, path) of every regular file with more than one link below ``root``."""
    top = os.open(root, _DIR_FLAGS)
    device = os.fstat(top).st_dev
    stack = [(top, root)]
    while stack:
        fd, path = stack.pop()
        try:
            for name in os.listdir(fd):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue  # vanished
                if stat_mod.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    yield fd, name, os.path.join(path, name)
                elif stat_mod.S_ISDIR(st.st_mode) and st.st_dev == device:
                    try:
                        stack.append((os.open(name, _DIR_FLAGS, dir_fd=fd), os.path.join(path, name)))
                    except OSError as exc:
                        print(f"cannot enter {os.path.join(path, name)}: {exc.strerror or exc}", file=sys.stderr)
        finally:
            os.close(fd)


def copy_one(dir_fd: int, name: str, owner: tuple[int, int]) -> None:
    """Give ``name`` (in ``dir_fd``) a new inode with the same content, owned by ``owner``."""
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    tmp = f".{name[:200]}.spotidoctor-copy-{secrets.token_hex(4)}"
    try:
        st = os.fstat(src)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_nlink < 2:
            return  # changed meanwhile: nothing shared any more
        dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                      dir_fd=dir_fd)
        try:
            while chunk := os.read(src, _CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
            os.fchown(dst, *owner)
            os.fchmod(dst, stat_mod.S_IMODE(st.st_mode) & 0o777)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(dst)
        finally:
            os.close(dst)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    finally:
        os.close(src)


def copy_links(root: str, owner: tuple[int, int]) -> int:
    """Copy every hard-linked file below ``root``; the number that failed."""
    failed = 0
    for dir_fd, name, path in _entries(root):
        try:
            copy_one(dir_fd, name, owner)
            print(f"copied {path}")
        except OSError as exc:
            failed += 1
            print(f"cannot copy {path}: {exc.strerror or exc}", file=sys.stderr)
    return failed


def _owner(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise argparse.ArgumentTypeError(f"expected UID:GID, got {text!r}")
    return int(uid), int(gid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spotidoctor.backend.linkcopy")
    parser.add_argument("--owner", type=_owner, required=True, help="UID:GID of the copies")
    parser.add_argument("directories", nargs="+")
    args = parser.parse_args(argv)
    failed = 0
    for directory in args.directories:
        try:
            failed += copy_links(os.path.abspath(directory), args.owner)
        except OSError as exc:
            failed += 1
            print(f"cannot scan {directory}: {exc.strerror or exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

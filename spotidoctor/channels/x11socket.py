"""Is the X server we are about to send a cookie to the user's own (or root's)?

/tmp/.X11-unix is shared by every local user: whoever starts an X server first on a display
number, or owns the directory, decides who answers at /tmp/.X11-unix/X<n>. A cookie sent to
another user's server (or to a fake that only records it) hands them the user's display.
Two layers, both before any cookie byte leaves spotidoctor:

- the files: /tmp/.X11-unix and the socket must belong to the user or root, and the directory
  must not let others replace entries (world/group-writable without the sticky bit);
- the listener itself: ``SO_PEERCRED`` on the connected socket names the uid that created
  the listening socket, which no rename or symlink can fake.
"""
from __future__ import annotations

from spotidoctor.probes import x11auth
from spotidoctor.probes.fs import RealFS, StatInfo
from spotidoctor.probes.x11 import peer_uid

__all__ = ["socket_dir_problems", "socket_file_problems", "ownership_problems", "peer_uid", "peer_problem",
           "ROOT_UID"]

ROOT_UID = 0
_STICKY = 0o1000


def _trusted_owner(owner: int, uid: int) -> bool:
    return owner in (uid, ROOT_UID)


def _whose(owner: int, uid: int) -> str:
    return f"uid {owner}, not you (uid {uid}) or root"


def socket_dir_problems(path: str, lst: StatInfo | None, uid: int) -> tuple[str, ...]:
    """What is wrong with the socket directory (``lstat`` of it); () when fine or missing."""
    if lst is None:
        return ()
    if lst.is_symlink:
        return (f"{path} is a symlink (owned by uid {lst.uid}): whoever controls its target decides "
                "which X server answers",)
    if not lst.is_dir:
        return (f"{path} is not a directory",)
    problems = []
    if not _trusted_owner(lst.uid, uid):
        problems.append(f"{path} belongs to {_whose(lst.uid, uid)}: its owner can replace the X "
                        "sockets in it with their own")
    if lst.perms & 0o022 and not lst.perms & _STICKY:
        problems.append(f"{path} is writable by others without the sticky bit (mode {lst.perms:04o}): "
                        "any local user can replace the X sockets in it")
    return tuple(problems)


def socket_file_problems(path: str, lst: StatInfo | None, st: StatInfo | None, uid: int) -> tuple[str, ...]:
    """What is wrong with the socket (``lstat`` and ``stat`` of it); () when fine or missing."""
    if lst is None:
        return ()
    problems = []
    if lst.is_symlink and not _trusted_owner(lst.uid, uid):
        problems.append(f"{path} is a symlink that belongs to {_whose(lst.uid, uid)}")
    target = st if lst.is_symlink else lst
    if target is not None and not _trusted_owner(target.uid, uid):
        problems.append(f"{path} belongs to {_whose(target.uid, uid)}: another user's X server "
                        "(or a fake one) would receive your cookie")
    return tuple(problems)


def ownership_problems(fs: RealFS, number: int, uid: int,
                       socket_dir: str = x11auth.X11_SOCKET_DIR) -> tuple[str, ...]:
    """Both checks for display ``number`` through the filesystem probe."""
    path = f"{socket_dir}/X{number}"
    return (socket_dir_problems(socket_dir, fs.lstat(socket_dir), uid)
            + socket_file_problems(path, fs.lstat(path), fs.stat(path), uid))


def peer_problem(label: str, owner: int | None, uid: int) -> str | None:
    """Why the process listening behind ``label`` must not get a cookie; None when it may."""
    if owner is None:
        return f"{label}: cannot tell which user runs the X server (no SO_PEERCRED)"
    if _trusted_owner(owner, uid):
        return None
    return (f"{label} is run by {_whose(owner, uid)}: spotidoctor sends no cookie to another "
            "user's X server")

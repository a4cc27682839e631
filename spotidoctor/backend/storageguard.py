"""Guard rails for Spotify's storage directory: what spotidoctor must never chown or mount.

``storage_refusal(ctx, path)`` says why ``path`` must not be used, or None. The storage
fixes AND the launcher use it, and the chown step asks again at apply time, so a path
swapped for a symlink in between is still refused.
"""
from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.errors import ProbeUnavailable
from spotidoctor.probes.fs import RealFS

if TYPE_CHECKING:
    from spotidoctor.api import Context


STRANGER = "{path} is owned by uid {uid}, which is neither you nor the container user"
MOUNTINFO_LIMIT = 4 << 20
# Never the storage dir, nor anything inside them: the system's own trees.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
                "/sbin", "/sys", "/usr", "/var/lib", "/var/log", "/var/run", "/var/cache", "/var/spool",
                "/var/mail", "/snap", "/nix")
# Never these directories themselves (a dedicated directory inside some of them is fine).
SYSTEM_DIRS = ("/", "/home", "/root", "/tmp", "/var", "/var/tmp", "/dev/shm", "/mnt", "/media", "/opt",
               "/srv", "/lost+found")


def _inside(path: str, tree: str) -> bool:
    """``path`` is ``tree`` or below it (both normalised, absolute)."""
    return path == tree or tree == "/" or path.startswith(tree + "/")


@dataclass(frozen=True)
class StorageGuard:
    """What the guard rails compare against; frozen so a fix step can carry it to apply time."""

    homes: tuple[str, ...]  # $HOME as given and as resolved
    user_uid: int
    runtime_dir: str | None
    storage_root: str  # the configured storage dir: targets must be it or inside it
    accepted_uids: frozenset[int]  # owners the storage tree may have (you, the container user)


def guard_for(ctx: Context, owner_uids: Iterable[int] | None = None) -> StorageGuard:
    """The guard for this user and config. ``owner_uids``: extra accepted owners; by default
    the container user's host uid under the isolated profile, when podman can tell."""
    if owner_uids is None:
        owner_uids = _isolated_uid(ctx)
    home = os.path.normpath(ctx.user.home)
    homes = tuple(dict.fromkeys((home, ctx.probes.fs.realpath(home))))
    return StorageGuard(
        homes=homes, user_uid=ctx.user.uid,
        runtime_dir=os.path.normpath(ctx.paths.xdg_runtime_dir) if ctx.paths.xdg_runtime_dir else None,
        storage_root=os.path.normpath(ctx.storage_dir),
        accepted_uids=frozenset({ctx.user.uid, *owner_uids}),
    )


def _isolated_uid(ctx: Context) -> tuple[int, ...]:
    from spotidoctor.podman.idmaps import mapped_owner

    try:
        return (mapped_owner(ctx, profile="isolated")[0],)
    except ProbeUnavailable:
        return ()


def storage_refusal(ctx: Context, path: str | None = None, *,
                    owner_uids: Iterable[int] | None = None) -> str | None:
    """Why ``path`` (default: the storage dir) must not be chowned or mounted, or None.

    Refuses ``/``, ``$HOME`` and its ancestors, ``$XDG_RUNTIME_DIR``, ``/tmp``, system
    directories, mount points, symlinks (also a path whose realpath differs), paths outside
    the configured storage dir, paths below directories others could swap, and directories
    not owned by you or the container user.
    """
    reasons = refusals(ctx.probes.fs, guard_for(ctx, owner_uids), path or ctx.storage_dir)
    return reasons[0] if reasons else None


def refusals(fs: RealFS, guard: StorageGuard, path: str, *, must_exist: bool = True) -> list[str]:
    """Every guard that ``path`` fails (empty: safe). ``must_exist=False`` checks only what
    can be checked before the directory is created."""
    if not path.startswith("/"):
        return [f"{path} is not an absolute path"]
    norm = os.path.normpath(path)
    found = _place_refusals(guard, norm) + _link_refusals(fs, norm) + _ancestor_refusals(fs, guard, norm)
    if found or not must_exist:
        return found
    return _target_refusals(fs, guard, norm)


def _place_refusals(guard: StorageGuard, path: str) -> list[str]:
    found = []
    if path in SYSTEM_DIRS:
        found.append(f"{path} is a system directory")
    tree = next((t for t in SYSTEM_TREES if _inside(path, t)), None)
    if tree:
        found.append(f"{path} is inside the system directory {tree}")
    for home in guard.homes:
        if _inside(home, path):
            what = "your home directory" if path == home else "an ancestor of your home directory"
            found.append(f"{path} is {what} ({home})")
            break
    if guard.runtime_dir and (_inside(path, guard.runtime_dir) or _inside(guard.runtime_dir, path)):
        found.append(f"{path} overlaps $XDG_RUNTIME_DIR ({guard.runtime_dir}), which holds your session's sockets")
    if not _inside(path, guard.storage_root):
        found.append(f"{path} is outside the configured storage directory {guard.storage_root}")
    return found


def _link_refusals(fs: RealFS, path: str) -> list[str]:
    st = fs.lstat(path)
    if st is not None and st.is_symlink:
        return [f"{path} is a symlink (to {fs.readlink(path)}); configure the real directory instead"]
    real = fs.realpath(path)
    if real != path:
        return [f"{path} resolves to {real} (a parent directory is a symlink); "
                f"set storage_dir to {real} instead"]
    return []


def _ancestor_refusals(fs: RealFS, guard: StorageGuard, path: str) -> list[str]:
    """Ancestors someone else could rewrite would let them swap a path component."""
    parts = path.strip("/").split("/")
    ancestors = ["/", *("/" + "/".join(parts[:i]) for i in range(1, len(parts)))]
    for ancestor in ancestors:
        st = fs.lstat(ancestor)
        if st is None:
            return []  # the rest does not exist yet
        allowed = guard.accepted_uids if _inside(ancestor, guard.storage_root) else {0, guard.user_uid}
        if ancestor != "/" and st.uid not in allowed:
            return [f"{ancestor} (a parent of {path}) is owned by uid {st.uid}, not by you or root"]
        if st.perms & 0o002 and not st.mode & stat_mod.S_ISVTX:
            return [f"{ancestor} (a parent of {path}) is writable by everyone"]
    return []


def _target_refusals(fs: RealFS, guard: StorageGuard, path: str) -> list[str]:
    st = fs.lstat(path)
    if st is None:
        return [f"{path} does not exist"]
    if not st.is_dir:
        return [f"{path} is not a directory"]
    if st.uid not in guard.accepted_uids:
        return [STRANGER.format(path=path, uid=st.uid)]
    if fs.ismount(path):
        return [f"{path} is a mount point"]
    inner = mount_points_under(fs, path)
    if inner:
        return [f"{inner[0]} is a mount point inside {path} (chown -R would cross into it)"]
    return []


def _unescape_mount(field_text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field_text):
        chunk = field_text[i:i + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and chunk[1:].isdigit():
            out.append(chr(int(chunk[1:], 8)))
            i += 4
        else:
            out.append(field_text[i])
            i += 1
    return "".join(out)


def mount_points_under(fs: RealFS, path: str) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo; bind mounts too)."""
    text = fs.read_text_or_none("/proc/self/mountinfo", limit=MOUNTINFO_LIMIT)
    if not text:
        return []
    found = []
    for line in text.split("\n"):
        fields = line.split(" ")
        if len(fields) > 4:
            point = os.path.normpath(_unescape_mount(fields[4]))
            if _inside(point, path):
                found.append(point)
    return found

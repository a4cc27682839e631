"""Who owns what under the storage directory, fast.

- ``scan_ownership(fs, root, owner)``: an iterative ``os.scandir`` walk with lstat
  semantics that never follows symlinks: the count of entries not owned by
  ``owner`` and the first few paths; ``stop_after`` ends it early when a verdict is enough.
- ``scan_in_userns``: the same question, asked inside ``podman unshare`` for directories the
  user cannot list (the container user's 0700 directories).
"""
from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spotidoctor.probes.fs import RealFS

if TYPE_CHECKING:
    from spotidoctor.api import Context


SAMPLE_PATHS = 5  # wrong paths shown in messages


FIND_TIMEOUT_S = 120.0
MAX_FIND_DIRS = 256  # directories per `find` call (argv stays far below ARG_MAX)


@dataclass(frozen=True)
class WrongOwner:
    path: str
    uid: int
    gid: int

    def __str__(self) -> str:
        return f"{self.path} ({self.uid}:{self.gid})"


@dataclass(frozen=True)
class OwnershipScan:
    root: str
    owner: tuple[int, int]
    checked: int = 0
    wrong: int = 0
    samples: tuple[WrongOwner, ...] = ()
    complete: bool = True  # False: stopped after ``stop_after`` wrong entries
    unreadable: tuple[str, ...] = ()  # directories that could not be listed (their owner was checked)
    mounts: tuple[str, ...] = ()  # other filesystems inside the tree (not descended into)

    @property
    def ok(self) -> bool:
        return self.wrong == 0


@dataclass
class _Tally:
    owner: tuple[int, int]
    stop_after: int | None
    max_samples: int
    checked: int = 0
    wrong: int = 0
    samples: list[WrongOwner] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)

    def bad(self, path: str, uid: int, gid: int) -> bool:
        """Record one wrongly owned entry; True when the scan may stop."""
        self.wrong += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(WrongOwner(path, uid, gid))
        return self.stop_after is not None and self.wrong >= self.stop_after


def scan_ownership(fs: RealFS, root: str, owner: tuple[int, int], *, stop_after: int | None = None,
                   max_samples: int = SAMPLE_PATHS) -> OwnershipScan:
    """Entries under ``root`` (itself included) whose (uid, gid) is not ``owner``.

    lstat semantics: a symlink's own owner counts (``chown -R`` sets it) and it is never
    followed; other filesystems inside the tree are listed, not entered. Raises
    ``FileNotFoundError`` when ``root`` does not exist.
    """
    top = fs.lstat(root)
    if top is None:
        raise FileNotFoundError(root)
    tally = _Tally(owner, stop_after, max_samples, checked=1)
    stopped = (top.uid, top.gid) != owner and tally.bad(root, top.uid, top.gid)
    if top.is_dir and not stopped:
        stopped = _walk(fs, fs.host(root), top.dev, tally)
    return OwnershipScan(root, owner, tally.checked, tally.wrong, tuple(tally.samples), not stopped,
                         tuple(tally.unreadable), tuple(tally.mounts))


def _walk(fs: RealFS, host_root: str, device: int, tally: _Tally) -> bool:
    """Depth-first over ``host_root``; True when stopped early."""
    # A fake filesystem probe (tests) may override lstat; then ask it for every entry.
    if type(fs).lstat is not RealFS.lstat:
        return _walk_probe(fs, host_root, device, tally)
    return _walk_real(fs, host_root, device, tally)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _walk_real(fs: RealFS, host_root: str, device: int, tally: _Tally) -> bool:
    # Each entry is lstat'ed relative to an fd of its directory (fstatat, as find does): the
    # kernel then resolves one name instead of the whole path, which was most of the time on
    # a big tree. O_NOFOLLOW: a directory swapped for a symlink meanwhile is not entered.
    uid, gid = tally.owner
    stack = [host_root]
    checked = 0
    try:
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    names = [entry.name for entry in entries]
                fd = os.open(directory, _DIR_FLAGS)
            except OSError:
                tally.unreadable.append(fs.unhost(directory))
                continue
            try:
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        continue  # vanished while we looked
                    checked += 1
                    if (st.st_uid != uid or st.st_gid != gid) and tally.bad(
                            fs.unhost(os.path.join(directory, name)), st.st_uid, st.st_gid):
                        return True
                    if stat_mod.S_ISDIR(st.st_mode):
                        if st.st_dev != device:
                            tally.mounts.append(fs.unhost(os.path.join(directory, name)))
                        else:
                            stack.append(os.path.join(directory, name))
            finally:
                os.close(fd)
        return False
    finally:
        tally.checked += checked


def _walk_probe(fs: RealFS, host_root: str, device: int, tally: _Tally) -> bool:
    owner = tally.owner
    stack = [host_root]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            tally.unreadable.append(fs.unhost(directory))
            continue
        with entries:
            for entry in entries:
                try:
                    info = fs.lstat(fs.unhost(entry.path))
                except OSError:
                    info = None
                if info is None:
                    continue  # vanished while we looked
                tally.checked += 1
                if (info.uid, info.gid) != owner and tally.bad(fs.unhost(entry.path), info.uid, info.gid):
                    return True
                if info.is_dir:
                    if info.dev != device:
                        tally.mounts.append(fs.unhost(entry.path))
                    else:
                        stack.append(entry.path)
    return False


@dataclass(frozen=True)
class UserNsScan:
    wrong: int
    samples: tuple[WrongOwner, ...]
    error: str | None = None
    complete: bool = True


def scan_in_userns(ctx: Context, directories: Sequence[str], ns_owner: tuple[int, int], *,
                   stop_early: bool, max_samples: int = SAMPLE_PATHS) -> UserNsScan:
    """Entries below ``directories`` not owned by ``ns_owner`` (namespace ids), listed by
    ``find`` inside ``podman unshare``, where the container user's private directories
    are readable. Paths only; the ids shown are namespace ids."""
    uid, gid = ns_owner
    truncated = len(directories) > MAX_FIND_DIRS
    argv = ["podman", "unshare", "find", "-P", *directories[:MAX_FIND_DIRS], "-xdev", "-mindepth", "1",
            "(", "!", "-uid", str(uid), "-o", "!", "-gid", str(gid), ")",
            "-printf", r"%U:%G:%p\0"]
    if stop_early:
        argv.append("-quit")
    done = ctx.probes.cmd.run(argv, timeout=FIND_TIMEOUT_S)
    if done.not_found or done.timed_out or (done.returncode != 0 and not done.stdout):
        return UserNsScan(0, (), f"`podman unshare find` failed: {done.error_text()}", False)
    items = [item for item in done.stdout.split("\0") if item]
    samples = []
    for item in items[:max_samples]:
        ids, path = _split_ids(item)
        samples.append(WrongOwner(path, ids[0], ids[1]))
    error = f"`podman unshare find` reported: {done.error_text()}" if done.returncode != 0 else None
    if truncated:
        scanned = f"only the first {MAX_FIND_DIRS} of {len(directories)} directories were scanned"
        error = (error + "; " if error else "") + scanned
    return UserNsScan(len(items), tuple(samples), error, not stop_early and not truncated)


def _split_ids(item: str) -> tuple[tuple[int, int], str]:
    uid_s, _, rest = item.partition(":")
    gid_s, _, path = rest.partition(":")
    try:
        return (int(uid_s), int(gid_s)), path
    except ValueError:
        return (-1, -1), item

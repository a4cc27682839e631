"""Who owns what under the storage directory, fast.

- ``scan_ownership(fs, root, owner)``: an iterative ``os.scandir`` walk with lstat
  semantics that never follows symlinks: the count of entries not owned by
  ``owner`` and the first few paths; ``stop_after`` ends it early when a verdict is enough.
  Regular files with more than one name (hard links) are listed whoever owns them: a chown
  acts on the inode, so it would reach every other name of the file too.
- ``scan_in_userns``: the same question, asked inside ``podman unshare`` for directories the
  user cannot list (the container user's 0700 directories).
"""
from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spotidoctor.probes.fs import RealFS

if TYPE_CHECKING:
    from spotidoctor.api import Context


SAMPLE_PATHS = 5  # wrong paths shown in messages
MAX_HARD_LINKS = 1000  # hard links remembered (all are counted)


FIND_TIMEOUT_S = 120.0
MAX_FIND_DIRS = 256  # directories per `find` call (argv stays far below ARG_MAX)
# Listing a directory failed for a reason `podman unshare` would not change (a path
# longer than PATH_MAX, a vanished or damaged directory): it is not covered.
_PRIVATE_ERRORS = (errno.EACCES, errno.EPERM)


@dataclass(frozen=True)
class WrongOwner:
    path: str
    uid: int
    gid: int
    link_to: str | None = None  # a symlink: its target (read, never followed)

    def __str__(self) -> str:
        link = "" if self.link_to is None else f" -> {self.link_to}"
        return f"{self.path} ({self.uid}:{self.gid}){link}"


@dataclass(frozen=True)
class HardLink:
    """A regular file with ``nlink`` names: chowning it would chown the file behind all of them."""

    path: str
    uid: int
    gid: int
    nlink: int
    dev: int = 0
    ino: int = 0


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
    hard_links: tuple[HardLink, ...] = ()  # the first MAX_HARD_LINKS
    hard_link_count: int = 0
    # Directories not listed for another reason than permissions (path, why): not covered at all.
    not_covered: tuple[tuple[str, str], ...] = ()

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
    hard_links: list[HardLink] = field(default_factory=list)
    hard_link_count: int = 0
    not_covered: list[tuple[str, str]] = field(default_factory=list)

    def bad(self, path: str, uid: int, gid: int, link_to: str | None = None) -> bool:
        """Record one wrongly owned entry; True when the scan may stop."""
        self.wrong += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(WrongOwner(path, uid, gid, link_to))
        return self.stop_after is not None and self.wrong >= self.stop_after

    def hard_link(self, link: HardLink) -> None:
        self.hard_link_count += 1
        if len(self.hard_links) < MAX_HARD_LINKS:
            self.hard_links.append(link)

    def unlisted(self, path: str, exc: OSError) -> None:
        if exc.errno in _PRIVATE_ERRORS:
            self.unreadable.append(path)  # the container user's 0700 directory: asked inside the namespace
        else:
            self.not_covered.append((path, exc.strerror or str(exc)))


def _link_target(host_path: str) -> str | None:
    try:
        return os.readlink(host_path)
    except OSError:
        return None


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
    if top.is_file and top.nlink > 1:
        tally.hard_link(HardLink(root, top.uid, top.gid, top.nlink, top.dev, top.ino))
    if top.is_dir and not stopped:
        stopped = _walk(fs, fs.host(root), top.dev, tally)
    return OwnershipScan(root, owner, tally.checked, tally.wrong, tuple(tally.samples), not stopped,
                         tuple(tally.unreadable), tuple(tally.mounts), tuple(tally.hard_links),
                         tally.hard_link_count, tuple(tally.not_covered))


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
            except OSError as exc:
                tally.unlisted(fs.unhost(directory), exc)
                continue
            try:
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        continue  # vanished while we looked
                    checked += 1
                    if st.st_nlink > 1 and stat_mod.S_ISREG(st.st_mode):
                        tally.hard_link(HardLink(fs.unhost(os.path.join(directory, name)), st.st_uid, st.st_gid,
                                                 st.st_nlink, st.st_dev, st.st_ino))
                    if (st.st_uid != uid or st.st_gid != gid) and tally.bad(
                            fs.unhost(os.path.join(directory, name)), st.st_uid, st.st_gid,
                            _link_target(os.path.join(directory, name)) if stat_mod.S_ISLNK(st.st_mode) else None):
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
        except OSError as exc:
            tally.unlisted(fs.unhost(directory), exc)
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
                path = fs.unhost(entry.path)
                if info.is_file and info.nlink > 1:
                    tally.hard_link(HardLink(path, info.uid, info.gid, info.nlink, info.dev, info.ino))
                link_to = fs.readlink(path) if info.is_symlink else None
                if (info.uid, info.gid) != owner and tally.bad(path, info.uid, info.gid, link_to):
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
    hard_links: tuple[HardLink, ...] = ()  # ids as seen inside the namespace


def userns_find_argv(directories: Sequence[str], ns_owner: tuple[int, int], *, stop_early: bool) -> tuple[str, ...]:
    """``find`` inside the namespace: wrongly owned entries and hard-linked files, each as
    ``uid:gid:type:links:path``, NUL, ``target``, NUL (the target is empty unless it is a symlink)."""
    uid, gid = ns_owner
    argv = ("podman", "unshare", "find", "-P", *directories[:MAX_FIND_DIRS], "-xdev", "-mindepth", "1",
            "(", "!", "-uid", str(uid), "-o", "!", "-gid", str(gid), "-o", "(", "-type", "f", "-links", "+1", ")",
            ")", "-printf", r"%U:%G:%y:%n:%p\0%l\0")
    return (*argv, "-quit") if stop_early else argv


def scan_in_userns(ctx: Context, directories: Sequence[str], ns_owner: tuple[int, int], *,
                   stop_early: bool, max_samples: int = SAMPLE_PATHS) -> UserNsScan:
    """Entries below ``directories`` not owned by ``ns_owner`` (namespace ids), and hard-linked
    files, listed by ``find`` inside ``podman unshare``, where the container user's private
    directories are readable. The ids shown are namespace ids."""
    truncated = len(directories) > MAX_FIND_DIRS
    done = ctx.probes.cmd.run(userns_find_argv(directories, ns_owner, stop_early=stop_early), timeout=FIND_TIMEOUT_S)
    if done.not_found or done.timed_out or (done.returncode != 0 and not done.stdout):
        return UserNsScan(0, (), f"`podman unshare find` failed: {done.error_text()}", False)
    fields = done.stdout.split("\0")
    wrong = 0
    samples: list[WrongOwner] = []
    links: list[HardLink] = []
    for item, target in zip(fields[0::2], fields[1::2], strict=False):
        if not item:
            continue
        (uid, gid), kind, nlink, path = _split_item(item)
        if kind == "f" and nlink > 1:
            links.append(HardLink(path, uid, gid, nlink))
        if (uid, gid) != ns_owner:
            wrong += 1
            if len(samples) < max_samples:
                samples.append(WrongOwner(path, uid, gid, target if kind == "l" else None))
    error = f"`podman unshare find` reported: {done.error_text()}" if done.returncode != 0 else None
    if truncated:
        scanned = f"only the first {MAX_FIND_DIRS} of {len(directories)} directories were scanned"
        error = (error + "; " if error else "") + scanned
    return UserNsScan(wrong, tuple(samples), error, not stop_early and not truncated,
                      tuple(links[:MAX_HARD_LINKS]))


def _split_item(item: str) -> tuple[tuple[int, int], str, int, str]:
    parts = item.split(":", 4)
    if len(parts) != 5:
        return (-1, -1), "?", 1, item
    try:
        return (int(parts[0]), int(parts[1])), parts[2], int(parts[3]), parts[4]
    except ValueError:
        return (-1, -1), "?", 1, item

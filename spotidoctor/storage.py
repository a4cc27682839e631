"""Spotify's storage directory: guard rails, a fast ownership scan, and the chown step.

- ``storage_refusal(ctx, path)``: why spotidoctor must not chown (or mount) ``path``, or None
 . The storage fixes AND the launcher use it, and ``UserNsChown`` asks again
  at apply time, so a path swapped for a symlink in between is still refused.
- ``scan_ownership(fs, root, owner)``: an iterative ``os.scandir`` walk with lstat
  semantics that never follows symlinks: the count of entries not owned by
  ``owner`` and the first few paths; ``stop_after`` ends it early when a verdict is enough.
- ``scan_in_userns``: the same question, asked inside ``podman unshare`` for directories the
  user cannot list (the container user's 0700 directories).
- ``UserNsChown``: ``podman unshare chown -R -P --no-dereference --preserve-root U:G -- /abs``
 , a USERNS step that re-checks the guards before it runs.
"""
from __future__ import annotations

import os
import shlex
import stat as stat_mod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable, Sequence

from spotidoctor.errors import FixFailed, ProbeUnavailable
from spotidoctor.fixes import Privilege, Step
from spotidoctor.probes.fs import RealFS

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.fixes import StepEnv
    from spotidoctor.types import JSONValue

__all__ = ["StorageGuard", "storage_refusal", "refusals", "guard_for", "OwnershipScan", "WrongOwner",
           "scan_ownership", "scan_in_userns", "UserNsScan", "UserNsChown", "chown_argv", "mount_points_under",
           "SAMPLE_PATHS", "STRANGER"]

SAMPLE_PATHS = 5  # wrong paths shown in messages
CHOWN_TIMEOUT_S = 1800.0  # a cache of hundreds of thousands of files on a slow disk
FIND_TIMEOUT_S = 120.0
MAX_FIND_DIRS = 256  # directories per `find` call (argv stays far below ARG_MAX)
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
    from spotidoctor.podmaninfo import mapped_owner

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


# -- ownership scan ---------------------------------------------------------------------------

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
        error = (error + "; " if error else "") + f"only the first {MAX_FIND_DIRS} of {len(directories)} directories were scanned"
    return UserNsScan(len(items), tuple(samples), error, not stop_early and not truncated)


def _split_ids(item: str) -> tuple[tuple[int, int], str]:
    uid_s, _, rest = item.partition(":")
    gid_s, _, path = rest.partition(":")
    try:
        return (int(uid_s), int(gid_s)), path
    except ValueError:
        return (-1, -1), item


# -- the chown step ---------------------------------------------------------------------------

def chown_argv(path: str, owner: tuple[int, int]) -> tuple[str, ...]:
    """The one safe chown form: recursive, never following any symlink."""
    return ("podman", "unshare", "chown", "-R", "-P", "--no-dereference", "--preserve-root",
            f"{owner[0]}:{owner[1]}", "--", path)


@dataclass(frozen=True)
class UserNsChown(Step):
    """Recursively chown ``path`` inside ``podman unshare`` after re-checking the guards.

    ``owner`` is in namespace ids: (1500, 1500) becomes the container user's subordinate
    ids on the host; (0, 0) is you (the keep-id migration).
    """

    path: str = ""
    owner: tuple[int, int] = (0, 0)
    guard: StorageGuard | None = None
    timeout_s: float = CHOWN_TIMEOUT_S
    kind: ClassVar[str] = "userns-chown"

    @property
    def privilege(self) -> Privilege:
        return Privilege.USERNS

    @property
    def argv(self) -> tuple[str, ...]:
        return chown_argv(self.path, self.owner)

    def _refusals(self, env: StepEnv) -> list[str]:
        if self.guard is None:
            return ["no guard rails were given for this chown"]
        return refusals(env.probes.fs, self.guard, self.path)

    def preview(self, env: StepEnv) -> list[str]:
        lines = [f"$ {shlex.join(self.argv)}"]
        return lines + [f"(would refuse: {reason})" for reason in self._refusals(env)]

    def apply(self, env: StepEnv) -> str:
        reasons = self._refusals(env)
        if reasons:
            raise FixFailed(f"refusing to chown {self.path}: {'; '.join(reasons)}")
        done = env.probes.cmd.run(self.argv, timeout=self.timeout_s)
        if not done.ok:
            raise FixFailed(f"`{shlex.join(self.argv)}` failed: {done.error_text()}")
        return f"chowned {self.path} to {self.owner[0]}:{self.owner[1]} inside podman unshare"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        data["argv"] = list(self.argv)
        return data

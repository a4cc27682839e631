"""Storage checks: the storage directory (default ~/.spotify with config/ and cache/), the
owner of every entry in it, and free space.

Chain: userns.mapping → storage.dir → {storage.ownership, storage.free-space}. The expected
owner comes from userns.mapping's ``host_uid``/``host_gid`` facts: the container user's
subordinate ids under the isolated profile, your own ids under keep-id.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from typing import TYPE_CHECKING

from spotidoctor import layout
from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.fixes import MakeDirs, Privilege, RunCommand, Step
from spotidoctor.types import JSONValue
from spotidoctor.model import Severity
from spotidoctor.podmaninfo import namespace_owner
from spotidoctor.storage import (SAMPLE_PATHS, STRANGER, OwnershipScan, StorageGuard, UserNsChown, WrongOwner,
                                 guard_for, refusals, scan_in_userns, scan_ownership)
from spotidoctor.subids import IdMap, IdMapEntry
from spotidoctor.units import GiB, format_bytes

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

LOW_SPACE_BYTES = 2 * GiB  # Spotify's cache alone grows to several GiB
# Spotify keeps one directory per account, named after it (`Users/<name>-user`): sample paths
# show it as `Users/<account>-user`, so pasted output never carries the account name.
_ACCOUNT_DIR = re.compile(r"(/Users/)[^/]+(-user)(?=/| |$)")
LOW_SPACE_FRACTION = 0.05
CHOWN_FIX_ID = "storage.chown-to-container-user"
MIGRATE_FIX_ID = "storage.migrate-to-keep-id"
ROOT_CHOWN_FIX_ID = "storage.root-chown"
MKDIR_FIX_ID = "storage.create-dirs"

# -- user-facing text (tests assert against these) ----------------------------------------
REFUSED = "{path} cannot be used as Spotify's storage"
USE_DEDICATED = ("Set `storage_dir` in spotidoctor's config.toml (or pass --storage-dir) to a dedicated "
                 "directory, e.g. ~/.spotify.")
MISSING = "{paths} missing"
READY = "{root} with config/ and cache/"
WRONG = "{count} entr{ies} in {root} not owned by {owner} ({who})"
ALL_RIGHT = "{count} entries owned by {owner} ({who})"
NOT_FIXING = "not fixing automatically: {reason}"
UNMAPPED = ("some entries belong to ids outside your user namespace (e.g. root, or an earlier subordinate "
            "range): `podman unshare chown` cannot change them")
UNCHECKED = "{count} director{ies} could not be listed, even inside `podman unshare`: {error}"
PRIVATE_CHECKED = "the contents of {count} private director(ies) were checked inside `podman unshare`"
MOUNTS_INSIDE = "{path} is another filesystem mounted inside the storage tree (not scanned)"
LOW_SPACE = "only {free} free on the filesystem holding {root}"
SPACE_OK = "{free} free on the filesystem holding {root}"


def _int_fact(ctx: Context, check_id: str, key: str) -> int | None:
    value = ctx.prior_fact(check_id, key)
    return value if type(value) is int else None


def _map_fact(ctx: Context, key: str) -> IdMap | None:
    value = ctx.prior_fact("userns.mapping", key)
    if not isinstance(value, list):
        return None
    entries = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            return None
        inside, outside, length = (int(v) for v in item)  # type: ignore[arg-type]
        entries.append(IdMapEntry(inside, outside, length))
    return IdMap(tuple(entries))


def _guard(ctx: Context) -> StorageGuard:
    """Accepted owners of the tree: you and the container user's subordinate uid."""
    isolated = _int_fact(ctx, "userns.mapping", "isolated_host_uid")
    return guard_for(ctx, owner_uids=() if isolated is None else (isolated,))


def _is_stranger(reason: str) -> bool:
    return reason.endswith(STRANGER.split("}", 2)[-1])


def _subdirs(root: str) -> tuple[str, str]:
    return layout.storage_config(root), layout.storage_cache(root)


class StorageDirectory(Check):
    """What it checks: the storage directory (`storage_dir`, default ~/.spotify) and its
    config/ and cache/ exist, and they pass spotidoctor's guard rails: not `/`, not your home
    or an ancestor of it, not $XDG_RUNTIME_DIR, /tmp or a system directory, not a mount
    point, not a symlink (nor below one), owned by you or the container user.

    Why it matters: both subdirectories are mounted into the container and get chowned to
    the container user; chowning the wrong directory (your home!) would lock you out of
    your own files.

    Fix safety: safe: creates missing directories (mode 0700). A path that fails a guard
    rail is never changed; spotidoctor says why.
    """

    id = "storage.dir"
    title = "Spotify's storage directory exists and is safe to use"
    category = "storage"
    requires = ("userns.mapping",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the storage tree one level deep and prefs without autologin.* lines."""
        from spotidoctor.bundle.sources import spotify_evidence

        spotify_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        root = ctx.storage_dir
        fs = ctx.probes.fs
        guard = _guard(ctx)
        facts: dict[str, JSONValue] = {"storage_dir": root, "storage_config": _subdirs(root)[0],
                                       "storage_cache": _subdirs(root)[1]}
        for path in (root, *_subdirs(root)):
            reasons = self._refusals(ctx, guard, path, is_root=path == root)
            if reasons:
                return self.fail(REFUSED.format(path=path), *(Message.error(r) for r in reasons),
                                 Message.hint(USE_DEDICATED), facts=facts)
        missing = [p for p in (root, *_subdirs(root)) if fs.lstat(p) is None]
        if missing:
            return self.fail(MISSING.format(paths=", ".join(missing)), facts=facts,
                             fixes=(self._mkdir_fix(ctx, root, missing),))
        return self.ok(READY.format(root=root), facts=facts)

    @staticmethod
    def _refusals(ctx: Context, guard: StorageGuard, path: str, *, is_root: bool) -> list[str]:
        st = ctx.probes.fs.lstat(path)
        reasons = refusals(ctx.probes.fs, guard, path, must_exist=st is not None)
        if not is_root:
            # Who owns config/ and cache/ is storage.ownership's question (it offers the fix).
            reasons = [r for r in reasons if not _is_stranger(r)]
        return reasons

    @staticmethod
    def _mkdir_fix(ctx: Context, root: str, missing: list[str]) -> Fix:
        root_st = ctx.probes.fs.lstat(root)
        steps: list[Step] = []
        for path in missing:
            if root_st is not None and root_st.uid != ctx.user.uid:
                # The container user owns the parent: create it inside the namespace instead.
                steps.append(RunCommand(f"Create {path}", argv=("podman", "unshare", "mkdir", "-m", "0700", "--", path),
                                        run_as=Privilege.USERNS))
            else:
                steps.append(MakeDirs(f"Create {path}", path=path, mode=0o700))
        return Fix.safe(MKDIR_FIX_ID, f"Create {', '.join(missing)}", *steps,
                        recheck=("storage.ownership",))


@dataclass(frozen=True)
class _TreeScan:
    path: str
    scan: OwnershipScan
    userns_wrong: int = 0
    userns_samples: tuple[WrongOwner, ...] = ()
    userns_error: str | None = None
    userns_complete: bool = True

    @property
    def wrong(self) -> int:
        return self.scan.wrong + self.userns_wrong

    @property
    def complete(self) -> bool:
        return self.scan.complete and self.userns_complete

    @property
    def samples(self) -> tuple[WrongOwner, ...]:
        return (self.scan.samples + self.userns_samples)[:SAMPLE_PATHS]


def _scan_tree(ctx: Context, path: str, owner: tuple[int, int], ns_owner: tuple[int, int],
               uid_map: IdMap | None, gid_map: IdMap | None) -> _TreeScan:
    stop = None if ctx.verbose else SAMPLE_PATHS
    scan = scan_ownership(ctx.probes.fs, path, owner, stop_after=stop)
    if not scan.unreadable or not scan.complete:
        return _TreeScan(path, scan)
    # The container user's private (0700) directories: ask again inside the namespace.
    inner = scan_in_userns(ctx, scan.unreadable, ns_owner, stop_early=not ctx.verbose)
    samples = tuple(WrongOwner(s.path, _host(uid_map, s.uid), _host(gid_map, s.gid)) for s in inner.samples)
    return _TreeScan(path, scan, inner.wrong, samples, inner.error, inner.complete)


def _host(id_map: IdMap | None, inside: int) -> int:
    host = id_map.to_host(inside) if id_map and inside >= 0 else None
    return inside if host is None else host


class StorageOwnership(Check):
    """What it checks: every entry under the storage's config/ and cache/ (directories,
    files, and symlinks themselves, never followed) is owned by the ids the container user
    has on the host: the subordinate ids under the isolated profile (e.g. 101499:101499),
    your own ids under keep-id. Reports the count and the first few wrong paths; stops at
    the first few unless --verbose, which counts them all. Directories you cannot list (the
    container user's 0700 ones) are scanned inside `podman unshare`.

    Why it matters: Spotify, as container uid 1500, cannot write its settings or cache
    otherwise ("Permission denied"), and a keep-id container cannot use files left owned by
    the subordinate uid.

    Fix safety: safe once the guard rails pass: `podman unshare chown -R -P --no-dereference
    --preserve-root 1500:1500 -- <dir>` (never follows symlinks; keep-id: `0:0`, back to you).
    Refused, with the reason, when a guard fails; entries owned by ids outside your
    namespace need root (printed only).
    """

    id = "storage.ownership"
    title = "Spotify's storage is owned by the container user"
    category = "storage"
    requires = ("storage.dir", "userns.mapping")
    tags = frozenset({"launch"})
    timeout_s = 180.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        host_uid = _int_fact(ctx, "userns.mapping", "host_uid")
        host_gid = _int_fact(ctx, "userns.mapping", "host_gid")
        if host_uid is None or host_gid is None:
            return self.fail("userns.mapping did not say which host ids the container user has")
        owner = (host_uid, host_gid)
        ns_owner = namespace_owner(ctx.config.profile, ctx.config.container_uid)
        uid_map, gid_map = _map_fact(ctx, "uid_map"), _map_fact(ctx, "gid_map")
        scans = [_scan_tree(ctx, path, owner, ns_owner, uid_map, gid_map) for path in _subdirs(ctx.storage_dir)]
        facts = self._facts(owner, scans)
        notes = self._notes(scans)
        who = self._who(ctx)
        owner_text = f"{host_uid}:{host_gid}"
        bad = [s for s in scans if s.wrong]
        if not bad:
            checked = sum(s.scan.checked for s in scans)
            private = sum(len(s.scan.unreadable) for s in scans if not s.userns_error)
            if private:
                notes.insert(0, Message.info(PRIVATE_CHECKED.format(count=private)))
            return self.ok(ALL_RIGHT.format(count=checked, owner=owner_text, who=who), *notes, facts=facts)
        total = sum(s.wrong for s in bad)
        count = str(total) if all(s.complete for s in bad) else f"at least {total}"
        summary = WRONG.format(count=count, ies="y" if total == 1 else "ies", root=ctx.storage_dir,
                               owner=owner_text, who=who)
        messages = [self._samples_message(s) for s in bad]
        fix_messages, fixes = self._fixes(ctx, bad, ns_owner, owner, uid_map, gid_map)
        return self.fail(summary, *messages, *fix_messages, *notes, facts=facts, fixes=fixes)

    @staticmethod
    def _who(ctx: Context) -> str:
        if ctx.config.profile == "keep-id":
            return "you: profile keep-id"
        return f"container uid {ctx.config.container_uid}: profile isolated"

    @staticmethod
    def _facts(owner: tuple[int, int], scans: list[_TreeScan]) -> dict[str, JSONValue]:
        return {"expected_owner": f"{owner[0]}:{owner[1]}",
                "checked": sum(s.scan.checked for s in scans),
                "wrong": sum(s.wrong for s in scans),
                "complete": all(s.complete for s in scans)}

    @staticmethod
    def _samples_message(scan: _TreeScan) -> Message:
        lines = [_ACCOUNT_DIR.sub(r"\1<account>\2", str(s)) for s in scan.samples]
        more = "" if scan.complete else " (stopped early; `--verbose` counts them all)"
        return Message.error(f"{scan.path}: {scan.wrong} wrong{more}", *lines)

    @staticmethod
    def _notes(scans: list[_TreeScan]) -> list[Message]:
        notes = []
        for s in scans:
            if s.userns_error:
                count = len(s.scan.unreadable)
                notes.append(Message.hint(UNCHECKED.format(count=count, ies="y" if count == 1 else "ies",
                                                           error=s.userns_error)))
            notes += [Message.hint(MOUNTS_INSIDE.format(path=m)) for m in s.scan.mounts]
        return notes

    def _fixes(self, ctx: Context, bad: list[_TreeScan], ns_owner: tuple[int, int], owner: tuple[int, int],
               uid_map: IdMap | None, gid_map: IdMap | None) -> tuple[list[Message], tuple[Fix, ...]]:
        guard = _guard(ctx)
        messages: list[Message] = []
        steps: list[Step] = []
        root_paths: list[str] = []
        for scan in bad:
            reasons = refusals(ctx.probes.fs, guard, scan.path)
            unmapped = self._unmapped(scan.samples, uid_map, gid_map)
            if unmapped and all(_is_stranger(r) for r in reasons):
                root_paths.append(scan.path)  # owned by an old mapping: only root can change it
            elif reasons:
                messages += [Message.error(NOT_FIXING.format(reason=r)) for r in reasons]
            else:
                steps.append(UserNsChown(f"Give {scan.path} to {self._who(ctx)}", path=scan.path,
                                         owner=ns_owner, guard=guard))
        fixes: list[Fix] = []
        if steps:
            fixes.append(self._chown_fix(ctx, bad, steps))
        if root_paths:
            messages.append(Message.error(UNMAPPED))
            fixes.append(self._root_fix(root_paths, owner))
        return messages, tuple(fixes)

    @staticmethod
    def _unmapped(samples: tuple[WrongOwner, ...], uid_map: IdMap | None, gid_map: IdMap | None) -> bool:
        if uid_map is None or gid_map is None:
            return False
        return any(uid_map.to_inside(s.uid) is None or gid_map.to_inside(s.gid) is None for s in samples)

    @staticmethod
    def _chown_fix(ctx: Context, bad: list[_TreeScan], steps: list[Step]) -> Fix:
        if ctx.config.profile == "keep-id":
            return Fix.safe(MIGRATE_FIX_ID, "Migrate the storage to the keep-id profile: give it back to you "
                            "(podman unshare chown -R 0:0)", *steps)
        uid = ctx.config.container_uid
        isolated = _int_fact(ctx, "userns.mapping", "isolated_host_uid")
        return Fix.safe(CHOWN_FIX_ID, f"Give the storage to the container user (podman unshare chown -R "
                        f"{uid}:{uid}, host uid {isolated})", *steps)

    @staticmethod
    def _root_fix(paths: list[str], owner: tuple[int, int]) -> Fix:
        steps = [RunCommand(f"chown {path} as root", argv=(
            "chown", "-R", "-P", "--no-dereference", "--preserve-root", f"{owner[0]}:{owner[1]}", "--", path),
            run_as=Privilege.ROOT) for path in paths]
        return Fix.manual(ROOT_CHOWN_FIX_ID, "Give the storage to the container user as root", *steps,
                          notes=("Check the commands: they run as root. "
                                 + " ".join(shlex.quote(p) for p in paths) + " must be Spotify's storage.",))


class StorageFreeSpace(Check):
    """What it checks: free space on the filesystem holding the storage directory.

    Why it matters: Spotify's cache grows to several GiB; a full disk makes it fail in
    odd ways (lost settings, playback stopping).

    Fix safety: none (free space, limit the cache size in Spotify's settings, or move
    `storage_dir` to a bigger disk).
    """

    id = "storage.free-space"
    title = "The storage filesystem has room for Spotify's cache"
    category = "storage"
    severity = Severity.WARNING
    requires = ("storage.dir",)

    def run(self, ctx: Context) -> CheckResult:
        root = ctx.storage_dir
        usage = ctx.probes.fs.disk_usage(root)
        if usage is None:
            return self.warn(f"cannot tell the free space of {root}")
        facts: dict[str, JSONValue] = {"free_bytes": usage.free_bytes, "total_bytes": usage.total_bytes}
        free = format_bytes(usage.free_bytes, fixed_point=True)
        if usage.free_bytes < LOW_SPACE_BYTES or usage.free_bytes < usage.total_bytes * LOW_SPACE_FRACTION:
            return self.warn(LOW_SPACE.format(free=free, root=root), Message.hint(
                "Spotify's cache grows to several GiB.",
                "Limit it in Spotify: Settings → Storage, or move storage_dir to a bigger filesystem."), facts=facts)
        return self.ok(SPACE_OK.format(free=free, root=root), facts=facts)


CHECKS = (StorageDirectory, StorageOwnership, StorageFreeSpace)

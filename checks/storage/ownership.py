"""storage.ownership: everything under config/ and cache/ belongs to the container user."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.backend.storageguard import refusals
from spotidoctor.facts import MappingFacts
from spotidoctor.fixes import Privilege, RunCommand, Step
from spotidoctor.podman.idmaps import namespace_owner
from spotidoctor.podman.subids import IdMap
from spotidoctor.types import JSONValue

from .common import int_fact, is_stranger, map_fact, storage_guard, subdirs
from .dir import MOUNTS_INSIDE
from .findings import (
    NOT_COVERED,
    NOT_COVERED_SUMMARY,
    copy_fix,
    hard_links_message,
    links_out_message,
    plural,
    sample_line,
    short,
)
from .scan import SAMPLE_PATHS, HardLink, OwnershipScan, WrongOwner, scan_in_userns, scan_ownership
from .steps import CopyHardLinks, UserNsChown, chown_tree_argv

# Spotify keeps one directory per account, named after it (`Users/<name>-user`): sample paths
# show it as `Users/<account>-user`, so pasted output never carries the account name.
_ACCOUNT_DIR = re.compile(r"(/Users/)[^/]+(-user)(?=/| |$)")


CHOWN_FIX_ID = "storage.chown-to-container-user"
MIGRATE_FIX_ID = "storage.migrate-to-keep-id"
ROOT_CHOWN_FIX_ID = "storage.root-chown"


WRONG = "{count} entr{ies} in {root} not owned by {owner} ({who})"
ALL_RIGHT = "{count} entries owned by {owner} ({who})"
NOT_FIXING = "not fixing automatically: {reason}"
UNMAPPED = ("some entries belong to ids outside your user namespace (e.g. root, or an earlier subordinate "
            "range): `podman unshare chown` cannot change them")
UNCHECKED = "{count} director{ies} could not be listed, even inside `podman unshare`: {error}"
PRIVATE_CHECKED = "the contents of {count} private director(ies) were checked inside `podman unshare`"


@dataclass(frozen=True)
class _TreeScan:
    path: str
    scan: OwnershipScan
    userns_wrong: int = 0
    userns_samples: tuple[WrongOwner, ...] = ()
    userns_error: str | None = None
    userns_complete: bool = True
    userns_links: tuple[HardLink, ...] = ()

    @property
    def wrong(self) -> int:
        return self.scan.wrong + self.userns_wrong

    @property
    def hard_links(self) -> tuple[HardLink, ...]:
        return self.scan.hard_links + self.userns_links

    @property
    def hard_link_count(self) -> int:
        return self.scan.hard_link_count + len(self.userns_links)

    @property
    def covered(self) -> bool:
        """Every directory was listed (by the walk or inside the namespace)."""
        return not self.scan.not_covered and not self.userns_error

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
    samples = tuple(WrongOwner(s.path, _host(uid_map, s.uid), _host(gid_map, s.gid), s.link_to) for s in inner.samples)
    links = tuple(HardLink(h.path, _host(uid_map, h.uid), _host(gid_map, h.gid), h.nlink) for h in inner.hard_links)
    return _TreeScan(path, scan, inner.wrong, samples, inner.error, inner.complete, links)


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

    A regular file with more than one name (a hard link, e.g. to ~/.bashrc) is reported
    whoever owns it and never chowned: a chown changes the file behind every name. A symlink
    is reported with its target; it is never followed. Directories that could not be listed
    at all (a path longer than Linux allows) make the result a warning that says so.

    Fix safety: safe once the guard rails pass: `podman unshare find -P <dir> -xdev ! ( -type f
    -links +1 ) -exec chown --no-dereference 1500:1500 -- {} +` (never follows symlinks,
    skips hard-linked files; keep-id: `0:0`, back to you). Hard-linked files: an unsafe fix
    replaces each by a private copy for the container user (the other names keep the
    original). Refused, with the reason, when a guard fails; entries owned by ids outside your
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
        mapping = ctx.prior_facts(MappingFacts)
        if mapping is None:
            return self.fail("userns.mapping did not say which host ids the container user has")
        owner = (mapping.host_uid, mapping.host_gid)
        ns_owner = namespace_owner(ctx.config.profile, ctx.config.container_uid)
        uid_map, gid_map = map_fact(ctx, "uid_map"), map_fact(ctx, "gid_map")
        scans = [_scan_tree(ctx, path, owner, ns_owner, uid_map, gid_map) for path in subdirs(ctx.storage_dir)]
        facts = self._facts(owner, scans)
        notes = self._notes(scans)
        who = self._who(ctx)
        owner_text = f"{mapping.host_uid}:{mapping.host_gid}"
        bad = [s for s in scans if s.wrong]
        linked = [s for s in scans if s.hard_link_count]
        if not bad and not linked:
            return self._no_wrong_owner(ctx, scans, notes, owner_text, who, facts)
        messages = [self._samples_message(ctx, s) for s in bad]
        links_out = links_out_message([x for s in bad for x in s.samples], ctx.storage_dir)
        messages += [links_out] if links_out else []
        if linked:
            messages.append(self._hard_links_message(scans))
        fix_messages, fixes = self._fixes(ctx, bad, ns_owner, owner, uid_map, gid_map)
        if linked:
            fixes += (self._copy_fix(ctx, linked, ns_owner),)
        return self.fail(self._summary(ctx, bad, scans, owner_text, who), *messages, *fix_messages, *notes,
                         facts=facts, fixes=fixes)

    def _no_wrong_owner(self, ctx: Context, scans: list[_TreeScan], notes: list[Message], owner_text: str,
                        who: str, facts: dict[str, JSONValue]) -> CheckResult:
        checked = sum(s.scan.checked for s in scans)
        missing = sum(len(s.scan.not_covered) + (len(s.scan.unreadable) if s.userns_error else 0) for s in scans)
        if missing:  # nothing wrong was seen, but not everything was seen: say what was not
            summary = NOT_COVERED_SUMMARY.format(count=checked, owner=owner_text, who=who, missing=missing,
                                                 ies=plural(missing, "ies") or "y")
            return self.warn(summary, *notes, facts=facts)
        private = sum(len(s.scan.unreadable) for s in scans)
        if private:
            notes.insert(0, Message.info(PRIVATE_CHECKED.format(count=private)))
        return self.ok(ALL_RIGHT.format(count=checked, owner=owner_text, who=who), *notes, facts=facts)

    def _summary(self, ctx: Context, bad: list[_TreeScan], scans: list[_TreeScan], owner_text: str, who: str) -> str:
        links = sum(s.hard_link_count for s in scans)
        linked = f"{links} hard-linked file{plural(links)} in {ctx.storage_dir}"
        if not bad:
            return linked
        total = sum(s.wrong for s in bad)
        count = str(total) if all(s.complete for s in bad) else f"at least {total}"
        summary = WRONG.format(count=count, ies="y" if total == 1 else "ies", root=ctx.storage_dir,
                               owner=owner_text, who=who)
        return f"{summary}; {linked}" if links else summary

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
                "hard_links": sum(s.hard_link_count for s in scans),
                "complete": all(s.complete and s.covered for s in scans)}

    @staticmethod
    def _samples_message(ctx: Context, scan: _TreeScan) -> Message:
        lines = [_ACCOUNT_DIR.sub(r"\1<account>\2", sample_line(s, ctx.storage_dir)) for s in scan.samples]
        more = "" if scan.complete else " (stopped early; `--verbose` counts them all)"
        return Message.error(f"{scan.path}: {scan.wrong} wrong{more}", *lines)

    @staticmethod
    def _hard_links_message(scans: list[_TreeScan]) -> Message:
        links = [link for s in scans for link in s.hard_links]
        inside: dict[tuple[int, int], int] = {}
        for link in links:
            if link.ino:
                inside[(link.dev, link.ino)] = inside.get((link.dev, link.ino), 0) + 1
        message = hard_links_message(links, sum(s.hard_link_count for s in scans), inside)
        lines = tuple(_ACCOUNT_DIR.sub(r"\1<account>\2", line) for line in message.advice)
        return Message.error(message.text, *lines)

    @staticmethod
    def _notes(scans: list[_TreeScan]) -> list[Message]:
        notes = []
        for s in scans:
            if s.userns_error:
                count = len(s.scan.unreadable)
                notes.append(Message.hint(UNCHECKED.format(count=count, ies="y" if count == 1 else "ies",
                                                           error=short(s.userns_error, 400))))
            if s.scan.not_covered:
                count = len(s.scan.not_covered)
                reasons = sorted({why for _, why in s.scan.not_covered})
                notes.append(Message.hint(NOT_COVERED.format(count=count, ies=plural(count, "ies") or "y",
                                                             reason="; ".join(reasons)),
                                          *(short(p) for p, _ in s.scan.not_covered[:SAMPLE_PATHS])))
            notes += [Message.hint(MOUNTS_INSIDE.format(path=short(m))) for m in s.scan.mounts]
        return notes

    @staticmethod
    def _copy_fix(ctx: Context, linked: list[_TreeScan], ns_owner: tuple[int, int]) -> Fix:
        guard = storage_guard(ctx)
        steps = [CopyHardLinks(f"Replace the hard-linked files in {s.path} by private copies", path=s.path,
                               owner=ns_owner, guard=guard) for s in linked]
        return copy_fix(steps, linked[0].hard_links[0].path if linked[0].hard_links else linked[0].path, ns_owner)

    def _fixes(self, ctx: Context, bad: list[_TreeScan], ns_owner: tuple[int, int], owner: tuple[int, int],
               uid_map: IdMap | None, gid_map: IdMap | None) -> tuple[list[Message], tuple[Fix, ...]]:
        guard = storage_guard(ctx)
        messages: list[Message] = []
        steps: list[Step] = []
        root_paths: list[str] = []
        for scan in bad:
            reasons = refusals(ctx.probes.fs, guard, scan.path)
            unmapped = self._unmapped(scan.samples, uid_map, gid_map)
            if unmapped and all(is_stranger(r) for r in reasons):
                root_paths.append(scan.path)  # owned by an old mapping: only root can change it
            elif reasons:
                messages += [Message.error(NOT_FIXING.format(reason=r)) for r in reasons]
            else:
                steps.append(UserNsChown(f"Give {scan.path} to {self._who(ctx)}", path=scan.path,
                                         owner=ns_owner, guard=guard,
                                         entries=scan.scan.checked if scan.complete else 0))
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
                            "(podman unshare chown 0:0, every entry but hard-linked files)", *steps)
        uid = ctx.config.container_uid
        isolated = int_fact(ctx, "userns.mapping", "isolated_host_uid")
        return Fix.safe(CHOWN_FIX_ID, f"Give the storage to the container user (podman unshare chown "
                        f"{uid}:{uid}, host uid {isolated}; every entry but hard-linked files)", *steps)

    @staticmethod
    def _root_fix(paths: list[str], owner: tuple[int, int]) -> Fix:
        steps = [RunCommand(f"chown {path} as root (never a hard-linked file)", argv=chown_tree_argv(path, owner),
                            run_as=Privilege.ROOT) for path in paths]
        return Fix.manual(ROOT_CHOWN_FIX_ID, "Give the storage to the container user as root", *steps,
                          notes=("Check the commands: they run as root. "
                                 + " ".join(shlex.quote(p) for p in paths) + " must be Spotify's storage.",))

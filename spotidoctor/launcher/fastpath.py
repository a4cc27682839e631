"""The launch fast path: trust the last clean launch's preflight while nothing it depends on
changed, and re-check live only what no fingerprint can see.

``trusted_preflight`` answers with the results to launch with, or with why the full
preflight must run instead. It trusts the stamp (``launcher.stamp``) only when:

1. nothing asks for the full preflight: not ``--dry-run``, ``--no-check`` or ``--force``,
   and not ``auto_update = true`` (its update check reaches the network on every launch);
2. a stamp from a clean launch exists and is younger than a day;
3. the fingerprint computed now equals the stamp's (see ``launcher.stamp`` for its parts);
4. the image to run has the stamp's image id, read now from podman's own image store (the
   images.json ``podman info`` named at the clean launch), or asked with ``podman image
   inspect`` when the store cannot say: a rebuilt or replaced image under the same name is a
   different id;
5. the ``LIVE_CHECKS`` pass now: the storage directory and the owner of every entry under
   config/ and cache/ (a chown deep in the cache changes no directory, so no fingerprint
   shows it: ``find`` walks the tree on the other core, and ``storage.ownership`` itself runs
   when find cannot vouch for every entry), and the X server's access control (``xhost +``
   is server state, not a file).

Before any of it, with the stamp, podman's own container store (next to its image store) is
read once: no container of the launch's name there answers both the handover's question (is
Spotify running?) and whether the name is free, without starting podman; a container of that
name there, or a store that cannot say, is podman's to answer (``podman container inspect``
for the handover, ``podman container exists`` here). That answer is used for a launch only
with the fingerprint equal (it covers podman's configs, so the store is where it was).
Steps 3-5 run concurrently: the live checks and the image question start once the handover is
ruled out, and the fingerprint is computed meanwhile. Anything in doubt (a part that cannot be read,
podman unsure, a live check not passing) is the full preflight, which reports and fixes it.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from spotidoctor.api import Check, Context
from spotidoctor.backend.images import PODMAN_TIMEOUT_S, ImageInfo, ImageLookup, Presence, lookup_image
from spotidoctor.backend.runargs import storage_paths
from spotidoctor.engine.planning import Plan
from spotidoctor.engine.registry import bundled
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import PluginLoadError
from spotidoctor.facts import MappingFacts
from spotidoctor.launcher.stamp import (
    LaunchStamp,
    base_fingerprint,
    clean_preflight,
    launch_fingerprint,
    load_stamp,
)
from spotidoctor.model import CheckResult
from spotidoctor.types import JSONValue

__all__ = ["FastVerdict", "PendingVerdict", "start_fast_path", "prepare_fast_path", "trusted_preflight", "LIVE_CHECKS",
           "LIVE_PACKAGES", "name_in_use"]

T = TypeVar("T")
LIVE_CHECKS = ("storage.dir", "storage.ownership", "x11.access-control")
LIVE_PACKAGES = ("storage", "x11")  # the bundled packages that hold them (only these are imported)
OWNERSHIP = "storage.ownership"
FIND_TIMEOUT_S = 60.0
MAX_STORE_BYTES = 8 << 20  # podman's images.json: a few KiB per image


@dataclass(frozen=True)
class FastVerdict:
    results: tuple[CheckResult, ...] | None  # None: run the full preflight
    reason: str  # why (shown by `launch -v`)
    name_busy: bool | None = None  # `podman container exists`, when it was asked
    image_id: str | None = None


class _Background:
    """Run a function in a daemon thread; ``get`` waits for its answer (or its exception)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._value: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of get()
            self._error = exc

    def get(self) -> object:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def name_in_use(ctx: Context) -> bool:
    done = ctx.probes.cmd.run(("podman", "container", "exists", ctx.config.container_name),
                              timeout=PODMAN_TIMEOUT_S)
    return done.returncode == 0


def owners_unchanged(ctx: Context, trusted: Sequence[CheckResult]) -> bool:
    """True only when ``find`` (in C, on the other core, while Python does the rest) sees
    every entry under config/ and cache/ owned by the container user's host ids and no
    hard-linked regular file: exactly what ``storage.ownership`` passes on, symlinks never
    followed (``-P``), other filesystems not entered (``-xdev``), the first offender ending
    the walk. Anything else (an offender, a directory it cannot list, no mapping, find
    missing or slow) is False: then ``storage.ownership`` itself runs and says what it is."""
    mapping = MappingFacts.of(trusted)
    if mapping is None:
        return False
    uid, gid = str(mapping.host_uid), str(mapping.host_gid)
    argv = ("find", "-P", *storage_paths(ctx.storage_dir), "-xdev", "(", "!", "-uid", uid, "-o", "!", "-gid", gid,
            "-o", "(", "-type", "f", "-links", "+1", ")", ")", "-print", "-quit")
    try:
        done = ctx.probes.cmd.run(argv, timeout=FIND_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - no verdict: the check runs
        return False
    return done.ok and not done.stdout.strip() and not done.stderr.strip()


def _live_checks(ctx: Context, trusted: Sequence[CheckResult]) -> list[CheckResult]:
    """Run ``LIVE_CHECKS`` (minus the configured ignores) with the stamp's results as their
    prerequisites; only their packages are imported. ``storage.ownership``'s own walk runs
    only when ``owners_unchanged`` (started first, concurrently) cannot vouch for the owners;
    otherwise its stamped result stands: the same verdict, found by ``find``."""
    by_find = _Background(lambda: owners_unchanged(ctx, trusted))
    checks = [c for c in _bundled_checks() if c.id in LIVE_CHECKS and c.id not in ctx.config.ignore]
    known = [r for r in trusted if r.check_id not in LIVE_CHECKS]
    fresh = Runner(ctx).run(Plan(tuple(c for c in checks if c.id != OWNERSHIP)), known).results
    ownership = [c for c in checks if c.id == OWNERSHIP]
    if not ownership:
        return fresh
    if by_find.get() is True:
        return [*fresh, *(r for r in trusted if r.check_id == OWNERSHIP)]
    return [*fresh, *Runner(ctx).run(Plan(tuple(ownership)), [*known, *fresh]).results]


def stored_image(ctx: Context, stamp: LaunchStamp) -> ImageLookup | None:
    """The image's id as podman's own store lists it (the file ``podman image inspect`` reads
    too; podman replaces it atomically), without starting podman; None when the store cannot
    say (no path recorded, unreadable, too large, not exactly one image of that name): then
    podman is asked."""
    if not stamp.image_store:
        return None
    name = ctx.config.image
    try:
        images = json.loads(ctx.probes.fs.read_bytes(stamp.image_store, MAX_STORE_BYTES + 1))
        ids = [str(i["id"]) for i in images if name in (i.get("names") or ())]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    if len(ids) != 1:
        return None
    return ImageLookup(name, Presence.PRESENT, ImageInfo(name, ids[0], None, ""))


def store_says_free(ctx: Context, stamp: LaunchStamp) -> bool:
    """True only when podman's own container store (next to its image store) is readable and
    holds no container of that name; otherwise podman is asked (``name_in_use``). A podman
    container always has a storage container of its name."""
    if not stamp.image_store.endswith("-images/images.json"):
        return False
    path = stamp.image_store[: -len("-images/images.json")] + "-containers/containers.json"
    try:
        containers = json.loads(ctx.probes.fs.read_bytes(path, MAX_STORE_BYTES + 1))
        return not any(ctx.config.container_name in (c.get("names") or ()) for c in containers)
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return False


def _bundled_checks() -> list[type[Check]]:
    """The check classes of ``LIVE_PACKAGES`` (their prerequisites are the stamp's results,
    so the registry's own resolution, which would drop them, is not used)."""
    found: list[type[Check]] = []
    for _, module in bundled(only=LIVE_PACKAGES):
        if isinstance(module, PluginLoadError):
            raise module.original
        found += [c for c in getattr(module, "CHECKS", ()) if isinstance(c, type) and issubclass(c, Check)]
    return found


def _merge(stamp: Sequence[CheckResult], live: Sequence[CheckResult]) -> tuple[CheckResult, ...]:
    fresh = {r.check_id: r for r in live}
    return tuple(fresh.get(r.check_id, r) for r in stamp)


class PendingVerdict:
    """The fast path prepared (``prepare_fast_path``: the stamp read, and podman's container
    store asked whether a container of the launch's name exists, which also answers the
    handover's question) and then under way (``start``: the live re-checks and the image in
    threads); ``verdict()`` computes the fingerprint and judges. Between ``start`` and
    ``verdict`` the caller may import what the launch needs (the channels, the supervisor)."""

    def __init__(self, ctx: Context, session_key: Mapping[str, JSONValue], stamp: LaunchStamp | None,
                 reason: str | None) -> None:
        self._ctx = ctx
        self._key = session_key
        self._stamp = stamp
        self._reason = reason
        self._started = False
        # No container of that name in podman's store: none runs and the name is free. Trusted
        # for the launch only with the fingerprint (podman's configs, hence the store's path).
        self.container_absent = stamp is not None and store_says_free(ctx, stamp)

    def start(self) -> PendingVerdict:
        stamp, ctx = self._stamp, self._ctx
        if stamp is not None and not self._started:
            self._started = True
            self._live = _Background(lambda: _live_checks(ctx, stamp.results))
            self._image = _Background(lambda: stored_image(ctx, stamp) or lookup_image(ctx))
            self._busy = _Background(lambda: not self.container_absent and name_in_use(ctx))
        return self

    def verdict(self) -> FastVerdict:
        stamp = self.start()._stamp
        if stamp is None:
            return FastVerdict(None, self._reason or "no record of a clean launch")
        ctx = self._ctx
        try:
            digest = launch_fingerprint(ctx, stamp.results, base_fingerprint(ctx, self._key))
        except OSError as exc:
            digest = f"unreadable: {exc}"
        verdict = _judge(stamp, digest, self._live, self._image)
        try:
            return replace(verdict, name_busy=bool(self._busy.get()))
        except Exception:  # noqa: BLE001 - the launch asks again itself
            return verdict
        finally:
            kill_all = getattr(ctx.probes.cmd, "kill_all", None)
            if callable(kill_all):
                kill_all()  # whatever a hung live check left running


def start_fast_path(ctx: Context, session_key: Mapping[str, JSONValue], *, full_reason: str | None) -> PendingVerdict:
    """Start the fast path's live work (see the module doc); ``full_reason``: the caller's
    reason to run the full preflight anyway (e.g. ``--force``)."""
    return prepare_fast_path(ctx, session_key, full_reason=full_reason).start()


def prepare_fast_path(ctx: Context, session_key: Mapping[str, JSONValue], *,
                      full_reason: str | None) -> PendingVerdict:
    """Read the stamp and podman's container store; nothing starts yet (``PendingVerdict.start``)."""
    if full_reason:
        return PendingVerdict(ctx, session_key, None, full_reason)
    if ctx.config.auto_update:
        return PendingVerdict(ctx, session_key, None, "auto_update = true checks for a newer Spotify on every launch")
    stamp = load_stamp(ctx)
    return PendingVerdict(ctx, session_key, stamp, None if stamp else "no record of a clean launch in the last day")


def trusted_preflight(ctx: Context, session_key: Mapping[str, JSONValue], *, full_reason: str | None) -> FastVerdict:
    """The stamp's results with the live checks' answers, or why not (see the module doc)."""
    return start_fast_path(ctx, session_key, full_reason=full_reason).verdict()


def _judge(stamp: LaunchStamp, digest: str, live: _Background, image: _Background) -> FastVerdict:
    try:
        found = image.get()
        fresh = live.get()
    except Exception as exc:  # noqa: BLE001 - anything in doubt: the full preflight
        return FastVerdict(None, f"a live re-check could not run ({type(exc).__name__}: {exc})")
    assert isinstance(found, ImageLookup) and isinstance(fresh, list)
    if digest != stamp.digest:
        return FastVerdict(None, "something the preflight depends on changed since the last clean launch")
    if found.presence is not Presence.PRESENT or found.info is None:
        return FastVerdict(None, f"the image {found.name} is not there as it was")
    if found.info.id != stamp.image_id:
        return FastVerdict(None, f"the image {found.name} was replaced since the last clean launch")
    expected = {r.check_id for r in stamp.results if r.check_id in LIVE_CHECKS}
    if not clean_preflight(fresh) or {r.check_id for r in fresh} != expected:
        failed = ", ".join(r.check_id for r in fresh if not clean_preflight([r])) or "a live check did not run"
        return FastVerdict(None, f"re-checked now and not passing: {failed}")
    return FastVerdict(_merge(stamp.results, fresh), "nothing changed since the last clean launch; "
                       f"re-checked now: {', '.join(LIVE_CHECKS)}, the image id", image_id=found.info.id)

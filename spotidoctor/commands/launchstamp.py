"""When ``launch`` may use its fast path, and when it records a clean launch for the next one.

The rules themselves live in ``spotidoctor.launcher.stamp`` (what the stamp depends on) and
``spotidoctor.launcher.fastpath`` (what is re-checked live). Here: which launches take part.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from spotidoctor.api import Context
from spotidoctor.backend.images import lookup_image
from spotidoctor.commands.options import LaunchOptions
from spotidoctor.launcher.stamp import (
    LaunchStamp,
    base_fingerprint,
    clean_preflight,
    forget_stamp,
    launch_fingerprint,
    save_stamp,
)
from spotidoctor.model import CheckResult
from spotidoctor.podman.info import podman_info
from spotidoctor.types import JSONValue

__all__ = ["session_key", "full_reason", "Stamper", "ENDED_CLEANLY"]

ENDED_CLEANLY = (0, 130, 143)  # Spotify exited 0, or the user stopped it (Ctrl-C, `podman stop`)


def session_key(options: LaunchOptions) -> dict[str, JSONValue]:
    """The command line options the preflight's results depend on (Spotify's own arguments
    do not: the checks never see them)."""
    s = options.session
    return {"config": s.config_path, "overrides": {k: str(v) for k, v in sorted(s.config_overrides().items())},
            "checks_dirs": list(s.checks_dirs), "plugins": s.plugins, "network": options.network}


def full_reason(options: LaunchOptions) -> str | None:
    """Why this launch runs the full preflight whatever the stamp says, or None."""
    if options.dry_run:
        return "--dry-run shows what the full preflight finds"
    if options.no_check:
        return "--no-check"
    if options.force:
        return "--force"
    return None


class Stamper:
    """Records a clean launch: the base fingerprint before the preflight, the full one after
    it (only when the base did not change meanwhile), the stamp after Spotify ended cleanly."""

    def __init__(self, ctx: Context, options: LaunchOptions) -> None:
        self._key = session_key(options)
        self._base = None if full_reason(options) else self._base_now(ctx)
        self._digest: str | None = None
        self._results: tuple[CheckResult, ...] = ()
        self._when = 0.0

    def _base_now(self, ctx: Context) -> str | None:
        try:
            return base_fingerprint(ctx, self._key)
        except Exception:  # noqa: BLE001 - what cannot be fingerprinted is never trusted
            return None

    def after_preflight(self, ctx: Context, results: Sequence[CheckResult], *, fixed: bool) -> None:
        if not clean_preflight(results):
            forget_stamp(ctx)  # a failure seen now is never hidden by an older pass
            return
        if self._base is None or fixed:
            return
        base = self._base_now(ctx)
        if base != self._base:
            return  # something changed while the checks ran: do not vouch for it
        try:
            self._digest = launch_fingerprint(ctx, results, base)
        except Exception:  # noqa: BLE001
            return
        self._results = tuple(results)
        self._when = time.time()  # the stamp's age counts from this full preflight

    def after_run(self, ctx: Context, code: int | None) -> None:
        if code not in ENDED_CLEANLY:
            forget_stamp(ctx)  # a crash: the next launch checks everything
            return
        found = lookup_image(ctx)  # what the image checks saw (shared memo), not a later build
        if self._digest is None or found.info is None:
            return
        info = podman_info(ctx)  # the preflight's answer (memo)
        store = f"{info.graph_root}/{info.graph_driver}-images/images.json" if info and info.graph_root else ""
        save_stamp(ctx, LaunchStamp(self._digest, self._when, found.info.id, self._results, store))

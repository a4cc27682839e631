"""The image a launch runs: built when it is missing, rebuilt first when the user opted into
``auto_update = true`` and the repository has a newer Spotify.

``prepare_image`` is the one call ``launch`` makes. A failed build quotes its cause with
advice for ``launch``; a failed *update* never stops the launch (the current image still
works). ``--image IMAGE:previous`` runs the image the last rebuild replaced: it is never
built (there is nothing to build it from) and never auto-updated.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TextIO

from spotidoctor.api import Context
from spotidoctor.backend.build import BuildOutcome, request_from_config, run_build
from spotidoctor.backend.failures import Command
from spotidoctor.backend.images import ImageInfo, Presence, lookup_image
from spotidoctor.backend.progress import make_display
from spotidoctor.backend.recipe import LABEL_SPOTIFY_VERSION
from spotidoctor.backend.rollback import is_previous
from spotidoctor.backend.updatecheck import image_update
from spotidoctor.backend.updatehold import clear_hold, holds_back, read_hold
from spotidoctor.exitcodes import ExitCode
from spotidoctor.lock import exclusive
from spotidoctor.memo import Memo
from spotidoctor.model import CheckResult
from spotidoctor.render.build import print_failure, print_success

__all__ = ["prepare_image", "UPDATE_CHECK_ID"]

UPDATE_CHECK_ID = "image.update"
NO_PREVIOUS = ("{image} does not exist: there is no previous image to run (a rebuild keeps the image it "
               "replaces under that name). Launch without --image to run the current one.")


def _build(ctx: Context, out: TextIO) -> BuildOutcome:
    request = request_from_config(ctx.probes, ctx.config)
    with exclusive(ctx.paths.lock_file, "launch"):
        return run_build(ctx.probes, ctx.paths, request, make_display(out, ctx.env))


def prepare_image(ctx: Context, results: Sequence[CheckResult], out: TextIO) -> int:
    """0 when the launch can go on with ``ctx.config.image``, else the exit code."""
    found = lookup_image(dataclasses.replace(ctx, memo=Memo()))  # fresh: fixes may have changed it
    if found.presence is Presence.UNKNOWN:
        print(f"podman cannot tell whether {found.name} exists: {found.error}", file=out)
        return int(ExitCode.PROBLEMS)
    if found.presence is Presence.ABSENT:
        if is_previous(found.name):
            print(NO_PREVIOUS.format(image=found.name), file=out)
            return int(ExitCode.PROBLEMS)
        print(f"{found.name} is not built yet: building it now (needs network, takes a few minutes).", file=out)
        outcome = _build(ctx, out)
        if not outcome.ok:
            print_failure(outcome, out, Command.LAUNCH)
            return int(ExitCode.PROBLEMS)
        return 0
    if ctx.config.auto_update and found.info is not None and not is_previous(found.name):
        _auto_update(ctx, found.info, results, out)
    return 0


def _newest_from(results: Sequence[CheckResult]) -> tuple[bool, str] | None:
    """(update available, newest version) as the preflight's image.update saw it, if it ran."""
    result = next((r for r in results if r.check_id == UPDATE_CHECK_ID), None)
    if result is None or "update_available" not in result.facts:
        return None
    newest = result.facts.get("newest_version")
    return result.facts["update_available"] is True, newest if isinstance(newest, str) else ""


def _auto_update(ctx: Context, info: ImageInfo, results: Sequence[CheckResult], out: TextIO) -> None:
    seen = _newest_from(results)
    if seen is None:
        answer = image_update(ctx, info).answer
        seen = (answer.update_available, answer.newest) if answer else (False, "")
    available, newest = seen
    if not available:
        return
    installed = info.labels.get(LABEL_SPOTIFY_VERSION, "?")
    hold = read_hold(ctx.probes.fs, ctx.paths, info.name)
    if hold is not None and holds_back(hold, newest):
        rolled = f" from Spotify {hold.from_version}" if hold.from_version else ""
        print(f"auto_update: Spotify {newest} is available, but you rolled back{rolled}: launching {installed} "
              "(`spotidoctor build` updates and ends the hold).", file=out)
        return
    print(f"auto_update: Spotify {newest} is available ({info.name} has {installed}): rebuilding before the launch.",
          file=out)
    outcome = _build(ctx, out)
    if outcome.ok:
        print_success(outcome, out)
        if hold is not None:  # a version newer than the one rolled back from: the hold is over
            clear_hold(ctx.probes.fs, ctx.paths, info.name)
        return
    print_failure(outcome, out, Command.LAUNCH)
    print(f"Launching the current image (Spotify {installed}) instead.", file=out)

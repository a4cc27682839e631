"""``spotidoctor rollback``: make ``IMAGE:previous`` (the image the last rebuild replaced) current
again, keeping the newer one as ``IMAGE:previous`` (a second rollback undoes the first).

With ``auto_update = true`` the next launches do not rebuild the version rolled back from;
they update again once a newer one appears, or after a ``spotidoctor build``.
"""
from __future__ import annotations

import sys
from typing import TextIO

from spotidoctor.backend.images import ImageInfo, Presence, lookup_image
from spotidoctor.backend.recipe import LABEL_SPOTIFY_VERSION
from spotidoctor.backend.rollback import previous_name, swap
from spotidoctor.backend.updatehold import write_hold
from spotidoctor.commands.options import RollbackOptions
from spotidoctor.engine.session import make_context
from spotidoctor.errors import ProbeUnavailable, UsageError
from spotidoctor.exitcodes import ExitCode
from spotidoctor.hardening.names import image_problems
from spotidoctor.lock import exclusive


def _describe(info: ImageInfo | None, image_id: str) -> str:
    version = info.labels.get(LABEL_SPOTIFY_VERSION) if info else None
    built = f", built {info.created:%Y-%m-%d}" if info and info.created else ""
    return f"{image_id[:12]}" + (f", Spotify {version}" if version else "") + built


def run(options: RollbackOptions, out: TextIO = sys.stdout) -> int:
    ctx = make_context(options.session)
    image = ctx.config.image
    problems = image_problems(image)
    if problems:
        raise UsageError("; ".join(problems))
    previous = previous_name(image)
    if previous is None:
        raise UsageError(f"{image} is a previous image or a digest: roll back the image it belongs to "
                         "(--image NAME, or the configured image)")
    newer, older = lookup_image(ctx), lookup_image(ctx, previous)
    for found in (newer, older):
        if found.presence is Presence.UNKNOWN:
            print(f"Cannot roll back: podman cannot tell whether {found.name} exists: {found.error}", file=out)
            return int(ExitCode.PROBLEMS)
    try:
        with exclusive(ctx.paths.lock_file, "rollback"):
            swapped = swap(ctx.probes.cmd, image)
    except ProbeUnavailable as exc:
        print(f"Cannot roll back: {exc.reason}", file=out)
        return int(ExitCode.PROBLEMS)
    print(f"Rolled back: {image} is now {_describe(older.info, swapped.now_current)}.", file=out)
    if swapped.now_previous:
        print(f"The newer image ({_describe(newer.info, swapped.now_previous)}) is kept as {swapped.previous}; "
              "`spotidoctor rollback` again goes back to it.", file=out)
    version = newer.info.labels.get(LABEL_SPOTIFY_VERSION, "") if newer.info else ""
    write_hold(ctx.probes.fs, ctx.paths, image, version)
    if ctx.config.auto_update:
        print(f"auto_update holds off: launches do not rebuild {('Spotify ' + version) if version else 'it'} again; "
              "they update when a newer version appears (`spotidoctor build` updates now).", file=out)
    return int(ExitCode.OK)

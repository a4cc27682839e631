"""``spotidoctor build``: build the image with buildah, with a progress display, the full log
under the state dir and a clear summary when it fails. The image it replaces is kept as
``IMAGE:previous`` (``spotidoctor rollback``)."""
from __future__ import annotations

import sys
from typing import TextIO

from spotidoctor.backend.build import request_from_config, run_build
from spotidoctor.backend.images import Presence, lookup_image
from spotidoctor.backend.progress import make_display
from spotidoctor.backend.rollback import is_previous
from spotidoctor.backend.updatehold import clear_hold
from spotidoctor.commands.options import BuildOptions
from spotidoctor.engine.session import make_context
from spotidoctor.exitcodes import ExitCode
from spotidoctor.lock import exclusive
from spotidoctor.render.build import print_failure, print_success

FOREIGN_IMAGE = ("{image} exists and was not built by spotidoctor; building would take its name away. "
                 "Build under another name (--image NAME, or image = \"...\" in config.toml), or remove "
                 "it first if you no longer need it: podman rmi {image}")


PREVIOUS_IMAGE = ("{image} is the image the last rebuild replaced; spotidoctor never builds over it. Build the "
                  "current image (without :previous), or make the previous one current with `spotidoctor rollback`.")


def run(options: BuildOptions, out: TextIO = sys.stdout) -> int:
    ctx = make_context(options.session)
    if is_previous(ctx.config.image):
        print(PREVIOUS_IMAGE.format(image=ctx.config.image), file=out)
        return int(ExitCode.USAGE)
    found = lookup_image(ctx)
    if found.presence is Presence.UNKNOWN:  # it could be an image spotidoctor must not replace
        print(f"Not building: podman cannot tell whether {found.name} exists: {found.error}", file=out)
        return int(ExitCode.PROBLEMS)
    if found.presence is Presence.PRESENT and found.info and not found.info.built_by_spotidoctor:
        print(FOREIGN_IMAGE.format(image=ctx.config.image), file=out)
        return int(ExitCode.PROBLEMS)
    request = request_from_config(ctx.probes, ctx.config, containerfile=options.containerfile,
                                  extra_args=options.build_args, no_cache=options.no_cache,
                                  network=options.network or "")
    with exclusive(ctx.paths.lock_file, "build"):
        outcome = run_build(ctx.probes, ctx.paths, request, make_display(out, ctx.env))
    if outcome.ok:
        print_success(outcome, out)
        clear_hold(ctx.probes.fs, ctx.paths, ctx.config.image)  # built by hand: auto_update may update again
        return int(ExitCode.OK)
    print_failure(outcome, out)
    return int(ExitCode.PROBLEMS)

"""``spotidoctor build``: build the image with buildah, with a progress display, the full log
under the state dir and a clear summary when it fails."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from spotidoctor.backend.build import BuildOutcome, request_from_config, run_build
from spotidoctor.backend.images import Presence, lookup_image
from spotidoctor.backend.progress import make_display
from spotidoctor.exitcodes import ExitCode
from spotidoctor.lock import exclusive
from spotidoctor.session import make_context

FOREIGN_IMAGE = ("{image} exists and was not built by spotidoctor; building would take its name away. "
                 "Build under another name (--image NAME, or image = \"...\" in config.toml), or remove "
                 "it first if you no longer need it: podman rmi {image}")


def print_failure(outcome: BuildOutcome, out: TextIO) -> None:
    failure = outcome.failure
    if failure is None:
        return
    print(f"Build of {outcome.image} failed: {failure.summary}", file=out)
    if failure.evidence:
        print(f"  {failure.evidence}", file=out)
    for advice in failure.advice:
        print(f"  → {advice}", file=out)
    if failure.url:
        print(f"  see {failure.url}", file=out)
    print(f"Full log: {outcome.log_path}", file=out)


def print_success(outcome: BuildOutcome, out: TextIO) -> None:
    version = f", Spotify {outcome.spotify_version}" if outcome.spotify_version else ""
    image_id = outcome.image_id.removeprefix("sha256:")[:12]
    print(f"Built {outcome.image} ({image_id}{version}). Log: {outcome.log_path}", file=out)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    ctx = make_context(args)
    found = lookup_image(ctx)
    if found.presence is Presence.PRESENT and found.info and not found.info.built_by_spotidoctor:
        print(FOREIGN_IMAGE.format(image=ctx.config.image), file=out)
        return int(ExitCode.PROBLEMS)
    request = request_from_config(ctx.probes, ctx.config, containerfile=args.containerfile,
                                  extra_args=args.build_arg, no_cache=args.no_cache,
                                  network=getattr(args, "network", None) or "")
    with exclusive(ctx.paths.lock_file, "build"):
        outcome = run_build(ctx.probes, ctx.paths, request, make_display(out, ctx.env))
    if outcome.ok:
        print_success(outcome, out)
        return int(ExitCode.OK)
    print_failure(outcome, out)
    return int(ExitCode.PROBLEMS)

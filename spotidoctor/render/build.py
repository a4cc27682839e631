"""What ``build`` (and ``launch``, when it builds) prints when a build ends."""
from __future__ import annotations

from typing import TextIO

from spotidoctor.backend.build import BuildOutcome


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

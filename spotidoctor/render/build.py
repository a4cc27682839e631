"""What ``build`` (and ``launch``, when it builds) prints when a build ends."""
from __future__ import annotations

from typing import TextIO

from spotidoctor.backend.build import BuildOutcome
from spotidoctor.backend.failures import Command, explain


def print_failure(outcome: BuildOutcome, out: TextIO, command: Command = Command.BUILD) -> None:
    """The cause, the log line that shows it and advice naming what to run after ``command``."""
    if outcome.failure is not None:
        print("\n".join(explain(outcome.failure, command, outcome.image, outcome.log_path)), file=out)


def print_success(outcome: BuildOutcome, out: TextIO) -> None:
    version = f", Spotify {outcome.spotify_version}" if outcome.spotify_version else ""
    image_id = outcome.image_id.removeprefix("sha256:")[:12]
    previous = f"; the image it replaced is {outcome.previous}" if outcome.previous else ""
    print(f"Built {outcome.image} ({image_id}{version}{previous}). Log: {outcome.log_path}", file=out)

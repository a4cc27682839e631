"""What ``launch --dry-run`` says besides the command: the slow checks it did not run, and
that the command is not ready when a check fails (the launch would refuse it)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from spotidoctor.engine.planning import SLOW_TAG, launch_plan
from spotidoctor.engine.session import Session

UNCHECKED = ("Dry run: not checked (they start throwaway containers): {ids}. "
             "`spotidoctor check {ids_args}` runs them; `spotidoctor launch` does too.")


def unchecked(session: Session) -> list[str]:
    """The launch checks a dry run leaves out: tagged slow, not ignored by the config."""
    full = launch_plan(session)
    return [c.id for c in full.checks if SLOW_TAG in c.tags and c.id not in full.ignored]


def report_unchecked(ids: Sequence[str], err: TextIO) -> None:
    if ids:
        print(UNCHECKED.format(ids=", ".join(ids), ids_args=" ".join(ids)), file=err)


def caveat(failing: Sequence[str], storage_refused: bool) -> str:
    """Appended to the command's header: the command is what would run only once all passes."""
    problems = [*failing, *(["the storage guard"] if storage_refused else [])]
    if not problems:
        return ""
    return f" — NOT READY: launch refuses it while {', '.join(problems)} fail(s)"

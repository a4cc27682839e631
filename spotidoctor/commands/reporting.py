"""The engine's events as the command line shows them while fixes run."""
from __future__ import annotations

from typing import TextIO

from spotidoctor.engine.records import Applied, Candidate, StepRecord
from spotidoctor.engine.reporter import NullReporter
from spotidoctor.fixes import Fix


class FixProgress(NullReporter):
    """``→ title [safe, user]``, then one line per step that ran and per step that did not."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def fix_started(self, candidate: Candidate) -> None:
        fix = candidate.fix
        print(f"→ {fix.title}  [{fix.applicability.label}, {fix.privilege.label}]", file=self._out)

    def step_finished(self, fix: Fix, record: StepRecord) -> None:
        print(f"    {'✓' if record.ok else '✗'} {record.outcome}", file=self._out)

    def fix_finished(self, applied: Applied) -> None:
        for description in applied.not_run:
            print(f"    - not run: {description}", file=self._out)

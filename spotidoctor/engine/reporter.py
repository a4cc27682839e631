"""Where the engine's events go. The engine never prints: it tells a ``Reporter``.

Events, in the order they happen:

- ``check_started(check_id, timeout_s)``: a check's thread starts (its prerequisites are done);
- ``check_finished(result)``: a check ended (also skipped, crashed or timed out), as results
  arrive, from the thread that runs the plan;
- ``fixes_found(candidates)``: in ``fix``, each round's fixes not tried yet, before any of
  them is confirmed or applied (the plan);
- ``fix_started(candidate)``, then per step ``step_started(fix, step)``, any number of
  ``step_progress(fix, step, done, total)`` (a long step that counts its work: entries
  chowned; ``total`` None when unknown) and ``step_finished(fix, record)``, then
  ``fix_finished(applied)``;
- ``progress(message)``: a phase begins (e.g. the re-check after fixes).

``NullReporter`` ignores everything; subclass it and override what you need.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from spotidoctor.engine.records import Applied, Candidate, StepRecord
from spotidoctor.fixes import Fix, Step
from spotidoctor.model import CheckResult


class Reporter(Protocol):
    def check_started(self, check_id: str, timeout_s: float) -> None: ...

    def check_finished(self, result: CheckResult) -> None: ...

    def fixes_found(self, candidates: Sequence[Candidate]) -> None: ...

    def fix_started(self, candidate: Candidate) -> None: ...

    def step_started(self, fix: Fix, step: Step) -> None: ...

    def step_progress(self, fix: Fix, step: Step, done: int, total: int | None) -> None: ...

    def step_finished(self, fix: Fix, record: StepRecord) -> None: ...

    def fix_finished(self, applied: Applied) -> None: ...

    def progress(self, message: str) -> None: ...


class NullReporter:
    """A reporter that reports nothing (and a base class for partial ones)."""

    def check_started(self, check_id: str, timeout_s: float) -> None:
        return None

    def check_finished(self, result: CheckResult) -> None:
        return None

    def fixes_found(self, candidates: Sequence[Candidate]) -> None:
        return None

    def fix_started(self, candidate: Candidate) -> None:
        return None

    def step_started(self, fix: Fix, step: Step) -> None:
        return None

    def step_progress(self, fix: Fix, step: Step, done: int, total: int | None) -> None:
        return None

    def step_finished(self, fix: Fix, record: StepRecord) -> None:
        return None

    def fix_finished(self, applied: Applied) -> None:
        return None

    def progress(self, message: str) -> None:
        return None

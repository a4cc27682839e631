"""What a fix attempt is about and what it produced: plain data the fixer, the fix loop and
reporters share."""
from __future__ import annotations

from dataclasses import dataclass

from spotidoctor.fixes import Fix
from spotidoctor.model import CheckResult


@dataclass(frozen=True)
class Candidate:
    """A fix a result offers."""

    result: CheckResult
    fix: Fix


@dataclass(frozen=True)
class StepRecord:
    description: str
    outcome: str
    ok: bool


@dataclass(frozen=True)
class Applied:
    fix: Fix
    check_id: str
    steps: tuple[StepRecord, ...]
    not_run: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not self.not_run

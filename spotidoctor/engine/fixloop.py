"""Check -> fix -> re-check: apply what the policy and the user allow, then check again.

Re-checking continues for a few rounds, because a fixed prerequisite lets dependent checks
run and offer their own fixes. A fix counts as fixed only when the re-run check passes
(pipx ``repair``); each fix is tried once per loop.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spotidoctor.engine import fixer
from spotidoctor.engine.planning import Plan
from spotidoctor.engine.records import Applied, Candidate
from spotidoctor.engine.reporter import NullReporter, Reporter
from spotidoctor.engine.runner import run_checks
from spotidoctor.engine.session import Session
from spotidoctor.fixes import Fix
from spotidoctor.model import CheckResult, Status

MAX_ROUNDS = 4
Confirm = Callable[[Fix], bool]  # asks the user (or says no); the command line provides it


@dataclass
class FixOutcome:
    results: list[CheckResult]  # of the last round
    applied: list[Applied] = field(default_factory=list)
    withheld: list[tuple[Candidate, str]] = field(default_factory=list)  # (candidate, why not)

    def state_after(self, applied: Applied) -> Status | None:
        """What the fixed check reports after the last round (None: it did not run)."""
        return next((r.status for r in self.results if r.check_id == applied.check_id), None)

    def verified(self, applied: Applied) -> bool:
        """Applied without a failing step, and the check passes now."""
        return applied.ok and self.state_after(applied) in (Status.OK, Status.WARN)


def fix_loop(session: Session, selection: Plan, policy: fixer.FixPolicy, confirm: Confirm,
             reporter: Reporter | None = None) -> FixOutcome:
    """Check, apply what ``policy`` and ``confirm`` allow, re-check; repeat while fixes appear."""
    reporter = reporter or NullReporter()
    env = fixer.StepEnvironment.from_context(session.ctx)
    attempted: set[str] = set()
    outcome = FixOutcome(results=[])
    for round_number in range(1, MAX_ROUNDS + 1):
        if round_number > 1:
            reporter.progress(f"checking again after the fixes (round {round_number})")
        outcome.results = run_checks(session, selection, reporter).results
        reporter.fixes_found([c for c in fixer.candidates(outcome.results) if c.fix.id not in attempted])
        todo = _choose(outcome, attempted, policy, confirm)
        if not todo:
            break
        for candidate in todo:
            attempted.add(candidate.fix.id)
            reporter.fix_started(candidate)
            applied = fixer.apply(candidate, env, reporter)
            outcome.applied.append(applied)
            reporter.fix_finished(applied)
        session = Session(fixer.refreshed(session.ctx), session.registry)
    return outcome


def _choose(outcome: FixOutcome, attempted: set[str], policy: fixer.FixPolicy, confirm: Confirm) -> list[Candidate]:
    """The candidates to apply this round; the others go to ``outcome.withheld`` with the reason."""
    todo = []
    outcome.withheld = []
    for candidate in fixer.candidates(outcome.results):
        if candidate.fix.id in attempted:
            continue
        if not policy.allows(candidate.fix):
            outcome.withheld.append((candidate, policy.why_not(candidate.fix)))
        elif confirm(candidate.fix):
            todo.append(candidate)
        else:
            outcome.withheld.append((candidate, "declined"))
    return todo

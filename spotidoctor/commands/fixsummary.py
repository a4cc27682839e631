"""What ``spotidoctor fix`` says at the end: each fix's verdict by check id, what was not
applied and why, the manual commands (once), what still fails, and the next command."""
from __future__ import annotations

from collections.abc import Sequence

from spotidoctor.engine import fixer
from spotidoctor.engine.fixloop import FixOutcome
from spotidoctor.engine.records import Applied, Candidate
from spotidoctor.fixes import Applicability, Privilege
from spotidoctor.model import CheckResult, Status
from spotidoctor.render import summary_line
from spotidoctor.render.text import Line, result_lines


def verdict(outcome: FixOutcome, applied: Applied) -> str:
    if not applied.ok:
        return "failed (see above)"
    if outcome.verified(applied):
        return "fixed (verified)"
    state = outcome.state_after(applied)
    return f"applied, but it still reports {state.value if state else '?'}"


def _manual_lines(manual: Sequence[tuple[Candidate, str]], env: fixer.StepEnvironment) -> list[Line]:
    lines: list[Line] = [("bold", "Do these yourself:")]
    for candidate, why in manual:
        lines.append(("cyan", f"  {candidate.result.check_id}: {candidate.fix.title} — {why}"))
        lines += [("", "    " + line) for line in fixer.preview(candidate.fix, env)]
    return lines


def still_failing(outcome: FixOutcome) -> list[CheckResult]:
    """Problems no fix of this run addresses (their advice is in `spotidoctor check`)."""
    offered = {c.result.check_id for c, _ in outcome.withheld} | {a.check_id for a in outcome.applied}
    return [r for r in outcome.results if r.status.is_problem and r.status is not Status.SKIP
            and r.check_id not in offered]


def next_step(outcome: FixOutcome, results: Sequence[CheckResult], partial: bool = False) -> str:
    """``partial``: only some checks ran (selectors or --ignore), so "all fine" is not the end."""
    blocking = [r.check_id for r in results if r.is_blocking]
    kinds = {why.split(":")[0] for _, why in outcome.withheld}
    if not blocking:
        if partial:
            return "Next: `spotidoctor fix` for all the checks, then `spotidoctor launch`."
        return "Next: `spotidoctor launch` starts Spotify."
    if any(c.fix.applicability is Applicability.MANUAL for c, _ in outcome.withheld):
        return "Next: run the commands above, then `spotidoctor fix` again."
    if "unsafe" in kinds:
        return "Next: `spotidoctor fix --unsafe` applies the unsafe fixes (it asks before each one)."
    if any(c.fix.privilege is Privilege.ROOT for c, _ in outcome.withheld):
        return "Next: `spotidoctor fix --allow-root` runs the steps that need root through sudo."
    if any(not a.ok for a in outcome.applied):
        return f"Next: see why the fix failed above; `spotidoctor check -v {' '.join(blocking)}` shows the details."
    return f"Next: `spotidoctor check {' '.join(blocking)}` shows what to do."


def summary_lines(outcome: FixOutcome, results: Sequence[CheckResult], env: fixer.StepEnvironment,
                  partial: bool = False) -> list[Line]:
    """``results``: the last round's, with plugin problem rows; ``partial``: see ``next_step``."""
    lines: list[Line] = [("", "")]
    if not outcome.applied and not outcome.withheld:
        lines.append(("", "Nothing to fix."))
    if outcome.applied:
        lines.append(("bold", "Applied:"))
        for applied in outcome.applied:
            text = verdict(outcome, applied)
            style = "green" if text == "fixed (verified)" else "red"
            lines.append((style, f"  {applied.check_id}: {text} — {applied.fix.title}"))
    manual = [(c, why) for c, why in outcome.withheld if c.fix.applicability is Applicability.MANUAL]
    others = [(c, why) for c, why in outcome.withheld if c.fix.applicability is not Applicability.MANUAL]
    if others:
        lines.append(("bold", "Not applied:"))
        lines += [("yellow", f"  {c.result.check_id}: {c.fix.title} — {why}") for c, why in others]
    if manual:
        lines += _manual_lines(manual, env)
    failing = still_failing(outcome)
    if failing:
        lines.append(("bold", "Still failing, with no fix to apply (what to do is under each):"))
        for result in failing:
            lines += result_lines(result)
    lines += [("", ""), ("bold", summary_line(results)), ("bold", next_step(outcome, results, partial))]
    return lines

"""The engine's events as the command line shows them while fixes run: the plan (each round's
new fixes, grouped by what will happen to them), one line per fix and step as they run, a
warning before a slow step, and the status line while checks run."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TextIO

from spotidoctor.commands.live import LiveChecks
from spotidoctor.engine.fixer import FixPolicy
from spotidoctor.engine.records import Applied, Candidate, StepRecord
from spotidoctor.fixes import Applicability, Fix, Privilege, Step
from spotidoctor.render.progress import Meter
from spotidoctor.render.text import Line

GROUPS = (  # (key, heading) in the order the plan shows them
    ("apply", "Will apply now (safe):"),
    ("confirm", "Will apply after asking (unsafe, or runs as root; --yes does not ask):"),
    ("unsafe", "Not applied: unsafe (needs --unsafe):"),
    ("root", "Not applied: needs root (needs --allow-root):"),
    ("manual", "Do yourself (manual; the commands are at the end):"),
)


def group_of(fix: Fix, policy: FixPolicy) -> str:
    if fix.applicability is Applicability.MANUAL:
        return "manual"
    if not policy.allows(fix):
        return "unsafe" if fix.applicability < policy.min_applicability else "root"
    return "confirm" if fix.applicability is Applicability.UNSAFE or fix.privilege is Privilege.ROOT else "apply"


def slow_steps(fix: Fix) -> list[Step]:
    return [step for step in fix.steps if step.duration_hint]


def plan_lines(candidates: Sequence[Candidate], policy: FixPolicy, first: bool) -> list[Line]:
    """The plan: every fix on offer under the heading of what will happen to it."""
    if not candidates:
        return []
    grouped: dict[str, list[Candidate]] = {key: [] for key, _ in GROUPS}
    for candidate in candidates:
        grouped[group_of(candidate.fix, policy)].append(candidate)
    lines: list[Line] = [("bold", "Plan:" if first else "More fixes, now that the first ones are in:")]
    for key, heading in GROUPS:
        if not grouped[key]:
            continue
        lines.append(("", f"  {heading}"))
        for candidate in grouped[key]:
            lines.append(("cyan", f"    {candidate.result.check_id}: {candidate.fix.title}"))
            hints = dict.fromkeys(step.duration_hint for step in slow_steps(candidate.fix))  # once each, in order
            lines += [("yellow", f"      takes long: {hint}") for hint in hints]
    lines.append(("", ""))
    return lines


class FixProgress(LiveChecks):
    """``→ title [safe, user] (check id)``, then one line per step that ran and per step that
    did not. With a ``policy`` (``spotidoctor fix``) each round's fixes are printed first as a plan."""

    def __init__(self, out: TextIO, policy: FixPolicy | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        super().__init__(out, self.env, (), show_results=False)
        self._policy = policy
        self._meter: Meter | None = None  # the running step's progress, when it counts its work
        self._shown: set[str] = set()  # fix ids already in a plan: later rounds show only new ones

    def pause(self) -> None:
        """Also ends a step's progress bar (Ctrl-C during a long step must not leave it drawn)."""
        if self._meter is not None:
            self._meter.close()
            self._meter = None
        super().pause()

    def fixes_found(self, candidates: Sequence[Candidate]) -> None:
        self.pause()
        new = [c for c in candidates if c.fix.id not in self._shown]
        first = not self._shown
        self._shown.update(c.fix.id for c in new)
        if self._policy is not None:
            self.output.lines(plan_lines(new, self._policy, first))

    def progress(self, message: str) -> None:
        self.output.lines([("dim", f"… {message}")])

    def fix_started(self, candidate: Candidate) -> None:
        fix = candidate.fix
        self.output.lines([("bold", f"→ {fix.title}  [{fix.applicability.label}, {fix.privilege.label}]  "
                                    f"({candidate.result.check_id})")])

    def step_started(self, fix: Fix, step: Step) -> None:
        if step.duration_hint:
            self.output.lines([("yellow", f"    {step.description}: this takes {step.duration_hint}.")])

    def step_progress(self, fix: Fix, step: Step, done: int, total: int | None) -> None:
        if self._meter is None:
            self._meter = Meter(step.kind, total, self.output.stream, self.env)
        self._meter.update(done)

    def step_finished(self, fix: Fix, record: StepRecord) -> None:
        if self._meter is not None:
            self._meter.close()
            self._meter = None
        self.output.lines([("green" if record.ok else "red", f"    {'✓' if record.ok else '✗'} {record.outcome}")])

    def fix_finished(self, applied: Applied) -> None:
        self.output.lines([("dim", f"    - not run: {description}") for description in applied.not_run])

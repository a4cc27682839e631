"""Apply fix plans: filter by policy, show, run step by step, re-check.

A failing step stops its fix and the report says exactly which steps ran. A fix counts as
"fixed" only when the re-run check passes (pipx ``repair``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

from spotidoctor.api import Context
from spotidoctor.backups import BackupStore
from spotidoctor.errors import FixFailed, ProbeUnavailable
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.model import CheckResult
from spotidoctor.paths import Paths
from spotidoctor.probes import Probes


@dataclass(frozen=True)
class FixPolicy:
    min_applicability: Applicability = Applicability.SAFE
    max_privilege: Privilege = Privilege.USERNS

    def allows(self, fix: Fix) -> bool:
        return (fix.applicability is not Applicability.MANUAL
                and fix.applicability >= self.min_applicability
                and fix.privilege <= self.max_privilege)

    def why_not(self, fix: Fix) -> str:
        if fix.applicability is Applicability.MANUAL:
            return "manual: run the commands yourself"
        if fix.applicability < self.min_applicability:
            return "unsafe: needs --unsafe"
        return f"needs {fix.privilege.label} privileges: needs --allow-root"


@dataclass(frozen=True)
class Candidate:
    result: CheckResult
    fix: Fix


def candidates(results: Sequence[CheckResult]) -> list[Candidate]:
    """Every fix offered by a result that is not passing, in result order, without duplicates."""
    seen: set[str] = set()
    found = []
    for result in results:
        if not result.status.is_problem and result.status.value != "warn":
            continue
        for fix in result.fixes:
            if fix.id not in seen:
                seen.add(fix.id)
                found.append(Candidate(result, fix))
    return found


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


@dataclass
class StepEnvironment:
    """The concrete ``StepEnv`` handed to steps."""

    probes: Probes
    paths: Paths
    backups: BackupStore
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_context(cls, ctx: Context) -> StepEnvironment:
        return cls(ctx.probes, ctx.paths, BackupStore(ctx.probes.fs, ctx.paths.backup_dir), dict(ctx.env))


def preview(fix: Fix, env: StepEnvironment) -> list[str]:
    lines = []
    for number, step in enumerate(fix.steps, 1):
        lines.append(f"{number}. {step.description}" +
                     (f"  [{step.privilege.label}]" if step.privilege is not Privilege.USER else ""))
        try:
            lines += ["   " + line for line in step.preview(env)]
        except (OSError, ProbeUnavailable) as exc:
            lines.append(f"   (cannot preview: {exc})")
    lines += [f"note: {n}" for n in fix.notes]
    return lines


def apply(candidate: Candidate, env: StepEnvironment) -> Applied:
    records: list[StepRecord] = []
    steps = candidate.fix.steps
    for index, step in enumerate(steps):
        try:
            outcome = step.apply(env)
        except (FixFailed, ProbeUnavailable, OSError) as exc:
            records.append(StepRecord(step.description, _reason(exc), False))
            remaining = tuple(s.description for s in steps[index + 1:])
            return Applied(candidate.fix, candidate.result.check_id, tuple(records), remaining)
        records.append(StepRecord(step.description, outcome, True))
    return Applied(candidate.fix, candidate.result.check_id, tuple(records))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def affected(applied: Sequence[Applied]) -> list[str]:
    ids: list[str] = []
    for item in applied:
        for cid in (item.check_id, *item.fix.recheck):
            if cid not in ids:
                ids.append(cid)
    return ids


def refreshed(ctx: Context) -> Context:
    """The context after fixes: fresh shared probe answers (the system just changed), the
    result cache never read (a fix is verified by a real re-test) and config.toml read again
    (a fix may have changed it), flags still overriding it."""
    from spotidoctor.config import reload
    from spotidoctor.memo import Memo

    config = reload(ctx.probes.fs, ctx.paths.config_file, ctx.config_overrides)
    return dataclasses.replace(ctx, memo=Memo(), config=config, cache=ctx.cache.fresh())


def without_memo(ctx: Context) -> Context:
    """A context whose shared probe answers are fresh (config unchanged)."""
    from spotidoctor.memo import Memo

    return dataclasses.replace(ctx, memo=Memo())

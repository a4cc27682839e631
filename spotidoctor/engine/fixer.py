"""Fix plans under a policy: which ones may run, what they would do, and running one step by
step (a failing step stops its fix, and the record says exactly which steps ran).

The check -> fix -> re-check loop around this is ``engine.fixloop``.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from spotidoctor.api import Context
from spotidoctor.backups import BackupStore
from spotidoctor.config import reload
from spotidoctor.engine.records import Applied, Candidate, StepRecord
from spotidoctor.engine.reporter import NullReporter, Reporter
from spotidoctor.errors import FixFailed, ProbeUnavailable
from spotidoctor.fixes import Applicability, Fix, Privilege
from spotidoctor.memo import Memo
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


@dataclass
class StepEnvironment:
    """The concrete ``StepEnv`` handed to steps."""

    probes: Probes
    paths: Paths
    backups: BackupStore
    env: dict[str, str] = field(default_factory=dict)
    # A long step that counts its work reports (done, total) here (``fixes.report_progress``).
    progress: Callable[[int, int | None], None] | None = None

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


def apply(candidate: Candidate, env: StepEnvironment, reporter: Reporter | None = None) -> Applied:
    """Run the fix's steps in order; the first that fails stops it (the rest are ``not_run``)."""
    reporter = reporter or NullReporter()
    fix = candidate.fix
    records: list[StepRecord] = []
    for index, step in enumerate(fix.steps):
        reporter.step_started(fix, step)
        step_env = dataclasses.replace(env, progress=functools.partial(reporter.step_progress, fix, step))
        try:
            record = StepRecord(step.description, step.apply(step_env), True)
        except (FixFailed, ProbeUnavailable, OSError) as exc:
            record = StepRecord(step.description, _reason(exc), False)
        records.append(record)
        reporter.step_finished(fix, record)
        if not record.ok:
            remaining = tuple(s.description for s in fix.steps[index + 1:])
            return Applied(fix, candidate.result.check_id, tuple(records), remaining)
    return Applied(fix, candidate.result.check_id, tuple(records))


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
    config = reload(ctx.probes.fs, ctx.paths.config_file, ctx.config_overrides)
    return dataclasses.replace(ctx, memo=Memo(), config=config, cache=ctx.cache.fresh())


def without_memo(ctx: Context) -> Context:
    """A context whose shared probe answers are fresh (config unchanged)."""
    return dataclasses.replace(ctx, memo=Memo())

"""Pieces several commands share: running a selection, plugin problem rows, exit codes."""
from __future__ import annotations

from typing import Sequence

from spotidoctor.exitcodes import ExitCode
from spotidoctor.model import CheckResult, Message, Severity, Status
from spotidoctor.registry import Registry
from spotidoctor.runner import Plan, Runner, RunReport, plan
from spotidoctor.session import Session


def problem_rows(registry: Registry) -> list[CheckResult]:
    """Broken plugins as ERROR rows of WARNING severity: reported, never fatal."""
    return [
        CheckResult(p.check_id or "plugin", Status.ERROR, f"plugin problem: {p.message}",
                    (Message.error(f"from {p.origin}",
                                   "Fix or remove the plugin; SPOTIDOCTOR_DISABLE_PLUGINS=name disables one."),),
                    severity=Severity.WARNING, title="plugin", category="plugins")
        for p in registry.problems
    ]


def make_plan(session: Session, selectors: Sequence[str], ignore: Sequence[str]) -> Plan:
    return plan(session.registry.checks, selectors, [*session.ctx.config.ignore, *ignore])


def run_plan(session: Session, run_plan: Plan) -> RunReport:
    try:
        return Runner(session.ctx).run(run_plan)
    finally:
        # Checks that timed out may have left a podman or X client running: kill it.
        kill_all = getattr(session.ctx.probes.cmd, "kill_all", None)
        if callable(kill_all):
            kill_all()


def exit_code(results: Sequence[CheckResult]) -> ExitCode:
    return ExitCode.PROBLEMS if any(r.is_blocking for r in results) else ExitCode.OK

"""What a set of results amounts to: broken plugins as rows, and the exit code."""
from __future__ import annotations

from collections.abc import Sequence

from spotidoctor.engine.registry import Registry
from spotidoctor.exitcodes import ExitCode
from spotidoctor.model import CheckResult, Message, Severity, Status


def problem_rows(registry: Registry) -> list[CheckResult]:
    """Broken plugins as ERROR rows of WARNING severity: reported, never fatal."""
    return [
        CheckResult(p.check_id or "plugin", Status.ERROR, f"plugin problem: {p.message}",
                    (Message.error(f"from {p.origin}",
                                   "Fix or remove the plugin; SPOTIDOCTOR_DISABLE_PLUGINS=name disables one."),),
                    severity=Severity.WARNING, title="plugin", category="plugins")
        for p in registry.problems
    ]


def with_problem_rows(registry: Registry, results: Sequence[CheckResult]) -> list[CheckResult]:
    """The rows a command shows and judges: plugin problems first, then the results."""
    return [*problem_rows(registry), *results]


def exit_code(results: Sequence[CheckResult]) -> ExitCode:
    """1 when an error-severity check failed or could not run, else 0 (warnings allowed)."""
    return ExitCode.PROBLEMS if any(r.is_blocking for r in results) else ExitCode.OK

"""Renderers: rich on a terminal, plain text when piped or NO_COLOR, JSON with --json."""
from __future__ import annotations

from collections.abc import Sequence

from spotidoctor.model import CheckResult, Status


def overall_status(results: Sequence[CheckResult]) -> str:
    """``fail`` when check exits 1; ``warn`` for anything else worth a look; else ``ok``."""
    if any(r.is_blocking for r in results):
        return "fail"
    if any(r.status in (Status.WARN, Status.FAIL, Status.ERROR) for r in results):
        return "warn"
    return "ok"


def counts(results: Sequence[CheckResult]) -> dict[Status, int]:
    tally = {status: 0 for status in Status}
    for result in results:
        tally[result.status] += 1
    return tally


def summary_line(results: Sequence[CheckResult]) -> str:
    tally = counts(results)
    parts = [f"{tally[s]} {label}" for s, label in (
        (Status.OK, "ok"), (Status.WARN, "warning(s)"), (Status.FAIL, "failed"),
        (Status.ERROR, "could not run"), (Status.SKIP, "skipped")) if tally[s]]
    verdict = {"ok": "No problems found.", "warn": "No blocking problems.",
               "fail": "Problems found."}[overall_status(results)]
    return f"{verdict} " + (", ".join(parts) + "." if parts else "No checks ran.")

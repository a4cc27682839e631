"""Crash diagnosis entry point used by ``spotidoctor launch`` after Spotify exits non-zero.

Implemented by the crash checks work (issue: crash logs); the launcher only calls
``diagnose_launch``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.launchlog import LaunchRecord
    from spotidoctor.model import CheckResult


def diagnose_launch(ctx: Context, record: LaunchRecord) -> CheckResult:
    """The verdict for one finished launch (quoted line, cause, fix plans)."""
    raise NotImplementedError("crash diagnosis is not implemented yet")

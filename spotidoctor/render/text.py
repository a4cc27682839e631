"""Human output for ``check``: the same lines, styled by rich on a terminal or plain.

Each problem shows its messages with the advice under them and the fixes on offer
(Flutter doctor's layout); INFO messages, facts and timings only with ``--verbose``.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from spotidoctor.fixes import Applicability, RunCommand
from spotidoctor.model import CheckResult, MessageKind, Status
from spotidoctor.render import summary_line

Line = tuple[str, str]  # (rich style, text)

MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "?"}
STYLES = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim",
          Status.ERROR: "magenta"}


def _fix_lines(result: CheckResult) -> list[Line]:
    lines: list[Line] = []
    for fix in result.fixes:
        if fix.applicability is Applicability.MANUAL:
            lines.append(("cyan", f"    fix (manual): {fix.title}"))
            for step in fix.steps:
                text = f"$ {step.command_line()}" if isinstance(step, RunCommand) else step.description
                lines.append(("cyan", f"      {text}"))
        else:
            flag = " --unsafe" if fix.applicability is Applicability.UNSAFE else ""
            lines.append(("cyan", f"    fix ({fix.applicability.label}, {fix.privilege.label}): {fix.title}"
                                  f"  →  spotidoctor fix{flag} {result.check_id}"))
        lines += [("cyan", f"      note: {note}") for note in fix.notes]
    return lines


def result_lines(result: CheckResult, verbose: bool = False) -> list[Line]:
    style = STYLES[result.status]
    timing = f"  ({result.duration_s:.2f}s)" if verbose else ""
    lines: list[Line] = [(style, f"[{MARKS[result.status]}] {result.check_id}: {result.summary}{timing}")]
    for message in result.messages:
        if message.kind is MessageKind.INFO and not verbose:
            continue
        bullet = "•" if message.kind is MessageKind.INFO else ("✗" if message.kind is MessageKind.ERROR else "!")
        lines.append(("" if message.kind is MessageKind.INFO else style, f"    {bullet} {message.text}"))
        lines += [("", f"      → {advice}") for advice in message.advice]
        if message.url:
            lines.append(("blue", f"      see {message.url}"))
    if result.status is not Status.OK:
        lines += _fix_lines(result)
    if verbose and result.facts:
        lines += [("dim", f"    {key} = {_fact(value)}") for key, value in result.facts.items()]
    return lines


def _fact(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def all_lines(results: Sequence[CheckResult], verbose: bool = False,
              tracebacks: Mapping[str, str] | None = None) -> list[Line]:
    lines: list[Line] = []
    for result in results:
        lines += result_lines(result, verbose)
        if verbose and tracebacks and result.check_id in tracebacks:
            lines += [("dim", "    " + tb) for tb in tracebacks[result.check_id].splitlines()]
    return lines + footer_lines(results)


def traceback_lines(tracebacks: Mapping[str, str]) -> list[Line]:
    """``check -v``: the tracebacks of checks that crashed, after the results."""
    lines: list[Line] = []
    for check_id, trace in tracebacks.items():
        lines.append(("dim", f"{check_id} crashed:"))
        lines += [("dim", "    " + tb) for tb in trace.splitlines()]
    return lines


def footer_lines(results: Sequence[CheckResult]) -> list[Line]:
    """The blank line, the unsafe-fix hint and the one-line verdict under the results."""
    hidden = sum(1 for r in results for f in r.fixes if f.applicability is Applicability.UNSAFE
                 and r.status is not Status.OK)
    lines: list[Line] = [("", "")]
    if hidden:
        lines.append(("", f"{hidden} unsafe fix(es) available with `spotidoctor fix --unsafe`."))
    lines.append(("bold", summary_line(results)))
    return lines


def use_rich(stream: IO[str], env: Mapping[str, str]) -> bool:
    """Styled output only on a terminal and when NO_COLOR is not set (no-color.org)."""
    if env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def emit(lines: Sequence[Line], stream: IO[str] | None = None,
         env: Mapping[str, str] | None = None) -> None:
    stream = stream or sys.stdout
    if use_rich(stream, os.environ if env is None else env):
        from rich.console import Console
        from rich.text import Text

        console = Console(file=stream, highlight=False)
        for style, text in lines:
            console.print(Text(text, style=style or ""), soft_wrap=True)
    else:
        for _, text in lines:
            print(text, file=stream)

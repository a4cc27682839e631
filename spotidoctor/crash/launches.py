"""Putting it together for launches and leftover containers: read the sources, judge,
and turn a verdict into a check result (``diagnose_launch`` runs right after Spotify
exits non-zero; the ``crash.*`` checks use the rest)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from spotidoctor.crash import sources
from spotidoctor.crash.causes import Strength
from spotidoctor.crash.cef import CefFacts
from spotidoctor.crash.container import ContainerInfo
from spotidoctor.crash.lines import parse_log_time
from spotidoctor.crash.scan import Hit, ScanResult
from spotidoctor.crash.settings import settings_for
from spotidoctor.crash.sources import SourceNote
from spotidoctor.crash.verdict import Inputs, Verdict, describe_exit, is_fatal, judge
from spotidoctor.model import CheckResult, Message, Severity, Status
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.crash.launchlog import LaunchRecord

CHECK_ID = "crash.last-launch"


def container_matches(container: ContainerInfo, record: LaunchRecord) -> bool:
    """Whether a leftover container is the one this launch started."""
    if container.log_path and container.log_path == record.log_path:
        return True
    started = parse_log_time(container.started_at.replace(" ", "T", 1).split(" ")[0])
    return (container.name.lstrip("/") == record.container_name and started is not None
            and abs(started.timestamp() - record.started) < 120)


def _journal_window(journal: ScanResult | None, start: float, end: float | None) -> ScanResult | None:
    """The journal hits logged while a launch ran (used when its own log is missing)."""
    if journal is None:
        return None
    stop = (end or sources.now()) + 5
    hits = []
    for hit in journal.hits:
        when = parse_log_time(hit.line.logged_at or "")
        if when is not None and start - 5 <= when.timestamp() <= stop:
            hits.append(hit)
    latest: dict[str, Hit] = {}
    for hit in hits:
        latest[hit.signature] = hit
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.signature] = counts.get(hit.signature, 0) + 1
    return ScanResult(tuple(hits), latest, counts, len(hits), 0)


def launch_inputs(ctx: Context, record: LaunchRecord, *, deep: bool = True) -> tuple[Inputs, list[SourceNote]]:
    """Read a launch's sources. ``deep`` adds podman inspect and the image's libcef.so."""
    scan, note = sources.scan_launch_log(ctx, record)
    notes = [note]
    if scan is None or scan.bytes_total == 0:
        journal, jnote = sources.journal_scan(ctx)
        notes.append(jnote)
        scan = _journal_window(journal, record.started, record.ended) or scan
    container = None
    if deep:
        info, cnote = sources.inspect_container(ctx, record.container_name or ctx.config.container_name)
        notes.append(cnote)
        container = info if info is not None and container_matches(info, record) else None
    nxt = sources.next_launch_config(ctx)
    settings = settings_for(ctx, record, container, nxt)
    exit_code = record.exit_code if record.exit_code is not None else (container.exit_code if container and
                                                                        not container.running else None)

    def cef() -> CefFacts | None:
        if not deep:
            return None
        facts, cef_note = sources.image_cef(ctx, record.image or ctx.config.image)
        notes.append(cef_note)
        return facts

    inputs = Inputs(f"launch {record.launch_id}", record.launch_id, exit_code,
                    record.finished or bool(container and not container.running), scan, settings, nxt, cef,
                    record.podman_errors)
    return inputs, notes


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def verdict_messages(verdict: Verdict, started: float | None = None) -> list[Message]:
    messages = []
    if verdict.quote:
        when = [f"logged {verdict.logged_at}" if verdict.logged_at else "",
                f"Chromium clock {verdict.chromium_time}" if verdict.chromium_time else "",
                f"{verdict.source}" + (f" started {_when(started)}" if started else ""),
                describe_exit(verdict.exit_code)]
        messages.append(Message.error(f'"{verdict.quote}"', "; ".join(w for w in when if w)))
    if verdict.cause is not None:
        prefix = "Cause" if verdict.cause.strength is Strength.LIKELY else "Possible cause"
        settled = ("The config already has the fix; launch again to confirm.",) if verdict.cause.settled else ()
        messages.append(Message.error(f"{prefix}: {verdict.cause.text}", *verdict.cause.advice, *settled))
    for other in verdict.also:
        messages.append(Message.hint(f"Also possible: {other.text}", *other.advice))
    for note in verdict.notes:
        messages.append(Message.hint(note))
    if verdict.evidence:
        messages.append(Message.info("Logged before it:", *verdict.evidence))
    return messages


def result_for(check_id: str, severity: Severity, verdict: Verdict, notes: Sequence[SourceNote],
               started: float | None = None) -> CheckResult:
    """A crash verdict as a check result: FAIL for a crash (WARN once the config has its fix)."""
    facts: dict[str, JSONValue] = {**verdict.to_json(), "sources": [n.text() for n in notes]}
    messages = verdict_messages(verdict, started)
    messages += [Message.info(n.text()) for n in notes]
    if verdict.crashed:
        status = Status.WARN if verdict.settled else Status.FAIL
    elif verdict.quote:
        status = Status.WARN  # a fatal line, but the run itself ended normally or is still running
    else:
        status = Status.OK
    summary = f"{verdict.source}: {verdict.summary()}"
    fixes = () if status is Status.OK else verdict.fixes
    return CheckResult(check_id, status, summary, tuple(messages), fixes, facts, severity)


def diagnose_launch(ctx: Context, record: LaunchRecord) -> CheckResult:
    """The verdict for one finished launch (quoted line, cause, fix plans)."""
    inputs, notes = launch_inputs(ctx, record)
    verdict = judge(inputs)
    return result_for(CHECK_ID, Severity.ERROR, verdict, notes, record.started)


def container_inputs(ctx: Context, info: ContainerInfo) -> tuple[Inputs, list[SourceNote]]:
    """A container of the configured name that spotidoctor did not record (or outlived its record)."""
    scan, note = sources.container_logs(ctx, info.name.lstrip("/") or ctx.config.container_name)
    nxt = sources.next_launch_config(ctx)
    settings = settings_for(ctx, None, info, nxt)
    notes = [note]

    def cef() -> CefFacts | None:
        facts, cef_note = sources.image_cef(ctx, info.image or ctx.config.image)
        notes.append(cef_note)
        return facts

    exit_code = None if info.running else info.exit_code
    inputs = Inputs(f"container {info.name.lstrip('/')} ({info.id})", None, exit_code, not info.running, scan,
                    settings, nxt, cef)
    return inputs, notes


def unattributed_journal(journal: ScanResult | None, records: Sequence[LaunchRecord]) -> list[Hit]:
    """Fatal journal lines outside every recorded launch (Spotify started some other way)."""
    if journal is None:
        return []
    found = []
    for hit in journal.hits:
        if not is_fatal(hit):
            continue
        when = parse_log_time(hit.line.logged_at or "")
        stamp = when.timestamp() if when else None
        inside = stamp is not None and any(r.started - 5 <= stamp <= (r.ended or sources.now()) + 5 for r in records)
        if not inside:
            found.append(hit)
    return found

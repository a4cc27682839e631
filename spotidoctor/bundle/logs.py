"""The last launches' logs, trimmed to what explains a crash.

A container log can be megabytes of CEF noise; what matters is the start, the end, and the
lines around FATAL/ERROR/Out of memory/signal reports (Chromium's log lines). Everything else is
replaced by ``[... N lines omitted ...]`` and the result is size-capped.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.bundle.collect import GLOBAL_ORIGIN, Item, ItemStatus, ManifestEntry, cap_text, safe_name
from spotidoctor.crash import launchlog

INTERESTING = re.compile(
    r":(?:FATAL|ERROR):|\bFATAL\b|\bERROR\b|Out of memory|Check failed|NOTREACHED|Trace/breakpoint trap"
    r"|Illegal instruction|Segmentation fault|Bus error|\bAborted\b|core dumped|\bKilled\b|Received signal"
    r"|cannot open display|Unable to open X display|Authorization required|Access denied|Connection refused"
    r"|pa_context_connect|No usable sandbox|Too many open files|FAILED|Permission denied|oom-kill")
OMITTED = "[... {n} lines omitted by spotidoctor ...]"
HEAD_READ_BYTES = 256 * 1024
TAIL_READ_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TrimPolicy:
    head: int = 20  # always keep the first lines (start-up: versions, flags)
    tail: int = 60  # and the last ones (how it ended)
    before: int = 20  # context before an interesting line
    after: int = 10
    max_bytes: int = 256 * 1024


def trim(text: str, policy: TrimPolicy = TrimPolicy()) -> tuple[str, int]:
    """(trimmed text, number of interesting lines)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if INTERESTING.search(line)]
    keep = set(range(min(policy.head, len(lines)))) | set(range(max(0, len(lines) - policy.tail), len(lines)))
    for i in hits:
        keep.update(range(max(0, i - policy.before), min(len(lines), i + policy.after + 1)))
    out: list[str] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep:
            if skipped:
                out.append(OMITTED.format(n=skipped))
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if skipped:
        out.append(OMITTED.format(n=skipped))
    result = "\n".join(out) + ("\n" if out else "")
    if len(result.encode()) > policy.max_bytes:
        result = _cap_middle(result, policy.max_bytes)
    return result, len(hits)


def _cap_middle(text: str, max_bytes: int) -> str:
    """Keep the beginning and (more of) the end: crashes are reported last."""
    data = text.encode()
    head = data[: max_bytes // 4].decode(errors="ignore")
    tail = data[-(max_bytes - max_bytes // 4):].decode(errors="ignore")
    return f"{head}\n[... {len(data) - max_bytes} bytes omitted by spotidoctor ...]\n{tail}"


def read_log(ctx: Context, path: str) -> tuple[str, int] | None:
    """(text, size on disk); for huge logs the first 256 KiB and the last 8 MiB."""
    fs = ctx.probes.fs
    st = fs.stat(path)
    if st is None or not st.is_file:
        return None
    if st.size <= HEAD_READ_BYTES + TAIL_READ_BYTES:
        return fs.read_text(path), st.size
    with open(fs.host(path), "rb") as fh:  # seek: the probe only reads from the start
        head = fh.read(HEAD_READ_BYTES)
        fh.seek(-TAIL_READ_BYTES, os.SEEK_END)
        tail = fh.read()
    middle = f"\n[... {st.size - len(head) - len(tail)} bytes not read by spotidoctor ...]\n"
    return head.decode(errors="replace") + middle + tail.decode(errors="replace"), st.size


def launch_logs(ctx: Context, count: int, policy: TrimPolicy = TrimPolicy()) -> list[Item]:
    """``logs/<launch id>/launch.json`` and ``container.log`` for the newest ``count`` launches."""
    items: list[Item] = []
    for record in launchlog.records(ctx.probes.fs, ctx.paths.launches_dir)[: max(0, count)]:
        base = f"logs/{safe_name(record.launch_id)}"
        record_text, _, _ = cap_text(json.dumps(record.to_json(), indent=2, default=str) + "\n", 64 * 1024)
        items.append(Item(ManifestEntry(f"{base}/launch.json", "log", os.path.join(record.directory, launchlog.RECORD),
                                        GLOBAL_ORIGIN, ItemStatus.COLLECTED), record_text))
        items.append(_container_log(ctx, record, f"{base}/container.log", policy))
    return items


def _container_log(ctx: Context, record: launchlog.LaunchRecord, name: str, policy: TrimPolicy) -> Item:
    entry = ManifestEntry(name, "log", record.log_path, GLOBAL_ORIGIN, ItemStatus.SKIPPED)
    try:
        found = read_log(ctx, record.log_path)
    except OSError as exc:
        return Item(ManifestEntry(name, "log", record.log_path, GLOBAL_ORIGIN, ItemStatus.FAILED,
                                  f"cannot read: {exc.strerror or exc}"))
    if found is None:
        return Item(ManifestEntry(name, "log", record.log_path, GLOBAL_ORIGIN, ItemStatus.SKIPPED,
                                  "no container log (podman ran without the k8s-file log driver?)"))
    text, size = found
    trimmed, hits = trim(text, policy)
    shortened = len(trimmed.encode()) < size
    status = ItemStatus.TRUNCATED if shortened else ItemStatus.COLLECTED
    reason = f"trimmed to the start, the end and {hits} crash/error line(s) with context" if shortened else ""
    return Item(ManifestEntry(entry.name, "log", entry.source, GLOBAL_ORIGIN, status, reason, original_size=size),
                trimmed)

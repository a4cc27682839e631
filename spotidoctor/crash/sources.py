"""Where the diagnosis reads from, each bounded in size and time; a missing source is a fact.

spotidoctor's own per-launch k8s-file logs (``launchlog``), ``podman logs`` and ``podman
container inspect`` of a container of the configured name that still exists, the user
journal, and the Chromium facts of the image's libcef.so. All I/O of the crash domain is here.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.config import Config, reload
from spotidoctor.crash import launchlog
from spotidoctor.crash.cef import LEGACY_OOM, MEMFD_MARKER, VERSION_PATTERN, CefFacts, cef_facts
from spotidoctor.crash.container import ContainerInfo
from spotidoctor.crash.runopts import human
from spotidoctor.crash.scan import LineScanner, ScanResult, Wrapper, scan_file
from spotidoctor.errors import ConfigError
from spotidoctor.units import GiB

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.crash.launchlog import LaunchRecord

LOG_SCAN_BYTES = GiB  # the newest GiB of a launch log (about a second to scan)
LOG_SCAN_SECONDS = 30.0
MAX_RECORDS = 10  # launch records looked at (the launcher keeps keep_launch_logs)
PODMAN_TIMEOUT_S = 15.0
PODMAN_LOG_LINES = 5000
JOURNAL_TIMEOUT_S = 15.0
JOURNAL_LINES = 2000
JOURNAL_DAYS = 7
CEF_TIMEOUT_S = 60.0
# Where Spotify's packages put libcef.so inside an image (deb, tarball, flatpak layouts).
CEF_PATHS = ("/usr/share/spotify/libcef.so", "/opt/spotify/libcef.so", "/usr/lib/spotify/libcef.so",
             "/app/extra/share/spotify/libcef.so")


@dataclass(frozen=True)
class SourceNote:
    """What happened when reading one source (a missing source is a fact)."""

    name: str
    state: str  # read | missing | unavailable | timeout | error | skipped
    detail: str = ""

    def text(self) -> str:
        return f"{self.name}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def now() -> float:
    """The clock the sources and launch windows use (tests replace it)."""
    return time.time()


def recent_records(ctx: Context) -> list[LaunchRecord]:
    """Launch records, newest first (at most MAX_RECORDS)."""
    return launchlog.records(ctx.probes.fs, ctx.paths.launches_dir)[:MAX_RECORDS]


def scan_launch_log(ctx: Context, record: LaunchRecord,
                    seconds: float = LOG_SCAN_SECONDS) -> tuple[ScanResult | None, SourceNote]:
    """The launch's k8s-file log, newest ``LOG_SCAN_BYTES`` of it, within ``seconds``."""
    name = f"launch log {record.log_path}"
    try:
        # RealFS has no streaming reader, and a log can be huge: open it under the sysroot.
        with open(ctx.probes.fs.host(record.log_path), "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            scan = scan_file(fh, size, max_bytes=LOG_SCAN_BYTES, deadline=time.monotonic() + seconds)
    except FileNotFoundError:
        return None, SourceNote(name, "missing")
    except OSError as exc:
        return None, SourceNote(name, "error", exc.strerror or str(exc))
    detail = f"{human(scan.bytes_total)}, {scan.lines} lines parsed"
    if scan.bytes_skipped:
        detail += f", oldest {human(scan.bytes_skipped)} not scanned (size bound)"
    if scan.incomplete:
        detail += f", {scan.incomplete}"
    return scan, SourceNote(name, "read", detail)


def inspect_container(ctx: Context, name: str) -> tuple[ContainerInfo | None, SourceNote]:
    """``podman container inspect NAME`` (memoized per run)."""
    return ctx.memo.get(f"crash.inspect:{name}", lambda: _inspect(ctx, name))


def _inspect(ctx: Context, name: str) -> tuple[ContainerInfo | None, SourceNote]:
    label = f"container {name}"
    if ctx.probes.cmd.which("podman") is None:
        return None, SourceNote(label, "unavailable", "podman is not installed")
    done = ctx.probes.cmd.run(("podman", "container", "inspect", name), timeout=PODMAN_TIMEOUT_S)
    if done.timed_out:
        return None, SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "missing", "no such container (launches use --rm)")
    try:
        data = json.loads(done.stdout)
        info = ContainerInfo.from_inspect(data[0] if isinstance(data, list) else data)
    except (ValueError, IndexError, TypeError, AttributeError):
        return None, SourceNote(label, "error", "unreadable inspect output")
    return info, SourceNote(label, "read", f"{info.status}, exit {info.exit_code}")


def container_logs(ctx: Context, name: str) -> tuple[ScanResult | None, SourceNote]:
    """``podman logs --timestamps --tail N NAME``, streamed through the scanner."""
    label = f"podman logs {name}"
    scanner = LineScanner(Wrapper.TIMESTAMPED)
    done = ctx.probes.cmd.stream(("podman", "logs", "--timestamps", f"--tail={PODMAN_LOG_LINES}", name),
                                 scanner.feed, timeout=PODMAN_TIMEOUT_S)
    if done.timed_out:
        return scanner.result("timed out"), SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "missing", done.error_text(120))
    return scanner.result(), SourceNote(label, "read", f"last {PODMAN_LOG_LINES} lines at most")


def journal_scan(ctx: Context) -> tuple[ScanResult | None, SourceNote]:
    """The user journal's lines of the container and of a host Spotify (memoized per run)."""
    return ctx.memo.get("crash.journal", lambda: _journal(ctx))


def journal_argv(container_name: str, since: float) -> tuple[str, ...]:
    # Field matches keep the query on the journal side; "+" ORs the two.
    return ("journalctl", "--user", "--no-pager", "--quiet", "--output=short-iso", f"--since=@{int(since)}",
            f"--lines={JOURNAL_LINES}", f"CONTAINER_NAME={container_name}", "+", "SYSLOG_IDENTIFIER=spotify")


def _journal(ctx: Context) -> tuple[ScanResult | None, SourceNote]:
    label = "user journal"
    if ctx.probes.cmd.which("journalctl") is None:
        return None, SourceNote(label, "unavailable", "journalctl is not installed")
    scanner = LineScanner(Wrapper.JOURNAL)
    argv = journal_argv(ctx.config.container_name, now() - JOURNAL_DAYS * 86400)
    done = ctx.probes.cmd.stream(argv, scanner.feed, timeout=JOURNAL_TIMEOUT_S)
    if done.timed_out:
        return scanner.result("timed out"), SourceNote(label, "timeout", done.error_text())
    if done.returncode != 0:
        return None, SourceNote(label, "unavailable", done.error_text(120))
    return scanner.result(), SourceNote(label, "read", f"last {JOURNAL_DAYS} days, {JOURNAL_LINES} lines at most")


def cef_argv(image: str) -> tuple[str, ...]:
    """grep inside the image prints each version string and marker of libcef.so on its own line."""
    return ("podman", "run", "--rm", "--pull=never", "--network=none", "--cap-drop=all", "--entrypoint=grep",
            image, "-a", "-o", "-h", "-s", "-w", "-E", "-e", VERSION_PATTERN,
            "-e", re.escape(LEGACY_OOM), "-e", MEMFD_MARKER, *CEF_PATHS)


def image_cef(ctx: Context, image: str) -> tuple[CefFacts | None, SourceNote]:
    """Chromium facts of the image's libcef.so, memoized per image."""
    return ctx.memo.get(f"crash.cef:{image}", lambda: _image_cef(ctx, image))


def _image_cef(ctx: Context, image: str) -> tuple[CefFacts | None, SourceNote]:
    label = f"libcef.so in {image}"
    if not image or ctx.probes.cmd.which("podman") is None:
        return None, SourceNote(label, "unavailable", "no image or no podman")
    done = ctx.probes.cmd.run(cef_argv(image), timeout=CEF_TIMEOUT_S)
    if done.timed_out:
        return None, SourceNote(label, "timeout", done.error_text())
    facts = cef_facts(done.stdout.splitlines())
    if facts.version or facts.legacy_oom_log or facts.memfd:
        return facts, SourceNote(label, "read", facts.version or "no version string")
    reasons = {1: "no libcef.so markers found", 2: "no libcef.so at the usual paths",
               125: "image not available locally", 126: "grep cannot run in the image",
               127: "the image has no grep"}
    return None, SourceNote(label, "unavailable", reasons.get(done.returncode, done.error_text(120)))


def next_launch_config(ctx: Context) -> Config:
    """The config the next launch will use: config.toml as it is now (a fix may just have
    changed it), flags still overriding it; the loaded one when the file is unreadable now."""
    if not ctx.probes.fs.exists(ctx.paths.config_file):
        return ctx.config
    try:
        return reload(ctx.probes.fs, ctx.paths.config_file, ctx.config_overrides)
    except ConfigError:
        return ctx.config

"""``spotidoctor report``: a redacted bug report bundle, scanned for secrets before it exists.

Flow: run all checks -> collect (global collectors + every check's ``collect()`` + launch
logs) -> redact -> write a 0600 temporary archive -> scan it for cookies, Spotify
credentials and (when redacting) the login and host names -> publish it, or delete it and
fail closed. ``--preview`` stops before writing anything.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence

from spotidoctor import ISSUES_URL
from spotidoctor.api import Context
from spotidoctor.bundle import archive
from spotidoctor.bundle.build import Bundle, Options, assemble, gather
from spotidoctor.bundle.collect import Item, ItemStatus, Limits
from spotidoctor.bundle.redact import KIND_LABEL, Redactor, TokenMap, default_map_path
from spotidoctor.bundle.scan import Finding, Needle, gather_needles, scan_archive, scan_members
from spotidoctor.commands.options import ReportOptions
from spotidoctor.engine.session import Session, make_session
from spotidoctor.errors import SpotidoctorError, UsageError
from spotidoctor.exitcodes import ExitCode

NO_REDACT_WARNING = (
    "\n"
    "  !!! spotidoctor report --no-redact !!!\n"
    "  User names, the host name, home directory paths, the machine id and IP/MAC addresses\n"
    "  are KEPT in this report. Do not attach it to a public issue.\n"
    "  (Cookies, Xauthority data, Spotify credentials and secret-looking environment\n"
    "  variables are still never collected.)\n"
)
COVERAGE = ("Redaction is best effort: user and host names, home paths, machine id, IP and MAC addresses "
            "become tokens; cookies, Xauthority data, Spotify credentials and secret-looking variables are "
            "never collected. Look through the archive before you post it.")


class LeakDetected(SpotidoctorError):
    """The finished archive contained secret material; it was deleted (fail closed)."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        found = "; ".join(f"{f.label} in {f.where}" for f in self.findings[:10])
        super().__init__(
            f"refusing to write the report: the finished archive contained {found}. The archive was "
            "deleted and nothing was written. This is a bug in spotidoctor's redaction or in a check's "
            "collect(); please report it (without the archive).")


class ReportTimedOut(SpotidoctorError):
    """The report did not finish within its time limit; nothing was written."""

    exit_code = ExitCode.PROBLEMS


TAKEN = "cannot write the report: {path} already exists; name another file with -o, or pass --overwrite to replace it"


def output_path(option: str | None, now: float, *, overwrite: bool = False) -> str:
    """``-o FILE``, ``-o DIR`` (default name inside), or ``./spotidoctor-report-DATE.tar.gz``.
    An existing file is a usage error unless ``overwrite`` (checked again when publishing)."""
    name = archive.default_name(now) + ".tar.gz"
    path = os.path.abspath(name)
    if option:
        path = os.path.abspath(os.path.expanduser(option))
        if (os.path.isdir(path) and not os.path.islink(path)) or option.endswith("/"):
            path = os.path.join(path, name)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write the report: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the report: directory {directory} is not writable")
    if os.path.lexists(path) and (not overwrite or os.path.isdir(path)):
        raise UsageError(TAKEN.format(path=path))
    return path


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``ReportTimedOut`` in this (the main) thread after ``seconds``; the checks' children
    are killed by the runner and the temporary archive is discarded on the way out."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise ReportTimedOut(f"the report did not finish within its time limit of {seconds:g}s; nothing was "
                             "written. `spotidoctor check -v` shows which check is slow; --time-limit allows more")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(command: ReportOptions) -> int:
    if command.include_logs < 0:
        raise UsageError("--include-logs must be 0 or more")
    if not command.time_limit_s > 0:
        raise UsageError("--time-limit must be a positive number of seconds")
    with time_limit(command.time_limit_s):
        return _run(command)


def _run(command: ReportOptions) -> int:
    # Collecting gets at most half of the time limit; later items are skipped and say so.
    budget = min(Limits().time_budget_s, command.time_limit_s / 2)
    options = Options(redact=not command.no_redact, include_logs=command.include_logs,
                      limits=Limits(time_budget_s=budget))
    if not options.redact:
        print(NO_REDACT_WARNING, file=sys.stderr)
    now = time.time()
    target = None if command.preview else output_path(command.output, now, overwrite=command.overwrite)
    session = make_session(command.session)
    ctx = session.ctx
    bundle = gather_showing_progress(session, options)
    map_path = default_map_path(ctx.paths.state_dir)
    shown_map = tilde(map_path, ctx.user.home)
    redactor = Redactor(bundle.identity, TokenMap.load(ctx.probes.fs, map_path), identity_on=options.redact)
    created = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(now))
    members = assemble(bundle, redactor, created=created)
    needles = gather_needles(ctx, bundle.identity, include_names=options.redact)
    if target is None:
        print_preview(bundle.items, members, redactor, scan_members(members, needles), shown_map)
        return int(ExitCode.OK)
    # Through the redactor like every other name: a host called "report" must not stay in it.
    write_scanned(target, redactor.name(archive.default_name(now)), members, needles, now,
                  overwrite=command.overwrite)
    _save_map(redactor, ctx, map_path)
    print(target)
    _print_done(bundle.items, redactor, shown_map, options.redact)
    return int(ExitCode.OK)


def gather_showing_progress(session: Session, options: Options) -> Bundle:
    """The checks with the status line, then the collection with a progress bar (on stderr:
    stdout gets only the archive's path)."""
    from spotidoctor.commands.live import LiveChecks
    from spotidoctor.render.progress import Meter

    env = session.ctx.env
    meter: list[Meter] = []
    with LiveChecks(sys.stderr, env, (), show_results=False) as live:

        def on_item(done: int, total: int) -> None:
            if not meter:
                live.pause()  # the checks are done: one live display at a time
                meter.append(Meter("collecting", total, sys.stderr, env))
            meter[0].update(done)

        try:
            return gather(session, options, extra_hostnames=(socket.gethostname(),), reporter=live,
                          on_item=on_item)
        finally:
            if meter:
                meter[0].close()


def write_scanned(target: str, top: str, members: Sequence[archive.Member], needles: Sequence[Needle],
                  now: float, *, overwrite: bool = False) -> None:
    """Write to a private temporary file, scan it, then publish it -- or delete it and raise.
    The temporary file never outlives this call."""
    tmp = archive.write_temp(os.path.dirname(target), top, members, now=now)
    try:
        findings = scan_archive(tmp, needles)
        if findings:
            raise LeakDetected(findings)
        archive.publish(tmp, target, overwrite=overwrite)
    except archive.NameTaken:
        raise UsageError(TAKEN.format(path=target)) from None
    finally:
        archive.discard(tmp)


def tilde(path: str, home: str) -> str:
    """Paths we print: ``~/...`` keeps the home directory (and the user name) off screenshots."""
    home = home.rstrip("/")
    return "~" + path[len(home):] if home and (path == home or path.startswith(home + "/")) else path


def _save_map(redactor: Redactor, ctx: Context, map_path: str) -> None:
    try:
        redactor.tokens.save(ctx.probes.fs, map_path)
    except OSError as exc:
        print(f"spotidoctor: warning: could not save the token map {map_path}: {exc.strerror or exc}",
              file=sys.stderr)


def _tally(items: Sequence[Item]) -> str:
    counts = {s: sum(1 for i in items if i.entry.status is s) for s in ItemStatus}
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)


def _print_done(items: Sequence[Item], redactor: Redactor, map_path: str, redacted: bool) -> None:
    err = sys.stderr
    print(f"spotidoctor: report written (mode 0600); {len(items)} items: {_tally(items)}.", file=err)
    replaced = redactor.summary()["replaced"]
    if redacted:
        done = ", ".join(f"{n} {label}" for label, n in replaced.items()) or "nothing to replace"
        print(f"spotidoctor: redacted: {done}. Token map (private): {map_path}", file=err)
        print(f"spotidoctor: {COVERAGE}", file=err)
    else:
        print(NO_REDACT_WARNING, file=err)
    print(f"spotidoctor: to report a problem, open an issue at {ISSUES_URL} and attach the archive.", file=err)


def print_preview(items: Sequence[Item], members: Sequence[archive.Member], redactor: Redactor,
                  findings: Sequence[Finding], map_path: str) -> None:
    out = sys.stdout
    names = {i.entry.name: redactor.name(i.entry.name) for i in items}
    print("spotidoctor report --preview: nothing was written.\n", file=out)
    print(f"Would write {len(members)} files ({sum(len(m.data) for m in members)} bytes before compression):", file=out)
    for item in items:
        if item.text is not None:
            print(f"  {names[item.entry.name]}  ({item.entry.size} bytes, {item.entry.status.value})  "
                  f"<- {redactor.text(item.entry.source)}", file=out)
    for generated in ("summary.md", "results.json", "manifest.json", "redaction.json"):
        print(f"  {generated}", file=out)
    skipped = [i for i in items if i.text is None]
    if skipped:
        print(f"\nNot collected ({len(skipped)}):", file=out)
        for item in skipped:
            print(f"  {names[item.entry.name]}: {redactor.text(item.entry.reason)}", file=out)
    summary = redactor.summary()
    print("\nWould redact:" if redactor.identity_on else "\nRedaction is OFF (--no-redact); would still scrub:",
          file=out)
    for label in KIND_LABEL.values():
        if label in summary["replaced"]:
            print(f"  {label}: {summary['replaced'][label]} occurrence(s), "
                  f"{summary['distinct_values'].get(label, 0)} distinct", file=out)
    for label, count in summary["withheld"].items():
        print(f"  withheld ({label}): {count}", file=out)
    print(f"\nToken map (outside the archive): {map_path}", file=out)
    if findings:
        print(f"\nWARNING: the scan found {len(findings)} problem(s); writing would fail closed:", file=out)
        for finding in findings:
            print(f"  {redactor.text(finding.label)} in {finding.where}", file=out)

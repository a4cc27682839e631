"""Crash checks: why did Spotify die, and what makes the next launch survive?

The reasoning lives in the ``spotidoctor.crash`` package (shared with ``spotidoctor launch``,
which diagnoses right after Spotify exits non-zero).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.crash import launches, sources
from spotidoctor.crash.container import ContainerInfo
from spotidoctor.crash.launchlog import LaunchRecord
from spotidoctor.crash.sources import SourceNote
from spotidoctor.crash.lines import parse_log_time
from spotidoctor.crash.settings import settings_for
from spotidoctor.crash.verdict import Inputs, Verdict, judge
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

NO_RECORDS = "no launch recorded yet (`spotidoctor launch` keeps a record and a log of each)"


class LastLaunchCrash(Check):
    """What it checks: how the newest `spotidoctor launch` ended. Its container log (kept by the
    launcher even though the container runs with --rm) is scanned for Chromium's
    `FATAL:memory.cc … Out of memory. size=N` line and the other known killers (Check failed,
    Too many open files, GPU process isn't usable, MIT-SHM BadAccess, cannot open display,
    pulse connection errors, Received signal 11); a SIGTRAP/SIGILL exit (133/132) without any
    line is the silent form of the same out-of-memory crash in newer Chromium builds. For an
    out-of-memory crash the launch's settings are checked cause by cause: /dev/shm size
    (--shm-size), the address-space limit (ulimit -v) podman inherited, vm.overcommit_memory,
    the open-files and data limits, a custom seccomp profile; the Chromium version is read from
    the image's libcef.so.

    Why it matters: Spotify in a container dies with a one-line message that names no cause;
    the usual one (a 64 MB /dev/shm) is fixed by one setting.

    Fix safety: safe fixes only change spotidoctor's own config.toml (backed up) — a larger
    shm_size, lift_rlimit_as, an open-files ulimit, --disable-gpu — and the next launch uses
    them. Host-level causes (vm.overcommit_memory=2, a hard address-space limit) are manual
    instructions for an administrator. Once the config holds the fix the check warns until the
    next launch proves it.
    """

    id = "crash.last-launch"
    title = "The last launch did not crash"
    category = "crash"
    severity = Severity.ERROR
    timeout_s = 150.0  # log scan 30 s + podman inspect 15 s + libcef.so scan 60 s, with slack
    fix_availability = FixAvailability.SOMETIMES

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the last launch's record (argv, limits, exit code)."""
        from spotidoctor.bundle.sources import last_launch_evidence

        last_launch_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        records = sources.recent_records(ctx)
        if not records:
            return self.skip(NO_RECORDS)
        return launches.diagnose_launch(ctx, records[0])


class CrashHistory(Check):
    """What it checks: the launches before the newest one (their kept logs) and the user journal
    (the container's lines and a host Spotify's, last 7 days, 2000 lines at most) for crashes.

    Why it matters: a crash that happened before the last launch is history — worth knowing
    when it keeps coming back, but not a failure (the last launch decides that).

    Fix safety: none; it only reports. Fixes come from crash.last-launch.
    """

    id = "crash.history"
    title = "No earlier launch crashed"
    category = "crash"
    severity = Severity.WARNING
    timeout_s = 120.0  # up to 9 logs at 10 s each + journalctl 15 s

    def run(self, ctx: Context) -> CheckResult:
        records = sources.recent_records(ctx)
        verdicts, notes = self._older_launches(ctx, records)
        journal, jnote = sources.journal_scan(ctx)
        notes.append(jnote)
        stray = launches.unattributed_journal(journal, records)
        facts: dict[str, JSONValue] = {
            "crashes": [v.to_json() for v in verdicts],
            "journal_lines": [h.quote for h in stray],
            "sources": [n.text() for n in notes],
        }
        info = [Message.info(n.text()) for n in notes]
        if not verdicts and not stray:
            checked = max(len(records) - 1, 0)
            return self.ok(f"no crash in the {checked} earlier launch(es) or the journal", *info, facts=facts)
        newest_ok = next((r for r in records if r.exit_code == 0), None)
        messages = [self._history_line(v, newest_ok) for v in verdicts]
        messages += [Message.hint(f'journal {h.line.logged_at or ""}: "{h.quote}"') for h in stray]
        count = len(verdicts) + len(stray)
        return self.warn(f"{count} earlier crash(es): {verdicts[0].summary() if verdicts else stray[0].quote}",
                         *messages, *info, facts=facts)

    def _older_launches(self, ctx: Context, records: list[LaunchRecord]
                        ) -> tuple[list[Verdict], list[SourceNote]]:
        verdicts: list[Verdict] = []
        notes: list[SourceNote] = []
        nxt = sources.next_launch_config(ctx)
        for record in records[1:]:
            scan, note = sources.scan_launch_log(ctx, record, seconds=10.0)
            notes.append(note)
            inputs = Inputs(f"launch {record.launch_id}", record.launch_id, record.exit_code,
                            record.finished, scan, settings_for(ctx, record, None, nxt), nxt)
            verdict = judge(inputs)
            if verdict.crashed:
                verdicts.append(verdict)
        return verdicts, notes

    @staticmethod
    def _history_line(verdict: Verdict, newest_ok: LaunchRecord | None) -> Message:
        later = ""
        if newest_ok is not None and newest_ok.launch_id > (verdict.launch_id or ""):
            later = f" (launch {newest_ok.launch_id} later ran without crashing)"
        quote = f' — "{verdict.quote}"' if verdict.quote else ""
        return Message.hint(f"{verdict.source}{later}: {verdict.summary()}{quote}")


class LeftoverContainer(Check):
    """What it checks: a container with the configured name that still exists (Spotify started
    by hand or by an older script, or a launch still running): its state, exit status and
    `podman logs`, judged like crash.last-launch with the settings from `podman container
    inspect`.

    Why it matters: launches by spotidoctor use --rm, so a leftover container is either running
    or came from somewhere else — and its crash is only visible here.

    Fix safety: the same config fixes as crash.last-launch; nothing is removed.
    """

    id = "crash.container"
    title = "No leftover container crashed"
    category = "crash"
    severity = Severity.ERROR
    timeout_s = 120.0  # inspect 15 s + podman logs 15 s + libcef.so scan 60 s
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        name = ctx.config.container_name
        if ctx.probes.cmd.which("podman") is None:
            return self.skip("podman is not installed")
        info, note = sources.inspect_container(ctx, name)
        if info is None and note.state in ("timeout", "error"):
            # podman hung or answered garbage: "nothing left over" would be a guess.
            return self.warn(f"cannot tell whether a container named {name} is left over: {note.text()}",
                             facts={"container": None, "source": note.text()})
        if info is None:
            return self.ok(f"no container named {name} is left over", Message.info(note.text()),
                           facts={"container": None, "source": note.text()})
        records = sources.recent_records(ctx)
        owner = next((r for r in records if launches.container_matches(info, r)), None)
        facts: dict[str, JSONValue] = {"container": info.name, "status": info.status, "exit_code": info.exit_code}
        if owner is not None:
            return self.ok(f"container {name} belongs to launch {owner.launch_id} (see crash.last-launch)",
                           facts={**facts, "launch_id": owner.launch_id})
        if info.running:
            return self.ok(f"container {name} is {info.status}", facts=facts)
        inputs, notes = launches.container_inputs(ctx, info)
        verdict = judge(inputs)
        result = launches.result_for(self.id, self.severity, verdict, [note, *notes])
        if verdict.crashed and not self._newer_than(info, records):
            return self.warn(f"older than the last launch: {result.summary}", *result.messages,
                             facts=result.facts)
        return result

    @staticmethod
    def _newer_than(info: ContainerInfo, records: list[LaunchRecord]) -> bool:
        if not records:
            return True
        finished = parse_log_time(info.finished_at.replace(" ", "T", 1).split(" ")[0])
        return finished is None or finished.timestamp() > records[0].started


CHECKS = (LastLaunchCrash, LeftoverContainer, CrashHistory)

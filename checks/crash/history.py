"""crash.history: crashes before the last launch and in the user journal (history, never fatal)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message, Severity
from spotidoctor.crash import launches, sources
from spotidoctor.crash.launchlog import LaunchRecord
from spotidoctor.crash.settings import settings_for
from spotidoctor.crash.sources import SourceNote
from spotidoctor.crash.verdict import Inputs, Verdict, judge
from spotidoctor.types import JSONValue


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

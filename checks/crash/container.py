"""crash.container: a leftover container of the configured name, judged like a launch."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.crash import launches, sources
from spotidoctor.crash.container import ContainerInfo
from spotidoctor.crash.launchlog import LaunchRecord
from spotidoctor.crash.lines import parse_log_time
from spotidoctor.crash.verdict import judge
from spotidoctor.types import JSONValue


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

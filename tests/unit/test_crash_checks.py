"""The crash.* checks end to end over fakes: launch records in a temporary state dir,
podman and journalctl answered by FakeCommandRunner."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotidoctor.checks import crash as crash_checks
from spotidoctor.checks.crash.last_launch import NO_RECORDS
from spotidoctor.config import Config
from spotidoctor.crash import launchlog
from spotidoctor.crash import sources as crash_sources
from spotidoctor.crash.launches import diagnose_launch
from spotidoctor.crash.launchlog import LaunchRecord
from spotidoctor.crash.sources import cef_argv, journal_argv
from spotidoctor.crash.verdict import SILENT_NOTE
from spotidoctor.engine.fixer import StepEnvironment, apply
from spotidoctor.engine.records import Candidate
from spotidoctor.engine.registry import _checks_of
from spotidoctor.model import Severity, Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context, write_tree

DATA = Path(__file__).resolve().parent.parent / "data"
OOM = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"
NAME = "spotify-container"
INSPECT_MISSING = FakeCommand(("podman", "container", "inspect", NAME), stderr=f"Error: no such container {NAME}",
                              returncode=125)
CEF_NO_GREP = FakeCommand(cef_argv("spotify_pod"), stderr="executable file `grep` not found",
                          returncode=127)


def argv(shm: str) -> tuple[str, ...]:
    return ("podman", "run", "--rm", f"--name={NAME}", "--pull=never", "--ipc=private", f"--shm-size={shm}",
            "--log-driver=k8s-file", "spotify_pod", "--print-oom", "--exit=133")


def add_launch(tmp_path: Path, ctx, launch_id: str, *, shm: str = "64m", exit_code: int | None = 133,
               log: str | bytes | None = None, started: float = 1_795_992_600.0) -> LaunchRecord:
    record = LaunchRecord(launch_id, f"{ctx.paths.launches_dir}/{launch_id}", started, argv(shm), "spotify_pod",
                          NAME, "isolated", shm, ("--print-oom", "--exit=133"),
                          {"as": [None, None], "nofile": [524288, 524288]}, {"vm.overcommit_memory": 0},
                          started + 30, exit_code)
    launchlog.save(ctx.probes.fs, record)
    if log is None:
        log = (DATA / "crash_k8s_partial.log").read_bytes()
    write_tree(tmp_path, {record.log_path: log})
    return record


def context(tmp_path: Path, *commands: FakeCommand, config: Config | None = None, files=None):
    runner = FakeCommandRunner(commands, missing=["journalctl"])
    return make_context(tmp_path, commands=runner, config=config or Config(shm_size="64m"),
                        files={"/proc/sys/vm/overcommit_memory": "0\n", **(files or {})})


def config_file(ctx, text: str) -> dict[str, str]:
    return {ctx.paths.config_file: text}


# -- crash.last-launch -----------------------------------------------------------------

def test_no_launch_yet_is_skipped(tmp_path):
    result = crash_checks.LastLaunchCrash().run(context(tmp_path))
    assert (result.status, result.summary) == (Status.SKIP, NO_RECORDS)


def test_last_launch_with_64m_fails_quoting_the_line_and_offers_2g(tmp_path):
    ctx = context(tmp_path, INSPECT_MISSING, CEF_NO_GREP)
    write_tree(tmp_path, config_file(ctx, 'shm_size = "64m"\n'))
    add_launch(tmp_path, ctx, "20261129-225000-aaaaaa")
    result = crash_checks.LastLaunchCrash().run(ctx)
    assert (result.check_id, result.status, result.severity) == ("crash.last-launch", Status.FAIL, Severity.ERROR)
    assert result.messages[0].text == f'"{OOM}"'
    assert "launch 20261129-225000-aaaaaa" in result.messages[0].advice[0]
    assert result.facts["cause"] == "dev-shm" and result.facts["launch_id"] == "20261129-225000-aaaaaa"
    assert [f.id for f in result.fixes] == ["crash.shm-size"]
    assert result.facts["sources"] == [
        f"launch log {ctx.paths.launches_dir}/20261129-225000-aaaaaa/container.log: read (982 bytes, 10 lines "
        "parsed)",
        f"container {NAME}: missing (no such container (launches use --rm))",
        "libcef.so in spotify_pod: unavailable (the image has no grep)"]
    json.dumps(result.facts)


def test_applying_the_fix_turns_the_failure_into_a_pending_warning(tmp_path):
    """fix → recheck: the config now has shm_size = "2g"; the crash stays, but as settled."""
    commands = [INSPECT_MISSING, CEF_NO_GREP] * 2
    ctx = make_context(tmp_path, commands=FakeCommandRunner(commands, missing=["journalctl"]),
                       config=Config(shm_size="64m"), files={"/proc/sys/vm/overcommit_memory": "0\n"})
    write_tree(tmp_path, config_file(ctx, '# mine\nshm_size = "64m"\n'))
    add_launch(tmp_path, ctx, "20261129-225000-aaaaaa")
    first = crash_checks.LastLaunchCrash().run(ctx)
    (fix,) = first.fixes
    applied = apply(Candidate(first, fix), StepEnvironment.from_context(ctx))
    assert applied.ok
    assert ctx.probes.fs.read_text(ctx.paths.config_file) == '# mine\nshm_size = "2g"\n'
    again = crash_checks.LastLaunchCrash().run(ctx)  # the same ctx: its loaded config is stale
    assert (again.status, again.facts["cause"], again.facts["settled"], again.fixes) == (
        Status.WARN, "dev-shm", True, ())


def test_the_verdict_follows_the_launch_settings(tmp_path):
    """Same log, same exit: 64m and 2g launches are judged differently."""
    verdicts = {}
    for shm in ("64m", "2g"):
        root = tmp_path / shm
        ctx = context(root, INSPECT_MISSING, CEF_NO_GREP)
        write_tree(root, config_file(ctx, f'shm_size = "{shm}"\n'))
        add_launch(root, ctx, "20261129-225000-aaaaaa", shm=shm)
        result = crash_checks.LastLaunchCrash().run(ctx)
        assert result.status is Status.FAIL and result.facts["quote"] == OOM
        verdicts[shm] = (result.facts["cause"], result.facts["settings"]["shm_bytes"])
    assert verdicts == {"64m": ("dev-shm", 64 * 1024 ** 2), "2g": ("none-found", 2 * 1024 ** 3)}


def test_the_newest_launch_decides(tmp_path):
    ctx = context(tmp_path, INSPECT_MISSING)
    add_launch(tmp_path, ctx, "20261129-225000-aaaaaa")
    add_launch(tmp_path, ctx, "20261129-230000-bbbbbb", exit_code=0, log="2026-11-29T23:00:00Z stdout F bye\n",
               started=1_795_993_200.0)
    result = crash_checks.LastLaunchCrash().run(ctx)
    assert result.status is Status.OK
    assert result.summary == "launch 20261129-230000-bbbbbb: exited normally (status 0)"


def test_missing_launch_log_falls_back_to_the_journal(tmp_path, monkeypatch):
    monkeypatch.setattr(crash_sources, "now", lambda: 1_796_000_000.0)
    journal = FakeCommand(journal_argv(NAME, 1_796_000_000.0 - 7 * 86400),
                          stdout=(DATA / "crash_journal.txt").read_text())
    ctx = make_context(tmp_path, commands=[journal, INSPECT_MISSING, CEF_NO_GREP], config=Config(shm_size="64m"))
    record = add_launch(tmp_path, ctx, "20261129-225000-aaaaaa", started=1_795_992_660.0)  # 22:51:00..22:51:30Z
    ctx.probes.fs.unlink(record.log_path)
    result = crash_checks.LastLaunchCrash().run(ctx)
    assert result.status is Status.FAIL and result.facts["quote"] == OOM
    assert result.facts["logged_at"] == "2026-11-29T22:51:29+0000"


def test_diagnose_launch_is_the_launchers_entry_point(tmp_path):
    ctx = context(tmp_path, INSPECT_MISSING, CEF_NO_GREP)
    record = add_launch(tmp_path, ctx, "20261129-225000-aaaaaa", log=b"2026-11-29T22:51:29Z stdout F hi\n")
    result = diagnose_launch(ctx, record)
    assert (result.check_id, result.status, result.facts["event"]) == ("crash.last-launch", Status.FAIL,
                                                                      "silent-trap")
    assert SILENT_NOTE.format(sig="SIGTRAP") in result.facts["notes"]


def test_a_still_existing_container_of_the_launch_adds_its_inspect_data(tmp_path):
    inspect = json.loads((DATA / "crash_inspect_exited.json").read_text())
    ctx = context(tmp_path, CEF_NO_GREP)
    record = add_launch(tmp_path, ctx, "20261129-225000-aaaaaa", shm="64m")
    inspect[0]["HostConfig"]["LogConfig"]["Path"] = record.log_path
    inspect[0]["State"]["OOMKilled"] = True
    ctx.probes.cmd._commands.append(FakeCommand(("podman", "container", "inspect", NAME),
                                                stdout=json.dumps(inspect)))
    result = crash_checks.LastLaunchCrash().run(ctx)
    assert result.facts["settings"]["nofile"] == {"soft": 20000, "hard": 20000, "source": "podman inspect"}


# -- crash.history -----------------------------------------------------------------------

def test_history_is_a_warning_about_older_crashes(tmp_path):
    ctx = context(tmp_path)
    add_launch(tmp_path, ctx, "20261129-225000-aaaaaa")
    add_launch(tmp_path, ctx, "20261129-230000-bbbbbb", exit_code=0, log="2026-11-29T23:00:00Z stdout F bye\n",
               started=1_795_993_200.0)
    result = crash_checks.CrashHistory().run(ctx)
    assert (result.status, result.severity) == (Status.WARN, Severity.WARNING)
    assert result.summary.startswith("1 earlier crash(es): Spotify crashed: out of memory (size=262144)")
    assert "(launch 20261129-230000-bbbbbb later ran without crashing)" in result.messages[0].text
    assert [c["launch_id"] for c in result.facts["crashes"]] == ["20261129-225000-aaaaaa"]


def test_history_ok_when_only_the_newest_launch_exists(tmp_path):
    ctx = context(tmp_path)
    add_launch(tmp_path, ctx, "20261129-225000-aaaaaa")
    result = crash_checks.CrashHistory().run(ctx)
    assert (result.status, result.summary) == (Status.OK, "no crash in the 0 earlier launch(es) or the journal")


def test_history_reports_journal_crashes_outside_any_launch(tmp_path, monkeypatch):
    monkeypatch.setattr(crash_sources, "now", lambda: 1_796_000_000.0)
    journal = FakeCommand(journal_argv(NAME, 1_796_000_000.0 - 7 * 86400),
                          stdout=(DATA / "crash_journal.txt").read_text())
    ctx = make_context(tmp_path, commands=[journal])
    result = crash_checks.CrashHistory().run(ctx)
    assert result.status is Status.WARN and result.facts["journal_lines"] == [OOM]


# -- crash.container ---------------------------------------------------------------------

def _inspect(**state) -> FakeCommand:
    data = json.loads((DATA / "crash_inspect_exited.json").read_text())
    data[0]["State"].update(state)
    return FakeCommand(("podman", "container", "inspect", NAME), stdout=json.dumps(data))


LOGS = FakeCommand(("podman", "logs", "--timestamps", "--tail=5000", NAME),
                   stdout=(DATA / "crash_podman_logs.txt").read_text())


def test_no_leftover_container(tmp_path):
    result = crash_checks.LeftoverContainer().run(context(tmp_path, INSPECT_MISSING))
    assert (result.status, result.summary) == (Status.OK, f"no container named {NAME} is left over")


def test_podman_missing_skips_the_container_check(tmp_path):
    ctx = make_context(tmp_path, commands=FakeCommandRunner(missing=["podman"]))
    assert crash_checks.LeftoverContainer().run(ctx).status is Status.SKIP


def test_a_crashed_foreign_container_fails_with_its_own_settings(tmp_path):
    cef = FakeCommand(cef_argv("localhost/spotify_pod:latest"), stdout="", returncode=2)
    ctx = context(tmp_path, _inspect(), LOGS, cef)
    result = crash_checks.LeftoverContainer().run(ctx)
    assert (result.status, result.facts["quote"], result.facts["cause"]) == (Status.FAIL, OOM, "dev-shm")
    assert result.facts["settings"]["shm_source"] == "podman inspect ShmSize"
    assert result.facts["source"].startswith(f"container {NAME} (3f1c2a9b8d7e)")


def test_a_crashed_container_older_than_the_last_launch_is_history(tmp_path):
    cef = FakeCommand(cef_argv("localhost/spotify_pod:latest"), stdout="", returncode=2)
    ctx = context(tmp_path, _inspect(), LOGS, cef)
    add_launch(tmp_path, ctx, "20261130-100000-cccccc", exit_code=0, started=1_796_032_800.0,
               log="2026-11-30T10:00:00Z stdout F bye\n")
    result = crash_checks.LeftoverContainer().run(ctx)
    assert result.status is Status.WARN and result.summary.startswith("older than the last launch:")


def test_a_running_container_and_one_that_belongs_to_a_launch(tmp_path):
    ctx = context(tmp_path, _inspect(Status="running", ExitCode=0))
    assert crash_checks.LeftoverContainer().run(ctx).summary == f"container {NAME} is running"
    ctx = context(tmp_path / "b", _inspect(StartedAt="2026-11-29T22:50:05Z"))
    add_launch(tmp_path / "b", ctx, "20261129-225000-aaaaaa")
    assert crash_checks.LeftoverContainer().run(ctx).summary == (
        f"container {NAME} belongs to launch 20261129-225000-aaaaaa (see crash.last-launch)")


# -- conformance ---------------------------------------------------------------------------

@pytest.mark.parametrize("check", _checks_of(crash_checks), ids=lambda c: c.id)
def test_check_metadata(check):
    assert check.id.startswith("crash.") and check.category == "crash"
    doc = check.explanation()
    for heading in ("What it checks:", "Why it matters:", "Fix safety:"):
        assert heading in doc
    assert 0 < check.timeout_s <= 150

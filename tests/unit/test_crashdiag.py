"""Crash verdicts: each rule with its correlation inputs faked, the sources with fake commands."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotidoctor.config import Config, SetConfig
from spotidoctor.crash import launchlog
from spotidoctor.crash import sources as crash_sources
from spotidoctor.crash.causes import (
    SIZE_BUG,
    SIZE_HEAP,
    SIZE_SHM,
    SIZE_TRUNCATED,
    Cause,
    Strength,
    _without_ipc_none,
    read_size,
)
from spotidoctor.crash.cef import CefFacts
from spotidoctor.crash.container import ContainerInfo
from spotidoctor.crash.launches import container_matches, result_for, unattributed_journal
from spotidoctor.crash.launchlog import LaunchRecord
from spotidoctor.crash.lines import printable
from spotidoctor.crash.runopts import RunOptions, human, parse_run_argv, parse_size, parse_ulimit
from spotidoctor.crash.scan import Wrapper, scan_lines
from spotidoctor.crash.settings import Limit, Settings, settings_for
from spotidoctor.crash.sources import (
    SourceNote,
    cef_argv,
    container_logs,
    image_cef,
    inspect_container,
    journal_argv,
    journal_scan,
    next_launch_config,
    recent_records,
    scan_launch_log,
)
from spotidoctor.crash.verdict import SILENT_NOTE, SILENT_NOTE_LEGACY, TRAP_AFTER, Inputs, judge, signal_name
from spotidoctor.fixes import Applicability, Instruction
from spotidoctor.model import Severity, Status
from spotidoctor.probes.procs import Limit as ProcLimit
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeProcesses, make_context, write_tree
from spotidoctor.units import GiB, MiB

DATA = Path(__file__).resolve().parent.parent / "data"
OOM = "[1129/235959.123999:FATAL:memory.cc(40)] Out of memory. size=262144"
BROKER = "[1129/235959.123456:ERROR:broker_posix.cc(46)] Received unexpected number of handles"
UNLIMITED = Limit(None, None, "recorded by the launch")
M89 = CefFacts("89.0.4389.114", True, False)
M156 = CefFacts("156.0.8078.108", False, True)


def settings(**overrides) -> Settings:
    """A launch with nothing wrong: 2g /dev/shm, no limits, overcommit 0."""
    base = dict(shm_bytes=2 * GiB, shm_source="--shm-size=2g", ipc="private", address_space=UNLIMITED,
                nofile=Limit(524288, 524288, "podman's own limit, inherited"), overcommit=0)
    return Settings(**{**base, **overrides})


def inputs(*lines: str, exit_code: int | None = 133, s: Settings | None = None, nxt: Config | None = None,
           cef: CefFacts | None = None, finished: bool = True) -> Inputs:
    scan = scan_lines(lines)
    return Inputs("launch L1", "L1", exit_code, finished, scan, s or settings(), nxt or Config(shm_size="64m"),
                  lambda: cef)


def plan(fixes) -> list[tuple]:
    """Fix plans as comparable data: id, applicability, and each step's key/value or text."""
    def step(s):
        if isinstance(s, SetConfig):
            return ("set", s.key, s.value)
        if isinstance(s, Instruction):
            return ("say", s.text)
        return (s.kind, s.description)
    return [(f.id, f.applicability, tuple(step(s) for s in f.steps)) for f in fixes]


# -- small parsers ------------------------------------------------------------------------

@pytest.mark.parametrize("text,size", [("64m", 64 * MiB), ("2g", 2 * GiB), ("65536000", 65536000), ("1GiB", GiB),
                                       ("512MB", 512 * MiB), ("1.5g", int(1.5 * GiB)), ("64k", 65536),
                                       ("", None), (None, None), ("lots", None), ("-1", None)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("size,text", [(64 * MiB, "64 MiB"), (65536000, "62.5 MiB"), (2 * GiB, "2 GiB"),
                                       (None, "unlimited"), (100, "100 bytes")])
def test_human(size, text):
    assert human(size) == text


@pytest.mark.parametrize("text,parsed", [("nofile=1024:4096", ("nofile", 1024, 4096)),
                                         ("data=-1", ("data", None, None)),
                                         ("nofile=90", ("nofile", 90, 90)), ("nofile=x", None)])
def test_parse_ulimit(text, parsed):
    assert parse_ulimit(text) == parsed


@pytest.mark.parametrize("code,name", [(133, "SIGTRAP"), (132, "SIGILL"), (137, "SIGKILL"), (139, "SIGSEGV"),
                                       (1, None), (None, None), (128, None)])
def test_signal_names(code, name):
    assert signal_name(code) == name


LAUNCHER_ARGV = ("podman", "run", "--rm", "--name=spotify-container", "--pull=never", "--init", "--user=1500:1500",
                 "--cap-drop=all", "--security-opt=no-new-privileges", "--ipc=private", "--shm-size=64m",
                 "--log-driver=k8s-file", "--log-opt=path=/s/launches/L1/container.log", "--tz=local",
                 "--env=HOME=/home/spotify_user", "--volume=/tmp/.X11-unix/X0:/tmp/.X11-unix/X0:ro",
                 "--ulimit", "nofile=90:90", "--ulimit=data=1073741824:1073741824", "spotify_pod", "--print-oom",
                 "--exit=133")


def test_parse_the_launchers_argv():
    assert parse_run_argv(LAUNCHER_ARGV, "spotify_pod") == RunOptions(
        shm_size="64m", ipc="private", ulimits=("nofile=90:90", "data=1073741824:1073741824"),
        security_opts=("no-new-privileges",), command=("--print-oom", "--exit=133"))


@pytest.mark.parametrize("argv,field,value", [
    (("podman", "--runtime", "runc", "run", "--shm-size", "1g", "img"), "shm_size", "1g"),
    (("podman", "run", "--mount", "type=tmpfs,destination=/dev/shm,tmpfs-size=512m", "img"), "shm_mount_size",
     "512m"),
    (("podman", "run", "--tmpfs", "/dev/shm:rw,size=1g", "img"), "shm_mount_size", "1g"),
    (("podman", "run", "-v", "/srv/shm:/dev/shm", "img"), "shm_bind", True),
    (("podman", "run", "--security-opt", "seccomp=/etc/nomemfd.json", "img"), "seccomp", "/etc/nomemfd.json"),
    (("podman", "run", "-m", "512m", "img", "--memory=9g"), "memory", "512m"),
    (("podman", "run", "--ipc=none", "img"), "ipc", "none"),
])
def test_parse_argv_shapes(argv, field, value):
    assert getattr(parse_run_argv(argv, "img"), field) == value


# -- size= readings ------------------------------------------------------------------------

@pytest.mark.parametrize("size,precursors,bucket,notes", [
    (262144, False, "shm", (SIZE_SHM.format(size=262144),)),
    (26214, False, "shm", (SIZE_TRUNCATED.format(size=26214, full=262144),
                           SIZE_SHM.format(size=262144))),
    (0, False, "heap", (SIZE_HEAP,)),
    (2 ** 31, False, "size-bug", (SIZE_BUG.format(size=2 ** 31),)),
    (16384, False, "other", ()),
    (16384, True, "shm", (SIZE_SHM.format(size=16384),)),
    (393216, False, "shm", (SIZE_SHM.format(size=393216),)),
    (None, False, "unknown", ()),
])
def test_size_readings(size, precursors, bucket, notes):
    assert read_size(size, precursors) == (bucket, notes)


# -- out-of-memory verdicts -----------------------------------------------------------------

SHM_FIX = ("crash.shm-size", Applicability.SAFE, (("set", "shm_size", "2g"),))


def test_oom_with_a_64m_dev_shm_names_dev_shm_and_offers_a_bigger_one():
    v = judge(inputs(BROKER, OOM, s=settings(shm_bytes=64 * MiB, shm_source="--shm-size=64m")))
    assert (v.crashed, v.event, v.quote, v.exit_code, v.signal) == (True, "oom_terminate", OOM, 133, "SIGTRAP")
    assert (v.cause.key, v.cause.strength, v.cause.settled) == ("dev-shm", Strength.LIKELY, False)
    assert "64 MiB (--shm-size=64m)" in v.cause.text
    assert plan(v.fixes) == [SHM_FIX]
    assert v.also == () and v.evidence == (BROKER,)
    assert v.headline == "Spotify crashed: out of memory (size=262144), exit status 133 (SIGTRAP)"
    assert v.summary().endswith("likely cause: /dev/shm was only 64 MiB (--shm-size=64m)")


def test_oom_with_2g_dev_shm_and_no_limits_names_no_environmental_cause():
    v = judge(inputs(BROKER, OOM))
    assert v.cause.key == "none-found" and v.cause.strength is Strength.POSSIBLE
    assert "/dev/shm 2 GiB (--shm-size=2g)" in v.cause.text
    assert plan(v.fixes) == [("crash.disable-dev-shm-usage", Applicability.UNSAFE,
                              (("set", "spotify_args", ("--disable-dev-shm-usage",)),))]


def test_the_fix_already_in_the_config_settles_the_cause():
    v = judge(inputs(OOM, s=settings(shm_bytes=64 * MiB), nxt=Config(shm_size="2g")))
    assert v.cause.key == "dev-shm" and v.cause.settled and v.fixes == ()
    assert v.summary().endswith("(fixed in the config; launch again)")


@pytest.mark.parametrize("hard,lift,expected_plan", [
    (None, False, [("crash.lift-rlimit-as", Applicability.SAFE, (("set", "lift_rlimit_as", True),))]),
    (None, True, []),  # settled: the next launch lifts it
])
def test_soft_address_space_limit_is_lifted_by_config(hard, lift, expected_plan):
    s = settings(address_space=Limit(4 * GiB, hard, "recorded by the launch"))
    v = judge(inputs(OOM, s=s, nxt=Config(lift_rlimit_as=lift)))
    assert (v.cause.key, v.cause.strength, v.cause.settled) == ("rlimit-as", Strength.LIKELY, lift)
    assert plan(v.fixes) == expected_plan


def test_hard_address_space_limit_is_a_manual_fix_with_commands():
    s = settings(address_space=Limit(4 * GiB, 4 * GiB, "recorded by the launch"))
    v = judge(inputs("[1:FATAL:memory.cc(40)] Out of memory. size=0", s=s))
    assert v.cause.key == "rlimit-as"
    ((fix_id, applicability, steps),) = plan(v.fixes)
    assert (fix_id, applicability) == ("crash.raise-hard-rlimit-as", Applicability.MANUAL)
    assert any("ulimit -Hv" in text for _, text in steps)
    assert any("/etc/security/limits.conf" in text for _, text in steps)


def test_overcommit_2_is_manual_with_exact_commands():
    v = judge(inputs(OOM, s=settings(overcommit=2, commit_headroom=100 * MiB)))
    assert v.cause.key == "overcommit" and "100 MiB" in v.cause.text
    assert plan(v.fixes) == [("crash.overcommit", Applicability.MANUAL, (
        ("say", "sudo sysctl -w vm.overcommit_memory=0"),
        ("say", "echo 'vm.overcommit_memory = 0' | sudo tee /etc/sysctl.d/60-spotidoctor-overcommit.conf")))]


@pytest.mark.parametrize("size,primary,also", [
    (262144, "dev-shm", ("rlimit-as",)),  # a shared-memory request: /dev/shm first
    (0, "rlimit-as", ("dev-shm",)),  # a heap failure: the address space first
    (16384, "dev-shm", ("rlimit-as",)),  # unknown kind: the generic cause order
])
def test_size_decides_the_order_of_causes(size, primary, also):
    s = settings(shm_bytes=64 * MiB, address_space=Limit(8 * GiB, None, "recorded by the launch"))
    v = judge(inputs(f"[1:FATAL:memory.cc(40)] Out of memory. size={size}", s=s))
    assert (v.cause.key, tuple(c.key for c in v.also)) == (primary, also)


@pytest.mark.parametrize("podman_hard,expected", [
    (None, [("crash.ulimit-nofile", Applicability.SAFE, (("set", "ulimits", ("nofile=65536:65536",)),))]),
    (8192, [("crash.ulimit-nofile", Applicability.SAFE, (("set", "ulimits", ("nofile=8192:8192",)),))]),
    (2048, [("crash.raise-hard-nofile", Applicability.MANUAL, (("say", (
        "Your hard open-files limit is 2048; raise it (admin) in /etc/security/limits.conf, e.g. "
        "`<user> hard nofile 65536`, then log in again and check `ulimit -Hn`.")),))]),
])
def test_low_open_files_limit(podman_hard, expected):
    s = settings(nofile=Limit(90, 90, "--ulimit"), podman_nofile_hard=podman_hard)
    v = judge(inputs(OOM, s=s, nxt=Config(ulimits=("nofile=90:90",))))
    assert (v.cause.key, v.cause.strength) == ("nofile", Strength.LIKELY)
    assert plan(v.fixes) == expected


def test_data_limit_from_the_config_is_dropped():
    s = settings(data=Limit(GiB, GiB, "--ulimit"), data_from_config=True)
    v = judge(inputs("[1:FATAL:memory.cc(40)] Out of memory. size=0", s=s,
                     nxt=Config(ulimits=("nofile=65536:65536", "data=1073741824:1073741824"))))
    assert v.cause.key == "rlimit-data"
    assert plan(v.fixes) == [("crash.drop-ulimit-data", Applicability.SAFE,
                              (("set", "ulimits", ("nofile=65536:65536",)),))]


def test_custom_seccomp_is_only_possible():
    v = judge(inputs(OOM, s=settings(shm_bytes=64 * MiB, seccomp="/etc/nomemfd.json")))
    assert v.cause.key == "dev-shm" and [c.key for c in v.also] == ["seccomp"]
    assert v.also[0].strength is Strength.POSSIBLE


def test_absurd_size_is_a_bug_not_the_environment():
    v = judge(inputs("[1:FATAL:memory.cc(40)] Out of memory. size=18446744073709551615"))
    assert v.cause.key == "size-bug" and v.fixes == ()


def test_truncated_report_size_is_read_as_a_tile():
    v = judge(inputs("[1103/173130.577407:FATAL:memory.cc(40)] Out of memory. size=26214",
                     s=settings(shm_bytes=64 * MiB)))
    assert v.cause.key == "dev-shm"
    assert SIZE_TRUNCATED.format(size=26214, full=262144) in v.notes


def test_ipc_none_means_no_dev_shm():
    v = judge(inputs(OOM, s=settings(ipc="none", shm_bytes=64 * MiB),
                     nxt=Config(extra_run_args=("--ipc=none", "--tz=UTC"))))
    assert v.cause.key == "dev-shm" and v.cause.short == "no /dev/shm (--ipc=none)"
    assert plan(v.fixes) == [("crash.drop-ipc-none", Applicability.UNSAFE,
                              (("set", "extra_run_args", ("--tz=UTC",)),))]


@pytest.mark.parametrize("extra,kept", [(("--ipc", "none", "--tz=UTC"), ("--tz=UTC",)),
                                        (("--tz=UTC", "--ipc"), ("--tz=UTC", "--ipc"))])
def test_ipc_none_as_two_arguments(extra, kept):
    assert _without_ipc_none(extra) == kept


def test_ipc_none_from_somewhere_else_is_settled_for_the_config():
    v = judge(inputs(OOM, s=settings(ipc="none"), nxt=Config(extra_run_args=("--tz=UTC",))))
    assert v.cause.key == "dev-shm" and v.cause.settled and v.fixes == ()


def test_disable_dev_shm_usage_takes_dev_shm_out():
    v = judge(inputs(OOM, s=settings(shm_bytes=64 * MiB, dev_shm_disabled=True)))
    assert v.cause.key == "none-found" and v.fixes == ()


# -- the silent twin -----------------------------------------------------------------------

@pytest.mark.parametrize("code,signal", [(133, "SIGTRAP"), (132, "SIGILL")])
def test_silent_trap_gets_the_same_correlation_and_says_why_the_line_is_missing(code, signal):
    asked = []
    inp = inputs("standin: some stdout", exit_code=code, s=settings(shm_bytes=64 * MiB))
    inp = Inputs(**{**inp.__dict__, "cef": lambda: asked.append(1) or M156})
    v = judge(inp)
    assert (v.crashed, v.event, v.quote, v.signal) == (True, "silent-trap", None, signal)
    assert v.cause.key == "dev-shm" and v.cause.strength is Strength.POSSIBLE  # memfd build: /dev/shm is a fallback
    assert SILENT_NOTE.format(sig=signal) in v.notes
    assert any("Chromium 156.0.8078.108" in n for n in v.notes) and asked == [1]
    assert v.extra["chromium_version"] == "156.0.8078.108" and v.extra["logs_oom_line"] is False


def test_silent_trap_on_a_build_that_logs_ooms_says_so():
    v = judge(inputs(exit_code=133, cef=M89))
    assert SILENT_NOTE_LEGACY.format(sig="SIGTRAP") in v.notes


def test_silent_trap_with_the_address_space_limited():
    v = judge(inputs(exit_code=133, s=settings(address_space=Limit(32 * GiB, None, "recorded by the launch"))))
    assert v.cause.key == "rlimit-as" and "32 GiB" in v.cause.text


def test_silent_trap_after_too_many_open_files_quotes_those_lines_not_logged_nothing():
    # A real Chromium at 64 open files: ERROR lines with EMFILE, then exit 133 and no FATAL.
    emfile = CORPUS[27]
    v = judge(inputs("[1129/223436.000000:ERROR:socket.cc(1)] an earlier known error: Too many open files (24)",
                     emfile, emfile, exit_code=133, s=settings(nofile=Limit(64, 64, "--ulimit"))))
    assert (v.crashed, v.event, v.signal) == (True, "fd_exhausted", "SIGTRAP")
    assert v.quote is not None and "Too many open files (24)" in v.quote
    assert v.cause.key == "nofile" and v.cause.strength is Strength.LIKELY
    assert v.headline == "Spotify crashed: ran out of file descriptors, exit status 133 (SIGTRAP)"
    assert not any("logged nothing" in n or "out-of-memory line" in n for n in v.notes)
    assert TRAP_AFTER.format(sig="SIGTRAP") + " (logged 3 times)" in v.notes
    assert any("Too many open files" in e for e in v.evidence)


@pytest.mark.parametrize("limit_setting", [
    pytest.param({"nofile": Limit(64, 64, "--ulimit")}, id="open-files"),
    pytest.param({"address_space": Limit(32 * GiB, None, "recorded by the launch")}, id="address-space"),
])
def test_a_limit_verdict_does_not_also_say_shared_memory_ran_out(limit_setting):
    v = judge(inputs(OOM, exit_code=133, s=settings(**limit_setting)))
    assert v.cause.key in ("nofile", "rlimit-as")
    assert not any("shared memory ran out" in n for n in v.notes)


# -- the other killers ---------------------------------------------------------------------

CORPUS = (DATA / "crash_lines.txt").read_text().splitlines()


@pytest.mark.parametrize("text,code,event,cause,fix_ids", [
    pytest.param(CORPUS[20], 134, "fd_exhausted", "nofile", ["crash.ulimit-nofile"], id="emfile-check"),
    pytest.param("[1:FATAL:render_frame.cc(3)] Check failed: !frame_. ", 134, "check_failed", "check-failed", [],
                 id="check-failed"),
    pytest.param(CORPUS[33], 1, "no_display", "display", [], id="xauth"),
    pytest.param(CORPUS[32], 1, "no_display", "display", [], id="no-x-server"),
    pytest.param(CORPUS[31], 1, "gpu_crash", "gpu", ["crash.disable-gpu"], id="gpu-goodbye"),
    pytest.param(CORPUS[35], 133, "sandbox", "sandbox", ["crash.no-sandbox"], id="sandbox"),
    pytest.param(CORPUS[37], 139, "signal_dump", "segfault", [], id="signal-11"),
    pytest.param(CORPUS[44], 133, "shm_access", "dev-shm-access", [], id="dev-shm-perms"),
    pytest.param(CORPUS[30], 133, "thread_fail", "threads", [], id="threads"),
])
def test_other_killers(text, code, event, cause, fix_ids):
    v = judge(inputs(text, exit_code=code))
    assert (v.crashed, v.event, v.cause.key, [f.id for f in v.fixes]) == (True, event, cause, fix_ids)
    assert v.quote == printable(text)


@pytest.mark.parametrize("text,cause", [
    (CORPUS[34], "mit-shm"),  # an X error is a WARNING: the last known error, not a fatal line
    (CORPUS[41], "pulse"),
    (CORPUS[42], "pulse"),
    (CORPUS[45], "gpu"),
])
def test_exit_without_fatal_line_uses_the_last_known_error(text, cause):
    v = judge(inputs(text, exit_code=1))
    assert (v.crashed, v.cause.key, v.cause.strength) == (True, cause, Strength.POSSIBLE)
    assert v.headline.startswith("Spotify exited with exit status 1 and no fatal log line; the last known error:")


def test_exit_without_any_line_reports_code_and_signal():
    v = judge(inputs("standin: hello", exit_code=139))
    assert (v.event, v.cause.key, v.quote) == ("exit", "unknown", None)
    assert v.headline == "Spotify exited with exit status 139 (SIGSEGV) and no fatal log line"


def test_killed_137():
    assert judge(inputs(exit_code=137)).cause.key == "killed"
    v = judge(inputs(exit_code=137, s=settings(oom_killed=True, memory=512 * MiB)))
    assert (v.cause.key, v.cause.strength, v.cause.short) == ("memory-limit", Strength.LIKELY, "memory limit 512 MiB")


@pytest.mark.parametrize("code,event,crashed", [(0, "clean", False), (143, "stopped", False), (130, "stopped", False),
                                                (125, "podman-error", True), (None, "unknown", False)])
def test_plain_exits(code, event, crashed):
    v = judge(inputs(exit_code=code))
    assert (v.event, v.crashed) == (event, crashed)


def test_running_launch():
    assert judge(inputs(exit_code=None, finished=False)).event == "running"


def test_fatal_line_but_clean_exit_is_not_a_crash():
    v = judge(inputs(OOM, exit_code=0, s=settings(shm_bytes=64 * MiB)))
    assert not v.crashed and v.cause.key == "dev-shm"
    assert v.headline.startswith("Spotify logged an out-of-memory FATAL (size=262144) but exited normally")


def test_oom_beats_a_later_fatal_and_specific_beats_generic():
    v = judge(inputs(OOM, "[1:FATAL:x.cc(1)] Check failed: later", exit_code=134))
    assert v.event == "oom_terminate"
    assert judge(inputs(CORPUS[36], exit_code=134)).event == "sandbox"  # credentials.cc Check failed


# -- results -------------------------------------------------------------------------------

def _result(v):
    return result_for("crash.last-launch", Severity.ERROR, v, [])


def test_result_status_follows_the_verdict():
    assert _result(judge(inputs(OOM, s=settings(shm_bytes=64 * MiB)))).status is Status.FAIL
    assert _result(judge(inputs(OOM, s=settings(shm_bytes=64 * MiB), nxt=Config()))).status is Status.WARN
    assert _result(judge(inputs(OOM, exit_code=0))).status is Status.WARN
    clean = _result(judge(inputs(exit_code=0)))
    assert (clean.status, clean.fixes) == (Status.OK, ())


def test_result_quotes_the_line_with_when_it_happened():
    v = judge(Inputs("launch L1", "L1", 133, True, scan_lines(
        (DATA / "crash_k8s_partial.log").read_text().splitlines(), Wrapper.K8S),
        settings(shm_bytes=64 * MiB), Config(shm_size="64m")))
    result = _result(v)
    first = result.messages[0]
    assert first.text == f'"{OOM}"'
    assert first.advice == ("logged 2026-11-29T22:51:29.300000000+00:00; Chromium clock 11-29 23:59:59.123999; "
                            "launch L1; exit status 133 (SIGTRAP)",)
    assert result.facts["cause"] == "dev-shm" and result.facts["quote"] == OOM
    json.dumps(result.facts)  # JSON-ready


# -- settings from a launch record -----------------------------------------------------------

def _record(ctx, **overrides) -> LaunchRecord:
    directory = f"{ctx.paths.launches_dir}/20261129-235959-abc123"
    values = dict(launch_id="20261129-235959-abc123", directory=directory, started=1_764_460_000.0,
                  argv=LAUNCHER_ARGV, image="spotify_pod", container_name="spotify-container", shm_size="64m",
                  rlimits={"as": [None, None], "data": [None, None], "nofile": [1024, 524288]},
                  host={"vm.overcommit_memory": 0}, ended=1_764_460_030.0, exit_code=133)
    return LaunchRecord(**{**values, **overrides})


def test_settings_from_record_host_and_fs(tmp_path):
    ctx = make_context(tmp_path, files={
        "/proc/meminfo": "MemTotal: 1 kB\nCommitLimit:     2000000 kB\nCommitted_AS:    1000000 kB\n",
        "/proc/self/cgroup": "0::/user.slice/user-1600.slice/session-3.scope\n",
        "/sys/fs/cgroup/user.slice/user-1600.slice/memory.max": "3221225472\n",
        "/sys/fs/cgroup/user.slice/memory.max": "max\n"})
    s = settings_for(ctx, _record(ctx), None, Config())
    assert s == Settings(shm_bytes=64 * MiB, shm_source="--shm-size=64m", ipc="private", address_space=UNLIMITED,
                         nofile=Limit(90, 90, "--ulimit"), podman_nofile_hard=524288,
                         data=Limit(GiB, GiB, "--ulimit"), data_from_config=False, overcommit=0,
                         commit_headroom=1000000 * 1024, cgroup_memory_max=3 * GiB)


def test_settings_prefer_inspect_and_fall_back_to_this_shell(tmp_path):
    procs = FakeProcesses(limits={"as": ProcLimit(4 * GiB, None), "nofile": ProcLimit(1024, 4096)})
    ctx = make_context(tmp_path, procs=procs, files={"/proc/sys/vm/overcommit_memory": "2\n"})
    info = ContainerInfo.from_inspect(json.loads((DATA / "crash_inspect_exited.json").read_text())[0])
    s = settings_for(ctx, None, info, Config())
    assert (s.shm_bytes, s.shm_source, s.overcommit) == (65536000, "podman inspect ShmSize", 2)
    assert s.nofile == Limit(20000, 20000, "podman inspect")
    assert s.address_space == Limit(4 * GiB, None, "this shell; not recorded by the launch")


def test_record_shm_size_when_the_argv_has_none(tmp_path):
    ctx = make_context(tmp_path)
    s = settings_for(ctx, _record(ctx, argv=("podman", "run", "spotify_pod"), shm_size="512m"), None,
                               Config())
    assert (s.shm_bytes, s.shm_source) == (512 * MiB, "shm_size=512m (launch record)")


def test_damaged_recorded_limits_are_ignored(tmp_path):
    ctx = make_context(tmp_path, procs=FakeProcesses(limits={}))
    s = settings_for(ctx, _record(ctx, rlimits={"as": "lots", "nofile": [1, True]}), None, Config())
    assert s.address_space is None and s.podman_nofile_hard is None


# -- sources ----------------------------------------------------------------------------------

def test_inspect_parses_podman_output_and_is_memoized(tmp_path):
    text = (DATA / "crash_inspect_exited.json").read_text()
    runner = FakeCommandRunner([FakeCommand(("podman", "container", "inspect", "spotify-container"), stdout=text)])
    ctx = make_context(tmp_path, commands=runner)
    info, note = inspect_container(ctx, "spotify-container")
    assert inspect_container(ctx, "spotify-container")[0] is info and len(runner.calls) == 1
    assert info == ContainerInfo(
        id="3f1c2a9b8d7e", name="spotify-container", image="localhost/spotify_pod:latest", status="exited",
        exit_code=133, started_at="2026-11-29T22:51:00.123456789Z", finished_at="2026-11-29T22:51:30.987654321Z",
        shm_size=65536000, ipc_mode="shareable", ulimits={"nofile": (20000, 20000), "nproc": (32768, 32768)},
        log_path="/home/alice/.local/share/containers/storage/overlay-containers/3f1c2a9b8d7e/userdata/ctr.log")
    assert note.text() == "container spotify-container: read (exited, exit 133)"


@pytest.mark.parametrize("command,state", [
    (FakeCommand(("podman", "container", "inspect", "x"), stderr="Error: no such container x", returncode=125),
     "missing"),
    (FakeCommand(("podman", "container", "inspect", "x"), timed_out=True), "timeout"),
    (FakeCommand(("podman", "container", "inspect", "x"), stdout="not json"), "error"),
])
def test_inspect_failures_are_facts(tmp_path, command, state):
    info, note = inspect_container(make_context(tmp_path, commands=[command]), "x")
    assert info is None and note.state == state


def test_no_podman_is_a_fact(tmp_path):
    ctx = make_context(tmp_path, commands=FakeCommandRunner(missing=["podman", "journalctl"]))
    assert inspect_container(ctx, "x")[1].state == "unavailable"
    assert journal_scan(ctx)[1].state == "unavailable"
    assert image_cef(ctx, "img")[1].state == "unavailable"


def test_container_logs_are_streamed_through_the_scanner(tmp_path):
    argv = ("podman", "logs", "--timestamps", "--tail=5000", "spotify-container")
    ctx = make_context(tmp_path, commands=[FakeCommand(argv, stdout=(DATA / "crash_podman_logs.txt").read_text())])
    scan, note = container_logs(ctx, "spotify-container")
    assert scan.latest["oom_terminate"].line.logged_at == "2026-11-29T22:51:23.500000000Z" and note.state == "read"


def test_journal_is_bounded_by_time_and_count(tmp_path, monkeypatch):
    monkeypatch.setattr(crash_sources, "now", lambda: 1_764_460_100.0)
    argv = ("journalctl", "--user", "--no-pager", "--quiet", "--output=short-iso", "--since=@1763855300",
            "--lines=2000", "CONTAINER_NAME=spotify-container", "+", "SYSLOG_IDENTIFIER=spotify")
    assert journal_argv("spotify-container", 1_764_460_100.0 - 7 * 86400) == argv
    ctx = make_context(tmp_path, commands=[FakeCommand(argv, stdout=(DATA / "crash_journal.txt").read_text())])
    scan, note = journal_scan(ctx)
    assert scan.counts == {"oom_terminate": 1, "mojo_broker": 1} and note.state == "read"
    failing = make_context(tmp_path, commands=[FakeCommand(argv, stderr="No journal files were found.",
                                                           returncode=1)])
    assert journal_scan(failing)[1] == SourceNote("user journal", "unavailable",
                                                                      "No journal files were found.")


@pytest.mark.parametrize("stdout,rc,facts,detail", [
    ((DATA / "crash_cef_grep_m89.txt").read_text(), 0, M89, "89.0.4389.114"),
    ((DATA / "crash_cef_grep_m156.txt").read_text(), 2, M156, "156.0.8078.108"),  # some paths missing: rc 2
    ("", 127, None, "the image has no grep"),
    ("", 2, None, "no libcef.so at the usual paths"),
    ("", 125, None, "image not available locally"),
])
def test_libcef_facts_from_the_image(tmp_path, stdout, rc, facts, detail):
    argv = cef_argv("spotify_pod")
    assert argv[:8] == ("podman", "run", "--rm", "--pull=never", "--network=none", "--cap-drop=all",
                        "--entrypoint=grep", "spotify_pod")
    ctx = make_context(tmp_path, commands=[FakeCommand(argv, stdout=stdout, returncode=rc)])
    got, note = image_cef(ctx, "spotify_pod")
    assert (got, note.detail) == (facts, detail)


def test_launch_log_source(tmp_path):
    ctx = make_context(tmp_path)
    record = _record(ctx)
    scan, note = scan_launch_log(ctx, record)
    assert scan is None and note.state == "missing"
    write_tree(tmp_path, {record.log_path: (DATA / "crash_k8s_partial.log").read_bytes()})
    scan, note = scan_launch_log(ctx, record)
    assert scan.counts["oom_terminate"] == 1 and note.detail == "982 bytes, 10 lines parsed"


def test_next_launch_config_is_read_fresh(tmp_path):
    ctx = make_context(tmp_path, config=Config(shm_size="64m"))
    assert next_launch_config(ctx).shm_size == "64m"  # no file: the loaded config
    write_tree(tmp_path, {ctx.paths.config_file: 'shm_size = "2g"\n'})
    assert next_launch_config(ctx).shm_size == "2g"
    write_tree(tmp_path, {ctx.paths.config_file: 'shm_size = [\n'})
    assert next_launch_config(ctx).shm_size == "64m"  # unreadable: the loaded config


def test_container_matches_a_record_by_log_path_or_start(tmp_path):
    ctx = make_context(tmp_path)
    record = _record(ctx)
    info = ContainerInfo("abc", "spotify-container", started_at="2025-11-29T23:46:50Z")
    assert container_matches(info, record)  # 10 s after the record's start
    assert not container_matches(ContainerInfo("abc", "spotify-container",
                                                         started_at="2025-11-30T23:46:50Z"), record)
    assert container_matches(ContainerInfo("abc", "other", log_path=record.log_path), record)


def test_unattributed_journal_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(crash_sources, "now", lambda: 1_796_000_000.0)
    journal = scan_lines((DATA / "crash_journal.txt").read_text().splitlines(), Wrapper.JOURNAL)
    ctx = make_context(tmp_path)
    inside = _record(ctx, started=1_795_992_600.0, ended=1_795_992_700.0)  # 2026-11-29T22:50:00Z .. 22:51:40Z
    outside = _record(ctx, started=1_700_000_000.0, ended=1_700_000_100.0)
    assert unattributed_journal(journal, [inside]) == []
    assert [h.signature for h in unattributed_journal(journal, [outside])] == ["oom_terminate"]


def test_cause_json_is_compact():
    cause = Cause("dev-shm", "text", fixes=(), short="s")
    assert cause.to_json() == {"key": "dev-shm", "short": "s", "text": "text", "strength": "likely",
                               "settled": False, "fixes": []}


def test_launch_record_round_trip_for_the_checks(tmp_path):
    ctx = make_context(tmp_path)
    launchlog.save(ctx.probes.fs, _record(ctx))
    assert recent_records(ctx)[0].argv == LAUNCHER_ARGV

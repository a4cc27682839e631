"""The launch supervisor's parts: the channel plan, opening and stopping channels, podman's output
through the terminal filter, signals while podman runs, the summary line (real subprocesses,
sockets and FIFOs; no podman, no servers: the integration tests launch for real)."""
from __future__ import annotations

import dataclasses
import io
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.backend.runargs import HostFacts, RunSpec, argv, run_argv
from spotidoctor.config import Config
from spotidoctor.launcher import podmanrun
from spotidoctor.launcher.channel import ChannelReport
from spotidoctor.launcher.channels import LaunchRefused, OpenChannels, Setting, open_channels, summary_line
from spotidoctor.launcher.plan import ChannelPlan, plan_channels
from spotidoctor.model import CheckResult, Status
from spotidoctor.probes.command import SubprocessRunner
from spotidoctor.testing import FakeCommandRunner, make_context

OSC52 = b"\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07"
TITLE = b"\x1b]0;pwned\x07"
CURSOR_UP = b"\x1b[2A"


# -- podman's output through the terminal filter --------------------------------------------------

def run_filtered(*script: str) -> tuple[int, bytes, bytes]:
    out: list[bytes] = []
    err: list[bytes] = []
    code = podmanrun.run_filtered(SubprocessRunner(), [sys.executable, "-c", "\n".join(script)], out.append,
                                  err.append)
    return code, b"".join(out), b"".join(err)


def test_output_reaches_the_terminal_as_text_only_and_the_exit_code_is_unchanged() -> None:
    code, out, err = run_filtered(
        "import os",
        f"os.write(1, {OSC52!r} + b'playing' + {TITLE!r} + b' track\\r\\n' + {CURSOR_UP!r} + b'next\\n')",
        "os.write(2, b'\\x1b]52;c;Zm9v\\x07warning: \\x9b31mred\\n')",
        "raise SystemExit(7)")
    assert code == 7
    assert out == b"playing track\nnext\n"
    assert err == b"warning: red\n"


def test_a_sequence_split_across_writes_is_still_removed() -> None:
    code, out, _ = run_filtered("import os, time", "os.write(1, b'a\\x1b]5')", "time.sleep(0.2)",
                                "os.write(1, b'2;c;eA==\\x07b\\n')")
    assert (code, out) == (0, b"ab\n")


def test_output_still_held_open_by_a_leftover_process_does_not_block_the_end() -> None:
    """conmon's cleanup may keep podman's stdout open after podman exited: the relay gives up
    after a short drain instead of waiting for it."""
    code, out, _ = run_filtered("import subprocess, sys",
                                "p = subprocess.Popen(['sleep', '30'])",  # inherits stdout, outlives us
                                "print('pid', p.pid, flush=True)", "raise SystemExit(3)")
    pid = int(out.split()[1])
    try:
        assert code == 3 and out.startswith(b"pid ")
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_missing_podman_is_status_127() -> None:
    assert podmanrun.run_filtered(SubprocessRunner(), ["definitely-not-podman-xyz"], print, print) == 127


def test_stream_writer_uses_the_descriptor_or_the_text_stream(tmp_path: Path) -> None:
    text = io.StringIO()
    podmanrun.stream_writer(text)(b"caf\xc3\xa9\n")
    assert text.getvalue() == "café\n"
    with open(tmp_path / "out", "w") as fh:
        fh.write("first ")
        podmanrun.stream_writer(fh)(b"second\n")  # what was printed before comes first
    assert (tmp_path / "out").read_text() == "first second\n"


class ScriptedChild:
    """A Started stand-in whose wait() raises or answers as scripted; records signals."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.signals: list[int] = []
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None) -> int | None:
        self.waits.append(timeout)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    def signal(self, signum: int) -> None:
        self.signals.append(signum)


def test_ctrl_c_waits_for_podman_which_got_it_from_the_terminal() -> None:
    child = ScriptedChild(KeyboardInterrupt(), KeyboardInterrupt(), 130)  # pressed twice, even
    assert podmanrun._wait(child) == 130  # type: ignore[arg-type]
    assert child.signals == []  # a second SIGINT would make podman exit 1 ("container not running")


def test_sigterm_to_spotidoctor_stops_podman_then_unwinds() -> None:
    child = ScriptedChild(SystemExit(143), 143)
    with pytest.raises(SystemExit):
        podmanrun._wait(child)  # type: ignore[arg-type]
    assert child.signals == [signal.SIGTERM] and child.waits == [None, podmanrun.STOP_WAIT_S]


# -- the plan --------------------------------------------------------------------------------------

def plan_for(tmp_path: Path, config: Config | None = None, env: dict[str, str] | None = None,
             missing: tuple[str, ...] = (), network: str = "", results: tuple[CheckResult, ...] = ()) -> ChannelPlan:
    ctx = make_context(tmp_path, commands=FakeCommandRunner(missing=missing), config=config or Config(), env=env)
    return plan_channels(ctx, results, network)


def test_the_default_plan(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, env={"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-x"})
    assert (plan.audio, plan.x11_trust, plan.x11_fallback) == ("filtered", "untrusted", None)
    assert plan.dbus_address == "unix:abstract=/tmp/dbus-x" and plan.callback_port == 4381
    assert "no GLX" in plan.x11_means and "refused" in plan.audio_means


def test_dbus_is_off_without_a_bus_without_the_proxy_or_when_asked(tmp_path: Path) -> None:
    bus = {"DBUS_SESSION_BUS_ADDRESS": "unix:abstract=/tmp/dbus-x"}
    assert "no session bus" in (plan_for(tmp_path).dbus_note or "")
    missing = plan_for(tmp_path, env=bus, missing=("xdg-dbus-proxy",))
    assert missing.dbus_address is None and "xdg-dbus-proxy is not installed" in (missing.dbus_note or "")
    off = plan_for(tmp_path, config=Config(dbus=False), env=bus)
    assert off.dbus_address is None and "dbus = false" in (off.dbus_note or "")


def test_no_sign_in_relay_with_the_host_network_and_the_configured_port_otherwise(tmp_path: Path) -> None:
    assert plan_for(tmp_path, network="host").callback_port is None
    assert plan_for(tmp_path, config=Config(login_callback_port=4999)).callback_port == 4999


def test_the_x11_plan_follows_the_preflight(tmp_path: Path) -> None:
    fallback = CheckResult("x11.trust", Status.WARN, "no SECURITY", facts={
        "trust": "trusted", "security_offered": False, "fallback": "no SECURITY here"})
    plan = plan_for(tmp_path, results=(fallback,))
    assert (plan.x11_trust, plan.x11_fallback) == ("trusted", "no SECURITY here")
    assert plan_for(tmp_path, config=Config(x11_trust="trusted")).x11_trust == "trusted"


# -- opening and stopping -------------------------------------------------------------------------

@pytest.fixture
def runtime() -> Iterator[Path]:
    """A real private runtime dir (short: socket paths) with a stand-in for the user's pulse socket."""
    path = Path(tempfile.mkdtemp(prefix="sdl-", dir="/tmp"))
    (path / "pulse").mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path / "pulse" / "native"))
    server.listen(1)
    yield path
    server.close()
    shutil.rmtree(path, ignore_errors=True)


def channel_plan(**changes: object) -> ChannelPlan:
    plan = ChannelPlan(audio="filtered", x11_trust="untrusted", x11_fallback=None, dbus_address=None,
                       dbus_note=None, callback_port=None, callback_note=None)
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


def real_context(tmp_path: Path, runtime: Path, **env: str):  # type: ignore[no-untyped-def]
    ctx = make_context(tmp_path, env={"XDG_RUNTIME_DIR": str(runtime), **env})
    return dataclasses.replace(ctx, probes=dataclasses.replace(ctx.probes, cmd=SubprocessRunner()))


def test_open_channels_filters_audio_and_opens_links_then_stops_everything(tmp_path: Path, runtime: Path) -> None:
    lines: list[str] = []
    given = HostFacts(pulse_socket="/run/user/1600/pulse/pulse-socket", pulse_cookie="/c", pulse_client_conf="/conf")
    opened = open_channels(real_context(tmp_path, runtime), channel_plan(), (), container="c", log=lines.append)
    host = opened.apply(given)
    assert [c.name for c in opened.channels] == ["audio", "links"] and opened.warnings == []
    assert host.audio_filtered and host.pulse_cookie is None and host.pulse_client_conf is None
    assert host.pulse_socket is not None and host.pulse_socket.startswith(f"{runtime}/spotidoctor-pulse-")
    assert os.stat(host.pulse_socket).st_mode & 0o777 == 0o666
    args = argv(run_argv(RunSpec("img", "c", "/log", "/storage"), host))
    assert f"--volume={host.pulse_socket}:/run/spotidoctor/pulse-native" in args
    assert any(a.startswith("--volume=") and a.endswith(":/usr/bin/xdg-open:ro") for a in args)
    assert "--env=PULSE_SERVER=unix:/run/spotidoctor/pulse-native" in args
    assert not any("pulse-cookie" in a or "pulse-socket" in a for a in args)
    reports = opened.stop()
    assert [r.name for r in reports] == ["audio", "links"] and reports[0].record["connections"] == 0
    assert opened.stop() is reports  # idempotent
    assert sorted(os.listdir(runtime)) == ["pulse"]  # the filter's directory and the launch's workdir are gone


def test_filtered_audio_that_cannot_start_mounts_no_audio_at_all(tmp_path: Path, runtime: Path) -> None:
    ctx = real_context(tmp_path, runtime, PULSE_SERVER=f"unix:{runtime}/nothing-here")
    opened = open_channels(ctx, channel_plan(), (), container="c", log=print)
    host = opened.apply(HostFacts(pulse_socket="/run/user/1600/pulse/pulse-socket", pulse_cookie="/c"))
    assert (host.pulse_socket, host.pulse_cookie) == (None, None)  # no silent fall back to the direct socket
    assert opened.warnings[0].startswith("audio: the filter did not start (no pulse server socket at")
    opened.stop()


def test_direct_audio_keeps_the_preflights_socket(tmp_path: Path, runtime: Path) -> None:
    opened = open_channels(real_context(tmp_path, runtime), channel_plan(audio="direct"), (), container="c",
                           log=print)
    given = HostFacts(pulse_socket="/run/user/1600/pulse/pulse-socket", pulse_cookie="/c")
    assert opened.apply(given) == dataclasses.replace(given, channels=opened.apply(given).channels)
    assert [r.record for r in opened.stop()][0] == {"mode": "direct"}


def test_sockets_go_to_a_private_short_directory_when_the_runtime_dirs_path_is_too_long(tmp_path: Path) -> None:
    deep = Path(tempfile.mkdtemp(prefix="sdl-", dir="/tmp"))
    runtime = deep / ("r" * 70)
    runtime.mkdir(mode=0o700)
    (runtime / "pulse").mkdir()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(f"/tmp/{deep.name}-native")  # the user's server need not be below it
    server.listen(1)
    try:
        ctx = real_context(tmp_path, runtime, PULSE_SERVER=f"unix:/tmp/{deep.name}-native")
        opened = open_channels(ctx, channel_plan(), (), container="c", log=print)
        host = opened.apply(HostFacts())
        assert opened.warnings == [] and opened.sockets_dir is not None
        assert host.pulse_socket is not None and host.pulse_socket.startswith(f"{opened.sockets_dir}/")
        assert len(host.pulse_socket) <= 107 and os.stat(opened.sockets_dir).st_mode & 0o777 == 0o700
        opened.stop()
        assert not os.path.exists(opened.sockets_dir)
    finally:
        server.close()
        os.unlink(f"/tmp/{deep.name}-native")
        shutil.rmtree(deep)


def test_a_runtime_dir_others_can_write_refuses_the_launch(tmp_path: Path, runtime: Path) -> None:
    runtime.chmod(0o777)
    with pytest.raises(LaunchRefused, match="must be a directory of yours that others cannot write"):
        open_channels(real_context(tmp_path, runtime), channel_plan(), (), container="c", log=print)
    assert sorted(os.listdir(runtime)) == ["pulse"]


def test_one_channel_failing_to_stop_never_stops_the_others() -> None:
    stopped: list[str] = []

    class Broken:
        name = "D-Bus"

        def apply(self, host: HostFacts) -> HostFacts:
            return host

        def stop(self) -> ChannelReport:
            stopped.append(self.name)
            raise RuntimeError("proxy gone")

    class Fine(Setting):
        def stop(self) -> ChannelReport:
            stopped.append(self.name)
            return super().stop()

    opened = OpenChannels(None, [Fine("audio", ChannelReport("audio", 2, "audio 2")), Broken(),
                                 Fine("links", ChannelReport("links", 1, "links 1"))])
    reports = opened.stop()
    assert stopped == ["links", "D-Bus", "audio"]  # last started first
    assert [r.name for r in reports] == ["audio", "D-Bus", "links"]
    assert reports[1].record == {"stop_failed": "RuntimeError: proxy gone"}


def test_summary_line_names_each_filtering_channel() -> None:
    reports = [ChannelReport("display", 0, "untrusted X cookie revoked"),
               ChannelReport("audio", 3, "audio 3 (LOAD_MODULE ×2, SET_DEFAULT_SINK ×1)"),
               ChannelReport("D-Bus", 0, "D-Bus 0"), ChannelReport("links", 1, "links 1"),
               ChannelReport("sign-in", 0, "sign-in 0 relayed")]
    assert summary_line(reports, "/l") == ("Refused by the channels: audio 3 (LOAD_MODULE ×2, SET_DEFAULT_SINK ×1), "
                                           "D-Bus 0, links 1 (log: /l)")
    assert summary_line([], "/l").startswith("Channels: none")

"""Advice that fits the session: the command that starts or restarts the audio server depends
on whether a systemd user manager runs and on PulseAudio vs PipeWire."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.checks.pulse.services import (
    PA_START,
    PA_SYSTEMD_START,
    PW_START,
    PW_SYSTEMD_RESTART,
    audio_session,
    user_manager_running,
)
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.probes.pulse import ConnectOutcome, PulseUnreachable, ServerKind
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context
from tests.unit.test_pulse_checks import NATIVE, FakePulse, context, run

UID = 1000


@pytest.fixture
def manager_socket(tmp_path: Path) -> Iterator[Path]:
    """The user manager's private socket, as systemd --user makes it (a real socket file)."""
    path = tmp_path / f"run/user/{UID}/systemd/private"
    path.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    yield path
    listener.close()


def ctx_with(tmp_path: Path, commands: list[FakeCommand], missing: tuple[str, ...] = ()) -> Context:
    return make_context(tmp_path, commands=FakeCommandRunner(commands, missing=missing),
                        env={"XDG_RUNTIME_DIR": f"/run/user/{UID}"})


def running(state: str = "running") -> FakeCommand:
    return FakeCommand(("systemctl", "--user", "is-system-running"), stdout=state + "\n")


def test_without_a_user_manager_pulseaudio_is_started_by_hand_and_kept_running(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, [], missing=("pipewire-pulse",))
    advice = audio_session(ctx).advice(restart=False)
    assert advice[0] == f"Start PulseAudio: `{PA_START}`"
    assert "exit-idle-time = -1" in advice[1] and "~/.config/pulse/daemon.conf" in advice[1]
    assert not any("systemctl" in line for line in advice)
    assert ctx.probes.cmd.calls == []  # no socket, so systemctl is not even asked


def test_with_a_user_manager_systemctl_starts_the_units(tmp_path: Path, manager_socket: Path) -> None:
    ctx = ctx_with(tmp_path, [running("degraded")], missing=("pipewire-pulse",))
    assert audio_session(ctx).advice(restart=False) == (f"Start PulseAudio: `{PA_SYSTEMD_START}`",)


def test_a_stale_manager_socket_is_not_a_manager(tmp_path: Path, manager_socket: Path) -> None:
    ctx = ctx_with(tmp_path, [FakeCommand(("systemctl", "--user", "is-system-running"), stdout="offline\n",
                                          returncode=1)])
    assert not user_manager_running(ctx)


def test_pipewire_without_a_user_manager_starts_its_three_programs(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, [], missing=("pulseaudio",))
    advice = audio_session(ctx).advice(restart=False)
    assert advice[0] == f"Start PipeWire: `{PW_START}`" and "wireplumber" in advice[1]


def test_the_running_servers_kind_wins_and_restart_commands_follow_it(tmp_path: Path, manager_socket: Path) -> None:
    ctx = ctx_with(tmp_path, [running()])
    assert audio_session(ctx, ServerKind.PIPEWIRE).advice(restart=True) == (
        f"Restart PipeWire: `{PW_SYSTEMD_RESTART}`",)


def test_both_installed_with_a_manager_the_enabled_socket_unit_decides(tmp_path: Path, manager_socket: Path) -> None:
    ctx = ctx_with(tmp_path, [running(), FakeCommand(("systemctl", "--user", "is-enabled", "pipewire-pulse.socket"),
                                                      stdout="disabled\n", returncode=1),
                              FakeCommand(("systemctl", "--user", "is-enabled", "pulseaudio.socket"),
                                          stdout="enabled\n")])
    assert audio_session(ctx).kind is ServerKind.PULSEAUDIO


def test_both_installed_without_a_manager_names_both(tmp_path: Path) -> None:
    (line, keep) = audio_session(ctx_with(tmp_path, [])).advice(restart=False)
    assert f"`{PA_START}` (PulseAudio) or `{PW_START}` (PipeWire)" in line
    assert "PulseAudio" in keep and "PipeWire" in keep


# -- through pulse.server ------------------------------------------------------------------------

def advice_of(tmp_path: Path, error: ProbeUnavailable, sockets: tuple[str, ...]) -> tuple[str, ...]:
    result = run(context(tmp_path, FakePulse.pulseaudio(error=error), sockets=sockets), "pulse.server")
    return result["pulse.server"].messages[0].advice


@pytest.mark.parametrize("sockets", [(), (NATIVE,)], ids=["no-server", "stale-socket"])
def test_pulse_server_advice_fits_a_session_without_a_user_manager(tmp_path: Path, sockets: tuple[str, ...]) -> None:
    advice = advice_of(tmp_path, PulseUnreachable("x: Connection refused", ConnectOutcome.REFUSED), sockets)
    assert any(PA_START in line for line in advice)
    assert not any("systemctl" in line for line in advice)

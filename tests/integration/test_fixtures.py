"""The real servers the integration suite relies on actually run (and are torn down)."""
from __future__ import annotations

import os
import subprocess

from tests import servers


def test_xvfb_requires_its_cookie(xserver: servers.XServer) -> None:
    env = {**os.environ, "DISPLAY": xserver.display}
    with_cookie = subprocess.run(["xdpyinfo"], env={**env, "XAUTHORITY": str(xserver.xauthority)},
                                 capture_output=True, text=True)
    without = subprocess.run(["xdpyinfo"], env={**env, "XAUTHORITY": "/nonexistent"},
                             capture_output=True, text=True)
    assert with_cookie.returncode == 0 and f"name of display:    {xserver.display}" in with_cookie.stdout
    assert without.returncode != 0


def test_pulseaudio_is_real_pulseaudio(pulseaudio: servers.PulseServer) -> None:
    info = pulseaudio.pactl("info")
    assert "Server Name: pulseaudio" in info.stdout
    assert "Default Sink: testsink" in info.stdout


def test_pipewire_pulse_is_pipewire(pipewire: servers.PulseServer) -> None:
    info = pipewire.pactl("info")
    assert "Server Name: PulseAudio (on PipeWire" in info.stdout
    assert (pipewire.runtime_dir / "pipewire-0").is_socket()


def test_standin_image_runs_as_uid_1500(standin_image: str) -> None:
    done = subprocess.run(["podman", "run", "--rm", "--network", "none", standin_image, "/usr/bin/id", "-u"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1500"

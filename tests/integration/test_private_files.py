"""Files spotidoctor writes go only into directories it owns with private modes (issue 13, item 6):
against a real PulseAudio and the real CLI, a pre-made ``$XDG_RUNTIME_DIR/spotidoctor`` that is
world-writable, or owned by another uid (made with ``podman unshare chown``), is refused with a
clear message and no cookie copy lands in it; a state directory swapped for a symlink is refused
by ``fix`` before anything is written. The cookie copy is the direct audio mode's (an opt-in;
the default filtered mode hands the container no cookie at all)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

FAST = ("--ignore", "pulse.container-access")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    config = Path(env["HOME"]) / "direct-audio.toml"
    config.write_text('audio = "direct"\n')
    return subprocess.run([sys.executable, "-m", "spotidoctor", "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def runtime(pulseaudio: servers.PulseServer) -> Iterator[Path]:
    path = pulseaudio.runtime_dir / "spotidoctor"
    yield path
    subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(path)], timeout=60)


def test_a_world_writable_runtime_dir_gets_no_cookie(pulseaudio: servers.PulseServer, runtime: Path) -> None:
    runtime.mkdir()
    runtime.chmod(0o777)
    done = cli(pulseaudio.env, "fix", "pulse", *FAST)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{runtime} is open to other users (mode 0777; needs 0700): refusing to write into it" in done.stdout
    assert os.listdir(runtime) == []  # no cookie copy, no client config


def test_a_runtime_dir_of_another_uid_gets_no_cookie(pulseaudio: servers.PulseServer, runtime: Path,
                                                     podman: str) -> None:
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    subprocess.run(["podman", "unshare", "chown", "1500:1500", "--", str(runtime)], check=True, timeout=60)
    owner = os.stat(runtime).st_uid
    assert owner != os.getuid()
    done = cli(pulseaudio.env, "fix", "pulse", *FAST)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{runtime} belongs to uid {owner}, not to you (uid {os.getuid()}): refusing to write into it" in done.stdout
    assert os.listdir(runtime) == []


def test_a_symlinked_state_dir_stops_fix_before_anything_is_written(pulseaudio: servers.PulseServer,
                                                                    tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    state_home = tmp_path / "state"
    state_home.mkdir()
    (state_home / "spotidoctor").symlink_to(elsewhere)
    env = {**pulseaudio.env, "XDG_STATE_HOME": str(state_home)}
    done = cli(env, "fix", "pulse", *FAST)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{state_home}/spotidoctor is not a directory (a symlink?): refusing to write into it" in done.stderr
    assert os.listdir(elsewhere) == []

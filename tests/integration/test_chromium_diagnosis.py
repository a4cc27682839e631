"""Crash diagnosis against a real Chromium (the engine inside Spotify) launched by `spotidoctor
launch`: at 64 open files it dies with a trap after logging `Too many open files`, and the
verdict must quote those lines (not "logged nothing"); killed with SIGKILL it leaves its profile
lock in the storage, and thanks to the stable container host name the next launch clears that
lock itself and shows its window.

The profile lives in the persistent storage for these tests (``STANDIN_PROFILE``, see
tests/chromium.py), as Spotify's does.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import servers, witness
from tests.integration.test_launch_standin import LaunchSetup, podman_store, prepare, write_config  # noqa: F401
from tests.launched import running_launch

pytestmark = pytest.mark.timeout(1800)  # the Chromium image may have to be built first

START_TIMEOUT_S = 120
PROFILE = "/home/spotify_user/.cache/spotify/chromium"


def cleanup(setup: LaunchSetup) -> None:
    subprocess.run(["podman", "rm", "--force", "--ignore", setup.name], capture_output=True, timeout=120,
                   env=setup.env)
    subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(setup.storage)], capture_output=True, timeout=120)


def test_chromium_out_of_file_descriptors_is_named_with_its_own_log_lines(
        chromium_image: str, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml", 'ulimits = ["nofile=64:64"]\n')
    try:
        # --no-check: the preflight would otherwise apply crash.launch-settings' fix (more files).
        done = setup.launch(chromium_image, "--config", str(config), "--no-check")
    finally:
        cleanup(setup)
    output = done.stdout + done.stderr
    assert done.returncode not in (0, 130, 143), output  # Chromium did not survive 64 files
    assert "Too many open files" in output, output
    [record] = setup.records()
    assert record["exit_code"] == done.returncode
    assert "ran out of file descriptors" in output, output
    assert "logged nothing" not in output and "shared memory ran out" not in output, output


def test_a_chromium_killed_with_sigkill_leaves_a_lock_that_the_next_launch_clears(
        chromium_image: str, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml", f'extra_run_args = ["--env=STANDIN_PROFILE={PROFILE}"]\n')
    lock = setup.storage / "cache" / "chromium" / "SingletonLock"
    args = ("--network", "none", "--storage-dir", str(setup.storage), "--config", str(config))
    try:
        with running_launch(setup.env, chromium_image, setup.name, *args):
            witness.wait_for_window(xserver.env(), witness.of_class("chromium"), START_TIMEOUT_S, "Chromium window")
            # In the launch's own environment: its private runtime dir keeps runc's state.
            killed = subprocess.run(["podman", "kill", "--signal", "KILL", setup.name], capture_output=True,
                                    text=True, timeout=60, env=setup.env)
            assert killed.returncode == 0, killed.stderr
        left = subprocess.run(["podman", "unshare", "readlink", str(lock)], capture_output=True, text=True,
                              timeout=60).stdout.strip()
        assert left.startswith("spotify-"), left  # the stale lock names the stable host name

        with running_launch(setup.env, chromium_image, setup.name, *args) as second:
            window = witness.wait_for_window(xserver.env(), witness.of_class("chromium"), START_TIMEOUT_S,
                                             "Chromium window after a killed launch")
        assert window.width > 0
        assert "profile appears to be in use" not in second.output, second.output
    finally:
        cleanup(setup)
    assert len(setup.records()) == 2

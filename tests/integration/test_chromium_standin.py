"""A real Chromium (Debian's chromium, the engine inside Spotify) launched by `spotidoctor launch`
on Xvfb + PulseAudio: its window appears on the display and its WebAudio tone is a live,
uncorked stream on the sound server; `podman stop` ends it.

The host side is prepared the way the other areas' fixes leave it (tests/integration/
test_launch_standin.py's ``prepare``); the witnesses (tests/witness.py) only look from the
host, so they keep working when X and audio reach the container by other paths.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import servers, witness
from tests.chromium import WINDOW_TITLE
from tests.integration.test_launch_standin import LaunchSetup, podman_store, prepare  # noqa: F401

START_TIMEOUT_S = 120


def start_launch(setup: LaunchSetup, image: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "spotidoctor", "launch", "--image", image, "--network", "none", "--yes",
            "--storage-dir", str(setup.storage), "--container-name", setup.name]
    return subprocess.Popen(argv, env=setup.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_container(setup: LaunchSetup, launch: subprocess.Popen[str]) -> str:
    """`podman stop` with the launch's own environment: its podman runs with the pulse server's
    private runtime dir, where runc keeps the container's state."""
    subprocess.run(["podman", "stop", "--time", "10", setup.name], env=setup.env, capture_output=True, timeout=120)
    try:
        output, _ = launch.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        launch.kill()
        output, _ = launch.communicate(timeout=30)
        output += "\n(test: the launch did not end after podman stop and was killed)"
    return output


def test_chromium_shows_a_window_and_plays_an_uncorked_stream(
        chromium_image: str, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    launch = start_launch(setup, chromium_image)
    try:
        window = witness.wait_for_window(xserver.env(), witness.of_class("chromium"), START_TIMEOUT_S,
                                         "Chromium window")
        stream = witness.wait_for_live_stream(pulseaudio, witness.from_binary("chromium"), START_TIMEOUT_S,
                                              "Chromium stream")
        assert witness.records_sound(pulseaudio), "the null sink's monitor recorded only silence"
        title = witness.wait_for_window(xserver.env(), lambda w: w.name == f"{WINDOW_TITLE}: running",
                                        START_TIMEOUT_S, "window titled with a running AudioContext")
    finally:
        output = stop_container(setup, launch)
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(setup.storage)], capture_output=True,
                       timeout=120)
    assert window.width >= 400 and window.height >= 300, window
    assert title.id == window.id or title.wm_class == window.wm_class
    assert stream.properties.get("application.process.user") == "spotify_user", stream
    assert "standin: chromium uid=1500" in output, output
    # Chromium ends cleanly on podman stop's SIGTERM (exit 0); 143 if the signal ends it.
    assert launch.returncode in (0, 143) and "test: the launch did not end" not in output, output
    left = [w for w in witness.windows(xserver.env()) if witness.of_class("chromium")(w)]
    assert not any(witness.is_viewable(xserver.env(), w) for w in left), left

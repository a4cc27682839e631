"""A real Chromium (Debian's chromium, the engine inside Spotify) launched by `spotidoctor launch`
with the defaults on Xvfb + PulseAudio: an untrusted X cookie (no GLX: software rendering) and
the playback-only audio filter. Its window appears on the display and its WebAudio tone is a
live, uncorked stream on the sound server; `podman stop` ends it.

Nothing is prepared on the host but podman's storage and the storage directory (no pulse
module, no cookie file): the launch's preflight and channels do the rest. The witnesses
(tests/witness.py) only look from the host.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import servers, witness
from tests.chromium import WINDOW_TITLE
from tests.integration.test_isolation import fresh_host
from tests.integration.test_launch_standin import _storage, podman_store  # noqa: F401
from tests.launched import running_launch

# Builds real images (a Debian base, apt from a local repository): longer than the default timeout.
pytestmark = pytest.mark.timeout(1800)

START_TIMEOUT_S = 120


def test_chromium_shows_a_window_and_plays_an_uncorked_stream(
        chromium_image: str, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    storage = tmp_path / "spotify-storage"
    _storage(storage, "isolated")
    setup = fresh_host(tmp_path, xserver, pulseaudio, podman_store, storage)
    modules_before = pulseaudio.pactl("list", "short", "modules").stdout
    try:
        with running_launch(setup.env, chromium_image, setup.name, "--network", "none", "--config",
                            str(setup.config), "--storage-dir", str(setup.storage)) as launch:
            window = witness.wait_for_window(xserver.env(), witness.of_class("chromium"), START_TIMEOUT_S,
                                             "Chromium window")
            stream = witness.wait_for_live_stream(pulseaudio, witness.from_binary("chromium"), START_TIMEOUT_S,
                                                  "Chromium stream")
            assert witness.records_sound(pulseaudio), "the null sink's monitor recorded only silence"
            title = witness.wait_for_window(xserver.env(), lambda w: w.name == f"{WINDOW_TITLE}: running",
                                            START_TIMEOUT_S, "window titled with a running AudioContext")
    finally:
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(setup.storage)], capture_output=True,
                       timeout=120)
    output = launch.output
    assert window.width >= 400 and window.height >= 300, window
    assert title.id == window.id or title.wm_class == window.wm_class
    assert stream.properties.get("application.process.user") == "spotify_user", stream
    assert "standin: chromium uid=1500" in output, output
    # Chromium ends cleanly on podman stop's SIGTERM (exit 0); 143 if the signal ends it.
    assert launch.returncode in (0, 143) and not launch.notes, output
    left = [w for w in witness.windows(xserver.env()) if witness.of_class("chromium")(w)]
    assert not any(witness.is_viewable(xserver.env(), w) for w in left), left
    [record] = setup.records()
    assert record["host"]["audio"] == "filtered" and record["host"]["x11_trust"] == "untrusted"  # type: ignore[index]
    assert record["channels"]["display"]["cookie"] == "revoked"  # type: ignore[index]
    assert record["channels"]["audio"]["connections"] >= 1  # type: ignore[index]
    assert pulseaudio.pactl("list", "short", "modules").stdout == modules_before  # no module for the container

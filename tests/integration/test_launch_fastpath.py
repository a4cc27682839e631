"""The launch fast path against the real servers: a second launch trusts the first one's
clean preflight, and every fault planted between the two is still caught before Spotify
starts (the stand-in prints ``standin: uid=...`` first thing, so its absence proves it never
ran): a wrong owner on one file deep in the cache, the pulse server stopped or restarted
(the default filtered audio), the dedicated socket's module unloaded (``audio = "direct"``),
the X cookie removed, the image replaced under the same name.

The launches run without ``--yes`` and without a terminal, so the preflight's safe fixes are
not applied and a fault refuses the launch (exit 1) instead of being repaired.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor import layout
from tests import servers
from tests.integration.test_launch_standin import (  # noqa: F401 - fixtures
    ORIGINAL_DESIGN,
    LaunchSetup,
    podman_store,
    prepare,
    remove_container_owned_storage,
    standin,
    write_config,
)

FAST = "nothing changed since the last clean launch"
STARTED = "standin: uid="
QUICK = ("--probe-shm",)  # the stand-in prints its uid and /dev/shm, and exits 0 at once


def launch(setup: LaunchSetup, image: str, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "spotidoctor", "launch", "-v", *extra, "--image", image, "--network", "none",
            "--config", str(config), "--storage-dir", str(setup.storage), "--container-name", setup.name,
            "--", *QUICK]
    return subprocess.run(argv, env=setup.env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def assert_fast(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, output(done)
    assert FAST in done.stdout and STARTED in done.stdout, output(done)
    assert "preflight (fast path)" in done.stdout, output(done)  # launch -v's phases


def assert_refused(done: subprocess.CompletedProcess[str], check_id: str) -> None:
    assert done.returncode == 1, output(done)
    assert STARTED not in done.stdout, output(done)
    assert FAST not in done.stdout and "Full preflight:" in done.stdout, output(done)
    assert check_id in done.stdout and "Launch refused" in done.stdout, output(done)


@pytest.fixture
def tagged(standin: str) -> Iterator[str]:  # noqa: F811
    """The stand-in under a name of this test's own, so replacing it touches no other test."""
    name = f"localhost/sdtest-fast-{uuid.uuid4().hex[:8]}:latest"
    subprocess.run(["podman", "tag", standin, name], check=True, capture_output=True, timeout=120)
    yield name
    subprocess.run(["podman", "rmi", "--force", name], capture_output=True, timeout=120)


def two_clean_launches(setup: LaunchSetup, image: str, config: Path) -> None:
    first = launch(setup, image, config)
    assert first.returncode == 0 and STARTED in first.stdout, output(first)
    assert "Full preflight: no record of a clean launch" in first.stdout, output(first)
    assert_fast(launch(setup, image, config))


def test_a_second_launch_is_fast_and_a_wrong_owner_deep_in_the_cache_is_caught(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    deep = setup.storage / "cache" / "Data" / "a1" / "b2"
    subprocess.run(["podman", "unshare", "sh", "-c", 'mkdir -p "$1" && touch "$1/chunk" && chown -R 1500:1500 "$2"',
                    "-", str(deep), str(setup.storage / "cache" / "Data")], check=True, timeout=60)
    config = write_config(tmp_path / "config.toml")
    two_clean_launches(setup, tagged, config)
    # Namespace root is the user: the file now belongs to the user, not the container user.
    subprocess.run(["podman", "unshare", "chown", "0:0", str(deep / "chunk")], check=True, timeout=60)
    done = launch(setup, tagged, config)
    assert_refused(done, "storage.ownership")
    assert "re-checked now and not passing: storage.ownership" in done.stdout, output(done)


def test_the_pulse_server_restarted_or_stopped_is_caught(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    """The default audio (the filter in front of the user's server): a restarted server is
    checked in full again before Spotify starts; a stopped one refuses the launch."""
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml")
    two_clean_launches(setup, tagged, config)
    servers.stop(pulseaudio.proc)
    restarted = servers.start_pulseaudio(tmp_path / "pulse")
    try:
        assert restarted.native_socket == pulseaudio.native_socket  # the same address, a new server
        done = launch(setup, tagged, config)
        assert done.returncode == 0 and STARTED in done.stdout, output(done)
        assert "Full preflight: something the preflight depends on changed" in done.stdout, output(done)
        assert_fast(launch(setup, tagged, config))
    finally:
        servers.stop(restarted.proc)
    assert_refused(launch(setup, tagged, config), "pulse.server")


def test_the_direct_sockets_module_unloaded_is_caught(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml", ORIGINAL_DESIGN)
    fixing = launch(setup, tagged, config, "--yes")  # the direct socket's client config (a fix: no stamp)
    assert fixing.returncode == 0, output(fixing)
    two_clean_launches(setup, tagged, config)
    socket = layout.pulse_socket(setup.paths)
    modules = pulseaudio.pactl("list", "modules", "short").stdout
    [index] = [line.split()[0] for line in modules.splitlines() if f"socket={socket}" in line]
    assert pulseaudio.pactl("unload-module", index).returncode == 0
    assert_refused(launch(setup, tagged, config), "pulse.container-socket")


def test_the_x_cookie_removed_is_caught(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml")
    two_clean_launches(setup, tagged, config)
    os.unlink(xserver.xauthority)
    assert_refused(launch(setup, tagged, config), "x11.")


def test_the_image_replaced_under_the_same_name_is_caught(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    servers.require("buildah")
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml")
    two_clean_launches(setup, tagged, config)
    # The same name, another image: its default user is root, which image.user refuses.
    container = subprocess.run(["buildah", "from", tagged], capture_output=True, text=True, check=True,
                               timeout=120).stdout.strip()
    try:
        subprocess.run(["buildah", "config", "--user", "0:0", container], check=True, capture_output=True, timeout=60)
        subprocess.run(["buildah", "commit", "--quiet", container, tagged], check=True, capture_output=True,
                       timeout=300)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, timeout=60)
    done = launch(setup, tagged, config)
    assert_refused(done, "image.user")
    assert "was replaced since the last clean launch" in done.stdout, output(done)


def test_a_container_of_that_name_is_still_refused_on_the_fast_path(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, tagged: str,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml")
    two_clean_launches(setup, tagged, config)
    subprocess.run(["podman", "create", "--name", setup.name, tagged], env=setup.env, check=True,
                   capture_output=True, timeout=120)
    try:
        done = launch(setup, tagged, config)
    finally:
        subprocess.run(["podman", "rm", "-f", setup.name], env=setup.env, capture_output=True, timeout=120)
    assert done.returncode == 1 and STARTED not in done.stdout, output(done)
    assert FAST in done.stdout and f"A container named {setup.name} exists already" in done.stdout, output(done)

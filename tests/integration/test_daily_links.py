"""Links and one instance against a real container: the stand-in runs with `--stay` under the
launch's own shape of `podman run` (--rm, --name, --init, the container uid), and records every
`--uri=` it gets in its storage. A link handed over while it runs arrives in that same
container, no second container starts, and `spotidoctor stop` ends it."""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from spotidoctor.daily.instance import State, find_instance
from spotidoctor.daily.launchparts import handoff
from spotidoctor.probes.command import SubprocessRunner
from tests import servers
from tests.daily import spotidoctor
from tests.standin import ensure_current

TRACK = "4uLU6hMCjMI75M1A2tKUQC"
URIS = "/home/spotify_user/.cache/spotify/standin-uris"


@pytest.fixture(scope="module")
def standin(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_current(tmp_path_factory.mktemp("standin-current"), standin_image)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture
def running(standin: str) -> Iterator[str]:
    name = f"sdtest-links-{uuid.uuid4().hex[:8]}"
    podman("run", "-d", "--rm", f"--name={name}", "--init", "--network=none", "--user=1500:1500",
           "--entrypoint=/usr/bin/spotify", standin, "--stay", "--uri=spotify:track:first")
    servers.wait_for(lambda: "standin: running" in podman("logs", name, check=False).stdout, 30, "the stand-in")
    yield name
    podman("rm", "--force", "--time", "0", name, check=False)


def recorded(name: str) -> list[str]:
    return podman("exec", name, "cat", URIS).stdout.splitlines()


def containers() -> list[str]:
    return podman("ps", "-a", "--format", "{{.Names}}").stdout.split()


def test_a_link_reaches_the_running_client_in_the_same_container(running: str) -> None:
    runner = SubprocessRunner()
    assert find_instance(runner, running).state is State.RUNNING
    before = containers()
    done = handoff(runner, running, [f"https://open.spotify.com/track/{TRACK}?si=x", "spotify:album:second"])
    assert (done.done, done.exit_code) == (True, 0), done.messages
    assert recorded(running) == ["spotify:track:first", f"spotify:track:{TRACK}", "spotify:album:second"]
    assert containers() == before
    plain = handoff(runner, running, [])
    assert plain.done and "already running" in plain.messages[0] and containers() == before


def test_a_refused_link_never_reaches_the_container(running: str) -> None:
    done = handoff(SubprocessRunner(), running, ["spotify:track:x y", "--uri=javascript:alert(1)"])
    assert done.done and len(done.messages) == 3  # two refusals, then "already running"
    assert recorded(running) == ["spotify:track:first"]


def test_stop_ends_it_and_then_a_link_goes_to_a_new_start(running: str) -> None:
    done = spotidoctor(dict(os.environ), "stop", "--container-name", running)
    assert done.returncode == 0 and done.stdout.startswith("Stopped Spotify"), done.stdout + done.stderr
    runner = SubprocessRunner()
    assert find_instance(runner, running).state is State.ABSENT  # --rm: gone
    again = spotidoctor(dict(os.environ), "stop", "--container-name", running)
    assert again.returncode == 0 and "not running" in again.stdout
    fresh = handoff(runner, running, [f"spotify:track:{TRACK}"])
    assert not fresh.done and fresh.link_args[0][0] == f"--uri=spotify:track:{TRACK}"

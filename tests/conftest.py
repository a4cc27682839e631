"""Shared fixtures. Integration fixtures start real servers as the current user."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.aptrepo import AptRepo, spotify_repo_fixture
from tests.chromium import ensure_chromium_image
from tests.debian import import_base, require_tarball
from tests.standin import build_standin, ensure_current


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[servers.XvfbStarter]:
    """Factory: ``server = xvfb()`` starts an Xvfb (``-noreset``) with its own cookie."""
    servers.require("Xvfb", "xauth", "xdpyinfo")
    starter = servers.XvfbStarter(tmp_path)
    yield starter
    starter.close()


@pytest.fixture
def xserver(xvfb: servers.XvfbStarter) -> servers.XServer:
    return xvfb()


@pytest.fixture
def pulseaudio(tmp_path: Path) -> Iterator[servers.PulseServer]:
    """A real PulseAudio daemon with a private runtime dir and a null sink ``testsink``."""
    servers.require("pulseaudio", "pactl")
    server = servers.start_pulseaudio(tmp_path / "pulse")
    yield server
    servers.stop(server.proc)
    servers.stop_podman_pause(server.env)  # a podman call with the private runtime dir started one


@pytest.fixture
def pipewire(tmp_path: Path) -> Iterator[servers.PulseServer]:
    """pipewire + wireplumber + pipewire-pulse (private D-Bus session) with ``testsink``."""
    servers.require("pipewire", "pipewire-pulse", "wireplumber", "dbus-run-session", "pactl")
    server = servers.start_pipewire(tmp_path / "pipewire")
    yield server
    servers.stop(server.proc)
    servers.stop_podman_pause(server.env)


@pytest.fixture(params=["pulseaudio", "pipewire"])
def any_pulse(request: pytest.FixtureRequest) -> servers.PulseServer:
    """Both pulse servers, one after the other."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def podman() -> str:
    """Rootless podman that can run containers (fails in CI when it cannot)."""
    servers.require("podman", "buildah")
    ok, err = servers.podman_works()
    if not ok:
        message = f"rootless podman does not work for this user: {err}"
        if servers.IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return "podman"


@pytest.fixture(scope="session")
def standin_image(podman: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``localhost/spotidoctor-standin:test``, built once per session FROM scratch."""
    if os.environ.get("SPOTIDOCTOR_REBUILD_STANDIN"):
        return build_standin(tmp_path_factory.mktemp("standin"))
    # A cached stand-in built from an older tests/standin.py is rebuilt (its hash label).
    return ensure_current(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def debian_base(podman: str) -> str:
    """``localhost/spotidoctor-debian:bookworm``: .ci/debian-base's tarball, imported once (no registry)."""
    return import_base(require_tarball())


@pytest.fixture(scope="session")
def spotify_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AptRepo]:
    """A signed Spotify-like apt repository with a stand-in spotify-client, served on 127.0.0.1."""
    servers.require("dpkg-deb", "apt-ftparchive", "gpg", "gpgconf", "ldd")
    yield from spotify_repo_fixture(tmp_path_factory.mktemp("aptrepo"))


@pytest.fixture(scope="session")
def chromium_image(debian_base: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``localhost/spotidoctor-chromium:test``: Debian's chromium as a Spotify stand-in playing a
    tone (tests/chromium.py), built with ``spotidoctor build --containerfile`` when it is not current."""
    return ensure_chromium_image(tmp_path_factory.mktemp("chromium"), debian_base)

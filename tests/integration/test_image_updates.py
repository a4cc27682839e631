"""Updates, rollback and "unknown is not absent" with real podman, buildah and gpgv.

The images are small stand-ins built by ``spotidoctor build`` FROM the stand-in image (no
network: ``--network none``): each carries the keyring of a local signed repository
(tests/aptrepo.py, on 127.0.0.1) at /usr/share/keyrings/spotify.gpg, the repository in its
``io.spotidoctor.spotify-repo`` label, and prints a Spotify version the build turns into the
version label, as the bundled recipe does. The same image name is built twice (an older
Spotify, then the repository's), so the second build keeps the first as ``:previous``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor.backend.recipe import LABEL_SPOTIFY_VERSION
from spotidoctor.paths import Paths
from tests import servers
from tests.aptrepo import VERSION, AptRepo, make_repo
from tests.integration.test_launch_standin import LaunchSetup, _podman_config, podman_store  # noqa: F401
from tests.standin import ensure_current

TIMEOUT_S = 600
OLD_VERSION = "1:1.2.40.599.g606b7f29"  # older than tests/aptrepo.py's VERSION in dpkg order


@dataclass(frozen=True)
class Built:
    image: str
    first_id: str  # the image built with OLD_VERSION (now IMAGE:previous)
    second_id: str  # the image built with VERSION (now IMAGE)
    env: dict[str, str]
    config: Path
    second_build: subprocess.CompletedProcess[str]


def spotidoctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def image_id(name: str) -> str:
    done = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True,
                          timeout=120)
    return done.stdout.strip() if done.returncode == 0 else ""


def label(name: str, key: str) -> str:
    done = subprocess.run(["podman", "image", "inspect", name], capture_output=True, text=True, check=True,
                          timeout=120)
    return str(json.loads(done.stdout)[0]["Labels"].get(key, ""))


def check(built: Built, *args: str, image: str | None = None) -> dict[str, object]:
    done = spotidoctor(built.env, "check", "image.update", "--json", "--config", str(built.config),
                       "--image", image or built.image, *args)
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}["image.update"]  # type: ignore[no-any-return]


def recipe(directory: Path, base: str, repo: AptRepo, version: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "spotify.gpg").write_bytes(repo.key.gpg("--export", repo.key.fingerprint).stdout)
    (directory / "Containerfile").write_text(
        f"FROM {base}\nCOPY spotify.gpg /usr/share/keyrings/spotify.gpg\n"
        f"LABEL io.spotidoctor.spotify-repo={repo.url}\n"
        f"RUN printf '%s\\n' 'spotidoctor-spotify-version={version}'\n")
    return directory / "Containerfile"


@pytest.fixture(scope="module")
def standin(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_current(tmp_path_factory.mktemp("standin-current"), standin_image)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AptRepo]:
    """A repository of this module's own (the tests re-sign it and stop it), served by a child process."""
    servers.require("dpkg-deb", "apt-ftparchive", "gpg", "gpgconf", "gpgv", "ldd")
    work = tmp_path_factory.mktemp("upd")
    served = make_repo(work)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def built(standin: str, repo: AptRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("updates")
    image = f"localhost/sdtest-update-{uuid.uuid4().hex[:8]}:test"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"), "NO_COLOR": "1"}
    old, new = recipe(tmp / "old", standin, repo, OLD_VERSION), recipe(tmp / "new", standin, repo, VERSION)
    config = tmp / "config.toml"
    config.write_text(f'containerfile = "{new}"\n')
    first = spotidoctor(env, "build", "--containerfile", str(old), "--image", image, "--network", "none")
    assert first.returncode == 0, first.stdout + first.stderr
    first_id = image_id(image)
    second = spotidoctor(env, "build", "--containerfile", str(new), "--image", image, "--network", "none")
    try:
        yield Built(image, first_id, image_id(image), env, config, second)
    finally:
        for name in (image, image.replace(":test", ":previous")):
            subprocess.run(["podman", "rmi", "--force", name], capture_output=True, timeout=300)


def test_a_rebuild_keeps_the_replaced_image_as_previous(built: Built) -> None:
    assert built.second_build.returncode == 0, built.second_build.stdout + built.second_build.stderr
    previous = built.image.replace(":test", ":previous")
    assert f"the image it replaced is {previous}" in built.second_build.stdout
    assert built.first_id and built.second_id and built.first_id != built.second_id
    assert image_id(previous) == built.first_id and image_id(built.image) == built.second_id
    assert label(previous, LABEL_SPOTIFY_VERSION) == OLD_VERSION
    assert label(built.image, LABEL_SPOTIFY_VERSION) == VERSION


def test_update_check_verifies_the_signed_repository_with_the_images_keyring(built: Built, repo: AptRepo) -> None:
    previous = built.image.replace(":test", ":previous")
    current = check(built, "--fresh")
    assert current["status"] == "ok", json.dumps(current)
    assert current["summary"].startswith(f"Spotify {VERSION} is the newest in {repo.url} (built 0 day(s) ago)")
    assert current["facts"]["signature_verified"] is True  # type: ignore[index]
    older = check(built, "--fresh", image=previous)
    assert older["status"] == "warn" and older["facts"]["update_available"] is True  # type: ignore[index]
    assert older["summary"] == f"Spotify {VERSION} is available; {previous} has {OLD_VERSION} (built 0 day(s) ago)"
    assert older["fixes"] == []  # NAME:previous is never built over
    keyrings = Path(built.env["XDG_STATE_HOME"]) / "spotidoctor" / "keyrings"
    assert {p.name for p in keyrings.iterdir()} == {f"{built.first_id}.gpg", f"{built.second_id}.gpg"}

    asked = len(repo.seen())
    assert asked and repo.seen()[0].startswith("GET /dists/stable/InRelease")
    again = check(built, image=previous)  # the result cache answers
    assert again["facts"]["update_available"] is True and len(repo.seen()) == asked  # type: ignore[index]
    assert any("the repository was asked" in m["text"] for m in again["messages"])  # type: ignore[union-attr,index]


def test_rollback_swaps_and_launch_runs_the_previous_image(
        built: Built, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    previous = built.image.replace(":test", ":previous")
    rolled = spotidoctor(built.env, "rollback", "--image", built.image)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert rolled.stdout.startswith(f"Rolled back: {built.image} is now {built.first_id[:12]}, Spotify {OLD_VERSION}")
    assert image_id(built.image) == built.first_id and image_id(previous) == built.second_id
    after = check(built, "--fresh")
    assert after["facts"]["update_available"] is True, json.dumps(after)  # type: ignore[index]

    env = {**pulseaudio.env, **xserver.env(), "NO_COLOR": "1"}
    _podman_config(env, podman_store)
    storage = tmp_path / "storage"
    storage.mkdir()
    setup = LaunchSetup(env, Paths.from_env(env, env["HOME"]), storage, f"sdtest-prev-{uuid.uuid4().hex[:8]}",
                        pulseaudio)
    try:
        launched = setup.launch(previous, "--config", str(built.config))
    finally:
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(storage)], capture_output=True, timeout=120)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert f"Starting Spotify from {previous}" in launched.stdout and "standin: x11 ok" in launched.stdout

    back = spotidoctor(built.env, "rollback", "--image", built.image)
    assert back.returncode == 0 and image_id(built.image) == built.second_id and image_id(previous) == built.first_id


def test_a_rotated_key_and_an_unreachable_repository(built: Built, repo: AptRepo) -> None:
    repo.sign_with(repo.new_key("Spotify Rotated Key"))
    rotated = check(built, "--fresh")
    assert rotated["status"] == "warn" and rotated["fixes"] == [], json.dumps(rotated)
    assert rotated["summary"] == "Spotify has rotated its repository signing key: a rebuild needs the new key"
    text = json.dumps(rotated["messages"])
    assert f"signed with key {repo.key.fingerprint}, which the image's keyring does not have" in text
    assert f"pubkey_{repo.key.key_id}.asc" in text
    repo.stop_serving()
    offline = check(built, "--fresh")
    assert offline["status"] == "warn" and offline["fixes"] == []
    assert offline["summary"] == f"cannot reach {repo.url} (offline?): whether a newer Spotify exists is unknown"


# -- unknown is not absent (issue 19 #11) ------------------------------------------------------------

def broken_podman_envs(tmp_path: Path) -> dict[str, dict[str, str]]:
    """A real podman that cannot start (a broken storage.conf: exit 1 like "no such image", with an
    error), and a PATH-placed podman that fails silently with exit 1."""
    config = tmp_path / "config"
    (config / "containers").mkdir(parents=True)
    (config / "containers" / "storage.conf").write_text("[storage\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "podman").write_text("#!/bin/sh\nexit 1\n")
    (fake / "podman").chmod(0o755)
    base = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "NO_COLOR": "1"}
    return {"broken-storage-conf": {**base, "XDG_CONFIG_HOME": str(config)},
            "silent-exit-1": {**base, "PATH": f"{fake}:{os.environ['PATH']}"}}


@pytest.mark.parametrize("case", ["broken-storage-conf", "silent-exit-1"])
def test_podman_that_cannot_run_never_reports_an_existing_image_absent(
        case: str, standin: str, tmp_path: Path) -> None:
    env = broken_podman_envs(tmp_path)[case]
    assert subprocess.run(["podman", "image", "exists", standin], env=env, capture_output=True).returncode == 1
    done = spotidoctor(env, "check", "image", "--json", "--image", standin, "--no-plugins")
    present = {r["id"]: r for r in json.loads(done.stdout)["results"]}["image.present"]
    assert present["status"] == "skip" and present["fixes"] == [], present
    assert present["summary"].startswith(f"cannot tell whether {standin} exists: podman failed (")
    if case == "broken-storage-conf":
        assert "storage.conf" in present["summary"] or "toml" in present["summary"]
    fixed = spotidoctor(env, "fix", "image", "--yes", "--image", standin, "--no-plugins")
    assert "image.build" not in fixed.stdout and "Building" not in fixed.stdout, fixed.stdout
    assert not (tmp_path / "state" / "spotidoctor" / "builds").exists()  # no build was started
    assert subprocess.run(["podman", "image", "exists", standin], capture_output=True).returncode == 0

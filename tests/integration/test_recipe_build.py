"""The bundled recipe, unchanged, built for real and launched.

The base is Debian bookworm made from Debian's packages (.ci/debian-base, imported as
``localhost/spotidoctor-debian:bookworm``); Spotify's repository is a local, signed stand-in
on 127.0.0.1 (tests/aptrepo.py). RUN steps use ``--network host``: they reach the host's
Debian mirror and the loopback repository. The image is built once for this module with a
non-default container uid (so a recipe that ignored SPOTIFY_UID would fail) and the repository
from the ``spotify_repo`` setting; the key rotation build passes everything with --build-arg.
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

from spotidoctor.backend.recipe import LABEL_SPOTIFY_REPO, LABEL_SPOTIFY_VERSION, LABEL_UID, SPOTIFY_DOWNLOAD_URL
from spotidoctor.paths import Paths
from tests import servers
from tests.aptrepo import PACKAGE, VERSION, AptRepo, make_repo
from tests.integration.test_launch_standin import LaunchSetup, _podman_config, podman_store  # noqa: F401

# Builds real images (a Debian base, apt from a local repository): longer than the default timeout.
pytestmark = pytest.mark.timeout(1800)

BUILD_TIMEOUT_S = 1800
CONTAINER_UID = 1537  # not the recipe's default 1500: the build argument must reach useradd and USER


@dataclass(frozen=True)
class Built:
    image: str
    config: Path
    done: subprocess.CompletedProcess[str]


def spotidoctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)


def in_image(image: str, script: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sh -c script`` in a throwaway container of the image (no network)."""
    argv = ["podman", "run", "--rm", "--pull=never", "--network=none", "--entrypoint=/bin/sh"]
    argv += [f"--user={user}"] if user else []
    return subprocess.run([*argv, image, "-c", script], capture_output=True, text=True, timeout=300)


def build_env(tmp: Path) -> dict[str, str]:
    """The real HOME and runtime dir (podman's storage), a private state dir (logs, lock)."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp / "state"), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def built(debian_base: str, spotify_repo: AptRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("recipe")
    image = f"localhost/sdtest-recipe-{uuid.uuid4().hex[:8]}:test"
    config = tmp / "config.toml"
    config.write_text(f'container_uid = {CONTAINER_UID}\nspotify_repo = "{spotify_repo.url}"\n')
    done = spotidoctor(build_env(tmp), "build", "--config", str(config), "--image", image, "--network", "host",
                       "--build-arg", f"BASE_IMAGE={debian_base}",
                       "--build-arg", f"SPOTIFY_KEY_URL={spotify_repo.key_url()}")
    yield Built(image, config, done)
    subprocess.run(["podman", "rmi", "--force", image], capture_output=True, timeout=300)


def inspect(image: str) -> dict[str, object]:
    done = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True,
                          timeout=60)
    return json.loads(done.stdout)[0]  # type: ignore[no-any-return]


def test_bundled_recipe_builds_from_the_signed_repository(built: Built, spotify_repo: AptRepo) -> None:
    assert built.done.returncode == 0, built.done.stdout + built.done.stderr
    assert f"Spotify {VERSION}" in built.done.stdout
    pool = f"GET /pool/non-free/s/{PACKAGE}/{PACKAGE}_{VERSION.partition(':')[2]}_{spotify_repo.arch}.deb"
    seen = spotify_repo.seen()
    assert any(r.startswith(pool) for r in seen), seen
    assert any(r.startswith("GET /dists/stable/InRelease") for r in seen)


def test_image_runs_as_the_configured_uid_and_carries_the_labels(built: Built, spotify_repo: AptRepo) -> None:
    assert built.done.returncode == 0, built.done.stdout + built.done.stderr
    info = inspect(built.image)
    labels = info["Labels"]
    assert isinstance(labels, dict)
    assert labels[LABEL_SPOTIFY_VERSION] == VERSION
    assert labels[LABEL_SPOTIFY_REPO] == spotify_repo.url
    assert labels[LABEL_UID] == str(CONTAINER_UID)
    assert info["User"] == f"{CONTAINER_UID}:{CONTAINER_UID}"
    ran = in_image(built.image, 'echo "$(id -u):$(id -g) $(id -un) $HOME"')
    assert ran.stdout.strip() == f"{CONTAINER_UID}:{CONTAINER_UID} spotify_user /home/spotify_user", ran.stderr
    source = in_image(built.image, "cat /etc/apt/sources.list.d/spotify.list")
    assert source.stdout.strip() == (f"deb [signed-by=/usr/share/keyrings/spotify.gpg] {spotify_repo.url} "
                                     "stable non-free")


def test_update_check_verifies_the_repository_with_the_keyring_the_recipe_installed(
        built: Built, spotify_repo: AptRepo, tmp_path: Path) -> None:
    assert built.done.returncode == 0, built.done.stdout + built.done.stderr
    done = spotidoctor(build_env(tmp_path), "check", "image.update", "--json", "--config", str(built.config),
                       "--image", built.image)
    [result] = [r for r in json.loads(done.stdout)["results"] if r["id"] == "image.update"]
    assert result["status"] == "ok", result
    assert result["summary"].startswith(f"Spotify {VERSION} is the newest in {spotify_repo.url}")
    assert result["facts"]["signature_verified"] is True and result["facts"]["update_available"] is False


def test_no_curl_or_gpg_and_the_fonts_and_tray_library_are_there(built: Built) -> None:
    assert built.done.returncode == 0, built.done.stdout + built.done.stderr
    tools = in_image(built.image, "for t in dpkg curl gpg gpg-agent dirmngr; do command -v $t; done; "
                                  "dpkg-query -W -f '${Package} ${Status}\\n' curl gnupg gpg 2>/dev/null; true")
    found = tools.stdout.splitlines()
    assert tools.returncode == 0 and found[0] == "/usr/bin/dpkg", tools.stdout + tools.stderr  # the probe works
    assert not any("/" in line or "install ok installed" in line for line in found[1:]), tools.stdout
    packages = ("fonts-noto-cjk", "fonts-noto-color-emoji", "libayatana-appindicator3-1", "libpulse0", PACKAGE)
    status = in_image(built.image, "dpkg-query -W -f '${Package} ${Status}\\n' " + " ".join(packages))
    assert sorted(status.stdout.splitlines()) == sorted(f"{p} install ok installed" for p in packages), status
    files = in_image(built.image, "ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc "
                                  "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf; "
                                  "ldconfig -p | grep -c 'libayatana-appindicator3.so.1 '; "
                                  "ls /usr/share/spotify/icons/ | grep -c '^spotify-linux-[0-9]*.png$'")
    assert files.returncode == 0 and files.stdout.split()[-2:] == ["1", "9"], files.stdout + files.stderr


def test_launch_starts_the_client_of_the_built_image(
        built: Built, tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer,
        podman_store: dict[str, str]) -> None:  # noqa: F811
    """Nothing prepared by hand: `launch --yes` applies the safe fixes for the configured uid."""
    assert built.done.returncode == 0, built.done.stdout + built.done.stderr
    env = {**pulseaudio.env, **xserver.env(), "NO_COLOR": "1"}
    paths = Paths.from_env(env, env["HOME"])
    _podman_config(env, podman_store)
    storage = tmp_path / "storage"
    storage.mkdir()
    setup = LaunchSetup(env, paths, storage, f"sdtest-recipe-{uuid.uuid4().hex[:8]}", pulseaudio)
    try:
        done = setup.launch(built.image, "--config", str(built.config))
    finally:
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(storage)], capture_output=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"standin: uid={CONTAINER_UID} gid={CONTAINER_UID}" in done.stdout, out
    for part in ("x11 ok", "audio ok", "storage ok"):
        assert f"standin: {part}" in done.stdout, out
    [record] = setup.records()  # the default audio path: spotidoctor's filter relayed the client
    assert record["host"]["audio"] == "filtered" and record["channels"]["audio"]["connections"] >= 1  # type: ignore[index]


@pytest.fixture
def rotated_repo(tmp_path: Path) -> Iterator[AptRepo]:
    """A repository of its own (the module's stays intact), re-signed by a second key."""
    servers.require("dpkg-deb", "apt-ftparchive", "gpg", "gpgconf", "ldd")
    repo = make_repo(tmp_path / "r")
    try:
        yield repo
    finally:
        repo.close()


def test_a_rotated_signing_key_names_the_key_and_the_rebuild_command(
        debian_base: str, rotated_repo: AptRepo, tmp_path: Path) -> None:
    old_key_url = rotated_repo.key_url()
    new_key = rotated_repo.new_key("Spotify Rotated Key")
    rotated_repo.sign_with(new_key)
    image = f"localhost/sdtest-rotated-{uuid.uuid4().hex[:8]}:test"
    args = ("--network", "host", "--build-arg", f"BASE_IMAGE={debian_base}",
            "--build-arg", f"SPOTIFY_REPO={rotated_repo.url}")
    try:
        done = spotidoctor(build_env(tmp_path), "build", "--image", image, *args,
                           "--build-arg", f"SPOTIFY_KEY_URL={old_key_url}")
        exists = subprocess.run(["podman", "image", "exists", image], timeout=60).returncode
    finally:
        subprocess.run(["podman", "rmi", "--force", image], capture_output=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert exists == 1
    assert f"NO_PUBKEY {new_key.key_id}" in out  # apt's own line, quoted as evidence
    assert f"is signed with key {new_key.key_id}" in out and "rotated its signing key" in out, out
    assert SPOTIFY_DOWNLOAD_URL in out
    rebuild = (f"spotidoctor build --image {image} --network host --build-arg BASE_IMAGE={debian_base} "
               f"--build-arg SPOTIFY_REPO={rotated_repo.url} "
               f"--build-arg SPOTIFY_KEY_URL=https://download.spotify.com/debian/pubkey_{new_key.key_id}.asc")
    assert rebuild in out, out

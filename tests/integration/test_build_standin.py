"""`spotidoctor build` and the image.* checks against real buildah and podman.

The recipes are stand-ins (FROM scratch plus host binaries, or FROM the stand-in image),
so no registry or network is needed; RUN steps use `--network none`. Every image a test
builds has a unique name and is removed afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.backend.recipe import (
    LABEL_BUILD_DATE,
    LABEL_RECIPE,
    LABEL_RECIPE_HASH,
    LABEL_SPOTIFY_VERSION,
    LABEL_UID,
    LABEL_VERSION,
    recipe_hash,
)
from tests.standin import CONTAINERFILE, assemble_rootfs

# Builds real images (a Debian base, apt from a local repository): longer than the default timeout.
pytestmark = pytest.mark.timeout(1800)

TIMEOUT_S = 600


@pytest.fixture
def image_name(podman: str) -> Iterator[str]:
    name = f"localhost/sdtest-build-{uuid.uuid4().hex[:8]}:test"
    yield name
    for tag in (name, name.replace(":test", ":previous")):  # a rebuild keeps the image it replaced
        subprocess.run([podman, "rmi", "--force", tag], capture_output=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The real HOME and runtime dir (podman's storage), a private state dir (logs, lock)."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "NO_COLOR": "1"}


def spotidoctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def inspect(name: str) -> dict[str, object]:
    done = subprocess.run(["podman", "image", "inspect", name], capture_output=True, text=True, check=True,
                          timeout=60)
    return json.loads(done.stdout)[0]  # type: ignore[no-any-return]


def scratch_recipe(root: Path) -> Path:
    """The stand-in's FROM-scratch recipe (COPY only: no OCI runtime, no network)."""
    assemble_rootfs(root / "rootfs")
    containerfile = root / "Containerfile"
    containerfile.write_text(CONTAINERFILE)
    return containerfile


def write_config(path: Path, **values: str) -> Path:
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in values.items()))
    return path


def check_image(env: dict[str, str], config: Path, image: str) -> dict[str, dict[str, object]]:
    done = spotidoctor(env, "check", "image", "--json", "--config", str(config), "--image", image)
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}


def test_build_labels_the_image_and_the_checks_recognise_the_recipe(
        tmp_path: Path, env: dict[str, str], image_name: str) -> None:
    containerfile = scratch_recipe(tmp_path / "recipe")
    done = spotidoctor(env, "build", "--containerfile", str(containerfile), "--image", image_name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Built {image_name} (" in done.stdout
    labels = inspect(image_name)["Labels"]
    assert isinstance(labels, dict)
    assert labels[LABEL_RECIPE] == str(containerfile) and labels[LABEL_UID] == "1500"
    assert labels[LABEL_RECIPE_HASH] == recipe_hash(containerfile.read_text(), {"SPOTIFY_UID": "1500"})
    assert labels[LABEL_VERSION] and labels[LABEL_BUILD_DATE].endswith("Z")
    assert LABEL_SPOTIFY_VERSION not in labels  # this recipe never prints a version
    [log] = (tmp_path / "state" / "spotidoctor" / "builds").iterdir()
    assert "COPY rootfs/ /" in log.read_text()

    config = write_config(tmp_path / "config.toml", containerfile=str(containerfile))
    results = check_image(env, config, image_name)
    lookup = ("image.present", "image.recipe", "image.age", "image.user", "image.update")
    assert {k: results[k]["status"] for k in lookup} == {  # the content checks judge the stand-in's files
        "image.present": "ok", "image.recipe": "ok", "image.age": "ok", "image.user": "ok",
        "image.update": "skip"}  # this recipe records no repository or Spotify version

    # The recipe changes: the image is no longer current, and the fix rebuilds it.
    containerfile.write_text(CONTAINERFILE + "LABEL changed=yes\n")
    results = check_image(env, config, image_name)
    assert results["image.recipe"]["status"] == "warn"
    assert [f["id"] for f in results["image.recipe"]["fixes"]] == ["image.build"]
    fixed = spotidoctor(env, "fix", "image.recipe", "--config", str(config), "--image", image_name)
    assert "image.recipe: fixed (verified)" in fixed.stdout, fixed.stdout + fixed.stderr
    assert inspect(image_name)["Labels"]["changed"] == "yes"  # type: ignore[index]


def test_missing_image_check_and_a_foreign_image_is_never_overwritten(
        tmp_path: Path, env: dict[str, str], image_name: str, standin_image: str) -> None:
    config = write_config(tmp_path / "config.toml")
    results = check_image(env, config, image_name)
    assert results["image.present"]["status"] == "fail"
    assert [f["id"] for f in results["image.present"]["fixes"]] == ["image.build"]

    results = check_image(env, config, standin_image)
    assert results["image.present"]["status"] == "ok" and results["image.user"]["status"] == "ok"
    assert results["image.recipe"]["status"] == "warn" and results["image.recipe"]["fixes"] == []
    before = inspect(standin_image)["Id"]
    refused = spotidoctor(env, "build", "--image", standin_image)
    assert refused.returncode == 1 and "was not built by spotidoctor" in refused.stdout
    assert inspect(standin_image)["Id"] == before


def test_build_learns_the_spotify_version_from_the_build_output(
        tmp_path: Path, env: dict[str, str], image_name: str, standin_image: str) -> None:
    recipe = tmp_path / "versioned"
    recipe.mkdir()
    (recipe / "Containerfile").write_text(
        f"FROM {standin_image}\nRUN printf '%s\\n' 'spotidoctor-spotify-version=1:1.2.52.442.g01893f6b'\n")
    done = spotidoctor(env, "build", "--containerfile", str(recipe / "Containerfile"), "--image", image_name,
                       "--network", "none")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Spotify 1:1.2.52.442.g01893f6b" in done.stdout
    labels = inspect(image_name)["Labels"]
    assert isinstance(labels, dict) and labels[LABEL_SPOTIFY_VERSION] == "1:1.2.52.442.g01893f6b"
    assert labels[LABEL_RECIPE_HASH]  # the label-only build kept the first build's labels


APT_NO_PUBKEY = (
    "W: GPG error: https://repository.spotify.com stable InRelease: The following signatures couldn't be "
    "verified because the public key is not available: NO_PUBKEY 7A3A762FAFD4A51F\n"
    "E: The repository 'https://repository.spotify.com stable InRelease' is not signed.\n")


def test_failed_builds_are_explained(tmp_path: Path, env: dict[str, str], image_name: str,
                                     standin_image: str) -> None:
    recipe = tmp_path / "nokey"
    recipe.mkdir()
    (recipe / "apt.out").write_text(APT_NO_PUBKEY)
    (recipe / "Containerfile").write_text(f"FROM {standin_image}\nCOPY apt.out /tmp/apt.out\n"
                                          "RUN cat /tmp/apt.out; exit 100\n")
    done = spotidoctor(env, "build", "--containerfile", str(recipe / "Containerfile"), "--image", image_name,
                       "--network", "none")
    assert done.returncode == 1
    assert (f"Build of {image_name} failed: Spotify's repository (https://repository.spotify.com) is signed with "
            "key 7A3A762FAFD4A51F, which this build does not have: Spotify has rotated its signing key") in done.stdout
    assert "see https://www.spotify.com/us/download/linux/" in done.stdout
    assert "Full log: " in done.stdout

    unreachable = tmp_path / "unreachable"
    unreachable.mkdir()
    (unreachable / "Containerfile").write_text("FROM nonexistent.invalid/spotidoctor/none:latest\n")
    done = spotidoctor(env, "build", "--containerfile", str(unreachable / "Containerfile"), "--image", image_name)
    assert done.returncode == 1
    assert "the build could not resolve nonexistent.invalid" in done.stdout, done.stdout

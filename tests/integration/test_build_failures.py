"""Builds that fail for real, explained the same by ``build``, ``fix image.present`` and ``launch``.

A small recipe FROM the local Debian base installs ``spotify-client`` from SPOTIFY_REPO with
``signed-by``, as the bundled recipe's second stage does: against a port on 127.0.0.1 that
is bound but never listens (so it is closed for the whole test), and against a local signed
repository whose index lists no spotify-client. ``fix`` and ``launch`` build with buildah's
default network (127.0.0.1 is then the build container's own: closed there too); ``build``
also with ``--network host``. One build runs the bundled recipe itself, whose first stage
cannot fetch the key from the closed port.
"""
from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.aptrepo import AptRepo, make_repo

TIMEOUT_S = 900
RECIPE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG SPOTIFY_REPO
COPY spotify.gpg /usr/share/keyrings/spotify.gpg
RUN set -eu; rm -f /etc/apt/sources.list.d/* /etc/apt/sources.list; \\
    echo "deb [signed-by=/usr/share/keyrings/spotify.gpg] $SPOTIFY_REPO stable non-free" \\
        >/etc/apt/sources.list.d/spotify.list; \\
    apt-get update; apt-get install -y --no-install-recommends spotify-client
"""


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]
    tmp: Path
    image: str
    containerfile: Path
    port: int  # closed on 127.0.0.1

    def config(self, repo_url: str, base: str) -> Path:
        path = self.tmp / f"config-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(f'containerfile = "{self.containerfile}"\nspotify_repo = "{repo_url}"\n'
                        f'build_args = ["BASE_IMAGE={base}"]\nstorage_dir = "{self.tmp / "storage"}"\n')
        return path


def spotidoctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """Bound, never listening: connections are refused, and no one else can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope="module")
def empty_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AptRepo]:
    """A signed repository whose index lists no package at all."""
    servers.require("dpkg-deb", "apt-ftparchive", "gpg", "gpgconf", "ldd")
    work = tmp_path_factory.mktemp("emptyrepo")
    repo = make_repo(work)
    try:
        for binary in (repo.dist / "non-free").glob("binary-*"):
            (binary / "Packages").write_bytes(b"")
            (binary / "Packages.gz").write_bytes(gzip.compress(b""))
        repo._release()  # re-index and re-sign, as apt-ftparchive would for an empty pool
        yield repo
    finally:
        repo.close()


@pytest.fixture(scope="module")
def setup(debian_base: str, empty_repo: AptRepo, closed_port: int,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("failing")
    (tmp / "recipe").mkdir()
    for part in ("config", "cache"):  # the launch's storage guard wants them to exist
        (tmp / "storage" / part).mkdir(parents=True)
    containerfile = tmp / "recipe" / "Containerfile"
    containerfile.write_text(RECIPE)
    (tmp / "recipe" / "spotify.gpg").write_bytes(empty_repo.key.gpg("--export", empty_repo.key.fingerprint).stdout)
    image = f"localhost/sdtest-failing-{uuid.uuid4().hex[:8]}:test"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"), "NO_COLOR": "1"}
    yield Setup(env, tmp, image, containerfile, closed_port)
    subprocess.run(["podman", "rmi", "--force", image], capture_output=True, timeout=300)


def cause(port: int) -> str:
    return f"the build could not connect to 127.0.0.1:{port}"


def test_build_quotes_the_closed_port_and_says_to_run_the_build_again(setup: Setup, debian_base: str) -> None:
    config = setup.config(f"http://127.0.0.1:{setup.port}", debian_base)
    done = spotidoctor(setup.env, "build", "--config", str(config), "--image", setup.image, "--network", "host")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    lines = out.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("Build of "))
    assert lines[failed] == f"Build of {setup.image} failed: {cause(setup.port)}"
    assert f"Could not connect to 127.0.0.1:{setup.port} (127.0.0.1). - connect (111: Connection refused)" in \
        lines[failed + 1]  # apt's own line
    assert lines[failed + 2].startswith("  → Check that this computer reaches it (and its DNS), then run "
                                        f"`spotidoctor build --image {setup.image} --containerfile ")
    assert lines[-1].startswith("Full log: ")
    assert subprocess.run(["podman", "image", "exists", setup.image]).returncode == 1


def explained(out: str, first: str) -> tuple[str, str, str]:
    """(cause, quoted log line, advice) from the lines after the one starting with ``first``."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(first))
    return (lines[at].lstrip().removeprefix(first), lines[at + 1].strip(),
            lines[at + 2].strip().removeprefix("→ "))


def test_build_fix_and_launch_quote_the_same_cause_with_their_own_advice(setup: Setup, debian_base: str) -> None:
    """buildah's default network: whatever fails first on this machine (the closed port, or the
    build network itself when slirp4netns cannot open /dev/net/tun), all three say the same."""
    config = str(setup.config(f"http://127.0.0.1:{setup.port}", debian_base))
    build = spotidoctor(setup.env, "build", "--config", config, "--image", setup.image)
    fix = spotidoctor(setup.env, "fix", "image.present", "--yes", "--config", config, "--image", setup.image)
    launch = spotidoctor(setup.env, "launch", "--no-check", "--config", config, "--image", setup.image)
    for done in (build, fix, launch):
        assert done.returncode == 1, done.stdout + done.stderr
    built = explained(build.stdout, f"Build of {setup.image} failed: ")
    fixed = explained(fix.stdout, "✗ ")
    launched = explained(launch.stdout, f"Build of {setup.image} failed: ")
    assert built[:2] == fixed[:2] == launched[:2], (build.stdout, fix.stdout, launch.stdout)
    assert built[1] and not built[1].startswith(("#", "$"))  # a line of the build's own output
    assert built[2].endswith(f"`spotidoctor build --image {setup.image} --containerfile {setup.containerfile} "
                             f"--build-arg BASE_IMAGE={debian_base} --build-arg SPOTIFY_REPO=http://127.0.0.1:"
                             f"{setup.port}`.")
    assert fixed[2].endswith("`spotidoctor fix image`.") and launched[2].endswith("`spotidoctor launch`.")
    assert "see why the fix failed above" in fix.stdout
    assert f"{setup.image} is not built yet: building it now" in launch.stdout
    assert "Starting Spotify" not in launch.stdout


def test_a_package_missing_from_the_repository(setup: Setup, debian_base: str, empty_repo: AptRepo) -> None:
    config = setup.config(empty_repo.url, debian_base)
    done = spotidoctor(setup.env, "build", "--config", str(config), "--image", setup.image, "--network", "host")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert any(r.startswith("GET /dists/stable/InRelease") for r in empty_repo.seen())  # it was reached
    assert (f"Build of {setup.image} failed: the repository offers no package spotify-client for this computer's "
            "architecture\n  E: Unable to locate package spotify-client\n  → Check the repository URL (spotify_repo "
            "in config.toml, or --build-arg SPOTIFY_REPO=...; Spotify's own is https://repository.spotify.com)") in out


def test_the_bundled_recipe_explains_an_unreachable_key_server(setup: Setup, debian_base: str,
                                                               empty_repo: AptRepo) -> None:
    image = setup.image.replace(":test", ":bundled")
    done = spotidoctor(setup.env, "build", "--image", image, "--network", "host",
                       "--build-arg", f"BASE_IMAGE={debian_base}", "--build-arg", f"SPOTIFY_REPO={empty_repo.url}",
                       "--build-arg", f"SPOTIFY_KEY_URL=http://127.0.0.1:{setup.port}/pubkey.asc")
    subprocess.run(["podman", "rmi", "--force", image], capture_output=True, timeout=300)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"Build of {image} failed: the build could not connect to 127.0.0.1 port {setup.port}\n" in out, out
    assert f"  curl: (7) Failed to connect to 127.0.0.1 port {setup.port}" in out

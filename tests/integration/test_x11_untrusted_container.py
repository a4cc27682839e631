"""The untrusted cookie from inside a rootless container, as the launch gives it: uid 1500 (a
subordinate uid of the test user), its own host name and network namespace, only the display
socket and the FamilyWild cookie file mounted. The display works; ``xhost +`` does not.

xhost is not in the stand-in image: the host's binary and the libraries ``ldd`` names are
mounted read-only for this test.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.channels.x11 import UntrustedCookie
from tests import servers


@pytest.fixture
def cookie(xserver: servers.XServer, tmp_path: Path) -> Iterator[UntrustedCookie]:
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    made = UntrustedCookie.create(xserver.display, str(xserver.xauthority), str(private / "Xauthority"))
    yield made
    made.revoke()


def host_binary_mounts(binary: str) -> list[str]:
    listed = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = re.findall(r"=> (/\S+)", listed)
    return [f"--volume={path}:{path}:ro" for path in [binary, *libraries]]


def in_container(server: servers.XServer, cookie: UntrustedCookie, image: str, *command: str,
                 extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([
        "podman", "run", "--rm", "--network=none", "--user=1500:1500", "--cap-drop=all",
        "--hostname=spotify-container", f"--volume={server.socket_path}:{server.socket_path}:ro",
        f"--volume={cookie.path}:{layout.CONTAINER_XAUTHORITY}:ro", f"--env=DISPLAY={server.display}",
        f"--env=XAUTHORITY={layout.CONTAINER_XAUTHORITY}", *extra, image, *command],
        capture_output=True, text=True, timeout=180)


def test_container_uses_the_display_and_cannot_open_it_to_everyone(
        xserver: servers.XServer, cookie: UntrustedCookie, standin_image: str) -> None:
    servers.require("ldd", "xhost")
    shown = in_container(xserver, cookie, standin_image, "/usr/bin/xdpyinfo", "-queryExtensions")
    assert shown.returncode == 0, shown.stderr
    assert f"name of display:    {xserver.display}" in shown.stdout
    assert re.search(r"number of extensions:\s+2\n\s+BIG-REQUESTS.*\n\s+XC-MISC", shown.stdout)

    opened = in_container(xserver, cookie, standin_image, "/usr/bin/xhost", "+",
                          extra=tuple(host_binary_mounts("/usr/bin/xhost")))
    assert "must be on local machine" in opened.stderr, opened.stdout + opened.stderr
    listing = subprocess.run(["xhost"], env={**os.environ, **xserver.env()}, capture_output=True, text=True,
                             timeout=30)
    assert listing.stdout.startswith("access control enabled")

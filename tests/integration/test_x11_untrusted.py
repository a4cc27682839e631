"""The untrusted X cookie against a real Xvfb: what a client holding ONLY that cookie can and
cannot do, side by side with the trusted cookie (the same attacks succeed there, so every
refusal below is the cookie's doing, not a broken setup), revocation and expiry.

Run as the unprivileged test user: ``.ci/test-as-user tests/integration/test_x11_untrusted.py``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spotidoctor.channels.x11 import (
    RevokeOutcome,
    UntrustedCookie,
    UntrustedUnavailable,
    query_security,
)
from spotidoctor.probes import x11auth
from tests import servers

REPO = Path(__file__).resolve().parents[2]
TRUSTED_ONLY = {"XTEST", "RECORD", "GLX", "SECURITY", "XInputExtension", "MIT-SHM", "RENDER", "RANDR"}


@pytest.fixture
def private_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def untrusted(xserver: servers.XServer, private_dir: Path) -> Iterator[UntrustedCookie]:
    cookie = UntrustedCookie.create(xserver.display, str(xserver.xauthority), str(private_dir / "Xauthority"))
    yield cookie
    cookie.revoke()


def env_with(server: servers.XServer, xauthority: str) -> dict[str, str]:
    return {**os.environ, "DISPLAY": server.display, "XAUTHORITY": xauthority}


def tool(server: servers.XServer, xauthority: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), env=env_with(server, xauthority), capture_output=True, text=True, timeout=30)


def client(server: servers.XServer, xauthority: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "tests.x11client", *args], env=env_with(server, xauthority),
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def extensions(server: servers.XServer, xauthority: str) -> set[str]:
    done = tool(server, xauthority, "xdpyinfo", "-queryExtensions")
    assert done.returncode == 0, done.stderr
    listing = done.stdout.split("number of extensions:", 1)[1].split("default screen number", 1)[0]
    return {line.split("(opcode", 1)[0].strip() for line in listing.splitlines()[1:] if line.strip()}


def access_control(server: servers.XServer) -> str:
    """Read back with the user's trusted cookie."""
    return tool(server, str(server.xauthority), "xhost").stdout.splitlines()[0]


def refused_cookie(server: servers.XServer, xauthority: Path) -> bool:
    """The server no longer knows the cookie (its reason text, not just any failure)."""
    done = tool(server, str(xauthority), "xdpyinfo")
    return done.returncode != 0 and "Invalid MIT-MAGIC-COOKIE-1 key" in done.stderr


# -- the cookie itself ------------------------------------------------------------------------------

def test_xvfb_offers_security(xserver: servers.XServer) -> None:
    support = query_security(xserver.display, str(xserver.xauthority))
    assert (support.offered, support.version, support.reason) == (True, "1.0", "")


def test_cookie_file_is_family_wild_world_readable_in_a_private_dir(
        xserver: servers.XServer, untrusted: UntrustedCookie, private_dir: Path) -> None:
    entries = x11auth.parse_xauthority(Path(untrusted.path).read_bytes())
    assert [(e.family, e.number, e.name) for e in entries] == [
        (x11auth.FAMILY_WILD, str(xserver.number).encode(), x11auth.MIT_MAGIC_COOKIE)]
    assert len(entries[0].data) == 16 and entries[0].data.hex() != xserver.cookie_hex
    assert oct(os.stat(untrusted.path).st_mode & 0o777) == "0o644"
    assert oct(private_dir.stat().st_mode & 0o777) == "0o700"
    assert "Xauthority" in repr(untrusted) and entries[0].data.hex() not in repr(untrusted)
    assert untrusted.active


# -- what an untrusted client can do ------------------------------------------------------------------

def test_untrusted_client_opens_a_window_and_draws(xserver: servers.XServer, untrusted: UntrustedCookie) -> None:
    info = tool(xserver, untrusted.path, "xdpyinfo")
    assert info.returncode == 0 and f"name of display:    {xserver.display}" in info.stdout
    drawn = client(xserver, untrusted.path, "draw")
    assert drawn["pixel"] == 0x00FF00
    tree = tool(xserver, untrusted.path, "xwininfo", "-root", "-children")
    assert tree.returncode == 0 and "the root window" in tree.stdout


def test_untrusted_client_sees_only_core_extensions(xserver: servers.XServer, untrusted: UntrustedCookie) -> None:
    trusted = extensions(xserver, str(xserver.xauthority))
    assert TRUSTED_ONLY <= trusted  # Xvfb 21.1: GLX, XTEST, RECORD ... for trusted clients
    assert extensions(xserver, untrusted.path) == {"BIG-REQUESTS", "XC-MISC"}


def test_xhost_plus_is_refused_and_access_control_stays_on(
        xserver: servers.XServer, untrusted: UntrustedCookie) -> None:
    attempt = tool(xserver, untrusted.path, "xhost", "+")
    assert "must be on local machine" in attempt.stderr  # xhost's text for BadAccess (its exit status is 0)
    assert access_control(xserver).startswith("access control enabled")
    assert tool(xserver, str(xserver.xauthority), "xhost", "+").returncode == 0  # the trusted cookie can
    try:
        assert access_control(xserver).startswith("access control disabled")
    finally:
        tool(xserver, str(xserver.xauthority), "xhost", "-")
    assert access_control(xserver).startswith("access control enabled")


def test_xtest_input_injection_is_refused(xserver: servers.XServer, untrusted: UntrustedCookie) -> None:
    servers.require("xdotool")
    refused = tool(xserver, untrusted.path, "xdotool", "key", "a")
    assert refused.returncode != 0 and "XTEST extension unavailable" in refused.stderr
    assert tool(xserver, str(xserver.xauthority), "xdotool", "key", "a").returncode == 0


@pytest.fixture
def victim(xserver: servers.XServer) -> Iterator[int]:
    """A trusted client's window (title, a private property, the CLIPBOARD), until the test ends."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.x11client", "victim"], cwd=REPO, text=True,
                            env=env_with(xserver, str(xserver.xauthority)), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield int(json.loads(proc.stdout.readline())["window"])
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_other_clients_windows_and_the_server_are_out_of_reach(
        xserver: servers.XServer, untrusted: UntrustedCookie, victim: int) -> None:
    trusted = client(xserver, str(xserver.xauthority), "attack", str(victim))
    mine = client(xserver, untrusted.path, "attack", str(victim))
    refused = ("get_image_window", "get_image_root", "draw_into_window", "change_property",
               "set_access_control", "list_hosts")
    assert {k: trusted[k] for k in refused} == dict.fromkeys(refused, "ok")
    assert {k: mine[k] for k in refused} == dict.fromkeys(refused, "BadAccess")
    assert trusted["query"] == {"XTEST": True, "RECORD": True, "GLX": True, "SECURITY": True,
                                "XInputExtension": True, "MIT-SHM": True}
    assert not any(mine["query"].values())


def test_what_the_security_extension_does_not_hide(
        xserver: servers.XServer, untrusted: UntrustedCookie, victim: int) -> None:
    """Recorded limits (Xvfb 21.1): untrusted clients still READ other windows' properties (titles)
    and the CLIPBOARD. If a server version starts refusing them, this test says so."""
    from tests.x11client import CLIPBOARD_VALUE, SECRET_TITLE, SECRET_VALUE

    mine = client(xserver, untrusted.path, "attack", str(victim))
    assert (mine["title"], mine["property"]) == (SECRET_TITLE, SECRET_VALUE.decode())
    assert mine["clipboard"] == CLIPBOARD_VALUE.decode()


def test_keyboard_state_is_hidden(xserver: servers.XServer, untrusted: UntrustedCookie, victim: int) -> None:
    servers.require("xdotool")
    trusted = str(xserver.xauthority)
    assert tool(xserver, trusted, "xdotool", "keydown", "shift").returncode == 0
    try:
        assert client(xserver, trusted, "attack", str(victim))["keymap_pressed"] is True
        assert client(xserver, untrusted.path, "attack", str(victim))["keymap_pressed"] is False
    finally:
        tool(xserver, trusted, "xdotool", "keyup", "shift")


# -- lifetime -------------------------------------------------------------------------------------------

def test_revoke_disconnects_clients_and_refuses_new_ones(
        xserver: servers.XServer, private_dir: Path, tmp_path: Path) -> None:
    cookie = UntrustedCookie.create(xserver.display, str(xserver.xauthority), str(private_dir / "Xauthority"))
    kept = tmp_path / "kept-copy"
    kept.write_bytes(Path(cookie.path).read_bytes())
    holder = subprocess.Popen([sys.executable, "-m", "tests.x11client", "hold"], cwd=REPO, text=True,
                              env=env_with(xserver, cookie.path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert holder.stdout is not None
    try:
        assert json.loads(holder.stdout.readline()) == {"connected": True}
        assert cookie.revoke() is RevokeOutcome.REVOKED
        assert json.loads(holder.stdout.readline()) == {"dropped": "ConnectionClosedError"}
    finally:
        holder.kill()
        holder.wait()
    assert not os.path.exists(cookie.path) and not cookie.active
    assert refused_cookie(xserver, kept)
    assert cookie.revoke() is RevokeOutcome.REVOKED  # idempotent: asks nobody again


LAUNCHER = """
import json, sys, time
from spotidoctor.channels.x11 import UntrustedCookie
cookie = UntrustedCookie.create(sys.argv[1], sys.argv[2], sys.argv[3], grace_s=int(sys.argv[4]))
print(json.dumps({"path": cookie.path}), flush=True)
time.sleep(600)
"""


def _wait_until_refused(server: servers.XServer, xauthority: Path, grace: int, within: float) -> bool:
    """Each attempt is a client of the cookie and restarts its expiry timer: wait out the grace first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        time.sleep(grace + 1)
        if refused_cookie(server, xauthority):
            return True
    return False


def test_a_killed_spotidoctor_leaves_no_valid_cookie(xserver: servers.XServer, private_dir: Path,
                                                     tmp_path: Path) -> None:
    """Nobody revokes: the holder connection dies with the process and the server expires the cookie
    ``grace_s`` after its last client. While the process lives, the cookie outlives ``grace_s``."""
    grace = 1
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, xserver.display, str(xserver.xauthority),
                             str(private_dir / "Xauthority"), str(grace)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        path = Path(json.loads(proc.stdout.readline())["path"])
        kept = tmp_path / "kept-copy"
        kept.write_bytes(path.read_bytes())
        time.sleep(grace + 1.5)  # longer than the grace: only the holder keeps it valid
        assert tool(xserver, str(kept), "xdpyinfo").returncode == 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _wait_until_refused(xserver, kept, grace, within=30), "the cookie stayed valid after the process died"


# -- a server without SECURITY ----------------------------------------------------------------------------

def test_server_without_security_gives_a_clear_answer(xvfb: servers.XvfbStarter, private_dir: Path) -> None:
    server = xvfb("-extension", "SECURITY")
    support = query_security(server.display, str(server.xauthority))
    assert not support.offered and support.reason == "the X server does not offer the SECURITY extension"
    with pytest.raises(UntrustedUnavailable) as caught:
        UntrustedCookie.create(server.display, str(server.xauthority), str(private_dir / "Xauthority"))
    assert str(caught.value) == (f"cannot make an untrusted X cookie for {server.display}: "
                                 "the X server does not offer the SECURITY extension")
    assert not (private_dir / "Xauthority").exists()

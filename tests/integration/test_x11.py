"""x11.* against a real Xvfb (``-noreset``, its own cookie), a hung socket, real xauth/xhost/xdpyinfo,
and the real CLI. Run as the unprivileged test user: ``.ci/test-as-user tests/integration/test_x11.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.checks.x11 import CHECKS
from spotidoctor.checks.x11.access_control import LOCAL_GRANT, OPEN_TO_ALL
from spotidoctor.checks.x11.connect import HUNG
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeTimeout
from spotidoctor.model import CheckResult, Status
from spotidoctor.probes import x11auth
from spotidoctor.probes.x11 import SetupStatus, XlibProbe
from tests import servers
from tests.realcontext import real_context


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private HOME and XDG tree for spotidoctor itself (never the real user's), opted into the
    trusted cookie (x11_trust = "trusted"): most tests here are about that file."""
    env = servers.base_env(tmp_path / "user")
    config = Path(env["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('x11_trust = "trusted"\n')
    return Path(env["HOME"])


def test_by_default_no_trusted_cookie_file_is_needed(xserver: servers.XServer, home: Path) -> None:
    """The default untrusted cookie is made per launch: `check x11` passes with no cookie file at all."""
    (Path(user_env(home)["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml").unlink()
    results = run_checks(user_env(home, xserver))
    assert {cid: r.status.value for cid, r in results.items()} == {
        "x11.display": "ok", "x11.socket": "ok", "x11.connect": "ok", "x11.trust": "ok",
        "x11.container-cookie": "skip", "x11.access-control": "ok"}
    assert results["x11.connect"].facts["security"] is True
    assert not (home.parent / "run" / "spotidoctor").exists()


def user_env(home: Path, server: servers.XServer | None = None, **extra: str) -> dict[str, str]:
    env = servers.base_env(home.parent)
    if server is not None:
        env.update(server.env())
    env.update(extra)
    return env


def run_checks(env: dict[str, str], selector: str = "x11") -> dict[str, CheckResult]:
    ctx = real_context(env)
    report = Runner(ctx).run(plan(CHECKS, [selector]))
    return {r.check_id: r for r in report.results}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def xtool(server: servers.XServer, *argv: str, xauthority: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env()}
    if xauthority is not None:
        env["XAUTHORITY"] = xauthority
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=30)


# -- the probe ------------------------------------------------------------------------------------

def test_probe_connects_with_the_cookie(xserver: servers.XServer, home: Path) -> None:
    probe = XlibProbe(user_env(home, xserver))
    shake = probe.handshake(xserver.display)
    assert (shake.status, shake.auth_name, shake.xauthority) == (SetupStatus.SUCCESS, "MIT-MAGIC-COOKIE-1",
                                                                 str(xserver.xauthority))
    info = probe.server_info(xserver.display)
    assert "X.Org" in info.vendor and info.screen == "1280x800" and info.mit_shm
    assert "MIT-SHM" in info.extensions and not info.xwayland


def test_probe_authorization_required_without_the_cookie(xserver: servers.XServer, home: Path) -> None:
    shake = XlibProbe(user_env(home, xserver, XAUTHORITY=str(home / "none"))).handshake(xserver.display)
    assert shake.status is SetupStatus.FAILED and shake.authorization_required
    assert shake.reason.startswith("Authorization required")


def test_connect_check_reports_authorization_required(xserver: servers.XServer, home: Path) -> None:
    results = run_checks(user_env(home, xserver, XAUTHORITY=str(home / "none")))
    assert results["x11.connect"].status is Status.FAIL
    assert results["x11.connect"].summary.startswith("Authorization required: no cookie")
    assert results["x11.container-cookie"].status is Status.SKIP


@pytest.fixture
def hung_display() -> Iterator[int]:
    """A fake X server on a free /tmp/.X11-unix/X<n> that accepts and never answers."""
    number = servers.free_display()
    socket_dir = Path(x11auth.X11_SOCKET_DIR)
    if not socket_dir.exists():  # as an X server would make it: sticky and world-writable
        socket_dir.mkdir()
        socket_dir.chmod(0o1777)
    hung = servers.hung_unix_server(Path(x11auth.socket_path(number)))
    yield number
    hung.close()


def test_probe_on_a_hung_server_times_out(hung_display: int, home: Path) -> None:
    with pytest.raises(ProbeTimeout, match=f"X server :{hung_display} "):
        XlibProbe(user_env(home)).handshake(f":{hung_display}", timeout=1.0)


def test_connect_check_on_a_hung_server_ends_with_hung(hung_display: int, home: Path) -> None:
    results = run_checks(user_env(home, DISPLAY=f":{hung_display}"))
    assert results["x11.socket"].status is Status.OK
    connect = results["x11.connect"]
    assert (connect.status, connect.summary) == (Status.FAIL, HUNG.format(display=f":{hung_display}", timeout=3.0))
    assert results["x11.container-cookie"].status is Status.SKIP


def test_missing_socket(home: Path) -> None:
    number = servers.free_display()
    results = run_checks(user_env(home, DISPLAY=f":{number}"))
    assert results["x11.socket"].status is Status.FAIL
    assert results["x11.connect"].status is Status.SKIP


# -- access control ---------------------------------------------------------------------------------

def test_a_cookieless_connection_is_refused_by_a_server_with_a_cookie(xserver: servers.XServer,
                                                                     home: Path) -> None:
    assert XlibProbe(user_env(home, xserver)).anonymous_handshake(xserver.display).authorization_required
    result = run_checks(user_env(home, xserver), "x11.access-control")["x11.access-control"]
    assert (result.status, result.facts["cookieless_admitted"]) == (Status.OK, False), result


def test_a_server_with_an_empty_auth_file_is_open_to_everyone(xvfb: servers.XvfbStarter, home: Path) -> None:
    # X.Org with an empty -auth file has no cookie and admits every local client; its host
    # list shows nothing of it (this was reported healthy: "access control enabled").
    server = xvfb(cookie=False)
    listing = xtool(server, "xhost").stdout
    assert "access control enabled" in listing and "LOCAL:" not in listing  # what the list alone says
    assert XlibProbe(user_env(home, server)).anonymous_handshake(server.display).ok
    results = run_checks(user_env(home, server), "x11.access-control")
    result = results["x11.access-control"]
    assert (result.status, result.summary) == (Status.FAIL, OPEN_TO_ALL.format(display=server.display)), result
    assert result.facts["cookieless_admitted"] is True
    assert "log out and in" in result.messages[1].text
    code = cli(user_env(home, server), "check", "x11.access-control")
    assert code.returncode == 1 and "admits clients without a cookie" in code.stdout, code

def test_xhost_plus_fails(xserver: servers.XServer, home: Path) -> None:
    assert xtool(xserver, "xhost", "+").returncode == 0
    try:
        result = run_checks(user_env(home, xserver), "x11.access-control")["x11.access-control"]
        assert result.status is Status.FAIL and result.facts["access_control"] is False
        assert result.fixes[0].id == "x11.revoke-host-grants"
    finally:
        xtool(xserver, "xhost", "-")


def test_xhost_local_warns_and_the_unsafe_fix_revokes_it(xserver: servers.XServer, home: Path) -> None:
    assert xtool(xserver, "xhost", "+local:").returncode == 0
    assert xtool(xserver, "xhost", "+si:localuser:nobody").returncode == 0
    env = user_env(home, xserver)
    result = run_checks(env, "x11.access-control")["x11.access-control"]
    assert result.status is Status.WARN and result.messages[0].text == LOCAL_GRANT
    assert result.facts["hosts"] == ["SI:localuser:nobody", "LOCAL:"]

    safe_only = cli(env, "fix", "x11.access-control")
    assert "needs --unsafe" in safe_only.stdout and "LOCAL:" in xtool(xserver, "xhost").stdout

    fixed = cli(env, "fix", "--unsafe", "--yes", "x11.access-control")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "x11.access-control: fixed (verified)" in fixed.stdout
    listing = xtool(xserver, "xhost").stdout
    assert "access control enabled" in listing and "LOCAL:" not in listing
    assert "SI:localuser:nobody" in listing  # scoped grants are left alone
    assert cli(env, "check", "x11.access-control").returncode == 0


def test_access_control_disabled_fix_reenables_it(xserver: servers.XServer, home: Path) -> None:
    assert xtool(xserver, "xhost", "+").returncode == 0
    env = user_env(home, xserver)
    fixed = cli(env, "fix", "--unsafe", "--yes", "x11.access-control")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "access control enabled" in xtool(xserver, "xhost").stdout


# -- the container cookie --------------------------------------------------------------------------

def xauth_reference(server: servers.XServer, dest: Path) -> bytes:
    """``xauth nlist :n | sed 's/^..../ffff/' | xauth -f dest nmerge -``: the FamilyWild trick."""
    listed = subprocess.run(["xauth", "-f", str(server.xauthority), "nlist", server.display],
                            capture_output=True, text=True, check=True).stdout
    wild = "".join("ffff" + line[4:] + "\n" for line in listed.splitlines())
    subprocess.run(["xauth", "-f", str(dest), "nmerge", "-"], input=wild, text=True, check=True,
                   capture_output=True)
    return dest.read_bytes()


def test_fix_then_check_end_to_end(xserver: servers.XServer, home: Path, tmp_path: Path) -> None:
    env = user_env(home, xserver)
    before = cli(env, "check", "x11")
    assert before.returncode == 1 and "x11.container-cookie" in before.stdout

    dry = cli(env, "fix", "--dry-run", "x11")
    assert "content not shown" in dry.stdout and xserver.cookie_hex not in dry.stdout

    fixed = cli(env, "fix", "x11")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "x11.container-cookie: fixed (verified)" in fixed.stdout
    for output in (before, dry, fixed):
        assert xserver.cookie_hex not in output.stdout + output.stderr

    after = cli(env, "check", "x11", "--json")
    assert after.returncode == 0, after.stdout
    assert xserver.cookie_hex not in after.stdout

    cookie_file = Path(layout.x11_cookie(real_context(env).paths, xserver.number))
    assert oct(cookie_file.stat().st_mode & 0o777) == "0o644"
    assert oct(cookie_file.parent.stat().st_mode & 0o777) == "0o700"
    assert cookie_file.read_bytes() == xauth_reference(xserver, tmp_path / "reference")
    done = xtool(xserver, "xdpyinfo", xauthority=str(cookie_file))
    assert done.returncode == 0 and f"name of display:    {xserver.display}" in done.stdout

    before_again = cookie_file.stat()
    again = cli(env, "fix", "x11")  # nothing left to do: the file is not rewritten
    assert again.returncode == 0 and "x11.write-container-cookie" not in again.stdout
    assert (cookie_file.stat().st_ino, cookie_file.stat().st_mtime_ns) == (before_again.st_ino,
                                                                           before_again.st_mtime_ns)


def test_stale_cookie_file_is_detected_and_rewritten(xserver: servers.XServer, home: Path) -> None:
    env = user_env(home, xserver)
    assert cli(env, "fix", "x11").returncode == 0
    paths = real_context(env).paths
    cookie_file = Path(layout.x11_cookie(paths, xserver.number))
    other = x11auth.XauthEntry(x11auth.FAMILY_WILD, b"vm", str(xserver.number).encode(),
                               x11auth.MIT_MAGIC_COOKIE, bytes(16))
    cookie_file.write_bytes(x11auth.encode_xauthority([other]))
    result = run_checks(env, "x11.container-cookie")["x11.container-cookie"]
    assert result.status is Status.FAIL and "stale" in result.summary
    assert xtool(xserver, "xdpyinfo", xauthority=str(cookie_file)).returncode != 0
    assert cli(env, "fix", "x11").returncode == 0
    assert xtool(xserver, "xdpyinfo", xauthority=str(cookie_file)).returncode == 0


def in_other_uts(server: servers.XServer, xauthority: Path) -> subprocess.CompletedProcess[str]:
    """xdpyinfo under another host name (user + UTS namespace, unprivileged)."""
    env = {**os.environ, **server.env(), "XAUTHORITY": str(xauthority)}
    return subprocess.run(["unshare", "--map-root-user", "--uts", "sh", "-c",
                           "hostname container123 && exec xdpyinfo"], env=env, capture_output=True,
                          text=True, timeout=30)


def test_wild_cookie_works_under_another_hostname(xserver: servers.XServer, home: Path) -> None:
    servers.require("unshare")
    probe = subprocess.run(["unshare", "--map-root-user", "--uts", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user+UTS namespaces unavailable: {probe.stderr!r}")
    env = user_env(home, xserver)
    assert cli(env, "fix", "x11").returncode == 0
    cookie_file = Path(layout.x11_cookie(real_context(env).paths, xserver.number))
    original = in_other_uts(xserver, xserver.xauthority)
    assert original.returncode != 0 and "Authorization required" in original.stderr
    wild = in_other_uts(xserver, cookie_file)
    assert wild.returncode == 0, wild.stderr
    assert f"name of display:    {xserver.display}" in wild.stdout


def test_container_user_reads_the_cookie(xserver: servers.XServer, home: Path, standin_image: str) -> None:
    """uid 1500 in the default rootless userns (a subordinate uid on the host) connects."""
    env = user_env(home, xserver)
    assert cli(env, "fix", "x11").returncode == 0
    cookie_file = layout.x11_cookie(real_context(env).paths, xserver.number)
    done = subprocess.run([
        "podman", "run", "--rm", "--network", "none", "--user", "1500:1500",
        "-v", f"{xserver.socket_path}:{xserver.socket_path}",
        "-v", f"{cookie_file}:{layout.CONTAINER_XAUTHORITY}:ro",
        "-e", f"DISPLAY={xserver.display}", "-e", f"XAUTHORITY={layout.CONTAINER_XAUTHORITY}",
        standin_image, "/usr/bin/xdpyinfo"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"name of display:    {xserver.display}" in done.stdout

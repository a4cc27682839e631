"""x11.* checks over fakes: every branch, the requires chain, and the fixes applied."""
from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from spotidoctor.api import Check, Context
from spotidoctor.checks.x11 import CHECKS
from spotidoctor.checks.x11.access_control import (
    ACCESS_DISABLED,
    GRANT_CONSEQUENCE,
    LOCAL_GRANT,
    MIT_SHM_NOTE,
    NETWORK_GRANT,
    NO_OWN_COOKIE,
    OPEN_ADVICE,
    OPEN_TO_ALL,
    REVOKE_FIX_ID,
    SCOPED_ADMIT,
    AccessControlAudit,
)
from spotidoctor.checks.x11.connect import AUTH_BAD_COOKIE, AUTH_NO_COOKIE, HUNG, REFUSED, DisplayConnect
from spotidoctor.checks.x11.container_cookie import COOKIE_FIX_ID, ContainerCookie
from spotidoctor.checks.x11.display import (
    BAD_DISPLAY,
    NO_DISPLAY,
    TCP_DISPLAY,
    WAYLAND_WITHOUT_X,
    XWAYLAND_NOTE,
    DisplaySet,
)
from spotidoctor.checks.x11.socket import NO_SOCKET, NOT_A_SOCKET, DisplaySocket
from spotidoctor.checks.x11.steps import RevokeHostAccess, WriteWildCookie
from spotidoctor.checks.x11.trust import NO_SECURITY, TRUSTED_OPT_IN, UNTRUSTED, X11Trust
from spotidoctor.config import Config
from spotidoctor.engine import fixer
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.fixes import Applicability
from spotidoctor.model import CheckResult, Message, Severity, Status
from spotidoctor.probes.x11 import AccessControl, Handshake, HostEntry, SetupStatus
from spotidoctor.probes.x11auth import (
    FAMILY_LOCAL,
    FAMILY_SERVER_INTERPRETED,
    FAMILY_WILD,
    MIT_MAGIC_COOKIE,
    XauthEntry,
    encode_xauthority,
)
from spotidoctor.testing import make_context
from spotidoctor.testing.x11 import AUTH_REQUIRED, INET, LOCAL, SI_USER, XVFB_INFO, FakeX11

COOKIE = bytes(range(16))
NEW_COOKIE = bytes(range(100, 116))
XAUTH = "/home/alice/.Xauthority"
DEST = "/run/user/1600/spotidoctor/Xauthority-0"
# The test runner owns the files it makes; the context's user is alice (1600).
SOCKET_OWNERS = {"/tmp/.X11-unix": (0, 0), "/tmp/.X11-unix/X0": (1600, 1600)}
RUNTIME = "/run/user/1600/spotidoctor"


def xauthority(cookie: bytes = COOKIE, number: bytes = b"0", host: bytes = b"vm") -> bytes:
    return encode_xauthority([XauthEntry(FAMILY_LOCAL, host, number, MIT_MAGIC_COOKIE, cookie)])


def wild(cookie: bytes = COOKIE) -> bytes:
    return encode_xauthority([XauthEntry(FAMILY_WILD, b"vm", b"0", MIT_MAGIC_COOKIE, cookie)])


def context(tmp_path: Path, env: Mapping[str, str] | None = None, x11: FakeX11 | None = None,
            files: Mapping[str, str | bytes] | None = None, socket: bool = True,
            prior: Mapping[str, CheckResult] | None = None,
            owners: Mapping[str, tuple[int, int]] | None = None) -> Context:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    base = {"/proc/sys/kernel/hostname": "vm\n", XAUTH: xauthority()}
    ctx = make_context(root, files={**base, **(files or {})}, env={"DISPLAY": ":0", **(env or {})},
                       x11=x11 or FakeX11.ok(), owners=owners or {DEST: (1600, 1600), **SOCKET_OWNERS})
    if socket:
        (root / "tmp/.X11-unix").mkdir(parents=True, exist_ok=True)
        if not (root / "tmp/.X11-unix/X0").exists():
            os.mknod(root / "tmp/.X11-unix/X0", stat.S_IFSOCK | 0o777)
    (root / RUNTIME.lstrip("/")).mkdir(parents=True, exist_ok=True, mode=0o700)
    for d in (root, root / "run", root / "run/user", root / "run/user/1600"):
        d.chmod(0o755)
    return dataclasses.replace(ctx, prior=dict(prior or {}))


def run(check: type[Check], ctx: Context) -> CheckResult:
    return check().run(ctx)


def write(ctx: Context, path: str, data: bytes, mode: int = 0o644) -> None:
    ctx.probes.fs.write_atomic(path, data, mode=mode)


# -- x11.display -------------------------------------------------------------------------------

SESSION_NONE = {"session_type": None, "wayland_display": None, "xwayland": None}
DISPLAY_FACTS = {"display": ":0", "display_number": 0, "socket_path": "/tmp/.X11-unix/X0"}


@pytest.mark.parametrize(("env", "summary", "facts", "notes"), [
    pytest.param({"DISPLAY": ":0"}, "DISPLAY=:0", SESSION_NONE, (), id="plain"),
    pytest.param({"DISPLAY": ":0.0", "XDG_SESSION_TYPE": "x11"}, "DISPLAY=:0.0 (X11 session)",
                 {"session_type": "x11", "wayland_display": None, "xwayland": False}, (), id="x11-session"),
    pytest.param({"DISPLAY": "unix:0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"},
                 "DISPLAY=unix:0 (Xwayland in a Wayland session)",
                 {"session_type": "wayland", "wayland_display": "wayland-0", "xwayland": True},
                 (Message.info(XWAYLAND_NOTE),), id="xwayland"),
    pytest.param({"DISPLAY": "unix/:0", "WAYLAND_DISPLAY": "wayland-1"},
                 "DISPLAY=unix/:0 (Xwayland in a Wayland session)",
                 {"session_type": None, "wayland_display": "wayland-1", "xwayland": True},
                 (Message.info(XWAYLAND_NOTE),), id="wayland-display-only"),
    pytest.param({"DISPLAY": ":0", "XDG_SESSION_TYPE": "TTY"}, "DISPLAY=:0",
                 {"session_type": "tty", "wayland_display": None, "xwayland": None}, (), id="tty"),
])
def test_display_ok(tmp_path: Path, env: dict[str, str], summary: str, facts: dict[str, object],
                    notes: tuple[Message, ...]) -> None:
    result = run(DisplaySet, context(tmp_path, env))
    expected = DisplaySet().ok(summary, *notes, facts={**facts, **DISPLAY_FACTS, "display_raw": env["DISPLAY"]})
    assert result == expected


@pytest.mark.parametrize(("env", "summary", "advice_part"), [
    pytest.param({"DISPLAY": ""}, NO_DISPLAY, "export DISPLAY=:0", id="unset"),
    pytest.param({"DISPLAY": "", "XDG_SESSION_TYPE": "tty"}, NO_DISPLAY, "graphical session", id="tty-unset"),
    pytest.param({"DISPLAY": "", "XDG_SESSION_TYPE": "wayland"}, WAYLAND_WITHOUT_X, "xwayland enable",
                 id="wayland-no-x"),
    pytest.param({"DISPLAY": "", "WAYLAND_DISPLAY": "wayland-0"}, WAYLAND_WITHOUT_X, "Xwayland",
                 id="wayland-display-no-x"),
    pytest.param({"DISPLAY": "garbage"}, BAD_DISPLAY.format(raw="garbage"), "export DISPLAY", id="garbage"),
    pytest.param({"DISPLAY": ":"}, BAD_DISPLAY.format(raw=":"), "export DISPLAY", id="colon"),
    pytest.param({"DISPLAY": ":99999999"}, BAD_DISPLAY.format(raw=":99999999"), "export DISPLAY", id="huge"),
    pytest.param({"DISPLAY": "tcp/host:0"}, TCP_DISPLAY.format(raw="tcp/host:0"), "SSH X forwarding",
                 id="tcp-proto"),
    pytest.param({"DISPLAY": "localhost:10.0"}, TCP_DISPLAY.format(raw="localhost:10.0"), "DISPLAY=:0",
                 id="ssh-forwarding"),
])
def test_display_fails(tmp_path: Path, env: dict[str, str], summary: str, advice_part: str) -> None:
    result = run(DisplaySet, context(tmp_path, env))
    assert (result.status, result.summary) == (Status.FAIL, summary)
    assert any(advice_part in a for m in result.messages for a in m.advice)
    assert "display" not in result.facts and "session_type" in result.facts


def test_wayland_without_x_reports_session_facts(tmp_path: Path) -> None:
    result = run(DisplaySet, context(tmp_path, {"DISPLAY": "", "XDG_SESSION_TYPE": "wayland"}))
    assert result.facts == {"session_type": "wayland", "wayland_display": None, "xwayland": False}


# -- x11.socket --------------------------------------------------------------------------------

def test_socket_ok(tmp_path: Path) -> None:
    result = run(DisplaySocket, context(tmp_path))
    assert result == DisplaySocket().ok("/tmp/.X11-unix/X0 is a socket", facts={"socket_owner_uid": 1600})


@pytest.mark.parametrize(("owners", "mode", "problem"), [
    pytest.param({"/tmp/.X11-unix/X0": (1700, 1700)}, 0o755, "belongs to uid 1700, not you (uid 1600) or root",
                 id="socket-of-another-user"),
    pytest.param({"/tmp/.X11-unix": (1700, 1700)}, 0o755, "its owner can replace the X sockets",
                 id="directory-of-another-user"),
    pytest.param({}, 0o777, "writable by others without the sticky bit", id="no-sticky-bit"),
])
def test_socket_not_yours_fails_before_any_cookie_is_sent(tmp_path: Path, owners: dict[str, tuple[int, int]],
                                                          mode: int, problem: str) -> None:
    x11 = FakeX11.ok()
    ctx = context(tmp_path, x11=x11, owners={DEST: (1600, 1600), **SOCKET_OWNERS, **owners})
    (tmp_path / "root/tmp/.X11-unix").chmod(mode)
    result = run(DisplaySocket, ctx)
    assert result.status is Status.FAIL and problem in result.summary, result.summary
    assert "No cookie is sent to it" in result.messages[-1].text
    results = run_all(ctx)
    assert results["x11.connect"].status is Status.SKIP and x11.calls == []  # nothing was sent anywhere


def test_socket_missing(tmp_path: Path) -> None:
    result = run(DisplaySocket, context(tmp_path, socket=False))
    assert (result.status, result.summary) == (Status.FAIL, NO_SOCKET.format(path="/tmp/.X11-unix/X0"))
    assert "abstract socket" in result.messages[0].text


def test_socket_not_a_socket(tmp_path: Path) -> None:
    ctx = context(tmp_path, socket=False, files={"/tmp/.X11-unix/X0": "not a socket"})
    result = run(DisplaySocket, ctx)
    assert (result.status, result.summary) == (Status.FAIL, NOT_A_SOCKET.format(path="/tmp/.X11-unix/X0"))


# -- x11.connect -------------------------------------------------------------------------------

def test_connect_ok_publishes_server_facts(tmp_path: Path) -> None:
    x11 = FakeX11.ok()
    result = run(DisplayConnect, context(tmp_path, x11=x11))
    assert result.status is Status.OK
    assert result.summary == "The X.Org Foundation 12101007 on :0, screen 1280x800, MIT-SHM present"
    assert result.facts == {"vendor": "The X.Org Foundation", "release": 12101007, "screen": "1280x800",
                            "screens": 1, "mit_shm": True, "security": True, "xwayland_server": False,
                            "auth": "MIT-MAGIC-COOKIE-1", "xauthority": XAUTH}
    assert x11.calls == [("handshake", ":0"), ("server_info", ":0")]


def test_connect_without_cookie_says_so(tmp_path: Path) -> None:
    info = dataclasses.replace(XVFB_INFO, extensions=("XWAYLAND",))
    result = run(DisplayConnect, context(tmp_path, x11=FakeX11.ok(cookie=False, info=info)))
    assert result.status is Status.OK and result.facts["auth"] is None
    assert result.facts["mit_shm"] is False and result.facts["xwayland_server"] is True
    assert "MIT-SHM absent" in result.summary
    assert any("without a cookie" in m.text for m in result.messages)


@pytest.mark.parametrize(("x11", "summary"), [
    pytest.param(FakeX11.hung(), HUNG.format(display=":0", timeout=3.0), id="hung"),
    pytest.param(FakeX11(info=ProbeTimeout("xlib hung")), HUNG.format(display=":0", timeout=3.0),
                 id="hung-after-setup"),
    pytest.param(FakeX11.refused(), REFUSED.format(path="/tmp/.X11-unix/X0"), id="refused"),
    pytest.param(FakeX11(shake=Handshake(SetupStatus.MISSING, "No such file or directory")),
                 NO_SOCKET.format(path="/tmp/.X11-unix/X0"), id="vanished"),
    pytest.param(FakeX11.unauthorized(), AUTH_NO_COOKIE.format(display=":0", xauthority=XAUTH), id="no-cookie"),
    pytest.param(FakeX11.unauthorized(cookie=True), AUTH_BAD_COOKIE.format(display=":0", xauthority=XAUTH),
                 id="stale-cookie"),
    pytest.param(FakeX11(shake=Handshake(SetupStatus.FAILED, "Protocol version mismatch")),
                 "X server :0 refused the connection: Protocol version mismatch", id="other-reason"),
    pytest.param(FakeX11(shake=Handshake(SetupStatus.AUTHENTICATE, "")),
                 "X server :0 refused the connection: authenticate", id="authenticate"),
])
def test_connect_failures_are_distinct(tmp_path: Path, x11: FakeX11, summary: str) -> None:
    result = run(DisplayConnect, context(tmp_path, x11=x11))
    assert (result.status, result.summary) == (Status.FAIL, summary)


def test_connect_authorization_message_quotes_the_server(tmp_path: Path) -> None:
    result = run(DisplayConnect, context(tmp_path, x11=FakeX11.unauthorized()))
    assert result.messages[0].text == AUTH_REQUIRED


def test_connect_probe_unavailable_propagates(tmp_path: Path) -> None:
    x11 = FakeX11(info=ProbeUnavailable("python-xlib is not installed"))
    with pytest.raises(ProbeUnavailable):
        run(DisplayConnect, context(tmp_path, x11=x11))


# -- x11.container-cookie ------------------------------------------------------------------------

COOKIE_FACTS = {"cookie_file": DEST, "xauthority": XAUTH}


def test_cookie_ok(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    write(ctx, DEST, wild())
    assert run(ContainerCookie, ctx) == ContainerCookie().ok(
        f"{DEST} holds the current cookie for :0 (FamilyWild, readable by the container user)", facts=COOKIE_FACTS)


def test_no_cookie_copy_without_a_runtime_dir(tmp_path: Path) -> None:
    # The fallback <state>/run is in the home directory: no secret is ever written there.
    ctx = context(tmp_path, env={"XDG_RUNTIME_DIR": ""})
    result = run(ContainerCookie, ctx)
    assert (result.status, result.summary) == (
        Status.FAIL, "XDG_RUNTIME_DIR is not set: no private place for the container's X cookie")
    assert result.fixes == () and "machinectl shell" in result.messages[0].text
    assert not ctx.probes.fs.exists(ctx.paths.runtime_dir)


def test_cookie_owned_by_the_container_uid_is_fine(tmp_path: Path) -> None:
    ctx = context(tmp_path, owners={DEST: (101499, 101499), **SOCKET_OWNERS})
    write(ctx, DEST, wild(), mode=0o600)
    assert run(ContainerCookie, ctx).status is Status.OK


@pytest.mark.parametrize(("setup", "summary"), [
    pytest.param(None, f"container cookie file {DEST} is missing", id="missing"),
    pytest.param((wild(), 0o600), f"{DEST} is not readable by the container user (mode 0600; needs 0644)",
                 id="private-mode"),
    pytest.param((wild(NEW_COOKIE), 0o644), f"{DEST} is stale: it does not hold the display's current cookie",
                 id="stale"),
    pytest.param((b"", 0o644), f"{DEST} is stale: it does not hold the display's current cookie", id="empty"),
])
def test_cookie_file_problems_offer_the_safe_fix(tmp_path: Path, setup: tuple[bytes, int] | None,
                                                 summary: str) -> None:
    ctx = context(tmp_path)
    if setup:
        write(ctx, DEST, *setup)
    result = run(ContainerCookie, ctx)
    assert (result.status, result.summary, result.facts) == (Status.FAIL, summary, COOKIE_FACTS)
    (fix,) = result.fixes
    assert (fix.id, fix.applicability) == (COOKIE_FIX_ID, Applicability.SAFE)
    assert fix.steps == (WriteWildCookie("write the FamilyWild cookie for :0", source=XAUTH, dest=DEST,
                                         display_number=0, private_dir=RUNTIME),)


def test_cookie_file_that_is_a_directory_fails(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    (Path(ctx.probes.fs.host(DEST))).mkdir()
    assert run(ContainerCookie, ctx).summary == f"{DEST} is not a regular file"


def test_cookie_symlink_is_not_followed(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    write(ctx, "/run/user/1600/spotidoctor/real", wild())
    os.symlink("real", ctx.probes.fs.host(DEST))
    assert run(ContainerCookie, ctx).summary == f"{DEST} is not a regular file"


@pytest.mark.parametrize(("files", "env", "summary_part"), [
    pytest.param({XAUTH: b""}, {}, "Xauthority file is empty", id="empty-xauthority"),
    pytest.param({XAUTH: xauthority()[:-4]}, {}, "truncated", id="truncated-xauthority"),
    pytest.param({XAUTH: xauthority(number=b"1")}, {}, "no MIT-MAGIC-COOKIE-1 entry for display :0",
                 id="other-display"),
    pytest.param({XAUTH: xauthority(host=b"otherhost")}, {}, "no MIT-MAGIC-COOKIE-1 entry", id="other-host"),
    pytest.param({}, {"XAUTHORITY": "/nonexistent/xa"}, "cannot read /nonexistent/xa", id="missing-file"),
])
def test_cookie_source_problems(tmp_path: Path, files: dict[str, bytes], env: dict[str, str],
                                summary_part: str) -> None:
    result = run(ContainerCookie, context(tmp_path, env=env, files=files))
    assert result.status is Status.FAIL and summary_part in result.summary and not result.fixes


def test_cookie_uses_xauthority_env(tmp_path: Path) -> None:
    ctx = context(tmp_path, env={"XAUTHORITY": "/run/user/1600/gdm/Xauthority"},
                  files={"/run/user/1600/gdm/Xauthority": xauthority(NEW_COOKIE)})
    write(ctx, DEST, wild(NEW_COOKIE))
    result = run(ContainerCookie, ctx)
    assert result.status is Status.OK and result.facts["xauthority"] == "/run/user/1600/gdm/Xauthority"


def test_cookie_in_a_world_traversable_dir_warns(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    write(ctx, DEST, wild())
    os.chmod(ctx.probes.fs.host(RUNTIME), 0o755)
    result = run(ContainerCookie, ctx)
    assert (result.status, result.summary) == (Status.WARN, f"{DEST} is readable by every local user")
    assert result.fixes[0].id == COOKIE_FIX_ID


def test_cookie_messages_never_contain_cookie_bytes(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    write(ctx, DEST, wild(NEW_COOKIE))
    env = fixer.StepEnvironment.from_context(ctx)
    result = run(ContainerCookie, ctx)
    text = repr(result) + "\n".join(fixer.preview(result.fixes[0], env)) + repr(result.fixes[0].to_json())
    for secret in (COOKIE, NEW_COOKIE):
        assert secret.hex() not in text and repr(secret) not in text


@pytest.mark.parametrize("setup", [None, (wild(NEW_COOKIE), 0o600), (b"junk", 0o644)],
                         ids=["missing", "stale-private", "junk"])
def test_cookie_fix_applies_and_recheck_passes(tmp_path: Path, setup: tuple[bytes, int] | None) -> None:
    ctx = context(tmp_path)
    os.chmod(ctx.probes.fs.host(RUNTIME), 0o755)
    if setup:
        write(ctx, DEST, *setup)
    result = run(ContainerCookie, ctx)
    env = fixer.StepEnvironment.from_context(ctx)
    preview = fixer.preview(result.fixes[0], env)
    assert any("content not shown" in line for line in preview)
    assert f"   $ chmod 0700 -- {RUNTIME}" in preview
    applied = fixer.apply(fixer.Candidate(result, result.fixes[0]), env)
    assert applied.ok, applied
    assert ctx.probes.fs.read_bytes(DEST) == wild()
    assert stat.S_IMODE(os.stat(ctx.probes.fs.host(DEST)).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(ctx.probes.fs.host(RUNTIME)).st_mode) == 0o700
    assert run(ContainerCookie, ctx).status is Status.OK
    assert fixer.preview(result.fixes[0], env)[1] == f"   {DEST}: already up to date"


def test_cookie_fix_reads_the_cookie_at_apply_time(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    result = run(ContainerCookie, ctx)
    write(ctx, XAUTH, xauthority(NEW_COOKIE))  # the session restarted between plan and apply
    fixer.apply(fixer.Candidate(result, result.fixes[0]), fixer.StepEnvironment.from_context(ctx))
    assert ctx.probes.fs.read_bytes(DEST) == wild(NEW_COOKIE)


def test_cookie_fix_fails_cleanly_without_a_cookie(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    result = run(ContainerCookie, ctx)
    write(ctx, XAUTH, xauthority(number=b"5"))
    applied = fixer.apply(fixer.Candidate(result, result.fixes[0]), fixer.StepEnvironment.from_context(ctx))
    assert not applied.ok and "no MIT-MAGIC-COOKIE-1 entry" in applied.steps[0].outcome
    assert not ctx.probes.fs.exists(DEST)


# -- x11.access-control -------------------------------------------------------------------------

CONNECTED = {"x11.connect": CheckResult("x11.connect", Status.OK, "ok",
                                        facts={"auth": "MIT-MAGIC-COOKIE-1", "mit_shm": True})}


def test_access_control_ok(tmp_path: Path) -> None:
    result = run(AccessControlAudit, context(tmp_path, x11=FakeX11.ok(hosts=(SI_USER,)), prior=CONNECTED))
    assert result == AccessControlAudit().ok(
        "access control enabled (SI:localuser:alice)",
        Message.info("SI:localuser:alice: admits that one user or group (scoped; fine)"), Message.info(MIT_SHM_NOTE),
        Message.info(SCOPED_ADMIT.format(entries="SI:localuser:alice")),
        facts={"access_control": True, "hosts": ["SI:localuser:alice"], "mit_shm": True,
               "cookieless_admitted": True})


def test_access_control_ok_when_a_cookieless_connection_is_refused(tmp_path: Path) -> None:
    x11 = FakeX11.ok()
    result = run(AccessControlAudit, context(tmp_path, x11=x11, prior=CONNECTED))
    assert (result.status, result.summary) == (Status.OK, "access control enabled (no host grants)")
    assert result.facts["cookieless_admitted"] is False
    assert ("anonymous_handshake", ":0") in x11.calls


@pytest.mark.parametrize("hosts", [
    pytest.param((), id="empty-list"),
    pytest.param((HostEntry(FAMILY_SERVER_INTERPRETED, b"localuser\0bob"),), id="another-users-grant"),
    pytest.param((INET,), id="network-grant-only"),
])
def test_a_server_without_a_cookie_of_its_own_fails(tmp_path: Path, hosts: tuple) -> None:
    # X.Org with an empty -auth file admits every local client, and its host list shows nothing.
    result = run(AccessControlAudit, context(tmp_path, x11=FakeX11.ok(hosts=hosts, open_to_all=True),
                                             prior=CONNECTED))
    assert (result.status, result.summary) == (Status.FAIL, OPEN_TO_ALL.format(display=":0"))
    assert result.facts["cookieless_admitted"] is True
    listed = ", ".join(h.text for h in hosts)
    assert result.messages[0].text == NO_OWN_COOKIE.format(
        ruled_out=f"the list holds {listed}" if hosts else "the list is empty")
    assert result.messages[1].text == OPEN_ADVICE
    assert not any(f.applicability is Applicability.SAFE for f in result.fixes)


def test_access_control_disabled_fails_with_unsafe_fix(tmp_path: Path) -> None:
    result = run(AccessControlAudit, context(tmp_path, x11=FakeX11.ok(enabled=False), prior=CONNECTED))
    assert (result.status, result.summary) == (Status.FAIL, ACCESS_DISABLED.format(display=":0"))
    assert result.messages[0] == Message.error(GRANT_CONSEQUENCE)
    (fix,) = result.fixes
    assert (fix.id, fix.applicability) == (REVOKE_FIX_ID, Applicability.UNSAFE)
    assert fix.steps == (RevokeHostAccess("revoke host grants on :0", display=":0", hosts=(),
                                          enable_access_control=True),)


@pytest.mark.parametrize(("hosts", "summary", "first"), [
    pytest.param((LOCAL,), "host grants without a cookie: LOCAL:", LOCAL_GRANT, id="local"),
    pytest.param((SI_USER, INET), "host grants without a cookie: INET:10.0.0.2",
                 NETWORK_GRANT.format(host="INET:10.0.0.2"), id="inet"),
])
def test_access_control_grants_warn(tmp_path: Path, hosts: tuple, summary: str, first: str) -> None:
    result = run(AccessControlAudit, context(tmp_path, x11=FakeX11.ok(hosts=hosts), prior=CONNECTED))
    assert (result.status, result.summary, result.messages[0].text) == (Status.WARN, summary, first)
    assert result.fixes[0].applicability is Applicability.UNSAFE
    assert result.fixes[0].steps[0].enable_access_control is False


def test_revoke_is_manual_when_the_user_has_no_cookie(tmp_path: Path) -> None:
    prior = {"x11.connect": CheckResult("x11.connect", Status.OK, "ok", facts={"auth": None, "mit_shm": False})}
    result = run(AccessControlAudit, context(tmp_path, x11=FakeX11.ok(hosts=(LOCAL,)), prior=prior))
    assert result.fixes[0].applicability is Applicability.MANUAL
    assert MIT_SHM_NOTE not in [m.text for m in result.messages]


def test_revoke_preview_never_grants(tmp_path: Path) -> None:
    ctx = context(tmp_path, x11=FakeX11.ok(hosts=(LOCAL, INET), enabled=False), prior=CONNECTED)
    result = run(AccessControlAudit, ctx)
    lines = fixer.preview(result.fixes[0], fixer.StepEnvironment.from_context(ctx))
    assert lines == ["1. revoke host grants on :0",
                     "   remove LOCAL: from the access list of :0 (like `xhost -local:`)",
                     "   remove INET:10.0.0.2 from the access list of :0 (like `xhost -inet:10.0.0.2`)",
                     "   enable access control on :0 (like `xhost -`)",
                     "note: Local programs that connect without a cookie (another user's, root's, an old "
                     "`xhost local:root` setup) lose access."]
    assert not any("xhost +" in line or "xhost local:" in line for line in lines[:-1])


def test_revoke_fix_applies_and_recheck_passes(tmp_path: Path) -> None:
    x11 = FakeX11.ok(hosts=(SI_USER, LOCAL, INET), enabled=False)
    ctx = context(tmp_path, x11=x11, prior=CONNECTED)
    result = run(AccessControlAudit, ctx)
    applied = fixer.apply(fixer.Candidate(result, result.fixes[0]), fixer.StepEnvironment.from_context(ctx))
    assert applied.ok
    assert applied.steps[0].outcome == ":0: removed LOCAL:; removed INET:10.0.0.2; enabled access control"
    assert x11.access == AccessControl(True, (SI_USER,))
    assert run(AccessControlAudit, ctx).status is Status.OK


def test_revoke_fix_fails_if_the_server_keeps_the_grant(tmp_path: Path) -> None:
    class Stubborn(FakeX11):
        def revoke(self, display, hosts, *, enable_access_control, timeout=3.0):
            return self.access_control(display)

    ctx = context(tmp_path, x11=Stubborn(access=AccessControl(True, (LOCAL,))), prior=CONNECTED)
    result = run(AccessControlAudit, ctx)
    applied = fixer.apply(fixer.Candidate(result, result.fixes[0]), fixer.StepEnvironment.from_context(ctx))
    assert not applied.ok and "still has LOCAL:" in applied.steps[0].outcome


# -- x11.trust ---------------------------------------------------------------------------------

def trust(tmp_path: Path, *, config: Config | None = None, security: bool = True) -> CheckResult:
    connect = CheckResult("x11.connect", Status.OK, "ok", facts={"security": security})
    ctx = context(tmp_path, prior={"x11.connect": connect})
    return run(X11Trust, dataclasses.replace(ctx, config=config or Config()))


def test_trust_untrusted_by_default_says_what_it_takes_away_and_what_stays(tmp_path: Path) -> None:
    result = trust(tmp_path)
    assert (result.status, result.summary) == (Status.OK, UNTRUSTED)
    assert result.facts == {"trust": "untrusted", "security_offered": True, "fallback": None}
    texts = " ".join(m.text for m in result.messages)
    assert "no GLX (Spotify renders in software)" in texts and "window titles" in texts


def test_trust_trusted_is_an_opt_in_with_a_warning(tmp_path: Path) -> None:
    result = trust(tmp_path, config=Config(x11_trust="trusted"))
    assert (result.status, result.summary, result.severity) == (Status.WARN, TRUSTED_OPT_IN, Severity.WARNING)
    assert result.facts == {"trust": "trusted", "security_offered": True, "fallback": None}


def test_trust_falls_back_with_a_warning_without_security(tmp_path: Path) -> None:
    result = trust(tmp_path, security=False)
    assert result.status is Status.WARN and result.summary == NO_SECURITY.format(display=":0")
    assert result.facts["trust"] == "trusted" and result.facts["fallback"] == result.summary


def test_the_trusted_cookie_file_is_checked_only_with_a_trusted_cookie(tmp_path: Path) -> None:
    def facts(trust: str) -> Mapping[str, CheckResult]:
        return {"x11.trust": CheckResult("x11.trust", Status.OK, "", facts={
            "trust": trust, "security_offered": True, "fallback": None})}

    assert "untrusted" in (ContainerCookie().applies(context(tmp_path, prior=facts("untrusted"))) or "")
    assert ContainerCookie().applies(context(tmp_path, prior=facts("trusted"))) is None


# -- the chain: one root cause, reported once ------------------------------------------------------

def run_all(ctx: Context) -> dict[str, CheckResult]:
    report = Runner(ctx).run(plan(CHECKS, ["x11"]))
    return {r.check_id: r for r in report.results}


@pytest.mark.parametrize(("env", "x11", "socket", "failing"), [
    pytest.param({"DISPLAY": ""}, FakeX11.ok(), True, "x11.display", id="no-display"),
    pytest.param({}, FakeX11.ok(), False, "x11.socket", id="no-socket"),
    pytest.param({}, FakeX11.hung(), True, "x11.connect", id="hung"),
    pytest.param({}, FakeX11.unauthorized(), True, "x11.connect", id="unauthorized"),
])
def test_one_root_cause_is_reported_once(tmp_path: Path, env: dict[str, str], x11: FakeX11, socket: bool,
                                         failing: str) -> None:
    results = run_all(context(tmp_path, env=env, x11=x11, socket=socket))
    problems = [cid for cid, r in results.items() if r.status.is_problem]
    assert problems == [failing]
    order = [c.id for c in CHECKS]
    after = order[order.index(failing) + 1:]
    assert all(results[cid].status is Status.SKIP for cid in after)


def test_everything_passes_with_a_good_setup(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    results = run_all(ctx)
    expected = {c.id: Status.OK for c in CHECKS} | {"x11.container-cookie": Status.SKIP}
    assert {cid: r.status for cid, r in results.items()} == expected
    assert "untrusted cookie" in results["x11.container-cookie"].summary  # no trusted copy by default


def test_everything_passes_with_a_good_trusted_setup(tmp_path: Path) -> None:
    ctx = dataclasses.replace(context(tmp_path), config=Config(x11_trust="trusted"))
    write(ctx, DEST, wild())
    results = run_all(ctx)
    expected = {c.id: Status.OK for c in CHECKS} | {"x11.trust": Status.WARN}
    assert {cid: r.status for cid, r in results.items()} == expected


def test_checks_metadata() -> None:
    assert [c.id for c in CHECKS] == ["x11.display", "x11.socket", "x11.connect", "x11.trust",
                                      "x11.container-cookie", "x11.access-control"]
    launch = {c.id for c in CHECKS if "launch" in c.tags}
    assert launch == {"x11.display", "x11.socket", "x11.connect", "x11.trust", "x11.container-cookie",
                      "x11.access-control"}
    for check in CHECKS:
        doc = check.explanation()
        assert "What it checks" in doc and "Why it matters" in doc and "Fix safety" in doc

"""x11.connect: a bounded connection to the X server works (or why not)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import ProbeTimeout
from spotidoctor.probes import x11auth
from spotidoctor.probes.x11 import Handshake, SetupStatus
from spotidoctor.types import JSONValue

from .display import local_display
from .socket import NO_SOCKET

CONNECT_TIMEOUT_S = 3.0


HUNG = "X server {display} is hung: it accepted the connection but did not answer within {timeout:g}s"
REFUSED = "Connection refused: no X server listens on {path}"
AUTH_NO_COOKIE = "Authorization required: no cookie for {display} in {xauthority}"
AUTH_UNUSABLE = "Authorization required: cannot read a cookie from {xauthority}: {problem}"
AUTH_BAD_COOKIE = "Authorization required: the X server rejected the cookie for {display} from {xauthority}"


class DisplayConnect(Check):
    """What it checks: a bounded connection to the X server with your Xauthority works; reports
    the server vendor, screen size and extensions (MIT-SHM).

    Why it matters: tells apart a rejected cookie (`Authorization required`), a dead server's
    leftover socket (`Connection refused`) and a hung server (which would hang xdpyinfo and
    Spotify forever: the probe gives up after a few seconds).

    Fix safety: none (restart the X server or fix XAUTHORITY; the advice says how).
    """

    id = "x11.connect"
    title = "X server accepts a connection"
    category = "x11"
    requires = ("x11.socket",)
    tags = frozenset({"launch"})
    timeout_s = 15.0

    def run(self, ctx: Context) -> CheckResult:
        name = local_display(ctx)
        try:
            shake = ctx.probes.x11.handshake(name.canonical, timeout=CONNECT_TIMEOUT_S)
        except ProbeTimeout:
            return self._hung(name)
        if not shake.ok:
            return self._refused(name, shake)
        try:
            info = ctx.probes.x11.server_info(name.canonical, timeout=CONNECT_TIMEOUT_S)
        except ProbeTimeout:
            return self._hung(name)
        facts: dict[str, JSONValue] = {
            "vendor": info.vendor, "release": info.release, "screen": info.screen, "screens": info.screens,
            "mit_shm": info.mit_shm, "security": info.security, "xwayland_server": info.xwayland,
            "auth": shake.auth_name or None, "xauthority": shake.xauthority,
        }
        notes = [Message.info(f"extensions: {', '.join(info.extensions)}")]
        if not shake.auth_name:
            notes.append(Message.info("Connected without a cookie: the server admits this user without "
                                      "one (x11.access-control says why)."))
        return self.ok(f"{info.vendor} {info.release} on {name.canonical}, screen {info.screen}, "
                       f"MIT-SHM {'present' if info.mit_shm else 'absent'}", *notes, facts=facts)

    def _hung(self, name: x11auth.DisplayName) -> CheckResult:
        return self.fail(HUNG.format(display=name.canonical, timeout=CONNECT_TIMEOUT_S), Message.error(
            "Clients such as Spotify and xdpyinfo would wait forever on this display.",
            f"Find the process behind it: `ss -xlp | grep {name.socket_path}`; restart the X server "
            "(log out and in) if it is yours."), facts={"hung": True})

    def _refused(self, name: x11auth.DisplayName, shake: Handshake) -> CheckResult:
        path = name.socket_path
        xauthority = shake.xauthority or "~/.Xauthority"
        if shake.status is SetupStatus.MISSING:  # it vanished since x11.socket looked
            return self.fail(NO_SOCKET.format(path=path), Message.error(
                f"The X server for {name.canonical} went away while spotidoctor was checking it."))
        if shake.status is SetupStatus.REFUSED:
            return self.fail(REFUSED.format(path=path), Message.error(
                f"{path} is left over from an X server that is gone ({shake.reason}).",
                f"Start your session's X server, or use the DISPLAY of one that runs (`ls {x11auth.X11_SOCKET_DIR}`)."))
        if shake.authorization_required and not shake.auth_name and shake.auth_problem:
            return self.fail(AUTH_UNUSABLE.format(xauthority=xauthority, problem=shake.auth_problem), Message.error(
                shake.reason, f"The X server wants the MIT-MAGIC-COOKIE-1 for {name.canonical} from that file: "
                "log in again to have the display manager rewrite it, or set XAUTHORITY the way the session "
                "does (e.g. /run/user/$UID/gdm/Xauthority)."))
        if shake.authorization_required and not shake.auth_name:
            return self.fail(AUTH_NO_COOKIE.format(display=name.canonical, xauthority=xauthority), Message.error(
                shake.reason,
                f"`xauth list {name.canonical}` shows the cookies xauth sees; if your session keeps them "
                "elsewhere, set XAUTHORITY the way the session does (e.g. /run/user/$UID/gdm/Xauthority)."))
        if shake.authorization_required:
            return self.fail(AUTH_BAD_COOKIE.format(display=name.canonical, xauthority=xauthority),
                             Message.error(shake.reason,
                                           "The cookie is stale (the X server restarted?) or belongs to "
                                           "another server: log in again, or point XAUTHORITY at the "
                                           "session's file."))
        return self.fail(f"X server {name.canonical} refused the connection: {shake.reason or shake.status.value}")

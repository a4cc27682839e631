"""X11 checks: the display, its socket, a bounded connection, the container's cookie, and
the server's host access list.

Chain: x11.display → x11.socket → x11.connect → {x11.container-cookie, x11.access-control},
so one root cause (no DISPLAY, a dead server, a bad cookie) is reported once.
"""
from __future__ import annotations

import os
from typing import Mapping, TYPE_CHECKING

from spotidoctor import layout, x11auth
from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.errors import ParseError, ProbeTimeout
from spotidoctor.types import JSONValue
from spotidoctor.model import Severity
from spotidoctor.probes.x11 import AccessControl, Handshake, HostEntry, SetupStatus
from spotidoctor.x11fixes import CONTAINER_COOKIE_MODE, RevokeHostAccess, WriteWildCookie, wanted_cookie_file

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec

CONNECT_TIMEOUT_S = 3.0
COOKIE_FIX_ID = "x11.write-container-cookie"
REVOKE_FIX_ID = "x11.revoke-host-grants"

# -- user-facing text (tests assert against these) ----------------------------------------
NO_DISPLAY = "DISPLAY is not set"
WAYLAND_WITHOUT_X = "Wayland session without an X display (no Xwayland)"
TCP_DISPLAY = "DISPLAY={raw} is a TCP display, which the container cannot use"
BAD_DISPLAY = "DISPLAY={raw!r} cannot be parsed"
XWAYLAND_NOTE = ("Wayland session with Xwayland: fine. The container only gets the X11 socket, so "
                 "Spotify runs under Xwayland.")
NO_SOCKET = "{path} does not exist"
NOT_A_SOCKET = "{path} exists but is not a socket"
HUNG = "X server {display} is hung: it accepted the connection but did not answer within {timeout:g}s"
REFUSED = "Connection refused: no X server listens on {path}"
AUTH_NO_COOKIE = "Authorization required: no cookie for {display} in {xauthority}"
AUTH_UNUSABLE = "Authorization required: cannot read a cookie from {xauthority}: {problem}"
AUTH_BAD_COOKIE = "Authorization required: the X server rejected the cookie for {display} from {xauthority}"
MIT_SHM_NOTE = ("MIT-SHM is present: Chromium-based clients may try X shared memory, which fails across "
                "podman's private IPC namespace (BadAccess on X_ShmAttach); see `spotidoctor check crash`.")
ACCESS_DISABLED = "X access control is disabled (`xhost +`): anyone who reaches {display} may connect"
LOCAL_GRANT = ("LOCAL: lets every local process connect without a cookie: every user of this machine and "
               "every container given the socket (the original design's `xhost local:root` leaves it)")
NETWORK_GRANT = "{host} lets clients from that address connect without a cookie (when the server listens on TCP)"
GRANT_CONSEQUENCE = ("A client that connects can read the screen, log keystrokes and inject input into "
                     "every window.")


def _session_facts(env: Mapping[str, str], has_display: bool) -> dict[str, JSONValue]:
    session_type = env.get("XDG_SESSION_TYPE", "").strip().lower() or None
    wayland_display = env.get("WAYLAND_DISPLAY", "") or None
    wayland = session_type == "wayland" or wayland_display is not None
    xwayland: bool | None = None
    if wayland:
        xwayland = has_display
    elif session_type == "x11":
        xwayland = False
    return {"session_type": session_type, "wayland_display": wayland_display, "xwayland": xwayland}


def _display(ctx: Context) -> x11auth.DisplayName:
    """The parsed local DISPLAY (x11.display has vetted it for the checks that require it)."""
    return x11auth.parse_display(ctx.env.get("DISPLAY", ""))


class DisplaySet(Check):
    """What it checks: DISPLAY is set to a local display (`:0`, `:0.0`, `unix:0`, `unix/:0`),
    and what kind of session this is (XDG_SESSION_TYPE, WAYLAND_DISPLAY).

    Why it matters: the container reaches X only through the display's unix socket, so a
    TCP display (`host:0`, SSH forwarding) cannot work; a Wayland session needs Xwayland.

    Fix safety: none (log in to a graphical session, or enable Xwayland).
    """

    id = "x11.display"
    title = "DISPLAY names a local X display"
    category = "x11"
    tags = frozenset({"launch"})

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: xdpyinfo (visuals dropped), the xhost listing, socket and cookie file states."""
        from spotidoctor.bundle.sources import x11_evidence

        x11_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        raw = ctx.env.get("DISPLAY", "")
        facts = _session_facts(ctx.env, bool(raw))
        if not raw:
            return self._no_display(facts)
        try:
            name = x11auth.parse_display(raw)
        except ParseError as exc:
            return self.fail(BAD_DISPLAY.format(raw=raw), Message.error(
                str(exc), "Set DISPLAY to your session's display, e.g. `export DISPLAY=:0`."), facts=facts)
        if not name.is_local:
            return self.fail(TCP_DISPLAY.format(raw=raw), Message.error(
                "The container reaches X only through the local socket /tmp/.X11-unix/X<n>.",
                "Run spotidoctor on the machine that shows the display (SSH X forwarding is not supported).",
                "Use a local display such as `DISPLAY=:0`."), facts=facts)
        facts.update(display=name.canonical, display_number=name.number, socket_path=name.socket_path,
                     display_raw=raw)
        return self.ok(self._summary(raw, facts), *self._notes(facts), facts=facts)

    def _no_display(self, facts: dict[str, JSONValue]) -> CheckResult:
        if facts["session_type"] == "wayland" or facts["wayland_display"]:
            return self.fail(WAYLAND_WITHOUT_X, Message.error(
                "Spotify in the container needs X11, and this Wayland session has no X server.",
                "Enable Xwayland in your compositor (GNOME and KDE start it on demand; sway: "
                "`xwayland enable`), log in again, then run `spotidoctor check x11`."), facts=facts)
        where = f" (session type {facts['session_type']})" if facts["session_type"] else ""
        return self.fail(NO_DISPLAY, Message.error(
            f"No X display is known to this shell{where}.",
            "Run spotidoctor from a terminal inside your graphical session,",
            "or set it explicitly, e.g. `export DISPLAY=:0`."), facts=facts)

    @staticmethod
    def _summary(raw: str, facts: Mapping[str, JSONValue]) -> str:
        if facts["xwayland"]:
            return f"DISPLAY={raw} (Xwayland in a Wayland session)"
        if facts["session_type"] == "x11":
            return f"DISPLAY={raw} (X11 session)"
        return f"DISPLAY={raw}"

    @staticmethod
    def _notes(facts: Mapping[str, JSONValue]) -> tuple[Message, ...]:
        return (Message.info(XWAYLAND_NOTE),) if facts["xwayland"] else ()


class DisplaySocket(Check):
    """What it checks: the display's socket file /tmp/.X11-unix/X<n> exists and is a socket.

    Why it matters: X servers also listen on an abstract socket, but abstract sockets belong
    to the host's network namespace, which the container does not share; only the socket
    file can be bind-mounted into it.

    Fix safety: none (start the X server with its unix socket; do not create the file).
    """

    id = "x11.socket"
    title = "X socket file exists"
    category = "x11"
    requires = ("x11.display",)
    tags = frozenset({"launch"})

    def run(self, ctx: Context) -> CheckResult:
        name = _display(ctx)
        path = name.socket_path
        st = ctx.probes.fs.stat(path)
        if st is None:
            return self.fail(NO_SOCKET.format(path=path), Message.error(
                f"No X server for {name.canonical} has a socket file: it is not running, or it listens "
                "only on the abstract socket (started with `-nolisten unix`?), which the container "
                "cannot reach.",
                f"Check `ls -l {x11auth.X11_SOCKET_DIR}` and the DISPLAY your session uses."))
        if not st.is_socket:
            return self.fail(NOT_A_SOCKET.format(path=path), Message.error(
                f"{path} should be the X server's unix socket; something else took its name.",
                "Find out what created it before removing it."))
        via = " (a symlink)" if (lst := ctx.probes.fs.lstat(path)) is not None and lst.is_symlink else ""
        return self.ok(f"{path} is a socket{via}", facts={"socket_owner_uid": st.uid})


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
        name = _display(ctx)
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
            "mit_shm": info.mit_shm, "xwayland_server": info.xwayland,
            "auth": shake.auth_name or None, "xauthority": shake.xauthority,
        }
        notes = [Message.info(f"extensions: {', '.join(info.extensions)}")]
        if not shake.auth_name:
            notes.append(Message.info("Connected without a cookie: the server's host list admits this "
                                      "user (see x11.access-control)."))
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


class ContainerCookie(Check):
    """What it checks: your Xauthority has a MIT-MAGIC-COOKIE-1 entry for the display, and
    spotidoctor's FamilyWild copy of it (the file the launcher mounts as XAUTHORITY) exists,
    is a regular file the container user can read (0644, host-owned, inside the private
    0700 runtime dir) and holds the display's current cookie (compared by digest; the
    cookie is never shown).

    Why it matters: a normal entry is bound to the host name, which differs inside the
    container (`Authorization required`); python-xlib cannot write the FamilyWild form
   . The container's uid 1500 is a subordinate uid on the host, so the
    file must be readable by "others"; the 0700 directory keeps other host users out.

    Fix safety: safe. Writes the file atomically from your Xauthority at apply time.
    """

    id = "x11.container-cookie"
    title = "Container X cookie is current"
    category = "x11"
    requires = ("x11.connect",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        name = _display(ctx)
        source = x11auth.xauthority_path(ctx.env, ctx.user.home)
        dest = layout.x11_cookie(ctx.paths, name.number)
        facts: dict[str, JSONValue] = {"cookie_file": dest, "xauthority": source}
        if source is None:
            return self.fail("cannot locate an Xauthority file (no XAUTHORITY and no HOME)", facts=facts)
        try:
            wanted = wanted_cookie_file(ctx.probes.fs, source, name.number)
        except ParseError as exc:
            return self.fail(f"no cookie for the container: {exc}", Message.error(
                f"The container authenticates with a copy of the MIT-MAGIC-COOKIE-1 entry for "
                f"{name.canonical} in {source}.",
                f"`xauth list {name.canonical}` should show one; the display manager writes it at login."),
                facts=facts)
        fix = Fix.safe(COOKIE_FIX_ID, f"write the container's X cookie file {dest}", WriteWildCookie(
            f"write the FamilyWild cookie for {name.canonical}", source=source, dest=dest,
            display_number=name.number, private_dir=ctx.paths.runtime_dir))
        problem = self._file_problem(ctx, dest, wanted)
        if problem:
            return self.fail(problem, facts=facts, fixes=(fix,))
        if self._exposed(ctx, dest):
            return self.warn(f"{dest} is readable by every local user", Message.error(
                "No directory above it keeps other users out; with the cookie they can connect "
                "to your display.", "`spotidoctor fix x11` makes spotidoctor's runtime dir 0700."),
                facts=facts, fixes=(fix,))
        return self.ok(f"{dest} holds the current cookie for {name.canonical} (FamilyWild, "
                       "readable by the container user)", facts=facts)

    @staticmethod
    def _file_problem(ctx: Context, dest: str, wanted: bytes) -> str | None:
        fs = ctx.probes.fs
        st = fs.lstat(dest)
        if st is None:
            return f"container cookie file {dest} is missing"
        if not st.is_file:
            return f"{dest} is not a regular file"
        readable = st.perms & 0o004 or (st.uid != ctx.user.uid and st.perms & 0o400)
        if not readable:
            return (f"{dest} is not readable by the container user (mode {st.perms:04o}; "
                    f"needs {CONTAINER_COOKIE_MODE:04o})")
        current = fs.read_bytes(dest, x11auth.MAX_XAUTHORITY_BYTES + 1)
        if x11auth.digest(current) != x11auth.digest(wanted):
            return f"{dest} is stale: it does not hold the display's current cookie"
        return None

    @staticmethod
    def _exposed(ctx: Context, dest: str) -> bool:
        """True when every directory above ``dest`` lets other users through."""
        directory = os.path.dirname(dest)
        while True:
            st = ctx.probes.fs.stat(directory)
            if st is not None and not st.perms & 0o001:
                return False
            parent = os.path.dirname(directory)
            if parent == directory:
                return True
            directory = parent


class AccessControlAudit(Check):
    """What it checks: the X server's host access list (what `xhost` prints). Access control
    disabled (`xhost +`) fails; a `LOCAL:` entry or an `INET:`/`INET6:` entry warns. Reports
    MIT-SHM presence as a fact for crash diagnosis.

    Why it matters: host grants admit clients without a cookie. The original design's
    `xhost local:root` leaves `LOCAL:`, which admits every local user and every container;
    spotidoctor's container uses a cookie instead and needs no grant.

    Fix safety: unsafe (`fix --unsafe`). Revokes the grants and re-enables access control;
    local programs that relied on them (no cookie) lose access to the display. Never offered
    when your own connection has no cookie, since that would lock you out.
    """

    id = "x11.access-control"
    title = "X server admits only authenticated clients"
    category = "x11"
    severity = Severity.ERROR
    requires = ("x11.connect",)
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        name = _display(ctx)
        acl = ctx.probes.x11.access_control(name.canonical, timeout=CONNECT_TIMEOUT_S)
        grants = tuple(h for h in acl.hosts if h.is_local_grant or h.is_network_grant)
        facts: dict[str, JSONValue] = {"access_control": acl.enabled, "hosts": [h.text for h in acl.hosts],
                                       "mit_shm": ctx.prior_fact("x11.connect", "mit_shm")}
        notes = self._notes(acl, facts)
        if not acl.enabled:
            return self.fail(ACCESS_DISABLED.format(display=name.canonical),
                             Message.error(GRANT_CONSEQUENCE), *self._grant_messages(grants), *notes,
                             facts=facts, fixes=self._fixes(ctx, name, acl, grants))
        if grants:
            return self.warn(f"host grants without a cookie: {', '.join(h.text for h in grants)}",
                             *self._grant_messages(grants), Message.hint(GRANT_CONSEQUENCE), *notes,
                             facts=facts, fixes=self._fixes(ctx, name, acl, grants))
        listed = ", ".join(h.text for h in acl.hosts) or "no host grants"
        return self.ok(f"access control enabled ({listed})", *notes, facts=facts)

    @staticmethod
    def _grant_messages(grants: tuple[HostEntry, ...]) -> tuple[Message, ...]:
        return tuple(Message.error(LOCAL_GRANT if h.is_local_grant else NETWORK_GRANT.format(host=h.text))
                     for h in grants)

    @staticmethod
    def _notes(acl: AccessControl, facts: Mapping[str, JSONValue]) -> tuple[Message, ...]:
        notes = [Message.info(f"{h.text}: admits that one user or group (scoped; fine)")
                 for h in acl.hosts if not (h.is_local_grant or h.is_network_grant)]
        if facts["mit_shm"]:
            notes.append(Message.info(MIT_SHM_NOTE))
        return tuple(notes)

    @staticmethod
    def _fixes(ctx: Context, name: x11auth.DisplayName, acl: AccessControl,
               grants: tuple[HostEntry, ...]) -> tuple[Fix, ...]:
        step = RevokeHostAccess(f"revoke host grants on {name.canonical}", display=name.canonical,
                                hosts=grants, enable_access_control=not acl.enabled)
        if not ctx.prior_fact("x11.connect", "auth"):
            return (Fix.manual(REVOKE_FIX_ID, "revoke host grants (your own connection has no cookie)",
                               step, notes=("Your session connects without a cookie, so revoking "
                                            "these grants would lock you out of your own display.",)),)
        return (Fix.unsafe(REVOKE_FIX_ID, f"revoke host grants and enable access control on {name.canonical}",
                           step, notes=("Local programs that connect without a cookie (another user's, "
                                        "root's, an old `xhost local:root` setup) lose access.",)),)


CHECKS = (DisplaySet, DisplaySocket, DisplayConnect, ContainerCookie, AccessControlAudit)

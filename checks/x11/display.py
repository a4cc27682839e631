"""x11.display: DISPLAY names a local X display (and what kind of session this is)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.errors import ParseError
from spotidoctor.facts import DisplayFacts
from spotidoctor.probes import x11auth
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


NO_DISPLAY = "DISPLAY is not set"
WAYLAND_WITHOUT_X = "Wayland session without an X display (no Xwayland)"
TCP_DISPLAY = "DISPLAY={raw} is a TCP display, which the container cannot use"
BAD_DISPLAY = "DISPLAY={raw!r} cannot be parsed"
XWAYLAND_NOTE = ("Wayland session with Xwayland: fine. The container only gets the X11 socket, so "
                 "Spotify runs under Xwayland.")


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


def local_display(ctx: Context) -> x11auth.DisplayName:
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
        from .evidence import x11_evidence  # only reports load the bundle code

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
        facts.update(DisplayFacts(name.canonical, name.number, name.socket_path).to_json(), display_raw=raw)
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

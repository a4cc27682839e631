"""dbus.session-bus: the user's session bus is there for the proxy to connect to."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Message, Severity
from spotidoctor.channels.dbus.address import ENV_VAR, find_session_bus
from spotidoctor.daily.facts import SessionBusFacts

from .common import DISABLED, SESSION_BUS, dbus_enabled


class DbusSessionBus(Check):
    """What it checks: your session has a D-Bus session bus: `$DBUS_SESSION_BUS_ADDRESS`
    names a reachable address, or (when it is unset) `$XDG_RUNTIME_DIR/bus` is a socket.
    Publishes the address for the launch.

    Why it matters: media keys, the desktop's player controls (MPRIS), notifications and the
    tray icon reach Spotify over the session bus, through spotidoctor's filtered proxy.
    Without a bus Spotify still plays; it only loses those.

    Fix safety: none (a desktop session starts the bus; over SSH or in a bare X session,
    start one with `dbus-run-session -- spotidoctor launch`).
    """

    id = SESSION_BUS
    title = "A D-Bus session bus is available"
    category = "desktop"
    severity = Severity.WARNING
    tags = frozenset({"launch"})

    def applies(self, ctx: Context) -> str | None:
        return None if dbus_enabled(ctx.config) else DISABLED

    def run(self, ctx: Context) -> CheckResult:
        finding = find_session_bus(ctx.env, ctx.probes.fs.is_socket)
        bus = finding.bus
        if bus is None:
            return self.warn(finding.problem or "no session bus", Message.hint(
                "Media keys, MPRIS controls, notifications and the tray icon need it; Spotify plays without.",
                "A desktop session starts one; otherwise run `dbus-run-session -- spotidoctor launch`."))
        where = bus.socket_path or (f"abstract socket {bus.abstract}" if bus.abstract else bus.address)
        messages = (Message.info(bus.note),) if bus.note else ()
        via = "" if bus.source == ENV_VAR else " ($DBUS_SESSION_BUS_ADDRESS is unset)"
        return self.ok(f"session bus at {where}{via}", *messages,
                       facts=SessionBusFacts(bus.address, bus.source).to_json())

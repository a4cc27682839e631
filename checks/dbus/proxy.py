"""dbus.proxy: xdg-dbus-proxy, which filters what Spotify may do on the bus, is installed."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.channels.dbus.install import find_proxy, install_advice
from spotidoctor.channels.dbus.policy import PROXY_BINARY
from spotidoctor.daily.facts import DbusProxyFacts
from spotidoctor.fixes import Fix, Instruction, Privilege, RunCommand, Step
from spotidoctor.podman.install import package_install_argv

from .common import DISABLED, PROXY, SESSION_BUS, dbus_enabled

PACKAGES = {"apt-get": "xdg-dbus-proxy", "dnf": "xdg-dbus-proxy", "zypper": "xdg-dbus-proxy",
            "pacman": "xdg-dbus-proxy"}
OS_RELEASE = "/etc/os-release"


class DbusProxyInstalled(Check):
    """What it checks: `xdg-dbus-proxy` (the filter Flatpak uses) is on your PATH.

    Why it matters: spotidoctor never hands the container your raw session bus: the proxy
    lets Spotify own only its MPRIS name and talk only to notifications, the screen saver,
    GNOME's media keys and the tray watcher. Without it the launch runs without D-Bus (no
    media keys, no tray icon).

    Fix safety: manual (installing a package needs root); the message names your
    distribution's command.
    """

    id = PROXY
    title = "xdg-dbus-proxy is installed"
    category = "desktop"
    severity = Severity.WARNING
    requires = (SESSION_BUS,)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.ALWAYS

    def applies(self, ctx: Context) -> str | None:
        return None if dbus_enabled(ctx.config) else DISABLED

    def run(self, ctx: Context) -> CheckResult:
        path = find_proxy(ctx.probes.cmd.which)
        if path is not None:
            return self.ok(f"{PROXY_BINARY} is {path}", facts=DbusProxyFacts(path).to_json())
        advice = install_advice(ctx.probes.fs.read_text_or_none(OS_RELEASE, 16384))
        return self.warn(f"{PROXY_BINARY} is not installed: Spotify will run without D-Bus", Message.hint(
            "No media keys, MPRIS controls, notifications or tray icon without it.", advice),
            fixes=(self._fix(ctx),))

    @staticmethod
    def _fix(ctx: Context) -> Fix:
        argv = package_install_argv(ctx, PACKAGES)
        step: Step = (RunCommand(f"Install {PROXY_BINARY}", argv=argv, run_as=Privilege.ROOT) if argv else
                      Instruction(f"Install {PROXY_BINARY}", text=install_advice(None)))
        return Fix.manual("dbus.install-proxy", f"Install {PROXY_BINARY}", step)

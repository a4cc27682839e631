"""Which channels a launch opens, decided from the configuration and the preflight's facts.

Nothing is started here: ``plan_channels`` only reads (the environment, the filesystem, the
checks' results), so ``launch --dry-run`` shows the same decisions the launch makes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spotidoctor.api import Context
from spotidoctor.channels.dbus.address import find_session_bus
from spotidoctor.channels.dbus.install import find_proxy, install_advice
from spotidoctor.channels.x11 import UNTRUSTED_LIMITS
from spotidoctor.facts import X11TrustFacts
from spotidoctor.model import CheckResult

__all__ = ["ChannelPlan", "plan_channels", "UNTRUSTED_MEANS", "TRUSTED_MEANS", "FILTERED_MEANS", "DIRECT_MEANS"]

UNTRUSTED_MEANS = ("untrusted: a cookie made for this launch by the X SECURITY extension and revoked when it "
                   "ends; the container cannot change access control (xhost), inject or record input or read "
                   f"other clients' windows. {UNTRUSTED_LIMITS}")
TRUSTED_MEANS = ("trusted: the display's own cookie; the container can change access control (xhost +), "
                 "inject and record input (XTEST, RECORD) and read every window on the display")
FILTERED_MEANS = ("filtered: spotidoctor's playback-only filter in front of your sound server; no cookie and no "
                  "extra server module in the container; loading modules, changing defaults, recording and "
                  "touching other clients' streams are refused")
DIRECT_MEANS = ("direct: the dedicated socket (and cookie) of the original design; any client on it may load "
                "modules into your sound server, i.e. run code as you")


@dataclass(frozen=True)
class ChannelPlan:
    audio: str  # "filtered" | "direct"
    x11_trust: str  # what the launch uses: "untrusted" | "trusted"
    x11_fallback: str | None  # why trusted although untrusted was asked for
    dbus_address: str | None  # the session bus to filter; None: no D-Bus channel
    dbus_note: str | None  # why there is none (off, no bus, no proxy)
    callback_port: int | None  # the sign-in relay's port; None: not started
    callback_note: str | None

    @property
    def audio_means(self) -> str:
        return FILTERED_MEANS if self.audio == "filtered" else DIRECT_MEANS

    @property
    def x11_means(self) -> str:
        return UNTRUSTED_MEANS if self.x11_trust == "untrusted" else TRUSTED_MEANS


def _x11(ctx: Context, results: Sequence[CheckResult]) -> tuple[str, str | None]:
    wanted = ctx.config.x11_trust
    published = X11TrustFacts.of(results)
    if wanted == "trusted" or published is None:
        return wanted, None  # without a preflight, the launch tries and falls back itself
    return published.trust, published.fallback


def _dbus(ctx: Context) -> tuple[str | None, str | None]:
    if not ctx.config.dbus:
        return None, "dbus = false in config.toml: the container gets no session bus"
    found = find_session_bus(ctx.env, ctx.probes.fs.is_socket)
    if found.bus is None:
        return None, f"no D-Bus for the container: {found.problem}"
    if find_proxy(ctx.probes.cmd.which) is None:
        os_release = ctx.probes.fs.read_text_or_none("/etc/os-release")
        return None, ("no D-Bus for the container (no media keys, notifications or tray): xdg-dbus-proxy is "
                      f"not installed. {install_advice(os_release)}")
    return found.bus.address, None


def _callback(ctx: Context, network: str) -> tuple[int | None, str | None]:
    if network == "host":
        return None, ('network = "host": Spotify\'s own 127.0.0.1 listener is the host\'s; '
                      "no sign-in relay is needed")
    return ctx.config.login_callback_port, None


def plan_channels(ctx: Context, results: Sequence[CheckResult], network: str) -> ChannelPlan:
    trust, fallback = _x11(ctx, results)
    address, bus_note = _dbus(ctx)
    port, port_note = _callback(ctx, network)
    return ChannelPlan(audio=ctx.config.audio, x11_trust=trust, x11_fallback=fallback, dbus_address=address,
                       dbus_note=bus_note, callback_port=port, callback_note=port_note)

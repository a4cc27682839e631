"""Open every channel of a launch after the preflight, and stop them all when it ends.

Order: display, audio, D-Bus, links, sign-in (the last one polls podman for the container).
A channel that cannot start is a warning and the launch goes on without it, with two
exceptions that refuse the launch: an X socket that is not the user's (no cookie of any kind
is sent to it) and a runtime directory others can write to (no private place for the
sockets). What does not start never falls back silently to a wider path: filtered audio that
cannot start mounts no audio socket at all, an untrusted cookie that cannot be made mounts no
cookie, except where the X server lacks SECURITY (the trusted cookie, with a warning).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from spotidoctor.api import Context
from spotidoctor.backend.runargs import HostFacts
from spotidoctor.channels.privatefile import UnsafeDirectory
from spotidoctor.channels.urlfiles import ChannelError
from spotidoctor.channels.x11 import UnsafeXServer, UntrustedUnavailable
from spotidoctor.errors import ParseError, ProbeUnavailable, SpotidoctorError
from spotidoctor.exitcodes import ExitCode
from spotidoctor.facts import DisplayFacts
from spotidoctor.launcher.audio import AudioFilterChannel, FilterError
from spotidoctor.launcher.channel import Channel, ChannelReport
from spotidoctor.launcher.daily import uri_forwarder
from spotidoctor.launcher.desktop import BusChannel, LinksChannel, SignInChannel
from spotidoctor.launcher.display import UntrustedDisplay
from spotidoctor.launcher.plan import ChannelPlan
from spotidoctor.model import CheckResult
from spotidoctor.probes import x11auth

__all__ = ["LaunchRefused", "OpenChannels", "Setting", "open_channels", "summary_line", "WORKDIR_PREFIX"]

WORKDIR_PREFIX = "spotidoctor-launch-"
SUN_PATH_MAX = 107  # bytes of a unix socket's path (sockaddr_un.sun_path without its NUL)
# The longest path a channel puts below its sockets' directory: spotidoctor-pulse-XXXXXXXX/native,
# dbus-XXXXXXXX/proxy.sock.
SOCKET_SUFFIX_MAX = len("/spotidoctor-pulse-XXXXXXXX/native")
SHORT_PARENT = "/tmp"
LogLine = Callable[[str], None]


class LaunchRefused(SpotidoctorError):
    """A channel found something that must stop the launch (the message says what)."""

    exit_code = ExitCode.PROBLEMS


def _unchanged(host: HostFacts) -> HostFacts:
    return host


@dataclass
class Setting:
    """A channel decision that starts nothing (direct audio, the trusted cookie, no cookie)."""

    name: str
    report: ChannelReport
    change: Callable[[HostFacts], HostFacts] = _unchanged

    def apply(self, host: HostFacts) -> HostFacts:
        return self.change(host)

    def stop(self) -> ChannelReport:
        return self.report


@dataclass
class OpenChannels:
    workdir: str | None
    channels: list[Channel] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # printed before podman runs
    sockets_dir: str | None = None  # a private directory of our own for the sockets, removed at the end
    _reports: list[ChannelReport] | None = None

    def apply(self, host: HostFacts) -> HostFacts:
        for channel in self.channels:
            host = channel.apply(host)
        return host

    def stop(self) -> list[ChannelReport]:
        """Stop every channel, last started first (idempotent); a failing one never stops the rest."""
        if self._reports is None:
            reports = []
            for channel in reversed(self.channels):
                try:
                    reports.append(channel.stop())
                except Exception as exc:  # noqa: BLE001 - the others must still stop
                    reports.append(ChannelReport(channel.name, 0, "", {"stop_failed": f"{type(exc).__name__}: {exc}"}))
            for directory in (self.workdir, self.sockets_dir):
                if directory is not None:
                    shutil.rmtree(directory, ignore_errors=True)
            self._reports = list(reversed(reports))
        return self._reports


def summary_line(reports: Sequence[ChannelReport], log_path: str) -> str:
    """One short line: what each channel that can refuse refused."""
    parts = [r.summary for r in reports if r.summary and r.name in ("audio", "D-Bus", "links")]
    if not parts:
        return f"Channels: none of the filtering channels ran (log: {log_path})"
    return f"Refused by the channels: {', '.join(parts)} (log: {log_path})"


def _private_runtime(ctx: Context) -> str:
    runtime = ctx.paths.xdg_runtime_dir
    if not runtime:
        raise LaunchRefused("XDG_RUNTIME_DIR is not set: the launch's sockets need a private runtime directory "
                            "(run spotidoctor from your desktop session)")
    try:
        info = os.lstat(runtime)
    except OSError as exc:
        raise LaunchRefused(f"cannot use XDG_RUNTIME_DIR {runtime}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise LaunchRefused(f"XDG_RUNTIME_DIR {runtime} must be a directory of yours that others cannot write "
                            f"(owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}): the launch's "
                            "sockets go there")
    return runtime


def _sockets_home(runtime: str, opened: OpenChannels) -> str:
    """Where the channels' socket directories go: the runtime dir, unless its path is too long for
    a unix socket below it (then a fresh private directory in /tmp: 0700, a random name)."""
    if len(os.fsencode(runtime)) + SOCKET_SUFFIX_MAX <= SUN_PATH_MAX:
        return runtime
    opened.sockets_dir = tempfile.mkdtemp(prefix="spotidoctor-", dir=SHORT_PARENT)
    return opened.sockets_dir


def _display_name(ctx: Context, results: Sequence[CheckResult]) -> str | None:
    published = DisplayFacts.of(results)
    if published is not None:
        return published.display
    try:
        name = x11auth.parse_display(ctx.env.get("DISPLAY", ""))
    except ParseError:
        return None
    return name.canonical if name.is_local else None


def _no_cookie(host: HostFacts) -> HostFacts:
    return dataclasses.replace(host, x11_cookie=None)


def _no_audio(host: HostFacts) -> HostFacts:
    return dataclasses.replace(host, pulse_socket=None, pulse_cookie=None, pulse_client_conf=None)


def _trusted(why: str | None) -> Setting:
    return Setting("display", ChannelReport("display", 0, "", {"trust": "trusted", "fallback": why}))


def _display(ctx: Context, plan: ChannelPlan, results: Sequence[CheckResult], opened: OpenChannels) -> None:
    display = _display_name(ctx, results)
    if display is None:
        return
    if plan.x11_trust == "trusted":
        if plan.x11_fallback:
            opened.warnings.append(f"X: {plan.x11_fallback}")
        opened.channels.append(_trusted(plan.x11_fallback))
        return
    assert opened.workdir is not None
    try:
        opened.channels.append(UntrustedDisplay.start(display, x11auth.xauthority_path(ctx.env, ctx.user.home),
                                                      opened.workdir, ctx.user.uid))
    except UntrustedUnavailable as exc:
        why = f"{exc}: the container gets the trusted cookie (xhost, input injection and every window)"
        opened.warnings.append(f"X: {why}")
        opened.channels.append(_trusted(why))
    except UnsafeXServer as exc:
        raise LaunchRefused(str(exc)) from None
    except (ProbeUnavailable, UnsafeDirectory) as exc:
        opened.warnings.append(f"X: no untrusted cookie ({exc}): Spotify will not be able to open a window")
        report = ChannelReport("display", 0, "", {"trust": None, "problem": str(exc)})
        opened.channels.append(Setting("display", report, _no_cookie))


def _audio(ctx: Context, plan: ChannelPlan, sockets: str, log: LogLine, opened: OpenChannels) -> None:
    if plan.audio == "direct":
        opened.channels.append(Setting("audio", ChannelReport("audio", 0, "", {"mode": "direct"})))
        return
    try:
        opened.channels.append(AudioFilterChannel.start(ctx.env, sockets, log))
    except FilterError as exc:
        opened.warnings.append(f"audio: the filter did not start ({exc}): Spotify will have no sound")
        report = ChannelReport("audio", 0, "", {"mode": "filtered", "problem": str(exc)})
        opened.channels.append(Setting("audio", report, _no_audio))


def _bus(ctx: Context, plan: ChannelPlan, sockets: str, log: LogLine, opened: OpenChannels) -> None:
    if plan.dbus_address is None:
        if plan.dbus_note and ctx.config.dbus:
            opened.warnings.append(plan.dbus_note)
        return
    from spotidoctor.channels.dbus.channel import DbusChannelError  # asyncio: only when the bus is relayed

    try:
        opened.channels.append(BusChannel.start(plan.dbus_address, sockets, ctx.probes.cmd, log,
                                                ctx.probes.fs.read_text_or_none("/etc/os-release")))
    except DbusChannelError as exc:
        opened.warnings.append(f"{exc.reason}: no D-Bus for the container (no media keys, notifications or tray)")


def _links(ctx: Context, container: str, log: LogLine, opened: OpenChannels) -> None:
    assert opened.workdir is not None
    forward = uri_forwarder(ctx.probes.cmd, container, log)  # spotify: links go into the running client
    try:
        opened.channels.append(LinksChannel.start(opened.workdir, ctx.probes.cmd, log, forward))
    except ChannelError as exc:
        opened.warnings.append(f"links: {exc}: links in Spotify will not open")


def _sign_in(ctx: Context, plan: ChannelPlan, container: str, log: LogLine, opened: OpenChannels) -> None:
    if plan.callback_port is None:
        return
    channel = SignInChannel.start(ctx.probes.cmd, container, plan.callback_port, log)
    opened.channels.append(channel)
    if channel.problem:
        opened.warnings.append(f"sign-in: {channel.problem}")


def open_channels(ctx: Context, plan: ChannelPlan, results: Sequence[CheckResult], *, container: str,
                  log: LogLine) -> OpenChannels:
    """Start the channels ``plan`` asks for; ``LaunchRefused`` (nothing left running) when the
    launch must not go on."""
    runtime = _private_runtime(ctx)
    opened = OpenChannels(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=runtime))  # 0700, a fresh name
    try:
        sockets = _sockets_home(runtime, opened)
        _display(ctx, plan, results, opened)
        _audio(ctx, plan, sockets, log, opened)
        _bus(ctx, plan, sockets, log, opened)
        _links(ctx, container, log, opened)
        _sign_in(ctx, plan, container, log, opened)
    except BaseException:
        opened.stop()
        raise
    return opened

"""The D-Bus, links and sign-in channels of a launch (the ones that only add run arguments).

- D-Bus: the session bus through ``xdg-dbus-proxy`` with Flathub's policy behind the
  authentication relay (``spotidoctor.channels.dbus``), mounted at ``CONTAINER_BUS``;
- links: ``xdg-open``/``$BROWSER``/GIO in the container open http(s) links in the host's
  browser (``spotidoctor.channels.urlopen``);
- sign-in: the host's 127.0.0.1:PORT relayed into the container's own loopback
  (``spotidoctor.channels.callback``), for the browser's sign-in redirect.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from spotidoctor.backend.runargs import HostFacts
from spotidoctor.channels.callback import CallbackRelay, RelayRunner
from spotidoctor.channels.runparts import run_args
from spotidoctor.channels.urlopen import HostOpener, UrlChannel
from spotidoctor.launcher.channel import CONTAINER_BUS, ChannelReport
from spotidoctor.probes.command import ProcessStarter

if TYPE_CHECKING:  # the D-Bus relay (asyncio) loads only when a launch opens the bus channel
    from spotidoctor.channels.dbus.channel import DbusChannel

__all__ = ["BusChannel", "LinksChannel", "SignInChannel"]

LogLine = Callable[[str], None]


class _Counter:
    def __init__(self, log: LogLine) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._log = log

    def __call__(self, text: str) -> None:
        with self._lock:
            self.count += 1
        self._log(f"D-Bus relay refused: {text}")


class BusChannel:
    name = "D-Bus"

    def __init__(self, channel: DbusChannel, counter: _Counter) -> None:
        self._channel = channel
        self._counter = counter
        self._report: ChannelReport | None = None

    @classmethod
    def start(cls, address: str, workdir: str, runner: ProcessStarter, log: LogLine,
              os_release: str | None = None) -> BusChannel:
        """``DbusChannelError`` (with the reason) when the proxy cannot start."""
        from spotidoctor.channels.dbus.channel import DbusChannel

        counter = _Counter(log)
        channel = DbusChannel.start(address, workdir, runner=runner, on_refusal=counter, os_release=os_release)
        log(f"D-Bus: xdg-dbus-proxy filters the session bus; the container's socket is {channel.container_socket}")
        return cls(channel, counter)

    def apply(self, host: HostFacts) -> HostFacts:
        return dataclasses.replace(host, channels=(*host.channels, *self._channel.run_args(CONTAINER_BUS)))

    def stop(self) -> ChannelReport:
        if self._report is None:
            self._channel.stop()
            refusals = list(self._channel.refusals())
            self._report = ChannelReport(self.name, self._counter.count, f"D-Bus {self._counter.count}",
                                         {"refused": self._counter.count, "recent": list(refusals)})
        return self._report


class LinksChannel:
    name = "links"

    def __init__(self, channel: UrlChannel) -> None:
        self._channel = channel
        self._report: ChannelReport | None = None

    @classmethod
    def start(cls, workdir: str, runner: ProcessStarter, log: LogLine,
              on_spotify_uri: Callable[[str], None] | None = None) -> LinksChannel:
        """``ChannelError`` when the FIFO and its directory cannot be made. ``on_spotify_uri``
        gets the ``spotify:`` URIs the container asks to open (None: logged, not forwarded)."""
        def not_forwarded(uri: str) -> None:
            log(f"links: a spotify: URI from the container was not forwarded ({len(uri)} characters)")

        return cls(UrlChannel.start(workdir, HostOpener(runner, log), on_spotify_uri or not_forwarded, log=log))

    def apply(self, host: HostFacts) -> HostFacts:
        added = run_args(self._channel.mounts(), self._channel.env())
        return dataclasses.replace(host, channels=(*host.channels, *added))

    def stop(self) -> ChannelReport:
        if self._report is None:
            self._channel.stop()
            stats = self._channel.stats
            refused = stats.refused + stats.dropped
            self._report = ChannelReport(self.name, refused, f"links {refused}", {
                "opened": stats.opened, "spotify_uris": stats.spotify, "refused": stats.refused,
                "dropped": stats.dropped, "failed": stats.failed})
        return self._report


class SignInChannel:
    name = "sign-in"

    def __init__(self, relay: CallbackRelay) -> None:
        self.relay = relay
        self._report: ChannelReport | None = None

    @classmethod
    def start(cls, runner: RelayRunner, container: str, port: int, log: LogLine) -> SignInChannel:
        """Listens at once; attaches to the container in the background (``relay.problem`` says
        when it could not listen or attach)."""
        return cls(CallbackRelay.start(runner, container, port=port, log=log))

    @property
    def problem(self) -> str | None:
        return self.relay.problem

    def apply(self, host: HostFacts) -> HostFacts:
        return host  # nothing in the container: the relay enters its network namespace from outside

    def stop(self) -> ChannelReport:
        if self._report is None:
            self.relay.stop()
            stats = self.relay.stats
            self._report = ChannelReport(self.name, stats.refused_busy, f"sign-in {stats.relayed} relayed", {
                "port": self.relay.port, "relayed": stats.relayed, "refused_busy": stats.refused_busy,
                "failed": stats.failed, "cut": stats.cut, "problem": self.relay.problem})
        return self._report

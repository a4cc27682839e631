"""Typed facts the daily-use checks publish for the launch (see ``spotidoctor.facts``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from spotidoctor.facts import Facts

__all__ = ["SessionBusFacts", "DbusProxyFacts", "NetworkFacts", "LocaleFacts"]


@dataclass(frozen=True)
class SessionBusFacts(Facts):
    """The user's session bus, which the filtered D-Bus proxy connects to."""

    publisher: ClassVar[str] = "dbus.session-bus"
    bus_address: str
    bus_source: str  # "DBUS_SESSION_BUS_ADDRESS" or "$XDG_RUNTIME_DIR/bus"


@dataclass(frozen=True)
class DbusProxyFacts(Facts):
    publisher: ClassVar[str] = "dbus.proxy"
    proxy_path: str


@dataclass(frozen=True)
class NetworkFacts(Facts):
    """The network the launch uses, and the IPv4-only ``--network`` value when the host has no
    IPv6 route (None: keep the configured one)."""

    publisher: ClassVar[str] = "network.sign-in"
    network: str  # as configured ("" = podman's default)
    effective_network: str  # what podman will use (the default resolved)
    reaches_login: bool | None  # None: the mode alone does not tell
    relay_needed: bool  # host 127.0.0.1:4381 must be relayed into the container for sign-in
    ipv6_default_route: bool
    ipv4_only_network: str | None


@dataclass(frozen=True)
class LocaleFacts(Facts):
    """Whether the image has the locales of your LANG/LC_* (the launch replaces missing ones)."""

    publisher: ClassVar[str] = "image.locale"
    image_id: str
    locales_known: bool
    missing_locales: str  # "LANG=de_DE.UTF-8, ..." ("" = none missing)
    fallback: str

"""D-Bus checks: media keys, the desktop's player controls, notifications and the tray reach
Spotify through a filtered session bus (``xdg-dbus-proxy`` behind spotidoctor's relay).

Chain: dbus.session-bus → dbus.proxy → dbus.filter. All are warnings: Spotify plays without
D-Bus, it only loses those desktop integrations. ``dbus = false`` in config.toml turns the
channel, and these checks, off.
"""
from __future__ import annotations

from .filter import DbusFilter
from .proxy import DbusProxyInstalled
from .session_bus import DbusSessionBus

CHECKS = (DbusSessionBus, DbusProxyInstalled, DbusFilter)

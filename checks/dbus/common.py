"""What the dbus.* checks share: the ids, and whether the channel is wanted at all."""
from __future__ import annotations

from spotidoctor.config import Config

SESSION_BUS = "dbus.session-bus"
PROXY = "dbus.proxy"
FILTER = "dbus.filter"
DISABLED = "D-Bus is turned off (dbus = false in config.toml)"


def dbus_enabled(config: Config) -> bool:
    """``dbus = true|false`` in config.toml (on by default)."""
    return config.dbus

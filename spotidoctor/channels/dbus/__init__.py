"""The filtered D-Bus channel: media keys (MPRIS), notifications, the tray, nothing else.

- ``policy``: Flathub's Spotify policy and the ``xdg-dbus-proxy`` arguments, each with a reason;
- ``sasl``: the authentication line phase as a state machine (no I/O);
- ``relay``: the asyncio relay that answers it for the container and authenticates upstream as the user;
- ``proxy``: starting ``xdg-dbus-proxy`` with its ``--fd`` readiness pipe;
- ``channel``: ``DbusChannel.start(address, workdir)`` / ``.stop()``, all of the above for one launch;
- ``address``, ``install``, ``proof``: pure helpers and the other-uid proof for the ``dbus.*`` checks.

``DbusChannel``, ``DbusChannelError``, ``run_args`` and ``policy_args`` are importable from here;
the relay (asyncio) is imported only when they are first used.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"DbusChannel": "spotidoctor.channels.dbus.channel", "DbusChannelError": "spotidoctor.channels.dbus.channel",
         "run_args": "spotidoctor.channels.dbus.channel", "policy_args": "spotidoctor.channels.dbus.policy",
         "SPOTIFY_POLICY": "spotidoctor.channels.dbus.policy"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""A playback-only filter in front of the user's pulse server, and the check for open pulse servers.

``PulseFilter`` (relay.py) is what ``spotidoctor launch`` starts for the container's audio;
``exposure`` finds server modules that let clients in without authentication.
"""
from __future__ import annotations

from spotidoctor.channels.pulse.exposure import Exposure, exposed_modules, scan_server
from spotidoctor.channels.pulse.relay import (
    LOGGER_NAME,
    FilterError,
    FilterStats,
    PulseFilter,
    default_cookie,
    default_upstream,
)

__all__ = ["PulseFilter", "FilterStats", "FilterError", "LOGGER_NAME", "default_upstream", "default_cookie",
           "Exposure", "exposed_modules", "scan_server"]

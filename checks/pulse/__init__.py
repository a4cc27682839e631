"""Audio checks (``pulse.*``): PulseAudio or pipewire-pulse, and the container's way to it.

By default (``audio = "filtered"``) the container plays through spotidoctor's playback-only
filter, started per launch (pulse.audio-mode, pulse.filter-access). With ``audio = "direct"``
it gets a dedicated socket: on PulseAudio a second ``module-native-protocol-unix`` with its
own cookie (the original design's ``socket=pulse-socket auth-cookie=pulse-cookie``); on
PipeWire an extra ``server.address`` in a pipewire-pulse drop-in (no cookie there); the
checks preparing it skip in filtered mode. pulse.exposure flags server modules that admit
clients without authentication, whatever the mode.
"""
from __future__ import annotations

from .audio_mode import PulseAudioMode
from .client_config import PulseClientConfig
from .container_access import PulseContainerAccess
from .container_socket import PulseContainerSocket
from .exposure import PulseExposure
from .filter_access import PulseFilterAccess
from .leftovers import PulseLeftovers
from .output_api import SpotifyAudioApi
from .persistence import PulseSocketPersistent
from .server import PulseServerReachable

CHECKS = (PulseServerReachable, PulseAudioMode, PulseFilterAccess, PulseExposure, PulseContainerSocket,
          PulseContainerAccess, PulseSocketPersistent, PulseLeftovers, SpotifyAudioApi, PulseClientConfig)

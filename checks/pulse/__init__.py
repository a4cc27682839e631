"""Audio checks (``pulse.*``): PulseAudio or pipewire-pulse, and the container's own socket.

The container gets sound through a dedicated socket: on PulseAudio a second
``module-native-protocol-unix`` with its own cookie (the original design's
``socket=pulse-socket auth-cookie=pulse-cookie``); on PipeWire an extra
``server.address`` in a pipewire-pulse drop-in (no cookie there). The launcher reads
the facts these checks publish (docs/architecture.md lists them).
"""
from __future__ import annotations

from .client_config import PulseClientConfig
from .container_access import PulseContainerAccess
from .container_socket import PulseContainerSocket
from .leftovers import PulseLeftovers
from .output_api import SpotifyAudioApi
from .persistence import PulseSocketPersistent
from .server import PulseServerReachable

CHECKS = (PulseServerReachable, PulseContainerSocket, PulseContainerAccess, PulseSocketPersistent,
          PulseLeftovers, SpotifyAudioApi, PulseClientConfig)

"""Pulse probe: PulseAudio / pipewire-pulse through pulsectl (imported lazily).

Owned by the pulse.* checks; see FACTS F1, F2 for the traps (autospawn, timeouts).
"""
from __future__ import annotations

from typing import Protocol


class PulseProbe(Protocol):
    """Placeholder until the audio checks define it."""


class PulsectlProbe:
    def __init__(self, env: object) -> None:
        self._env = env

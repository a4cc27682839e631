"""One running channel of a launch, as the supervisor sees it.

A channel changes the run arguments (``apply``: a socket or cookie in ``HostFacts``, or
``--volume``/``--env`` pairs with their reasons) and, once the container has ended, is
stopped and says what it did and refused (``ChannelReport``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from spotidoctor.backend.runargs import HostFacts
from spotidoctor.types import JSONValue

__all__ = ["Channel", "ChannelReport", "CONTAINER_BUS"]

CONTAINER_BUS = "/run/spotidoctor/bus"  # where the filtered session bus is mounted


@dataclass(frozen=True)
class ChannelReport:
    name: str  # "audio", "display", "D-Bus", "links", "sign-in"
    refused: int  # requests the channel refused (0 for channels that refuse nothing)
    summary: str  # a short phrase for the line at the end of the launch
    record: dict[str, JSONValue] = field(default_factory=dict)  # for the launch record


class Channel(Protocol):
    name: str

    def apply(self, host: HostFacts) -> HostFacts:
        """The run arguments' host facts with this channel in them."""
        ...

    def stop(self) -> ChannelReport:
        """End the channel (idempotent) and report."""
        ...

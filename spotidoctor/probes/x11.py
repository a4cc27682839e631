"""X11 probe: bounded connections to an X server (python-xlib imported lazily).

Owned by the x11.* checks; see FACTS F3 for the traps (hangs, FamilyWild).
"""
from __future__ import annotations

from typing import Protocol


class X11Probe(Protocol):
    """Placeholder until the X11 checks define it."""


class XlibProbe:
    def __init__(self, env: object) -> None:
        self._env = env

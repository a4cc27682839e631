"""Desktop integration: the desktop entry that starts Spotify from the menu and opens
``spotify:`` links (``spotidoctor desktop install``). A warning at most: Spotify runs
without it, from the terminal.
"""
from __future__ import annotations

from .entry import DesktopEntry

CHECKS = (DesktopEntry,)

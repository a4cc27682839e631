"""Crash checks: why did Spotify die, and what makes the next launch survive?

The reasoning lives in the ``spotidoctor.crash`` package (shared with ``spotidoctor launch``,
which diagnoses right after Spotify exits non-zero).
"""
from __future__ import annotations

from .container import LeftoverContainer
from .history import CrashHistory
from .last_launch import LastLaunchCrash
from .launch_settings import LaunchSettings

CHECKS = (LastLaunchCrash, LeftoverContainer, CrashHistory, LaunchSettings)

"""The HiDPI scale factor Spotify gets on X11, and where it came from.

Spotify's Chromium does not follow the desktop's scale on X11 by itself; it takes
``--force-device-scale-factor``. The factor, first match wins:

1. ``scale_factor`` in config.toml (0, the default, means "follow the desktop");
2. ``GDK_SCALE`` in the environment (GTK's integer window scale);
3. ``Xft.dpi`` in the X resources (the root window's RESOURCE_MANAGER property, what ``xrdb``
   and the desktops' settings daemons set): dpi / 96, so 96 is 1 and 192 is 2;
4. nothing: Spotify's own default (1).

A factor of 1 adds no argument. Pure functions; reading the X resources is the X11 probe's
``resource_manager`` (a bounded connection).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from spotidoctor.errors import ProbeUnavailable

__all__ = ["ScaleChoice", "choose_scale", "parse_xft_dpi", "scale_text", "scale_arg", "BASE_DPI", "MIN_SCALE",
           "MAX_SCALE", "SCALE_OPTION"]

BASE_DPI = 96.0
MIN_SCALE = 0.25
MAX_SCALE = 8.0  # Chromium clamps far below anything sane beyond this
SCALE_OPTION = "--force-device-scale-factor="
# A resource line "Xft.dpi:\t192"; "Xft*dpi" and "*dpi" match Xft's lookup as well.
_DPI_LINE = re.compile(r"^\s*(Xft\.dpi|Xft\*dpi|\*dpi|\*\.dpi)\s*:\s*([0-9]+(?:\.[0-9]*)?)\s*$")
_PRECEDENCE = ("Xft.dpi", "Xft*dpi", "*.dpi", "*dpi")


@dataclass(frozen=True)
class ScaleChoice:
    factor: float | None  # None: leave it to Spotify
    source: str  # where it came from, in words

    @property
    def arg(self) -> str | None:
        """``--force-device-scale-factor=N`` when it changes anything."""
        if self.factor is None or math.isclose(self.factor, 1.0):
            return None
        return f"{SCALE_OPTION}{scale_text(self.factor)}"


def scale_text(factor: float) -> str:
    """2.0 -> "2", 1.5 -> "1.5", 1.3333 -> "1.33"."""
    return f"{round(factor, 2):g}"


def parse_xft_dpi(resources: str) -> float | None:
    """``Xft.dpi`` from RESOURCE_MANAGER text; None when unset or not a sane number."""
    found: dict[str, float] = {}
    for line in resources.splitlines():
        match = _DPI_LINE.match(line)
        if match:
            found.setdefault(match.group(1), float(match.group(2)))
    for name in _PRECEDENCE:
        value = found.get(name)
        if value is not None and 24.0 <= value <= 24.0 * BASE_DPI:
            return value
    return None


def _sane(factor: float) -> float | None:
    return factor if MIN_SCALE <= factor <= MAX_SCALE else None


def _gdk_scale(text: str) -> float | None:
    text = text.strip()
    return _sane(float(text)) if text.isdigit() else None


def choose_scale(configured: float, env_gdk_scale: str | None,
                 read_resources: Callable[[], str] | None) -> ScaleChoice:
    """The factor and its source. ``read_resources`` returns RESOURCE_MANAGER's text (None: no
    display to ask); it may raise ``ProbeUnavailable``, which then counts as unset."""
    if configured:
        return ScaleChoice(configured, f"scale_factor = {scale_text(configured)} in config.toml")
    if env_gdk_scale:
        factor = _gdk_scale(env_gdk_scale)
        if factor is not None:
            return ScaleChoice(factor, f"GDK_SCALE={env_gdk_scale.strip()} in your environment")
    if read_resources is not None:
        try:
            dpi = parse_xft_dpi(read_resources())
        except ProbeUnavailable as exc:
            return ScaleChoice(None, f"no scale: the X resources could not be read ({exc.reason})")
        if dpi is not None:
            factor = _sane(dpi / BASE_DPI)
            if factor is not None:
                return ScaleChoice(factor, f"Xft.dpi {dpi:g} in the X resources ({dpi:g} / {BASE_DPI:g})")
    return ScaleChoice(None, "no scale set (scale_factor, GDK_SCALE and Xft.dpi are unset): Spotify's default")


def scale_arg(choice: ScaleChoice) -> tuple[str, str] | None:
    """(Spotify argument, why) for ``launch --dry-run``, or None for scale 1."""
    arg = choice.arg
    if arg is None:
        return None
    return arg, f"HiDPI: Spotify does not follow the desktop's scale on X11; from {choice.source}"

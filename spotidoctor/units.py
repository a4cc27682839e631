"""Byte sizes as people read them: the one formatter every message uses."""
from __future__ import annotations

KiB = 1024
MiB = 1024 ** 2
GiB = 1024 ** 3
TiB = 1024 ** 4
_UNITS = (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB))


def format_bytes(size: int, *, fixed_point: bool = False) -> str:
    """``64 MiB``, ``62.5 MiB``, ``100 bytes``; ``fixed_point`` always shows one decimal
    (``2.0 GiB``), for sizes shown next to each other."""
    for unit, factor in _UNITS:
        if size >= factor:
            value = size / factor
            if fixed_point or value != int(value):
                return f"{value:.1f} {unit}"
            return f"{value:.0f} {unit}"
    return f"{size} bytes"

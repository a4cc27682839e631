"""After ``spotidoctor rollback``, ``auto_update`` holds off: it would otherwise rebuild the very
version the user just rolled back from at the next launch.

The hold is per image: the version rolled back from (``""`` when the image did not say). A
launch with ``auto_update = true`` rebuilds only for a version newer than that; a
``spotidoctor build`` by hand ends the hold. Kept in ``$XDG_STATE_HOME/spotidoctor/update-hold.json``
(0600, written atomically); a damaged file counts as no hold.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from spotidoctor.backend.debversion import compare_versions
from spotidoctor.errors import ParseError
from spotidoctor.paths import Paths
from spotidoctor.probes.fs import RealFS

__all__ = ["Hold", "read_hold", "write_hold", "clear_hold", "holds_back", "hold_path"]

MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Hold:
    image: str
    from_version: str  # the Spotify version rolled back from ("" = unknown: hold every update)
    created: float = 0.0


def hold_path(paths: Paths) -> str:
    return os.path.join(paths.state_dir, "update-hold.json")


def _load(fs: RealFS, paths: Paths) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(fs.read_bytes(hold_path(paths), MAX_BYTES))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def read_hold(fs: RealFS, paths: Paths, image: str) -> Hold | None:
    entry = _load(fs, paths).get(image)
    if entry is None:
        return None
    version, created = entry.get("from_version", ""), entry.get("created", 0.0)
    return Hold(image, version if isinstance(version, str) else "",
                float(created) if isinstance(created, (int, float)) else 0.0)


def _save(fs: RealFS, paths: Paths, holds: dict[str, dict[str, object]]) -> None:
    if not holds:
        fs.unlink(hold_path(paths))
        return
    fs.write_atomic(hold_path(paths), (json.dumps(holds, indent=2, sort_keys=True) + "\n").encode(), mode=0o600)


def write_hold(fs: RealFS, paths: Paths, image: str, from_version: str) -> Hold:
    holds = _load(fs, paths)
    hold = Hold(image, from_version, time.time())
    holds[image] = {"from_version": from_version, "created": hold.created}
    _save(fs, paths, holds)
    return hold


def clear_hold(fs: RealFS, paths: Paths, image: str) -> None:
    holds = _load(fs, paths)
    if holds.pop(image, None) is not None:
        _save(fs, paths, holds)


def holds_back(hold: Hold, newest: str) -> bool:
    """True when ``newest`` is no newer than the version rolled back from."""
    if not hold.from_version:
        return True
    try:
        return compare_versions(newest, hold.from_version) <= 0
    except ParseError:
        return True

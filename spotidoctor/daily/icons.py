"""The desktop entry's icon: Spotify's own PNGs from the image, or spotidoctor's fallback.

Spotify's package ships ``/usr/share/spotify/icons/spotify-linux-<size>.png``. They are copied
out of a created, never started container (``podman create`` + ``podman cp``, which work
rootless without entering the user namespace), into a fresh private directory, and only
regular files whose PNG header says ``size`` x ``size`` are kept. An image without them (a
stand-in, a custom image) gets the bundled drawing below: a note on a dark tile, spotidoctor's
own, not Spotify's logo.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass

from spotidoctor.daily.userfiles import read_user_file
from spotidoctor.probes.command import CommandRunner

__all__ = ["FALLBACK_SVG", "ImageIcons", "extract_icons", "png_size", "IMAGE_ICON_DIR", "THEME_SIZES"]

IMAGE_ICON_DIR = "/usr/share/spotify/icons"
THEME_SIZES = frozenset({16, 22, 24, 32, 48, 64, 96, 128, 192, 256, 512})  # hicolor's fixed-size directories
MAX_ICON_BYTES = 2 << 20
PODMAN_TIMEOUT_S = 60.0
_NAME = re.compile(r"^spotify-linux-([0-9]{2,3})\.png$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

FALLBACK_SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">
  <title>Spotify (spotidoctor)</title>
  <rect x="8" y="8" width="112" height="112" rx="24" fill="#26282c"/>
  <rect x="8" y="8" width="112" height="112" rx="24" fill="none" stroke="#5ad17d" stroke-width="4"/>
  <path d="M54 34 L90 26 L90 80" fill="none" stroke="#e8f5ec" stroke-width="8" stroke-linejoin="round"/>
  <path d="M54 34 L54 88" fill="none" stroke="#e8f5ec" stroke-width="8"/>
  <ellipse cx="44" cy="90" rx="13" ry="10" fill="#5ad17d"/>
  <ellipse cx="80" cy="82" rx="13" ry="10" fill="#5ad17d"/>
</svg>
"""


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk; None when ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@dataclass(frozen=True)
class ImageIcons:
    pngs: dict[int, bytes]  # size -> PNG bytes; empty: use the fallback
    note: str  # where they came from, or why there are none


def _podman(cmd: CommandRunner, *args: str) -> tuple[bool, str, str]:
    done = cmd.run(("podman", *args), timeout=PODMAN_TIMEOUT_S)
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip() and "level=warning" not in ln]
    return done.ok, done.stdout.strip(), (lines[-1] if lines else done.error_text())


def _collect(directory: str) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for name in sorted(os.listdir(directory)):
        match = _NAME.match(name)
        if not match or int(match.group(1)) not in THEME_SIZES:
            continue
        size = int(match.group(1))
        data = read_user_file(os.path.join(directory, name), MAX_ICON_BYTES + 1)
        if data is not None and len(data) <= MAX_ICON_BYTES and png_size(data) == (size, size):
            found[size] = data
    return found


def extract_icons(cmd: CommandRunner, image: str, *, scratch_parent: str | None = None) -> ImageIcons:
    """Spotify's icons from ``image``; an empty result says why in ``note``."""
    created, container, error = _podman(cmd, "create", "--pull=never", "--network=none", image)
    if not created or not container:
        return ImageIcons({}, f"cannot read the image {image}: {error}")
    scratch = tempfile.mkdtemp(prefix="spotidoctor-icons-", dir=scratch_parent)
    try:
        target = os.path.join(scratch, "icons")
        os.mkdir(target, 0o700)
        copied, _, error = _podman(cmd, "cp", f"{container}:{IMAGE_ICON_DIR}/.", target)
        if not copied:
            return ImageIcons({}, f"{image} has no {IMAGE_ICON_DIR} ({error})")
        pngs = _collect(target)
        if not pngs:
            return ImageIcons({}, f"{image} has no usable spotify-linux-<size>.png in {IMAGE_ICON_DIR}")
        sizes = ", ".join(str(s) for s in sorted(pngs))
        return ImageIcons(pngs, f"Spotify's icons from {image} (sizes {sizes})")
    finally:
        _podman(cmd, "rm", "--force", container)
        shutil.rmtree(scratch, ignore_errors=True)

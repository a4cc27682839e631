"""Helpers for the daily-use integration tests: a private XDG tree that still finds the user's
podman storage, ``python -m spotidoctor`` in it, and a stand-in image with what daily use
needs (Spotify's icon directory, the font and library files the image checks look for, a
de_DE.utf8 locale directory), built FROM the stand-in with COPY only."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.aptrepo import png
from tests.standin import label_is

DAILY_IMAGE = "localhost/spotidoctor-daily-standin:test"
HASH_LABEL = "io.spotidoctor.daily-standin-hash"
ICON_SIZES = (48, 256)
# Paths as Debian's packages install them (contents do not matter to the look inside).
EXTRA_FILES = {
    **{f"usr/share/spotify/icons/spotify-linux-{size}.png": png(size) for size in ICON_SIZES},
    "usr/share/spotify/icons/spotify-linux-32.png": b"not a png",  # must be skipped
    "usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc": b"",
    "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf": b"",
    "usr/lib/x86_64-linux-gnu/libayatana-appindicator3.so.1": b"",
    "usr/lib/x86_64-linux-gnu/glib-2.0/gio-launch-desktop": b"",
    "usr/lib/locale/C.utf8/LC_CTYPE": b"",
    "usr/lib/locale/de_DE.utf8/LC_CTYPE": b"",
}
COMMAND_TIMEOUT_S = 180


def podman_store() -> dict[str, str]:
    """The user's real podman storage and runtime (a private XDG tree must keep using them)."""
    info = json.loads(subprocess.run(["podman", "info", "--format", "json"], capture_output=True, text=True,
                                     check=True, timeout=120).stdout)
    return {"graphroot": info["store"]["graphRoot"], "runroot": info["store"]["runRoot"],
            "driver": info["store"]["graphDriverName"], "runtime": info["host"]["ociRuntime"]["name"],
            "tmp_dir": os.path.join(os.environ["XDG_RUNTIME_DIR"], "libpod", "tmp")}


def private_xdg(root: Path, store: dict[str, str]) -> dict[str, str]:
    """os.environ with private XDG data, config and state homes under ``root``; podman's config
    there points at ``store``."""
    env = dict(os.environ)
    for name, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state")):
        (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[name] = str(root / sub)
    conf = root / "config" / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "storage.conf").write_text('[storage]\ndriver = "{driver}"\ngraphroot = "{graphroot}"\n'
                                       'runroot = "{runroot}"\n'.format(**store))
    (conf / "containers.conf").write_text('[engine]\nruntime = "{runtime}"\ntmp_dir = "{tmp_dir}"\n'.format(**store))
    env["NO_COLOR"] = "1"
    return env


def spotidoctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S)


def _hash(base: str) -> str:
    # The base's image id, not its name: a rebuilt stand-in under the same tag is a new base.
    base_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", base], capture_output=True,
                             text=True, timeout=120).stdout.strip()
    digest = hashlib.sha256(f"{base}@{base_id}".encode())
    for name, data in sorted(EXTRA_FILES.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def ensure_daily_image(workdir: Path, base: str, tag: str = DAILY_IMAGE) -> str:
    """Build ``tag`` FROM ``base`` with ``EXTRA_FILES`` unless an image of this recipe exists."""
    if label_is(tag, HASH_LABEL, _hash(base)):
        return tag
    for name, data in EXTRA_FILES.items():
        path = workdir / "extra" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (workdir / "Containerfile").write_text(f"FROM {base}\nCOPY extra/ /\nLABEL {HASH_LABEL}={_hash(base)}\n")
    subprocess.run(["buildah", "bud", "--quiet", "-t", tag, "-f", str(workdir / "Containerfile"),
                    str(workdir)], check=True, capture_output=True, timeout=600)
    return tag

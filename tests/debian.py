"""A Debian bookworm base image made from Debian's own packages, for builds that need a real
distribution (the bundled recipe, the Chromium test image) without an image registry.

``.ci/debian-base`` (root, in .ci/run) makes the root filesystem tarball with mmdebstrap and
caches it; the tests import it as the unprivileged user with ``podman import``. The imported
image carries the tarball's name (which holds its cache key), so a new tarball is imported
again and an unchanged one is reused. RUN steps on this base reach the host's Debian mirror
with ``--network host``.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import servers

DEBIAN_TARBALL = Path("/var/cache/spotidoctor-ci/debian-bookworm.tar")
DEBIAN_IMAGE = "localhost/spotidoctor-debian:bookworm"
SOURCE_LABEL = "io.spotidoctor.test-base"
IMPORT_TIMEOUT_S = 600


def tarball() -> Path:
    """Where .ci/debian-base left the tarball (``SPOTIDOCTOR_DEBIAN_TARBALL`` overrides)."""
    return Path(os.environ.get("SPOTIDOCTOR_DEBIAN_TARBALL") or DEBIAN_TARBALL)


def label(image: str, name: str) -> str:
    done = subprocess.run(["podman", "image", "inspect", "--format", f'{{{{index .Labels "{name}"}}}}', image],
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else ""


def image_id(image: str) -> str:
    done = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                          text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else ""


def import_base(tar: Path, tag: str = DEBIAN_IMAGE) -> str:
    """``podman import`` the tarball as ``tag`` unless ``tag`` already holds this very tarball."""
    source = tar.resolve().name
    if label(tag, SOURCE_LABEL) == source:
        return tag
    old = image_id(tag)
    subprocess.run(["podman", "import", "--quiet", "--change", f"LABEL {SOURCE_LABEL}={source}",
                    "--change", 'CMD ["/bin/bash"]', str(tar), tag], check=True, capture_output=True,
                   timeout=IMPORT_TIMEOUT_S)
    if old:  # now untagged; images built on it keep their layers (rmi then fails, harmlessly)
        subprocess.run(["podman", "rmi", old], capture_output=True, timeout=120)
    return tag


def require_tarball() -> Path:
    tar = tarball()
    if not tar.is_file():
        reason = f"no Debian base tarball at {tar}: run .ci/debian-base as root (.ci/run does)"
        if servers.IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return tar

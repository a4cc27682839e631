"""spotidoctor: diagnose, fix and launch Spotify in a rootless podman container."""
from __future__ import annotations

__version__ = "0.1.0"

"""Bundled checks; installed as ``spotidoctor.checks``. Each module exports ``CHECKS``.

``ORDER`` is the order results are shown in: from the desktop the container needs,
through the container machinery, to what happened when it ran.
"""
from __future__ import annotations

ORDER = ("x11", "pulse", "userns", "podman", "storage", "image", "crash")

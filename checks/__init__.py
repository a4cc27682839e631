"""Bundled checks; installed as ``spotidoctor.checks``. One package per domain, each
exporting ``CHECKS`` from its ``__init__.py``: one module per check (named after its id,
``x11.container-cookie`` -> ``x11/container_cookie.py``), plus the domain's own fix steps
(``steps.py``), report evidence (``evidence.py``) and what its checks share (``common.py``).

The bundled checks are plugins like any other: they import spotidoctor, nothing in
spotidoctor imports them (the registry finds them by name).

``ORDER`` is the order results are shown in: from the desktop the container needs,
through the container machinery, to what happened when it ran.
"""
from __future__ import annotations

ORDER = ("x11", "pulse", "dbus", "userns", "podman", "network", "storage", "image", "desktop", "crash")

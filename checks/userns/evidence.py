"""What a bug report holds about user namespaces: this user's ``/etc/subuid`` and ``/etc/subgid``
lines only, and how ``newuidmap``/``newgidmap`` are installed."""
from __future__ import annotations

import re

from spotidoctor.api import Context
from spotidoctor.bundle.sources import generated, lstat_text
from spotidoctor.bundle.spec import BundleSpec


def subid_evidence(spec: BundleSpec, ctx: Context) -> None:
    own = rf"^({re.escape(ctx.user.name)}|{ctx.user.uid}):"  # this user's lines only
    spec.add_file("/etc/subuid", "userns/subuid", only_lines_matching=own)
    spec.add_file("/etc/subgid", "userns/subgid", only_lines_matching=own)


def newidmap_evidence(spec: BundleSpec, ctx: Context) -> None:
    generated(spec, "userns/newidmap.txt", lambda: newidmap_text(ctx))


def newidmap_text(ctx: Context) -> str:
    fs = ctx.probes.fs
    lines = []
    for path in ("/usr/bin/newuidmap", "/usr/bin/newgidmap"):
        caps = fs.getxattr(path, "security.capability")
        lines.append(f"{path}: {lstat_text(ctx, path)}; file capabilities: {'yes' if caps else 'no'}")
    return "\n".join(lines) + "\n"

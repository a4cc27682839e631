"""What a bug report holds about the last launch (declared by ``crash.last-launch``): its record."""
from __future__ import annotations

import json

from spotidoctor.api import Context
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.crash import launchlog


def last_launch_evidence(spec: BundleSpec, ctx: Context) -> None:
    try:
        records = launchlog.records(ctx.probes.fs, ctx.paths.launches_dir)
    except OSError as exc:
        spec.add_text("crash/last-launch.json", json.dumps({"last_launch": None, "error": str(exc)}) + "\n")
        return
    if not records:
        spec.add_text("crash/last-launch.json", json.dumps({"last_launch": None, "note": "no launch recorded"}) + "\n")
        return
    spec.add_text("crash/last-launch.json", json.dumps(records[0].to_json(), indent=2, default=str) + "\n")

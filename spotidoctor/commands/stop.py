"""``spotidoctor stop``: end Spotify (the desktop entry's "Quit Spotify"). Fast, no lock: it
only asks podman to stop the configured container."""
from __future__ import annotations

import sys
from typing import TextIO

from spotidoctor.commands.options import StopOptions
from spotidoctor.daily.instance import STOP_GRACE_S, State, stop_instance
from spotidoctor.engine.session import make_context
from spotidoctor.exitcodes import ExitCode


def run(options: StopOptions, out: TextIO = sys.stdout) -> int:
    ctx = make_context(options.session)
    name = ctx.config.container_name
    stopped = stop_instance(ctx.probes.cmd, name, grace_s=STOP_GRACE_S)
    if not stopped.ok:
        print(f"Could not stop {name}: {stopped.detail}", file=out)
        return int(ExitCode.PROBLEMS)
    if stopped.was is State.RUNNING:
        print(f"Stopped Spotify (container {name}).", file=out)
    else:
        print(f"Spotify is not running (no running container {name}).", file=out)
    return int(ExitCode.OK)

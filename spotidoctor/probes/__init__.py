"""Probes: the only way checks and fix steps touch the system.

``Probes.real()`` builds the real ones; ``spotidoctor.testing`` builds fakes with the same
interfaces, so one check runs against both.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spotidoctor.probes.command import CommandRunner, Completed, SubprocessRunner
from spotidoctor.probes.fs import RealFS, StatInfo
from spotidoctor.probes.http import HttpProbe, UrllibHttp
from spotidoctor.probes.procs import ProcessProbe, PsutilProcesses

if TYPE_CHECKING:
    from spotidoctor.probes.pulse import PulseProbe
    from spotidoctor.probes.x11 import X11Probe

# Loaded when first asked for: a script that needs only the fs probe (the storage scan)
# starts without the X11 and pulse modules (~10 ms).
_LAZY = {"X11Probe": "spotidoctor.probes.x11", "PulseProbe": "spotidoctor.probes.pulse"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Probes", "CommandRunner", "Completed", "RealFS", "StatInfo", "X11Probe", "PulseProbe",
           "ProcessProbe", "HttpProbe"]


@dataclass(frozen=True)
class Probes:
    cmd: CommandRunner
    fs: RealFS
    x11: X11Probe
    pulse: PulseProbe
    procs: ProcessProbe
    http: HttpProbe = field(default_factory=lambda: UrllibHttp({}))  # the update check's fetches

    @classmethod
    def real(cls, env: Mapping[str, str], *, sysroot: str = "/") -> Probes:
        from spotidoctor.probes.pulse import PulsectlProbe
        from spotidoctor.probes.x11 import XlibProbe

        return cls(
            cmd=SubprocessRunner(env),
            fs=RealFS(sysroot),
            x11=XlibProbe(env),
            pulse=PulsectlProbe(env),
            procs=PsutilProcesses(),
            http=UrllibHttp(env),
        )

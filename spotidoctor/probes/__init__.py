"""Probes: the only way checks and fix steps touch the system.

``Probes.real()`` builds the real ones; ``spotidoctor.testing`` builds fakes with the same
interfaces, so one check runs against both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from spotidoctor.probes.command import CommandRunner, Completed, SubprocessRunner
from spotidoctor.probes.fs import RealFS, StatInfo
from spotidoctor.probes.procs import ProcessProbe, PsutilProcesses
from spotidoctor.probes.pulse import PulseProbe
from spotidoctor.probes.x11 import X11Probe

__all__ = ["Probes", "CommandRunner", "Completed", "RealFS", "StatInfo", "X11Probe", "PulseProbe",
           "ProcessProbe"]


@dataclass(frozen=True)
class Probes:
    cmd: CommandRunner
    fs: RealFS
    x11: X11Probe
    pulse: PulseProbe
    procs: ProcessProbe

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
        )

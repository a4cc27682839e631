"""Where a launch's time went: ``launch -v`` prints each phase with its duration.

    clock = PhaseClock()
    ...; clock.mark("preflight (full)")
    clock.report(out)   # "time: start-up 0.081 s, preflight (full) 0.190 s, ... total 0.512 s"

The first phase, ``start-up``, is the interpreter and the imports: from the process's start
(``/proc/self/stat``, clock ticks since boot) to the clock's creation.
"""
from __future__ import annotations

import os
import time
from typing import TextIO

__all__ = ["PhaseClock", "process_age_s"]


def process_age_s() -> float | None:
    """Seconds since this process started (to the kernel's clock tick), or None."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class PhaseClock:
    """Marks the end of each phase; the time since the previous mark is that phase's."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        startup = process_age_s()
        if startup is not None:
            self.phases.append(("start-up", startup))
        self._last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.phases.append((name, now - self._last))
        self._last = now

    def lines(self) -> list[str]:
        total = sum(seconds for _, seconds in self.phases)
        return [*(f"  {name:<28} {seconds:7.3f} s" for name, seconds in self.phases),
                f"  {'total':<28} {total:7.3f} s"]

    def report(self, out: TextIO) -> None:
        print("Where the launch's time went:", file=out)
        for line in self.lines():
            print(line, file=out)

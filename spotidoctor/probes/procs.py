"""Process and resource-limit facts (psutil imported lazily)."""
from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Protocol

from spotidoctor.errors import ProbeUnavailable

RLIMIT_NAMES = {
    "as": resource.RLIMIT_AS,
    "data": resource.RLIMIT_DATA,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
}


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    name: str
    uid: int
    cmdline: tuple[str, ...]


@dataclass(frozen=True)
class Limit:
    soft: int | None  # None = unlimited
    hard: int | None


class ProcessProbe(Protocol):
    def processes(self) -> list[ProcInfo]: ...

    def rlimits(self) -> dict[str, Limit]:
        """This process's limits (what a podman started from here inherits)."""
        ...


def _limit(value: int) -> int | None:
    return None if value == resource.RLIM_INFINITY else value


class PsutilProcesses:
    def processes(self) -> list[ProcInfo]:
        try:
            import psutil
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ProbeUnavailable(f"psutil is not installed: {exc}") from exc
        found = []
        for proc in psutil.process_iter(["pid", "name", "uids", "cmdline"]):
            info = proc.info
            uids = info.get("uids")
            found.append(ProcInfo(
                pid=int(info["pid"]), name=str(info.get("name") or ""),
                uid=int(uids.real) if uids else -1,
                cmdline=tuple(info.get("cmdline") or ()),
            ))
        return found

    def rlimits(self) -> dict[str, Limit]:
        limits = {}
        for name, which in RLIMIT_NAMES.items():
            soft, hard = resource.getrlimit(which)
            limits[name] = Limit(_limit(soft), _limit(hard))
        return limits

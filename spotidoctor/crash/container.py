"""``podman container inspect``: the parts of a leftover container the diagnosis uses."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContainerInfo:
    """The parts of ``podman container inspect`` the diagnosis uses."""

    id: str
    name: str
    image: str = ""
    status: str = ""
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str = ""
    finished_at: str = ""
    shm_size: int | None = None
    ipc_mode: str = ""
    memory: int = 0
    pids_limit: int = 0
    ulimits: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    security_opt: tuple[str, ...] = ()
    log_path: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "created", "configured", "initialized")

    @classmethod
    def from_inspect(cls, data: Mapping[str, object]) -> ContainerInfo:
        state = _mapping(data.get("State"))
        host = _mapping(data.get("HostConfig"))
        log = _mapping(host.get("LogConfig"))
        ulimits = {}
        for item in _list(host.get("Ulimits")):
            entry = _mapping(item)
            name = str(entry.get("Name", "")).lower().removeprefix("rlimit_")
            ulimits[name] = (limit_value(entry.get("Soft")), limit_value(entry.get("Hard")))
        return cls(
            id=str(data.get("Id", ""))[:12], name=str(data.get("Name", "")),
            image=str(data.get("ImageName") or data.get("Image") or ""), status=str(state.get("Status", "")),
            exit_code=int_or_none(state.get("ExitCode")), oom_killed=bool(state.get("OOMKilled")),
            started_at=str(state.get("StartedAt", "")), finished_at=str(state.get("FinishedAt", "")),
            shm_size=int_or_none(host.get("ShmSize")), ipc_mode=str(host.get("IpcMode", "")),
            memory=int_or_none(host.get("Memory")) or 0, pids_limit=int_or_none(host.get("PidsLimit")) or 0,
            ulimits=ulimits, security_opt=tuple(str(s) for s in _list(host.get("SecurityOpt"))),
            log_path=str(log.get("Path", "")),
        )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def int_or_none(value: object) -> int | None:
    """An int from JSON or text (``"-1"``); None for bools, floats and anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,20}", value.strip()):
        return int(value)
    return None


def limit_value(value: object) -> int | None:
    """An rlimit value; None for unlimited (negative or RLIM_INFINITY-sized)."""
    number = int_or_none(value)
    return None if number is None or number < 0 or number >= 2 ** 62 else number

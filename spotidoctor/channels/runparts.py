"""What a channel adds to ``podman run``: bind mounts and environment variables, each with why.

The launcher turns them into ``(argument, why)`` pairs like the rest of the command line, so
``launch --dry-run`` shows every added mount and variable with its reason.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Arg = tuple[str, str]  # (argument, why), as in spotidoctor.backend.runargs


@dataclass(frozen=True)
class Mount:
    host_path: str
    container_path: str
    read_only: bool
    reason: str

    def arg(self) -> Arg:
        suffix = ":ro" if self.read_only else ""
        return f"--volume={self.host_path}:{self.container_path}{suffix}", self.reason


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    reason: str

    def arg(self) -> Arg:
        return f"--env={self.name}={self.value}", self.reason


def run_args(mounts: Iterable[Mount], env: Iterable[EnvVar]) -> list[Arg]:
    """The ``--volume`` and ``--env`` pairs for ``podman run``, mounts first."""
    return [m.arg() for m in mounts] + [e.arg() for e in env]

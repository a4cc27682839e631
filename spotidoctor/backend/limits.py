"""Resource limits podman inherits from the launcher.

Rootless podman passes the launching shell's RLIMIT_AS (``ulimit -v``) into the container,
and ``podman run --ulimit as=...`` is rejected, so the only place to lift it is here:
raise the soft limit to the hard limit before starting podman. A finite *hard* limit
cannot be raised without root; the launch record keeps what Spotify actually got.
"""
from __future__ import annotations

import resource
from dataclasses import dataclass

from spotidoctor.probes.procs import Limit, ProcessProbe

__all__ = ["Lifted", "lift_address_space", "limits_record"]


@dataclass(frozen=True)
class Lifted:
    before: Limit
    after: Limit

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _limit(value: int) -> int | None:
    return None if value == resource.RLIM_INFINITY else value


def lift_address_space() -> Lifted:
    """Soft RLIMIT_AS := hard RLIMIT_AS for this process (and so for podman and Spotify)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    before = Limit(_limit(soft), _limit(hard))
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        except (ValueError, OSError):
            return Lifted(before, before)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    return Lifted(before, Limit(_limit(soft), _limit(hard)))


def limits_record(procs: ProcessProbe) -> dict[str, list[int | None]]:
    """This process's limits as ``{"as": [soft, hard], ...}`` (None = unlimited)."""
    return {name: [limit.soft, limit.hard] for name, limit in sorted(procs.rlimits().items())}

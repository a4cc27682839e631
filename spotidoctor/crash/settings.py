"""How a launch ran: the correlation inputs (shm, limits, overcommit, cgroup, seccomp).

Taken from the launch record (its podman argv, rlimits and host facts), ``podman container
inspect`` while the container exists, and the live host where nothing was recorded.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.config import Config
from spotidoctor.crash.container import ContainerInfo, int_or_none, limit_value
from spotidoctor.crash.runopts import RunOptions, human, parse_run_argv, parse_size
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.types import JSONValue
from spotidoctor.units import MiB

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.crash.launchlog import LaunchRecord

PODMAN_DEFAULT_SHM = 64 * MiB  # podman's default --shm-size


@dataclass(frozen=True)
class Limit:
    soft: int | None
    hard: int | None
    source: str

    def text(self) -> str:
        return f"{limit_number(self.soft)}:{limit_number(self.hard)} ({self.source})"


def limit_number(value: int | None) -> str:
    """An rlimit value for messages (None is unlimited)."""
    return "unlimited" if value is None else str(value)


@dataclass(frozen=True)
class Settings:
    """The correlation inputs of one launch."""

    shm_bytes: int | None = PODMAN_DEFAULT_SHM  # None: not a private tmpfs (ipc=host)
    shm_source: str = "podman's default"
    ipc: str = ""
    dev_shm_disabled: bool = False  # Spotify got --disable-dev-shm-usage
    address_space: Limit | None = None
    nofile: Limit | None = None
    podman_nofile_hard: int | None = None  # the most a rootless container can get
    data: Limit | None = None
    data_from_config: bool = False
    memory: int | None = None
    pids_limit: int | None = None
    seccomp: str | None = None
    overcommit: int | None = None
    commit_headroom: int | None = None
    cgroup_memory_max: int | None = None
    host_shm_free: int | None = None
    oom_killed: bool = False

    def summary(self) -> str:
        parts = [f"/dev/shm {self.shm_text()}"]
        parts.append(f"address space {human(self.address_space.soft) if self.address_space else 'unknown'}")
        parts.append(f"vm.overcommit_memory={self.overcommit if self.overcommit is not None else '?'}")
        if self.nofile:
            parts.append(f"open files {limit_number(self.nofile.hard)}")
        if self.data:
            parts.append(f"data {human(self.data.soft)}")
        return ", ".join(parts)

    def shm_text(self) -> str:
        if self.ipc == "none":
            return "absent (--ipc=none)"
        if self.shm_bytes is None:
            return f"shared with the host ({self.shm_source})"
        return f"{human(self.shm_bytes)} ({self.shm_source})"

    def to_json(self) -> dict[str, JSONValue]:
        def lim(limit: Limit | None) -> JSONValue:
            return None if limit is None else {"soft": limit.soft, "hard": limit.hard, "source": limit.source}

        return {"shm_bytes": self.shm_bytes, "shm_source": self.shm_source, "ipc": self.ipc,
                "dev_shm_disabled": self.dev_shm_disabled, "address_space": lim(self.address_space),
                "nofile": lim(self.nofile), "data": lim(self.data), "memory": self.memory,
                "pids_limit": self.pids_limit, "seccomp": self.seccomp, "overcommit_memory": self.overcommit,
                "commit_headroom": self.commit_headroom, "cgroup_memory_max": self.cgroup_memory_max}


def _recorded_limit(rlimits: Mapping[str, object], name: str) -> tuple[int | None, int | None] | None:
    value = rlimits.get(name)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    soft, hard = value
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (soft, hard)):
        return None
    return limit_value(soft) if soft is not None else None, limit_value(hard) if hard is not None else None


def settings_for(ctx: Context, record: LaunchRecord | None, container: ContainerInfo | None,
                 nxt: Config) -> Settings:
    """Everything known about how a launch (or a leftover container) ran."""
    opts = parse_run_argv(record.argv, record.image) if record else RunOptions()
    rlimits: Mapping[str, object] = record.rlimits if record else {}
    host: Mapping[str, JSONValue] = record.host if record else {}
    spotify_args = (*opts.command, *(record.spotify_args if record else ()))
    shm_bytes, shm_source = _shm(opts, container, record)
    ipc = opts.ipc or (container.ipc_mode if container and container.ipc_mode in ("host", "none") else "")
    data, data_cfg = _data_limit(opts, container, rlimits, nxt)
    return Settings(
        shm_bytes=None if ipc == "host" else shm_bytes, shm_source="--ipc=host" if ipc == "host" else shm_source,
        ipc=ipc, dev_shm_disabled="--disable-dev-shm-usage" in spotify_args,
        address_space=_address_space(ctx, rlimits), nofile=_nofile(opts, container, rlimits),
        podman_nofile_hard=(_recorded_limit(rlimits, "nofile") or (None, None))[1],
        data=data, data_from_config=data_cfg,
        memory=parse_size(opts.memory) or (container.memory if container and container.memory else None),
        pids_limit=int_or_none(opts.pids_limit) or (container.pids_limit if container else None) or None,
        seccomp=opts.seccomp or _container_seccomp(container),
        overcommit=_overcommit(ctx, host), commit_headroom=_commit_headroom(ctx),
        cgroup_memory_max=_cgroup_memory_max(ctx),
        host_shm_free=_host_shm_free(ctx) if ipc == "host" else None,
        oom_killed=bool(container and container.oom_killed),
    )


def _shm(opts: RunOptions, container: ContainerInfo | None, record: LaunchRecord | None) -> tuple[int | None, str]:
    if opts.shm_mount_size:
        return parse_size(opts.shm_mount_size), f"tmpfs mount size={opts.shm_mount_size}"
    if opts.shm_size:
        return parse_size(opts.shm_size), f"--shm-size={opts.shm_size}"
    if container and container.shm_size:
        return container.shm_size, "podman inspect ShmSize"
    if record is not None and parse_size(record.shm_size):
        return parse_size(record.shm_size), f"shm_size={record.shm_size} (launch record)"
    return PODMAN_DEFAULT_SHM, "podman's default" if record else "podman's default (assumed)"


def _address_space(ctx: Context, rlimits: Mapping[str, object]) -> Limit | None:
    recorded = _recorded_limit(rlimits, "as")
    if recorded is not None:
        return Limit(recorded[0], recorded[1], "recorded by the launch")
    try:
        current = ctx.probes.procs.rlimits().get("as")
    except (ProbeUnavailable, OSError):  # the probe cannot tell: the limit is unknown
        return None
    return Limit(current.soft, current.hard, "this shell; not recorded by the launch") if current else None


def _nofile(opts: RunOptions, container: ContainerInfo | None, rlimits: Mapping[str, object]) -> Limit | None:
    given = opts.ulimit("nofile")
    if given is not None:
        return Limit(given[0], given[1], "--ulimit")
    if container and "nofile" in container.ulimits:
        soft, hard = container.ulimits["nofile"]
        return Limit(soft, hard, "podman inspect")
    recorded = _recorded_limit(rlimits, "nofile")
    return Limit(recorded[0], recorded[1], "podman's own limit, inherited") if recorded else None


def _data_limit(opts: RunOptions, container: ContainerInfo | None, rlimits: Mapping[str, object],
                nxt: Config) -> tuple[Limit | None, bool]:
    given = opts.ulimit("data")
    if given is not None and given[0] is not None:
        in_config = any(u.startswith("data=") for u in nxt.ulimits)
        return Limit(given[0], given[1], "--ulimit"), in_config
    if container and container.ulimits.get("data", (None, None))[0] is not None:
        soft, hard = container.ulimits["data"]
        return Limit(soft, hard, "podman inspect"), False
    recorded = _recorded_limit(rlimits, "data")
    if recorded and recorded[0] is not None:
        return Limit(recorded[0], recorded[1], "inherited from the launching shell"), False
    return None, False


def _container_seccomp(container: ContainerInfo | None) -> str | None:
    for opt in container.security_opt if container else ():
        if opt.startswith("seccomp=") or opt.startswith("seccomp:"):
            return opt[len("seccomp="):]
    return None


def _overcommit(ctx: Context, host: Mapping[str, JSONValue]) -> int | None:
    for key in ("overcommit_memory", "overcommit", "vm.overcommit_memory"):
        value = int_or_none(host.get(key))
        if value is not None:
            return value
    text = ctx.probes.fs.read_text_or_none("/proc/sys/vm/overcommit_memory", 64)
    return int_or_none(text.strip()) if text else None


def _commit_headroom(ctx: Context) -> int | None:
    text = ctx.probes.fs.read_text_or_none("/proc/meminfo", 64 * 1024) or ""
    values = {m[1]: int(m[2]) * 1024 for m in re.finditer(r"^(CommitLimit|Committed_AS):\s+(\d{1,15}) kB", text, re.M)}
    if len(values) != 2:
        return None
    return values["CommitLimit"] - values["Committed_AS"]


def _cgroup_memory_max(ctx: Context) -> int | None:
    """The tightest memory limit on this session's cgroup path (v2 memory.max, v1 limit)."""
    fs = ctx.probes.fs
    text = fs.read_text_or_none("/proc/self/cgroup", 64 * 1024) or ""
    limits = []
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers:
            base, name = "/sys/fs/cgroup", "memory.max"
        elif "memory" in controllers.split(","):
            base, name = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
        else:
            continue
        parts = [p for p in path.split("/") if p and p != ".."]
        for depth in range(len(parts), 0, -1):
            value = int_or_none((fs.read_text_or_none("/".join([base, *parts[:depth], name]), 64) or "").strip())
            if value is not None and value < 2 ** 60:
                limits.append(value)
    return min(limits) if limits else None


def _host_shm_free(ctx: Context) -> int | None:
    usage = ctx.probes.fs.disk_usage("/dev/shm")
    return usage.free_bytes if usage else None

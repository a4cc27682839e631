"""What the host offers the container, for ``run_argv``: taken from the typed facts the
preflight checks published (``spotidoctor.facts``: x11.*, pulse.*, userns.*, podman.*),
falling back to the shared layout (``spotidoctor.layout``) when a check did not run
(``--no-check``) or did not publish them.

Every host path is verified to exist right now: a fact can name a file a fix has not
created yet, and podman refuses to start with a missing bind-mount source.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from spotidoctor import layout
from spotidoctor.backend.runargs import DriAccess, HostFacts
from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.facts import (
    AudioApiFacts,
    CookieFacts,
    DisplayFacts,
    MappingFacts,
    PodmanFacts,
    PodmanVersionFacts,
    PulseClientFacts,
    PulseServerFacts,
    PulseSocketFacts,
)
from spotidoctor.model import CheckResult
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context

__all__ = ["gather", "selinux_enforcing", "dri_access", "host_record"]

SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
DRI_DIR = "/dev/dri"


def _existing(ctx: Context, path: str | None) -> str | None:
    return path if path and ctx.probes.fs.exists(path) else None


def _display_number(ctx: Context, results: Sequence[CheckResult]) -> int | None:
    published = DisplayFacts.of(results)
    if published is not None:
        return published.display_number
    from spotidoctor.probes.x11auth import parse_display

    try:
        display = parse_display(ctx.env.get("DISPLAY", ""))
    except ParseError:
        return None
    return display.number if display.is_local else None


def _with_x11(ctx: Context, results: Sequence[CheckResult], host: HostFacts) -> HostFacts:
    number = _display_number(ctx, results)
    if number is None:
        return host
    display, cookie = DisplayFacts.of(results), CookieFacts.of(results)
    socket = display.socket_path if display else f"/tmp/.X11-unix/X{number}"
    cookie_file = cookie.cookie_file if cookie else layout.x11_cookie(ctx.paths, number)
    return replace(host, display_number=number, x11_socket=socket, x11_cookie=_existing(ctx, cookie_file))


def server_kind(results: Sequence[CheckResult]) -> str | None:
    """"pulseaudio" or "pipewire", as pulse.server (else pulse.container-socket) found it."""
    published = PulseServerFacts.of(results) or PulseSocketFacts.of(results)
    return published.server_kind if published else None


def _with_audio(ctx: Context, results: Sequence[CheckResult], host: HostFacts) -> HostFacts:
    sockets, client, output = PulseSocketFacts.of(results), PulseClientFacts.of(results), AudioApiFacts.of(results)
    socket = (sockets.container_socket if sockets else None) or layout.pulse_socket(ctx.paths)
    # pulse.client-config publishes cookie_copy = None on PipeWire (it checks no cookie).
    cookie = _existing(ctx, client.cookie_copy if client else layout.pulse_cookie_copy(ctx.paths))
    conf = client.client_conf if client else layout.pulse_client_conf(ctx.paths)
    cookie_stat = ctx.probes.fs.stat(cookie) if cookie else None
    pipewire = None
    if output is not None and output.audio_api == "pipewire":
        pipewire = _existing(ctx, output.pipewire_socket)
    return replace(
        host,
        audio_server=server_kind(results),
        pulse_socket=_existing(ctx, socket),
        pulse_cookie=cookie,
        pulse_cookie_host_owned=cookie_stat is None or cookie_stat.uid == ctx.user.uid,
        pulse_client_conf=_existing(ctx, conf),
        pipewire_socket=pipewire,
    )


def selinux_enforcing(ctx: Context) -> bool:
    return (ctx.probes.fs.read_text_or_none(SELINUX_ENFORCE) or "").strip() == "1"


def dri_access(ctx: Context) -> DriAccess:
    """Can the container use a GPU node? World-open nodes work with any runtime; nodes open
    only through the video/render group need crun's ``keep-groups``."""
    fs = ctx.probes.fs
    if not fs.is_dir(DRI_DIR):
        return DriAccess.ABSENT
    nodes = [os.path.join(DRI_DIR, n) for n in fs.listdir(DRI_DIR) if n.startswith(("renderD", "card"))]
    stats = [st for st in map(fs.stat, nodes) if st is not None]
    if any(st.perms & 0o006 == 0o006 for st in stats):
        return DriAccess.WORLD
    if any(fs.access(node, os.R_OK | os.W_OK) for node in nodes):
        return DriAccess.GROUP
    return DriAccess.NO_ACCESS


def _runtime(ctx: Context) -> str | None:
    from spotidoctor.podman.info import podman_info

    info = podman_info(ctx)  # memoised: shared with the podman checks
    return info.oci_runtime if info else None


def _mapped_uid(ctx: Context) -> int | None:
    from spotidoctor.podman.idmaps import mapped_owner

    try:
        return mapped_owner(ctx, ctx.config.container_uid, "isolated")[0]
    except ProbeUnavailable:
        return None


def _runtime_fact(results: Sequence[CheckResult]) -> str | None:
    podman = PodmanFacts.of(results)
    return (podman.runtime or None) if podman else None


def _podman_version(results: Sequence[CheckResult]) -> str | None:
    installed, podman = PodmanVersionFacts.of(results), PodmanFacts.of(results)
    return (installed.podman_version if installed else None) or (podman.podman_version if podman else None)


def gather(ctx: Context, results: Sequence[CheckResult] = (), *, probe_podman: bool = True) -> HostFacts:
    """Host facts for the launch. ``probe_podman=False`` never asks podman (dry runs)."""
    dri = dri_access(ctx)
    runtime = _runtime_fact(results)
    if runtime is None and dri is DriAccess.GROUP and probe_podman:
        runtime = _runtime(ctx)  # only the GPU decision needs it
    mapping = MappingFacts.of(results)
    mapped = mapping.host_uid if mapping else None
    if mapped is None and probe_podman and ctx.config.profile != "keep-id":
        mapped = _mapped_uid(ctx)
    host = HostFacts(selinux_enforcing=selinux_enforcing(ctx), dri=dri, runtime=runtime, mapped_uid=mapped,
                     user_uid=ctx.user.uid)
    return _with_audio(ctx, results, _with_x11(ctx, results, host))


def host_record(ctx: Context, results: Sequence[CheckResult] = ()) -> dict[str, JSONValue]:
    """Host facts the crash diagnosis needs after the fact (kept in the launch record)."""
    fs = ctx.probes.fs
    overcommit = (fs.read_text_or_none("/proc/sys/vm/overcommit_memory") or "").strip()
    podman, display = PodmanFacts.of(results), DisplayFacts.of(results)
    cgroup = podman.cgroup_version if podman and podman.cgroup_version else None
    if cgroup is None:
        cgroup = "v2" if fs.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    return {
        "vm.overcommit_memory": int(overcommit) if overcommit.isdigit() else None,
        "cgroup_version": cgroup,
        "runtime": _runtime_fact(results),
        "podman_version": _podman_version(results),
        "audio_server": server_kind(results),
        "display": (display.display if display else None) or ctx.env.get("DISPLAY"),
        "selinux_enforcing": selinux_enforcing(ctx),
    }

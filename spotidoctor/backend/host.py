"""What the host offers the container, for ``run_argv``: taken from the facts the
preflight checks published (x11.*, pulse.*, userns.*, podman.*), falling back to the
shared layout (``spotidoctor.layout``) when a check did not run (``--no-check``).

Every host path is verified to exist right now: a fact can name a file a fix has not
created yet, and podman refuses to start with a missing bind-mount source.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from spotidoctor import layout
from spotidoctor.backend.runargs import DriAccess, HostFacts
from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.model import CheckResult
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context

__all__ = ["gather", "fact", "published", "selinux_enforcing", "dri_access", "host_record"]

SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
DRI_DIR = "/dev/dri"


def fact(results: Sequence[CheckResult], namespace: str | tuple[str, ...], key: str) -> JSONValue:
    """The first value of ``key`` published by a check in ``namespace`` (``"x11"``), or None."""
    prefixes = tuple(f"{ns}." for ns in ((namespace,) if isinstance(namespace, str) else namespace))
    for result in results:
        if result.check_id.startswith(prefixes) and result.facts.get(key) is not None:
            return result.facts[key]
    return None


def published(results: Sequence[CheckResult], namespace: str, key: str) -> bool:
    """Did a check in ``namespace`` publish ``key`` at all (even as None: "there is none")?"""
    return any(r.check_id.startswith(namespace + ".") and key in r.facts for r in results)


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) and value else None


def _existing(ctx: Context, path: str | None) -> str | None:
    return path if path and ctx.probes.fs.exists(path) else None


def _display_number(ctx: Context, results: Sequence[CheckResult]) -> int | None:
    number = fact(results, "x11", "display_number")
    if isinstance(number, int) and not isinstance(number, bool):
        return number
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
    socket = _text(fact(results, "x11", "socket_path")) or f"/tmp/.X11-unix/X{number}"
    cookie = _text(fact(results, "x11", "cookie_file")) or layout.x11_cookie(ctx.paths, number)
    return replace(host, display_number=number, x11_socket=socket, x11_cookie=_existing(ctx, cookie))


def _with_audio(ctx: Context, results: Sequence[CheckResult], host: HostFacts) -> HostFacts:
    socket = _text(fact(results, "pulse", "container_socket")) or layout.pulse_socket(ctx.paths)
    # pulse.client-config publishes cookie_copy = None on PipeWire (it checks no cookie).
    cookie = _existing(ctx, _text(fact(results, "pulse", "cookie_copy")) if published(results, "pulse", "cookie_copy")
                       else layout.pulse_cookie_copy(ctx.paths))
    conf = _text(fact(results, "pulse", "client_conf")) or layout.pulse_client_conf(ctx.paths)
    cookie_stat = ctx.probes.fs.stat(cookie) if cookie else None
    pipewire = None
    if fact(results, "pulse", "audio_api") == "pipewire":
        pipewire = _existing(ctx, _text(fact(results, "pulse", "pipewire_socket")))
    return replace(
        host,
        audio_server=_text(fact(results, "pulse", "server_kind")),
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


def gather(ctx: Context, results: Sequence[CheckResult] = (), *, probe_podman: bool = True) -> HostFacts:
    """Host facts for the launch. ``probe_podman=False`` never asks podman (dry runs)."""
    dri = dri_access(ctx)
    runtime = _text(fact(results, "podman", "runtime"))
    if runtime is None and dri is DriAccess.GROUP and probe_podman:
        runtime = _runtime(ctx)  # only the GPU decision needs it
    mapped = _int(fact(results, ("userns", "storage", "podman"), "host_uid"))
    if mapped is None and probe_podman and ctx.config.profile != "keep-id":
        mapped = _mapped_uid(ctx)
    host = HostFacts(selinux_enforcing=selinux_enforcing(ctx), dri=dri, runtime=runtime, mapped_uid=mapped,
                     user_uid=ctx.user.uid)
    return _with_audio(ctx, results, _with_x11(ctx, results, host))


def _int(value: JSONValue) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def host_record(ctx: Context, results: Sequence[CheckResult] = ()) -> dict[str, JSONValue]:
    """Host facts the crash diagnosis needs after the fact (kept in the launch record)."""
    fs = ctx.probes.fs
    overcommit = (fs.read_text_or_none("/proc/sys/vm/overcommit_memory") or "").strip()
    cgroup = _text(fact(results, "podman", "cgroup_version"))
    if cgroup is None:
        cgroup = "v2" if fs.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    return {
        "vm.overcommit_memory": int(overcommit) if overcommit.isdigit() else None,
        "cgroup_version": cgroup,
        "runtime": _text(fact(results, "podman", "runtime")),
        "podman_version": _text(fact(results, "podman", "podman_version")),
        "audio_server": _text(fact(results, "pulse", "server_kind")),
        "display": _text(fact(results, "x11", "display")) or ctx.env.get("DISPLAY"),
        "selinux_enforcing": selinux_enforcing(ctx),
    }

"""What goes into a report: ``global_spec`` is the report's own part (versions, system,
environment), and the helpers the checks' evidence uses. The domain parts live next to each
domain's checks (``checks/<domain>/evidence.py``) and are declared by their ``collect()``
methods, the way each sos plugin declares what it collects, so a new check brings its own
evidence without touching the report code. Small facts that need no command are computed
through the probes and added as text.

Every command has a timeout; ``pactl`` never autospawns a daemon; ``xhost`` is only
listed, never changed; no cookie, Xauthority or prefs credential is read into the spec.
"""
from __future__ import annotations

import json
import platform
import re
import stat as stat_mod
from collections.abc import Callable, Sequence

from spotidoctor import __version__
from spotidoctor.api import Context
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.probes.fs import StatInfo
from spotidoctor.units import format_bytes

ENV_NAMES = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP",
             "XAUTHORITY", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "HOME",
             "USER", "PATH", "LANG", "LC_ALL", "PULSE_SERVER", "PULSE_COOKIE", "PULSE_RUNTIME_PATH",
             "PULSE_CLIENTCONFIG", "PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
             "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINER_HOST", "CI")
NO_COMMENTS = r"^\s*[^#;\s]"
KERNEL_KNOBS = ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces",
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "/proc/sys/vm/overcommit_memory",
                "/proc/sys/vm/max_map_count", "/proc/sys/fs/file-max", "/proc/sys/kernel/pid_max")


def generated(spec: BundleSpec, name: str, compute: Callable[[], str]) -> None:
    """A text computed now; a surprise (EACCES on a subuid-owned dir, ...) is noted, not raised."""
    try:
        text = compute()
    except Exception as exc:
        text = f"could not collect: {type(exc).__name__}: {exc}\n"
    spec.add_text(name, text)


def lstat_text(ctx: Context, path: str) -> str:
    try:
        return describe(ctx.probes.fs.lstat(path))
    except OSError as exc:
        return f"not accessible ({exc.strerror or exc})"


def listdir_or_empty(ctx: Context, path: str) -> list[str]:
    try:
        return ctx.probes.fs.listdir(path)
    except OSError:
        return []


def global_spec(ctx: Context, *, plugin_lines: Sequence[str] = ()) -> BundleSpec:
    spec = BundleSpec(origin="spotidoctor")
    generated(spec, "spotidoctor.txt", lambda: spotidoctor_text(ctx, plugin_lines))
    _system(spec, ctx)
    spec.add_env(*ENV_NAMES, *sorted(n for n in ctx.env if n.startswith("SPOTIDOCTOR_")), name="environment.txt")
    return spec


def spotidoctor_text(ctx: Context, plugin_lines: Sequence[str]) -> str:
    config = {k: v for k, v in vars(ctx.config).items() if k != "source"}
    lines = [f"spotidoctor {__version__}", f"python {platform.python_version()} ({platform.python_implementation()})",
             f"config file: {ctx.config.source or '(defaults)'}", "config: " + json.dumps(config, default=str),
             "checks:", *(f"  {line}" for line in plugin_lines)]
    return "\n".join(lines) + "\n"


def _system(spec: BundleSpec, ctx: Context) -> None:
    spec.add_file("/etc/os-release", "system/os-release", max_bytes=16 * 1024)
    spec.add_command(("uname", "-srvmo"), "system/uname.txt", timeout_s=5)
    generated(spec, "system/cgroup.txt", lambda: cgroup_text(ctx))
    generated(spec, "system/kernel-knobs.txt", lambda: knobs_text(ctx))
    generated(spec, "system/dev-shm.txt", lambda: dev_shm_text(ctx))


def cgroup_mode(ctx: Context) -> str:
    fs = ctx.probes.fs
    if fs.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2 (unified)"
    if fs.exists("/sys/fs/cgroup/unified"):
        return "v1 (hybrid: v1 controllers with a v2 hierarchy at /sys/fs/cgroup/unified)"
    if fs.is_dir("/sys/fs/cgroup"):
        return "v1 (legacy)"
    return "unknown (/sys/fs/cgroup missing)"


def cgroup_text(ctx: Context) -> str:
    own = ctx.probes.fs.read_text_or_none("/proc/self/cgroup", 16 * 1024) or "(unreadable)\n"
    return f"mode: {cgroup_mode(ctx)}\n/proc/self/cgroup:\n{own}"


def knobs_text(ctx: Context) -> str:
    lines = []
    for path in KERNEL_KNOBS:
        value = ctx.probes.fs.read_text_or_none(path, 256)
        lines.append(f"{path} = {value.strip() if value is not None else '(not present)'}")
    return "\n".join(lines) + "\n"


def dev_shm_text(ctx: Context) -> str:
    usage = ctx.probes.fs.disk_usage("/dev/shm")
    if usage is None:
        return "/dev/shm: not available\n"
    return f"/dev/shm: {format_bytes(usage.total_bytes)} total, {format_bytes(usage.free_bytes)} free\n"


def describe(st: StatInfo | None) -> str:
    if st is None:
        return "missing"
    kind = ("socket" if st.is_socket else "directory" if st.is_dir else "symlink" if st.is_symlink
            else "file" if st.is_file else "other")
    return f"{kind} {stat_mod.filemode(st.mode)} {oct(st.perms)} owner {st.uid}:{st.gid} size {st.size}"


_DISPLAY = re.compile(r"^(?:unix/)?[^:/]*:(\d+)(?:\.\d+)?$")


def display_number(display: str | None) -> int | None:
    match = _DISPLAY.match(display or "")
    return int(match.group(1)) if match else None

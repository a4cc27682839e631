"""What goes into a report. ``global_spec`` is the report's own part (versions, system,
environment); the domain parts (``x11_evidence``, ``pulse_evidence``, ...) are declared by
the checks' ``collect()`` methods, which call these functions, so a new check brings its
own evidence without touching the report code. Small facts that need no command are
computed through the probes and added as text.

Every command has a timeout; ``pactl`` never autospawns a daemon; ``xhost`` is only
listed, never changed; no cookie, Xauthority or prefs credential is read into the spec.
"""
from __future__ import annotations

import json
import os
import platform
import re
import stat as stat_mod
from typing import Callable, Sequence

from spotidoctor import __version__, layout
from spotidoctor.crash import launchlog
from spotidoctor.api import Context
from spotidoctor.bundle.identity import prefs_files
from spotidoctor.bundle.secrets import autologin_values, is_secret_name, sanitize_prefs
from spotidoctor.bundle.spec import BundleSpec
from spotidoctor.probes.fs import StatInfo

ENV_NAMES = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP",
             "XAUTHORITY", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "HOME",
             "USER", "PATH", "LANG", "LC_ALL", "PULSE_SERVER", "PULSE_COOKIE", "PULSE_RUNTIME_PATH",
             "PULSE_CLIENTCONFIG", "PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
             "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINER_HOST", "CI")
# pactl autospawns a daemon when none answers; the daemon binary comes from PULSE_BINARY
#, so point it at a no-op.
NO_AUTOSPAWN = {"PULSE_BINARY": "/bin/false"}
NO_COMMENTS = r"^\s*[^#;\s]"
NATIVE_PROTOCOL = r"module-native-protocol"
# xdpyinfo's visual dumps are long and say nothing about why Spotify cannot connect.
XDPYINFO_KEEP = r"^(?!\s+(?:visual(?: id)?:|class:|depth:|available colormap|red, green, blue|significant bits))"
IMAGE_KEYS = ("Id", "Digest", "RepoTags", "RepoDigests", "Created", "Architecture", "Os", "Size", "Labels",
              "User", "Author")
IMAGE_CONFIG_KEYS = ("User", "Entrypoint", "Cmd", "WorkingDir", "Labels", "Env")
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


def _lstat(ctx: Context, path: str) -> str:
    try:
        return describe(ctx.probes.fs.lstat(path))
    except OSError as exc:
        return f"not accessible ({exc.strerror or exc})"


def _listdir(ctx: Context, path: str) -> list[str]:
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


# -- system ------------------------------------------------------------------------------------

def _system(spec: BundleSpec, ctx: Context) -> None:
    spec.add_file("/etc/os-release", "system/os-release", max_bytes=16 * 1024)
    spec.add_command(("uname", "-srvmo"), "system/uname.txt", timeout_s=5)
    generated(spec, "system/cgroup.txt", lambda: cgroup_text(ctx))
    generated(spec, "system/kernel-knobs.txt", lambda: knobs_text(ctx))
    generated(spec, "system/dev-shm.txt", lambda: dev_shm_text(ctx))


# -- user namespaces ---------------------------------------------------------------------------

def subid_evidence(spec: BundleSpec, ctx: Context) -> None:
    own = rf"^({re.escape(ctx.user.name)}|{ctx.user.uid}):"  # this user's lines only
    spec.add_file("/etc/subuid", "userns/subuid", only_lines_matching=own)
    spec.add_file("/etc/subgid", "userns/subgid", only_lines_matching=own)


def newidmap_evidence(spec: BundleSpec, ctx: Context) -> None:
    generated(spec, "userns/newidmap.txt", lambda: newidmap_text(ctx))


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
    return f"/dev/shm: {usage.total_bytes // 1024} KiB total, {usage.free_bytes // 1024} KiB free\n"


def describe(st: StatInfo | None) -> str:
    if st is None:
        return "missing"
    kind = ("socket" if st.is_socket else "directory" if st.is_dir else "symlink" if st.is_symlink
            else "file" if st.is_file else "other")
    return f"{kind} {stat_mod.filemode(st.mode)} {oct(st.perms)} owner {st.uid}:{st.gid} size {st.size}"


def newidmap_text(ctx: Context) -> str:
    fs = ctx.probes.fs
    lines = []
    for path in ("/usr/bin/newuidmap", "/usr/bin/newgidmap"):
        caps = fs.getxattr(path, "security.capability")
        lines.append(f"{path}: {_lstat(ctx, path)}; file capabilities: {'yes' if caps else 'no'}")
    return "\n".join(lines) + "\n"


# -- podman ------------------------------------------------------------------------------------

def podman_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("podman", "version"), "podman/version.txt", timeout_s=20)
    spec.add_command(("buildah", "version"), "podman/buildah-version.txt", timeout_s=20)
    spec.add_command(("podman", "info", "--format", "json"), "podman/info.json", timeout_s=30,
                     max_bytes=512 * 1024)
    spec.add_command(("podman", "unshare", "cat", "/proc/self/uid_map"), "podman/unshare-uid_map.txt", timeout_s=20)
    spec.add_command(("podman", "unshare", "cat", "/proc/self/gid_map"), "podman/unshare-gid_map.txt", timeout_s=20)
    for name in ("containers.conf", "storage.conf"):
        spec.add_file(os.path.join(ctx.paths.xdg_config_home, "containers", name), f"podman/user-{name}",
                      only_lines_matching=NO_COMMENTS, max_bytes=64 * 1024)
        spec.add_file(f"/etc/containers/{name}", f"podman/etc-{name}", only_lines_matching=NO_COMMENTS,
                      max_bytes=64 * 1024)


def image_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("podman", "image", "inspect", ctx.config.image), "image/inspect.json", timeout_s=20,
                     max_bytes=256 * 1024, transform=image_summary)


def image_summary(text: str) -> str:
    """Labels, ids, dates and the run config of the image; never its full environment values."""
    try:
        data = json.loads(text)
    except ValueError:
        return text  # podman's own error text; redaction still applies
    images = data if isinstance(data, list) else [data]
    return json.dumps([_image(i) for i in images if isinstance(i, dict)], indent=2) + "\n"


def _image(image: dict[str, object]) -> dict[str, object]:
    kept: dict[str, object] = {k: image[k] for k in IMAGE_KEYS if k in image}
    config = image.get("Config")
    if isinstance(config, dict):
        kept["Config"] = {k: config[k] for k in IMAGE_CONFIG_KEYS if k in config}
        env = config.get("Env")
        if isinstance(env, list):
            kept["Config"]["Env"] = [_env_entry(str(e)) for e in env]  # type: ignore[index]
    return kept


def _env_entry(entry: str) -> str:
    name, _, value = entry.partition("=")
    return f"{name}=<withheld>" if is_secret_name(name) else entry


# -- audio -------------------------------------------------------------------------------------

def pulse_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("pactl", "info"), "pulse/pactl-info.txt", timeout_s=5, env=NO_AUTOSPAWN)
    spec.add_command(("pactl", "list", "modules", "short"), "pulse/native-protocol-modules.txt", timeout_s=5,
                     env=NO_AUTOSPAWN, only_lines_matching=NATIVE_PROTOCOL)
    socket = layout.pulse_socket(ctx.paths)
    if socket and _lstat(ctx, socket).startswith("socket"):
        spec.add_command(("pactl", "--server", f"unix:{socket}", "info"), "pulse/pactl-info-container-socket.txt",
                         timeout_s=5, env=NO_AUTOSPAWN)
    generated(spec, "pulse/files.txt", lambda: pulse_files_text(ctx))
    config_home = ctx.paths.xdg_config_home
    for path, name in ((os.path.join(config_home, "pulse", "client.conf"), "pulse/user-client.conf"),
                       ("/etc/pulse/client.conf", "pulse/etc-client.conf"),
                       (os.path.join(config_home, "pulse", "default.pa"), "pulse/user-default.pa"),
                       (layout.pulse_client_conf(ctx.paths), "pulse/container-client.conf"),
                       (layout.pipewire_drop_in(ctx.paths), "pulse/pipewire-pulse-drop-in.conf")):
        spec.add_file(path, name, only_lines_matching=NO_COMMENTS, max_bytes=64 * 1024)


def pulse_files_text(ctx: Context) -> str:
    """Where the sockets and cookies are, with type, mode and owner; never their bytes."""
    paths = ctx.paths
    runtime = paths.xdg_runtime_dir
    candidates = [
        ("pulse runtime dir", os.path.join(runtime, "pulse") if runtime else None),
        ("native socket", os.path.join(runtime, "pulse", "native") if runtime else None),
        ("container socket", layout.pulse_socket(paths)),
        ("pipewire socket", os.path.join(runtime, "pipewire-0") if runtime else None),
        ("default cookie", os.path.join(paths.xdg_config_home, "pulse", "cookie")),
        ("container socket cookie", layout.pulse_cookie(paths)),
        ("cookie copy for the container", layout.pulse_cookie_copy(paths)),
        ("client.conf for the container", layout.pulse_client_conf(paths)),
    ]
    return "".join(f"{label}: {path or '(no XDG_RUNTIME_DIR)'}: "
                   f"{_lstat(ctx, path) if path else 'n/a'}\n" for label, path in candidates)


# -- X11 ---------------------------------------------------------------------------------------

_DISPLAY = re.compile(r"^(?:unix/)?[^:/]*:(\d+)(?:\.\d+)?$")


def display_number(display: str | None) -> int | None:
    match = _DISPLAY.match(display or "")
    return int(match.group(1)) if match else None


def x11_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("xdpyinfo",), "x11/xdpyinfo.txt", timeout_s=5, only_lines_matching=XDPYINFO_KEEP,
                     max_bytes=64 * 1024)
    spec.add_command(("xhost",), "x11/xhost.txt", timeout_s=5)
    generated(spec, "x11/files.txt", lambda: x11_files_text(ctx))


def x11_files_text(ctx: Context) -> str:
    display = ctx.env.get("DISPLAY")
    number = display_number(display)
    xauthority = ctx.env.get("XAUTHORITY") or os.path.join(ctx.user.home, ".Xauthority")
    lines = [f"DISPLAY: {display if display is not None else '(not set)'}"]
    if number is not None:
        socket = f"/tmp/.X11-unix/X{number}"
        lines.append(f"socket {socket}: {_lstat(ctx, socket)}")
        lines.append(f"container cookie file {layout.x11_cookie(ctx.paths, number)}: "
                     f"{_lstat(ctx, layout.x11_cookie(ctx.paths, number))}")
    lines.append(f"Xauthority {xauthority}: {_lstat(ctx, xauthority)} (contents never collected)")
    lines.append(f"/tmp/.X11-unix: {_lstat(ctx, '/tmp/.X11-unix')}")
    return "\n".join(lines) + "\n"


# -- Spotify storage ---------------------------------------------------------------------------

def spotify_evidence(spec: BundleSpec, ctx: Context) -> None:
    files = prefs_files(ctx)
    logged_in = False
    for index, path in enumerate(files):
        try:
            logged_in |= bool(autologin_values(ctx.probes.fs.read_text(path, 256 * 1024)))
        except OSError:
            pass  # unreadable: the file item below says why
        name = "storage/spotify-prefs" if index == 0 else f"storage/spotify-prefs-{index + 1}"  # never the account dir name
        spec.add_file(path, name, max_bytes=64 * 1024, transform=sanitize_prefs)
    found = "yes" if logged_in else "no" if files else "unknown (no prefs file yet)"
    spec.add_text("storage/spotify-login.txt", f"logged in: {found}\nprefs files: {len(files)}\n")
    generated(spec, "storage/tree.txt", lambda: storage_text(ctx))


def storage_text(ctx: Context) -> str:
    """One level of the storage tree with owners and modes: enough to see
    who owns what, without file names from inside (the account directory names one)."""
    root = ctx.storage_dir
    lines = [f"{root}: {_lstat(ctx, root)}"]
    for sub in (layout.storage_config(root), layout.storage_cache(root)):
        lines.append(f"{sub}: {_lstat(ctx, sub)}")
        names = _listdir(ctx, sub)
        for name in names[:50]:
            shown = f"Users/ ({len(_listdir(ctx, os.path.join(sub, name)))} account dir(s))" if name == "Users" else name
            lines.append(f"  {shown}: {_lstat(ctx, os.path.join(sub, name))}")
        if len(names) > 50:
            lines.append(f"  ... {len(names) - 50} more")
    return "\n".join(lines) + "\n"


# -- the last launch ---------------------------------------------------------------------------

def last_launch_evidence(spec: BundleSpec, ctx: Context) -> None:
    try:
        records = launchlog.records(ctx.probes.fs, ctx.paths.launches_dir)
    except OSError as exc:
        spec.add_text("crash/last-launch.json", json.dumps({"last_launch": None, "error": str(exc)}) + "\n")
        return
    if not records:
        spec.add_text("crash/last-launch.json", json.dumps({"last_launch": None, "note": "no launch recorded"}) + "\n")
        return
    spec.add_text("crash/last-launch.json", json.dumps(records[0].to_json(), indent=2, default=str) + "\n")

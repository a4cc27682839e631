"""Shared podman facts, asked once per run (``ctx.memo``) and bounded by timeouts.

Several checks and the launcher need the same answers: ``podman info --format json`` and
``podman unshare cat /proc/self/{uid,gid}_map`` are slow-ish (the first one may start
podman's pause process), so each runs at most once per run however many callers ask.

    info = podman_info(ctx)            # PodmanInfo | None (podman_info_error(ctx) says why)
    maps = id_maps(ctx)                # IdMaps: the live uid/gid maps, or the reason why not
                                       # (read from podman's pause process when it runs)
    uid, gid = mapped_owner(ctx)       # host owner of container uid 1500 under the profile

Everything goes through ``ctx.probes.cmd``; nothing here raises except ``mapped_owner``
(``ProbeUnavailable`` with the reason) and the parsers (``ParseError``).
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.types import JSONValue
from spotidoctor.resultcache import cached, file_facts, text_digest
from spotidoctor.subids import IdMap, IdMapEntry, parse_id_map

if TYPE_CHECKING:
    from spotidoctor.api import Context

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["PodmanInfo", "ToolVersion", "IdMaps", "tool_version", "podman_info", "podman_info_error",
           "podman_info_age", "podman_fingerprint", "storage_conf_files", "pause_identity", "info_to_json",
           "info_from_json", "INFO_CACHE_TTL_S", "CRUN_PATHS",
           "id_maps", "pause_process_pid", "pause_process_maps", "containers_conf_files", "mapped_owner", "namespace_owner", "parse_podman_info", "parse_version",
           "containers_conf_path", "with_engine_runtime", "find_runc", "package_install_argv",
           "INFO_TIMEOUT_S", "UNSHARE_TIMEOUT_S", "VERSION_TIMEOUT_S"]

VERSION_TIMEOUT_S = 10.0
# The first podman call of a session starts the pause process and may migrate storage.
INFO_TIMEOUT_S = 60.0
UNSHARE_TIMEOUT_S = 30.0
_VERSION = re.compile(r"\bversion\s+v?([0-9]+(?:\.[0-9]+){0,3})", re.ASCII)
# containers/common's default search list for the "runc" runtime.
RUNC_PATHS = ("/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc",
              "/sbin/runc", "/bin/runc", "/usr/lib/cri-o-runc/sbin/runc", "/run/current-system/sw/bin/runc")


def parse_version(text: str) -> tuple[int, ...] | None:
    """``podman version 4.3.1`` / ``buildah version 1.28.2 (image-spec ...)`` -> (4, 3, 1)."""
    match = _VERSION.search(text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _dotted(version: tuple[int, ...] | None) -> str:
    return ".".join(str(p) for p in version) if version else ""


# -- tool versions --------------------------------------------------------------------------

@dataclass(frozen=True)
class ToolVersion:
    """``TOOL --version``: installed or not, and the version when it says one."""

    tool: str
    installed: bool
    version: tuple[int, ...] | None = None
    error: str | None = None  # set when installed but ``--version`` failed

    @property
    def text(self) -> str:
        return _dotted(self.version)

    def at_least(self, *wanted: int) -> bool:
        return self.version is not None and self.version >= wanted


def tool_version(ctx: Context, tool: str) -> ToolVersion:
    """``podman --version`` / ``buildah --version`` (fast: no user namespace needed)."""
    return ctx.memo.get(f"podmaninfo.version.{tool}", lambda: _tool_version(ctx, tool))


def _tool_version(ctx: Context, tool: str) -> ToolVersion:
    done = ctx.probes.cmd.run((tool, "--version"), timeout=VERSION_TIMEOUT_S)
    if done.not_found:
        return ToolVersion(tool, False)
    if not done.ok:
        return ToolVersion(tool, True, None, done.error_text())
    return ToolVersion(tool, True, parse_version(done.stdout))


# -- podman info ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PodmanInfo:
    """The parts of ``podman info --format json`` spotidoctor uses."""

    version: tuple[int, ...]
    rootless: bool
    oci_runtime: str  # "crun", "runc", ...
    oci_runtime_path: str
    cgroup_version: str  # "v1" / "v2"; rootless resource limits are ignored on v1
    cgroup_manager: str
    log_driver: str  # "k8s-file", "journald"
    network_backend: str  # "netavark", "cni"
    rootless_network_cmd: str  # "pasta"/"slirp4netns" when podman says (5.x); else ""
    graph_driver: str
    graph_root: str
    buildah_version: str
    slirp4netns_path: str
    pasta_path: str
    uid_map: IdMap | None  # host.idMappings (the live map podman runs with)
    gid_map: IdMap | None

    @property
    def version_text(self) -> str:
        return _dotted(self.version)

    def at_least(self, *wanted: int) -> bool:
        return self.version >= wanted

    @property
    def keep_groups_supported(self) -> bool:
        """``--group-add keep-groups`` only works with crun; runc ignores it."""
        return self.oci_runtime == "crun"

    @property
    def pasta_supported(self) -> bool:
        """``--network pasta`` arrived in podman 4.4.0."""
        return self.at_least(4, 4)

    @property
    def default_network(self) -> str:
        """The rootless network mode podman uses when none is given."""
        if self.rootless_network_cmd:
            return self.rootless_network_cmd
        return "pasta" if self.at_least(5) else "slirp4netns"

    def facts(self) -> dict[str, JSONValue]:
        return {
            "podman_version": self.version_text, "rootless": self.rootless,
            "runtime": self.oci_runtime, "runtime_path": self.oci_runtime_path,
            "keep_groups_supported": self.keep_groups_supported,
            "cgroup_version": self.cgroup_version, "cgroup_manager": self.cgroup_manager,
            "log_driver": self.log_driver, "network_backend": self.network_backend,
            "default_network": self.default_network, "graph_driver": self.graph_driver,
        }


def _get(data: Mapping[str, object], *keys: str) -> object:
    node: object = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(data: Mapping[str, object], *keys: str) -> str:
    value = _get(data, *keys)
    return value.strip() if isinstance(value, str) else ""


def _json_map(value: object) -> IdMap | None:
    if not isinstance(value, list) or not value:
        return None
    entries = []
    for item in value:
        if not isinstance(item, Mapping):
            return None
        numbers = [item.get(k) for k in ("container_id", "host_id", "size")]
        if not all(type(n) is int and n >= 0 for n in numbers):
            return None
        inside, outside, size = (int(n) for n in numbers)  # type: ignore[arg-type]
        entries.append(IdMapEntry(inside, outside, size))
    return IdMap(tuple(entries))


def parse_podman_info(text: str) -> PodmanInfo:
    """Parse ``podman info --format json`` (4.x and 5.x key names); raises ``ParseError``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"podman info did not print JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("host"), dict):
        raise ParseError("podman info JSON has no 'host' object")
    version = parse_version("version " + _text(data, "version", "Version"))
    if version is None:
        raise ParseError("podman info JSON has no version.Version")
    return PodmanInfo(
        version=version,
        rootless=_get(data, "host", "security", "rootless") is True,
        oci_runtime=_text(data, "host", "ociRuntime", "name"),
        oci_runtime_path=_text(data, "host", "ociRuntime", "path"),
        cgroup_version=_text(data, "host", "cgroupVersion"),
        cgroup_manager=_text(data, "host", "cgroupManager"),
        log_driver=_text(data, "host", "logDriver"),
        network_backend=_text(data, "host", "networkBackend"),
        rootless_network_cmd=_text(data, "host", "rootlessNetworkCmd"),
        graph_driver=_text(data, "store", "graphDriverName"),
        graph_root=_text(data, "store", "graphRoot"),
        buildah_version=_text(data, "host", "buildahVersion"),
        slirp4netns_path=_text(data, "host", "slirp4netns", "executable"),
        pasta_path=_text(data, "host", "pasta", "executable"),
        uid_map=_json_map(_get(data, "host", "idMappings", "uidmap")),
        gid_map=_json_map(_get(data, "host", "idMappings", "gidmap")),
    )


def info_to_json(info: PodmanInfo) -> dict[str, JSONValue]:
    """The parsed answer as JSON (for the result cache): the fields spotidoctor uses, no more."""
    data: dict[str, JSONValue] = {name: getattr(info, name) for name in _INFO_TEXT_FIELDS}
    data.update(version=list(info.version), rootless=info.rootless,
                uid_map=info.uid_map.to_json() if info.uid_map else None,
                gid_map=info.gid_map.to_json() if info.gid_map else None)
    return data


def info_from_json(data: JSONValue) -> PodmanInfo:
    """``info_to_json`` read back; raises ValueError/TypeError/KeyError on anything else."""
    if not isinstance(data, dict):
        raise TypeError("not an object")
    version = data["version"]
    if not isinstance(version, list) or not version or not all(type(p) is int for p in version):
        raise ValueError("bad version")
    texts = {name: data[name] for name in _INFO_TEXT_FIELDS}
    if not all(isinstance(v, str) for v in texts.values()) or not isinstance(data["rootless"], bool):
        raise TypeError("bad field")
    maps = [_cached_map(data[name]) for name in ("uid_map", "gid_map")]
    return PodmanInfo(version=tuple(int(p) for p in version), rootless=data["rootless"],  # type: ignore[arg-type]
                      uid_map=maps[0], gid_map=maps[1], **texts)  # type: ignore[arg-type]


def _cached_map(value: JSONValue) -> IdMap | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise TypeError("bad id map")
    entries = []
    for item in value:
        if not isinstance(item, list) or len(item) != 3 or not all(type(n) is int and n >= 0 for n in item):
            raise TypeError("bad id map entry")
        entries.append(IdMapEntry(int(item[0]), int(item[1]), int(item[2])))  # type: ignore[arg-type]
    return IdMap(tuple(entries))


_INFO_TEXT_FIELDS = ("oci_runtime", "oci_runtime_path", "cgroup_version", "cgroup_manager", "log_driver",
                     "network_backend", "rootless_network_cmd", "graph_driver", "graph_root", "buildah_version",
                     "slirp4netns_path", "pasta_path")
# `podman info` answers are kept this long while nothing they depend on changes.
INFO_CACHE_TTL_S = 3600.0
INFO_CACHE_KEY = "podman-info"


@dataclass(frozen=True)
class _InfoAnswer:
    info: PodmanInfo | None
    error: str | None
    age_s: float | None = None  # from the result cache: seconds since podman answered


def _podman_info_answer(ctx: Context) -> _InfoAnswer:
    def ask() -> _InfoAnswer:
        done = ctx.probes.cmd.run(("podman", "info", "--format", "json"), timeout=INFO_TIMEOUT_S)
        if done.not_found:
            return _InfoAnswer(None, "podman is not installed")
        if not done.ok:
            return _InfoAnswer(None, f"`podman info` failed: {done.error_text()}")
        try:
            return _InfoAnswer(parse_podman_info(done.stdout), None)
        except ParseError as exc:
            return _InfoAnswer(None, f"cannot read `podman info --format json`: {exc}")

    def compute() -> _InfoAnswer:
        # Only answers that parsed are kept; a failure removes a kept one.
        got = cached(ctx, INFO_CACHE_KEY, lambda: podman_fingerprint(ctx), INFO_CACHE_TTL_S, ask,
                     encode=lambda a: info_to_json(a.info) if a.info is not None else None,
                     decode=lambda data: _InfoAnswer(info_from_json(data), None))
        return _InfoAnswer(got.value.info, got.value.error, got.age_s)

    return ctx.memo.get("podmaninfo.info", compute)


def podman_info(ctx: Context) -> PodmanInfo | None:
    """``podman info`` parsed, or None (``podman_info_error`` then says why)."""
    return _podman_info_answer(ctx).info


def podman_info_error(ctx: Context) -> str | None:
    return _podman_info_answer(ctx).error


def podman_info_age(ctx: Context) -> float | None:
    """Seconds since podman gave the answer ``podman_info`` returns when it came from the
    result cache (nothing it depends on changed since); None when podman answered now."""
    return _podman_info_answer(ctx).age_s


# -- what podman's answers depend on (the result cache's fingerprint) ---------------------------

# Environment podman reads (config and storage locations, remote connections, the user bus).
FINGERPRINT_ENV = ("HOME", "PATH", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                   "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE",
                   "CONTAINERS_STORAGE_CONF", "DBUS_SESSION_BUS_ADDRESS")
CRUN_PATHS = ("/usr/bin/crun", "/usr/sbin/crun", "/usr/local/bin/crun", "/usr/local/sbin/crun", "/sbin/crun",
              "/bin/crun", "/run/current-system/sw/bin/crun")
# Installing, upgrading or removing any package changes one of these.
PACKAGE_DATABASES = ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages",
                     "/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/pacman/local", "/lib/apk/db/installed")
USERNS_SYSCTLS = ("/proc/sys/kernel/unprivileged_userns_clone", "/proc/sys/user/max_user_namespaces",
                  "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def storage_conf_files(ctx: Context) -> tuple[str, ...]:
    """Every storage.conf podman may read for this user (existing or not)."""
    override = ctx.env.get("CONTAINERS_STORAGE_CONF", "")
    files = [f"{ctx.paths.xdg_config_home}/containers/storage.conf", "/etc/containers/storage.conf",
             "/usr/share/containers/storage.conf"]
    if override:
        files.append(override if override.startswith("/") else f"{ctx.user.home}/{override}")
    return tuple(files)


def _small_text(ctx: Context, path: str) -> str | None:
    return ctx.probes.fs.read_text_or_none(path, 4096)


def pause_identity(ctx: Context) -> JSONValue:
    """[pid, start time] of the pause process keeping the namespace (None: none runs)."""
    pid = pause_process_pid(ctx)
    return None if pid is None else [pid, _start_time(ctx, pid)]


def podman_fingerprint(ctx: Context) -> tuple[JSONValue, ...]:
    """Everything ``podman info`` (the parts spotidoctor reads) and podman's rootless user
    namespace depend on: the uid and podman's environment, the podman binary, every
    containers.conf / storage.conf / connection file (by content), /etc/subuid and
    /etc/subgid, the newuidmap/newgidmap helpers (mode, file capabilities), the OCI runtimes
    podman may pick, the package databases, the userns sysctls, the boot id and the pause
    process. Raises OSError when something cannot be read (then nothing is cached).
    Memoised: the podman.runtime and pulse.container-access fingerprints extend it."""
    return ctx.memo.get("podmaninfo.fingerprint", lambda: tuple(_podman_fingerprint(ctx)))


def _podman_fingerprint(ctx: Context) -> list[JSONValue]:
    fs = ctx.probes.fs
    which = ctx.probes.cmd.which
    config_home = ctx.paths.xdg_config_home
    data_home = ctx.env.get("XDG_DATA_HOME") or f"{ctx.user.home}/.local/share"
    configs = (*containers_conf_files(ctx), *storage_conf_files(ctx),
               f"{config_home}/containers/podman-connections.json", f"{data_home}/containers/podman-connections.json")
    id_helpers = [which(name) or f"/usr/bin/{name}" for name in ("newuidmap", "newgidmap")]
    podman = which("podman")
    runtime_dir = ctx.paths.xdg_runtime_dir
    return [
        ["uid", ctx.user.uid, ctx.user.gid],
        ["env", {name: ctx.env.get(name) for name in FINGERPRINT_ENV}],
        ["podman", podman, file_facts(fs, podman) if podman else None],
        ["config", [text_digest(fs, path) for path in configs]],
        ["subids", [text_digest(fs, "/etc/subuid"), text_digest(fs, "/etc/subgid")]],
        ["id-helpers", [[file_facts(fs, path), (fs.getxattr(path, "security.capability") or b"").hex()]
                        for path in id_helpers]],
        ["runtimes", [file_facts(fs, path) for path in (*RUNC_PATHS, *CRUN_PATHS)]],
        ["packages", [file_facts(fs, path) for path in PACKAGE_DATABASES]],
        ["sysctl", [_small_text(ctx, path) for path in USERNS_SYSCTLS]],
        ["boot", _small_text(ctx, BOOT_ID)],
        ["bus", file_facts(fs, f"{runtime_dir}/bus") if runtime_dir else None],
        ["pause", pause_identity(ctx)],
    ]


# -- live id maps ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IdMaps:
    """The maps of podman's rootless user namespace: both maps, or why there are none.

    ``source`` says where they were read: ``podman unshare`` (``cat /proc/self/{uid,gid}_map``
    inside the namespace) or ``pause process PID`` (the same namespace's maps read from
    ``/proc/PID/{uid,gid}_map`` of the process that keeps it alive, without starting podman).
    """

    uid_map: IdMap | None
    gid_map: IdMap | None
    error: str | None = None
    source: str = "podman unshare"

    @property
    def ok(self) -> bool:
        return self.uid_map is not None and self.gid_map is not None


def _read_map(ctx: Context, which: str) -> IdMap | str:
    done = ctx.probes.cmd.run(("podman", "unshare", "cat", f"/proc/self/{which}"), timeout=UNSHARE_TIMEOUT_S)
    if done.not_found:
        return "podman is not installed"
    if not done.ok:
        return f"`podman unshare cat /proc/self/{which}` failed: {done.error_text()}"
    try:
        return parse_id_map(done.stdout)
    except ParseError as exc:
        return f"cannot read /proc/self/{which} from `podman unshare`: {exc}"


def id_maps(ctx: Context) -> IdMaps:
    """The live maps of podman's rootless user namespace (authoritative).

    Read from podman's pause process when one verifiably runs for this user (no podman
    process needed: ``podman unshare`` joins exactly that process's namespace); otherwise
    ``podman unshare cat /proc/self/{uid,gid}_map``, which also starts the pause process.
    """
    def compute() -> IdMaps:
        from_pause = pause_process_maps(ctx)
        if from_pause is not None:
            return from_pause
        uid_map = _read_map(ctx, "uid_map")
        if isinstance(uid_map, str):
            return IdMaps(None, None, uid_map)
        gid_map = _read_map(ctx, "gid_map")
        if isinstance(gid_map, str):
            return IdMaps(uid_map, None, gid_map)
        return IdMaps(uid_map, gid_map)

    return ctx.memo.get("podmaninfo.id_maps", compute)


# -- podman's pause process -------------------------------------------------------------------
# Rootless podman keeps its user namespace alive in a pause process and records its pid in
# $XDG_RUNTIME_DIR/libpod/tmp/pause.pid: podman 5 always there, podman 4 in the engine's
# tmp_dir, whose rootless default is that same directory (verified with podman 4.3.1: a
# containers.conf `tmp_dir` moves the pid file). `podman unshare` joins that process's
# namespaces, so its /proc/PID/{uid,gid}_map are the maps `podman unshare cat` would print.

# What podman's own tests accept as the pause process's name (catatonit -P, or podman itself).
PAUSE_NAMES = ("catatonit", "podman pause")
PAUSE_PID_FILE = "libpod/tmp/pause.pid"
_TMP_DIR_SETTING = re.compile(r"^[ \t]*tmp_dir[ \t]*=", re.MULTILINE)
_CONF_DIRS = ("/usr/share/containers", "/etc/containers")
_CONF_READ_LIMIT = 1 << 20


def containers_conf_files(ctx: Context) -> tuple[str, ...]:
    """Every containers.conf podman (4.x and 5.x) may read for this user, existing or not:
    the system, admin and user files, their ``containers.conf.d`` / ``containers.rootless.conf.d``
    drop-ins, ``$CONTAINERS_CONF`` and ``$CONTAINERS_CONF_OVERRIDE``. A superset on purpose:
    callers use it to notice changes and settings, never to compute podman's merge."""
    fs = ctx.probes.fs
    user_dir = f"{ctx.paths.xdg_config_home}/containers"
    files: list[str] = []
    for base in (*_CONF_DIRS, user_dir):
        files.append(f"{base}/containers.conf")
        for drop_in in ("containers.conf.d", "containers.rootless.conf.d",
                        f"containers.rootless.conf.d/{ctx.user.uid}"):
            directory = f"{base}/{drop_in}"
            files += [f"{directory}/{name}" for name in fs.listdir(directory) if name.endswith(".conf")]
    for name in ("CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE"):
        value = ctx.env.get(name, "")
        if value:
            files.append(value if value.startswith("/") else f"{ctx.user.home}/{value}")
    return tuple(files)


def _tmp_dir_configured(ctx: Context) -> bool:
    """True when some containers.conf sets ``tmp_dir`` (podman 4 then keeps pause.pid
    there), or one exists that cannot be read (then nobody can tell)."""
    fs = ctx.probes.fs
    for path in containers_conf_files(ctx):
        try:
            text = fs.read_text_or_none(path, _CONF_READ_LIMIT)
        except OSError:
            return True
        if text is not None and _TMP_DIR_SETTING.search(text):
            return True
    return False


def _start_time(ctx: Context, pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks): a pid's identity over time."""
    text = ctx.probes.fs.read_text_or_none(f"/proc/{pid}/stat", 4096)
    fields = text.rpartition(")")[2].split() if text else []
    return fields[19] if len(fields) > 19 else None


def _is_pause_process(ctx: Context, pid: int) -> bool:
    fs = ctx.probes.fs
    st = fs.stat(f"/proc/{pid}")
    if st is None or st.uid != ctx.user.uid:
        return False
    comm = (fs.read_text_or_none(f"/proc/{pid}/comm", 64) or "").strip()
    if comm not in PAUSE_NAMES:
        return False
    if comm == "catatonit":  # also containers' --init; only the pause process runs it with -P
        args = (fs.read_text_or_none(f"/proc/{pid}/cmdline", 4096) or "").split("\0")
        return "-P" in args[1:]
    return True


def pause_process_pid(ctx: Context) -> int | None:
    """The pid of this user's podman pause process, when it verifiably runs: the pid file in
    the user's own runtime dir (no containers.conf moves it), a live process owned by the
    user named catatonit -P or ``podman pause``. None when any of that does not hold."""
    fs = ctx.probes.fs
    runtime = ctx.paths.xdg_runtime_dir
    try:
        if not runtime or not runtime.startswith("/"):
            return None
        owner = fs.stat(runtime)
        if owner is None or owner.uid != ctx.user.uid or _tmp_dir_configured(ctx):
            return None
        pid_file = f"{runtime}/{PAUSE_PID_FILE}"
        st = fs.lstat(pid_file)
        if st is None or not st.is_file or st.uid != ctx.user.uid:
            return None
        text = fs.read_text(pid_file, 32).strip()
        pid = int(text) if text.isdigit() else 0
        return pid if pid > 1 and _is_pause_process(ctx, pid) else None
    except OSError:
        return None


def pause_process_maps(ctx: Context) -> IdMaps | None:
    """The maps of podman's namespace read from its pause process, or None (then ask
    ``podman unshare``): no verified pause process, it went away (or its pid was reused)
    while being read, the maps do not parse, or they are the initial namespace's."""
    pid = pause_process_pid(ctx)
    if pid is None:
        return None
    fs = ctx.probes.fs
    try:
        started = _start_time(ctx, pid)
        texts = [fs.read_text_or_none(f"/proc/{pid}/{which}", 65536) for which in ("uid_map", "gid_map")]
        if started is None or _start_time(ctx, pid) != started or not _is_pause_process(ctx, pid):
            return None
        uid_map, gid_map = (parse_id_map(t) if t is not None else None for t in texts)
    except (OSError, ParseError):
        return None
    if uid_map is None or gid_map is None or any(_is_initial(m) for m in (uid_map, gid_map)):
        return None
    return IdMaps(uid_map, gid_map, source=f"pause process {pid}")


def _is_initial(id_map: IdMap) -> bool:
    """The initial user namespace's map (0 0 4294967295): not a rootless namespace."""
    return any(e.inside == 0 and e.outside == 0 and e.length == 4294967295 for e in id_map.entries)


def namespace_owner(profile: str, container_uid: int) -> tuple[int, int]:
    """The owner to give files *inside* ``podman unshare`` so the container user owns them.

    isolated: the container uid itself (1500:1500 becomes the subordinate id on the host);
    keep-id: 0:0, which inside ``podman unshare`` is the host user.
    """
    return (0, 0) if profile == "keep-id" else (container_uid, container_uid)


def mapped_owner(ctx: Context, container_uid: int | None = None,
                 profile: str | None = None) -> tuple[int, int]:
    """Host (uid, gid) that owns the container user's files under the run profile.

    isolated (default): container uid N through the live maps, e.g. 1500 -> 101499 (F4.2);
    keep-id: the user's own uid and gid. Raises ``ProbeUnavailable`` with the reason when
    the maps cannot be read or N is not mapped (subordinate range too small, F4.3).
    """
    uid = ctx.config.container_uid if container_uid is None else container_uid
    if (profile or ctx.config.profile) == "keep-id":
        return ctx.user.uid, ctx.user.gid
    maps = id_maps(ctx)
    if maps.uid_map is None or maps.gid_map is None:
        raise ProbeUnavailable(maps.error or "podman's id maps are unavailable")
    host_uid, host_gid = maps.uid_map.to_host(uid), maps.gid_map.to_host(uid)
    if host_uid is None or host_gid is None:
        raise ProbeUnavailable(f"container uid {uid} is not mapped by podman's user namespace "
                               f"(uid_map {maps.uid_map.render()}): the subordinate range is too small")
    return host_uid, host_gid


# -- containers.conf and packages -------------------------------------------------------------

def containers_conf_path(ctx: Context) -> str:
    """The containers.conf podman reads last for this user: ``$CONTAINERS_CONF`` when set
    (it then replaces all others), else ``$XDG_CONFIG_HOME/containers/containers.conf``."""
    override = ctx.env.get("CONTAINERS_CONF", "")
    if override:
        return override if override.startswith("/") else f"{ctx.user.home}/{override}"
    return f"{ctx.paths.xdg_config_home}/containers/containers.conf"


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_RUNTIME_KEY = re.compile(r"^(\s*)runtime\s*=")


def _table_of(line: str) -> str | None:
    match = _HEADER.match(line.rstrip("\r\n"))
    return match.group(1).strip().strip('"') if match and not line.lstrip().startswith("[[") else None


def with_engine_runtime(text: str, runtime: str) -> str:
    """``text`` with ``[engine] runtime = "<runtime>"``; everything else stays as written.

    Raises ``ParseError`` when ``text`` is not valid TOML or the edit cannot be made
    safely (the result is re-parsed and compared with the original).
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"not valid TOML: {exc}") from exc
    lines = text.splitlines(keepends=True)
    setting = f'runtime = "{runtime}"\n'
    engine = next((i for i, ln in enumerate(lines) if _table_of(ln) == "engine"), None)
    if engine is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        new = prefix + ("\n" if prefix.strip() else "") + "[engine]\n" + setting
    else:
        if not lines[engine].endswith("\n"):
            lines[engine] += "\n"
        end = next((i for i in range(engine + 1, len(lines)) if _table_of(lines[i]) is not None), len(lines))
        hit = next((i for i in range(engine + 1, end) if _RUNTIME_KEY.match(lines[i])), None)
        if hit is None:
            lines.insert(engine + 1, setting)
        else:
            lines[hit] = _RUNTIME_KEY.match(lines[hit]).group(1) + setting  # type: ignore[union-attr]
        new = "".join(lines)
    _verify_runtime_edit(before, new, runtime)
    return new


def _verify_runtime_edit(before: dict[str, object], new: str, runtime: str) -> None:
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"cannot add the runtime setting safely: {exc}") from exc
    engine_before = before.get("engine", {})
    expected = dict(before)
    expected["engine"] = {**(engine_before if isinstance(engine_before, dict) else {}), "runtime": runtime}
    if after != expected:
        raise ParseError("cannot add the runtime setting without changing other settings")


def find_runc(ctx: Context) -> str | None:
    """Where runc is installed (podman's own search list, then PATH), or None."""
    for path in RUNC_PATHS:
        if ctx.probes.fs.exists(path):
            return path
    return ctx.probes.cmd.which("runc")


# Package names per package manager (first one found wins).
_MANAGERS = (("apt-get", ("apt-get", "install", "-y")), ("dnf", ("dnf", "install", "-y")),
             ("zypper", ("zypper", "--non-interactive", "install")), ("pacman", ("pacman", "-S", "--noconfirm")))


def package_install_argv(ctx: Context, packages: Mapping[str, str]) -> tuple[str, ...] | None:
    """The install command for this host's package manager, e.g. ``apt-get install -y runc``.

    ``packages`` maps a package manager (``apt-get``, ``dnf``, ``zypper``, ``pacman``) to the
    package name there; None when no known manager is installed or the package is unknown.
    """
    for manager, argv in _MANAGERS:
        if manager in packages and ctx.probes.cmd.which(manager):
            return (*argv, packages[manager])
    return None

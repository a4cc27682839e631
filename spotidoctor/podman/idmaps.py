"""The maps of podman's rootless user namespace, and who owns the container user's files.

    maps = id_maps(ctx)                # IdMaps: the live uid/gid maps, or the reason why not
                                       # (read from podman's pause process when it runs)
    uid, gid = mapped_owner(ctx)       # host owner of container uid 1500 under the profile

Nothing here raises except ``mapped_owner`` (``ProbeUnavailable`` with the reason).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spotidoctor.errors import ParseError, ProbeUnavailable
from spotidoctor.podman.conf import containers_conf_files
from spotidoctor.podman.subids import IdMap, parse_id_map
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context


UNSHARE_TIMEOUT_S = 30.0


def pause_identity(ctx: Context) -> JSONValue:
    """[pid, start time] of the pause process keeping the namespace (None: none runs)."""
    pid = pause_process_pid(ctx)
    return None if pid is None else [pid, _start_time(ctx, pid)]


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


# Rootless podman keeps its user namespace alive in a pause process and records its pid in
# $XDG_RUNTIME_DIR/libpod/tmp/pause.pid: podman 5 always there, podman 4 in the engine's
# tmp_dir, whose rootless default is that same directory (verified with podman 4.3.1: a
# containers.conf `tmp_dir` moves the pid file). `podman unshare` joins that process's
# namespaces, so its /proc/PID/{uid,gid}_map are the maps `podman unshare cat` would print.
# What podman's own tests accept as the pause process's name (catatonit -P, or podman itself).
PAUSE_NAMES = ("catatonit", "podman pause")
PAUSE_PID_FILE = "libpod/tmp/pause.pid"
_TMP_DIR_SETTING = re.compile(r"^[ \t]*tmp_dir[ \t]*=", re.MULTILINE)


_CONF_READ_LIMIT = 1 << 20


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

    isolated (default): container uid N through the live maps, e.g. 1500 -> 101499 (one
    range ``START:COUNT`` gives START + N - 1); keep-id: the user's own uid and gid. Raises
    ``ProbeUnavailable`` with the reason when the maps cannot be read or N is not mapped (the
    subordinate range is too small: uid N needs COUNT >= N).
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

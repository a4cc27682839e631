"""id_maps from podman's pause process (no podman process) and its fallback to
``podman unshare``, over a fake /proc and runtime dir in a sysroot.

The fast path must give exactly the maps ``podman unshare cat /proc/self/{uid,gid}_map``
gives, and only when the pid file verifiably names this user's pause process; in every
other case ``podman unshare`` answers, as before.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from spotidoctor.api import Context
from spotidoctor.errors import ProbeUnavailable
from spotidoctor.podman.idmaps import IdMaps, id_maps, mapped_owner, pause_process_maps, pause_process_pid
from spotidoctor.podman.subids import parse_id_map
from spotidoctor.probes.fs import StatInfo
from spotidoctor.testing import FakeCommand, FakeCommandRunner, FakeFS, make_context

UID = 1600
PID = 4346
RUNTIME = f"/run/user/{UID}"
PID_FILE = f"{RUNTIME}/libpod/tmp/pause.pid"
UID_MAP = "         0       1600          1\n         1     100000      65536\n"
GID_MAP = "         0       1600          1\n         1     200000      65536\n"
UNSHARE_UID = ("podman", "unshare", "cat", "/proc/self/uid_map")
UNSHARE_GID = ("podman", "unshare", "cat", "/proc/self/gid_map")
# What `podman unshare` answers in the fallback: deliberately different from the pause
# process's maps, so each test sees which path answered.
UNSHARE_MAPS = [FakeCommand(UNSHARE_UID, "0 1600 1\n1 300000 65536\n"),
                FakeCommand(UNSHARE_GID, "0 1600 1\n1 400000 65536\n")]


def stat_line(pid: int = PID, comm: str = "catatonit", start: int = 777) -> str:
    # Field 22 (start time) is the 20th after the ")" that closes the command name.
    return f"{pid} ({comm}) S " + " ".join(["0"] * 18) + f" {start} " + " ".join(["0"] * 30) + "\n"


def pause_files(pid: int = PID, comm: str = "catatonit", cmdline: str = "catatonit\0-P\0",
                uid_map: str = UID_MAP, gid_map: str = GID_MAP) -> dict[str, str]:
    return {PID_FILE: f"{pid}", f"/proc/{pid}/comm": comm + "\n", f"/proc/{pid}/cmdline": cmdline,
            f"/proc/{pid}/stat": stat_line(pid, comm), f"/proc/{pid}/uid_map": uid_map,
            f"/proc/{pid}/gid_map": gid_map}


def owners(pid: int = PID, proc_uid: int = UID, file_uid: int = UID,
           runtime_uid: int = UID) -> dict[str, tuple[int, int]]:
    return {f"/proc/{pid}": (proc_uid, proc_uid), PID_FILE: (file_uid, file_uid), RUNTIME: (runtime_uid, runtime_uid)}


def context(tmp_path: Path, files: Mapping[str, str], owned: Mapping[str, tuple[int, int]],
            commands: list[FakeCommand] | None = None, env: Mapping[str, str] | None = None,
            fs: FakeFS | None = None) -> Context:
    os.makedirs(tmp_path / RUNTIME.lstrip("/"), exist_ok=True)
    return make_context(tmp_path, files=files, commands=FakeCommandRunner(commands or []), owners=owned,
                        env=env, fs=fs)


def calls(ctx: Context) -> list[tuple[str, ...]]:
    runner = ctx.probes.cmd
    assert isinstance(runner, FakeCommandRunner)
    return runner.calls


@pytest.mark.parametrize("comm, cmdline", [("catatonit", "catatonit\0-P\0"), ("catatonit", "/usr/bin/catatonit\0-P\0"),
                                           ("podman pause", "podman\0")])
def test_maps_from_the_pause_process(tmp_path: Path, comm: str, cmdline: str) -> None:
    ctx = context(tmp_path, pause_files(comm=comm, cmdline=cmdline), owners())
    maps = id_maps(ctx)
    assert maps == IdMaps(parse_id_map(UID_MAP), parse_id_map(GID_MAP), source=f"pause process {PID}")
    assert calls(ctx) == []  # no podman process at all
    assert mapped_owner(ctx) == (101499, 201499)
    assert pause_process_pid(ctx) == PID


def test_fallback_gives_the_same_answer_as_before(tmp_path: Path) -> None:
    """No pause process: podman unshare answers, exactly as it did before the fast path."""
    ctx = context(tmp_path, {}, {RUNTIME: (UID, UID)}, UNSHARE_MAPS)
    maps = id_maps(ctx)
    assert maps == IdMaps(parse_id_map("0 1600 1\n1 300000 65536\n"),
                                     parse_id_map("0 1600 1\n1 400000 65536\n"), source="podman unshare")
    assert calls(ctx) == [UNSHARE_UID, UNSHARE_GID]


def test_fallback_failure_is_reported_as_before(tmp_path: Path) -> None:
    ctx = context(tmp_path, {}, {RUNTIME: (UID, UID)},
                  [FakeCommand(UNSHARE_UID, "", "Error: cannot set up namespace", 125)])
    with pytest.raises(ProbeUnavailable, match="podman unshare cat /proc/self/uid_map` failed: Error: cannot set up"):
        mapped_owner(ctx)


def _without(files: dict[str, str], *paths: str) -> dict[str, str]:
    return {k: v for k, v in files.items() if k not in paths}


FALLBACKS = {
    "no pid file": (_without(pause_files(), PID_FILE), owners(), None),
    "pid file names a dead process": (
        _without(pause_files(), *(f"/proc/{PID}/{n}" for n in ("comm", "cmdline", "stat", "uid_map", "gid_map"))),
        {PID_FILE: (UID, UID), RUNTIME: (UID, UID)}, None),
    "pid file of another user": (pause_files(), owners(file_uid=0), None),
    "process of another user": (pause_files(), owners(proc_uid=1700), None),
    "pid reused by another program": (pause_files(comm="sleep", cmdline="sleep\0infinity\0"), owners(), None),
    "catatonit as a container's init": (pause_files(cmdline="/run/podman-init\0--\0spotify\0"), owners(), None),
    "garbage in the pid file": ({**pause_files(), PID_FILE: "not a pid\n"}, owners(), None),
    "pid 1": ({**pause_files(pid=1)}, owners(pid=1), None),
    "runtime dir of another user": (pause_files(), owners(runtime_uid=0), None),
    "tmp_dir in the user's containers.conf": (
        {**pause_files(), "/home/alice/.config/containers/containers.conf": '[engine]\ntmp_dir = "/tmp/x"\n'},
        owners(), None),
    "tmp_dir in a system drop-in": (
        {**pause_files(), "/etc/containers/containers.conf.d/50-tmp.conf": '[engine]\n  tmp_dir="/var/tmp/p"\n'},
        owners(), None),
    "tmp_dir in $CONTAINERS_CONF": (
        {**pause_files(), "/srv/podman.conf": '[engine]\ntmp_dir = "/tmp/y"\n'}, owners(),
        {"CONTAINERS_CONF": "/srv/podman.conf"}),
    "no XDG_RUNTIME_DIR": (pause_files(), owners(), {"XDG_RUNTIME_DIR": ""}),
    "maps that do not parse": (pause_files(uid_map="garbage\n"), owners(), None),
    "the initial namespace's maps": (
        pause_files(uid_map="0 0 4294967295\n", gid_map="0 0 4294967295\n"), owners(), None),
}


@pytest.mark.parametrize("files, owned, env", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_falls_back_to_podman_unshare(tmp_path: Path, files: dict[str, str], owned: dict[str, tuple[int, int]],
                                      env: dict[str, str] | None) -> None:
    ctx = context(tmp_path, files, owned, list(UNSHARE_MAPS), env=env)
    maps = id_maps(ctx)
    assert maps.source == "podman unshare"
    assert maps.uid_map == parse_id_map("0 1600 1\n1 300000 65536\n")
    assert calls(ctx) == [UNSHARE_UID, UNSHARE_GID]


def test_a_commented_tmp_dir_does_not_count(tmp_path: Path) -> None:
    files = {**pause_files(), "/etc/containers/containers.conf": '[engine]\n# tmp_dir = "/var/tmp"\n'}
    ctx = context(tmp_path, files, owners())
    assert id_maps(ctx).source == f"pause process {PID}"


class RestartingFS(FakeFS):
    """/proc/PID/stat shows a new start time after the first read: the pid was reused
    between the identity check and the map reads."""

    def __init__(self, sysroot: Path, owned: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(sysroot, owned)
        self.stat_reads = 0

    def read_text_or_none(self, path: str, limit: int | None = None) -> str | None:
        if path == f"/proc/{PID}/stat":
            self.stat_reads += 1
            return stat_line(start=777 if self.stat_reads == 1 else 999)
        return super().read_text_or_none(path, limit)


def test_a_pid_reused_while_reading_falls_back(tmp_path: Path) -> None:
    fs = RestartingFS(tmp_path, owners())
    ctx = context(tmp_path, pause_files(), owners(), list(UNSHARE_MAPS), fs=fs)
    assert id_maps(ctx).source == "podman unshare"
    assert fs.stat_reads == 2


class UnreadableFS(FakeFS):
    def listdir(self, path: str) -> list[str]:
        if path.endswith("containers.conf.d"):
            raise PermissionError(13, "Permission denied", path)
        return super().listdir(path)


def test_an_unreadable_config_dir_falls_back(tmp_path: Path) -> None:
    ctx = context(tmp_path, pause_files(), owners(), list(UNSHARE_MAPS), fs=UnreadableFS(tmp_path, owners()))
    assert id_maps(ctx).source == "podman unshare"


def test_the_real_pause_process_if_any() -> None:
    """On a machine where this user's podman runs, the fast path finds its pause process
    only when it is really one (never a crash); a parse of the real files."""
    from tests.realcontext import real_context

    ctx = real_context()
    pid = pause_process_pid(ctx)
    if pid is None:
        pytest.skip("no podman pause process for this user here")
    maps = pause_process_maps(ctx)
    assert maps is not None and maps.ok
    st = ctx.probes.fs.stat(f"/proc/{pid}")
    assert isinstance(st, StatInfo) and st.uid == os.getuid()

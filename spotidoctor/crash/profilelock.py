"""Chromium's profile lock left behind by a crashed launch.

Chromium (Spotify's engine) marks its profile as in use with a symlink ``SingletonLock ->
HOSTNAME-PID`` (chrome/browser/process_singleton_posix.cc). A browser that finds a lock of
its own host removes it when that pid is not a live Chromium; a lock naming another host
is taken for a profile shared over the network, and the browser refuses to start:
"The profile appears to be in use by another Chromium process (6) on another computer
(e18ba36aa308)". A container launched without ``--hostname`` gets a new random host name
each time, so a lock left by a crashed launch always looks foreign. The launcher now gives
the container a stable host name; a lock from before that (or from another host name) is
removed by the fix below, and only while no container of spotidoctor's runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Fix, Privilege, Step, StepEnv
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.config import Config
    from spotidoctor.probes.command import CommandRunner

LOCK_NAME = "SingletonLock"
COMPANIONS = ("SingletonSocket", "SingletonCookie")  # links into the dead container's /tmp
SEARCH_DEPTH = 4  # the profile sits a level or two below config/ or cache/
MAX_LOCKS = 20
FIX_ID = "crash.remove-stale-profile-lock"
PODMAN_TIMEOUT_S = 30.0



def find_locks(cmd: CommandRunner, storage_dir: str) -> list[tuple[str, str]]:
    """(path, target) of every ``SingletonLock`` link under the storage's config/ and cache/.

    Searched inside your user namespace (``podman unshare find``): the directories belong to
    the container's uid and may be closed to you on the host. Links are never followed."""
    roots = [os.path.join(storage_dir, top) for top in ("config", "cache")]
    done = cmd.run(("podman", "unshare", "find", *roots, "-maxdepth", str(SEARCH_DEPTH), "-name", LOCK_NAME,
                    "-type", "l", "-printf", "%p\\t%l\\n"), timeout=PODMAN_TIMEOUT_S)
    if done.returncode not in (0, 1):  # 1: a root is missing; what was found still counts
        raise FixFailed(f"cannot search {storage_dir} for the profile lock: {done.error_text()}")
    found = []
    for line in done.stdout.splitlines()[:MAX_LOCKS]:
        path, _, target = line.partition("\t")
        if path.startswith(storage_dir + "/") and os.path.basename(path) == LOCK_NAME:
            found.append((path, target))
    return sorted(found)


@dataclass(frozen=True)
class RemoveStaleProfileLock(Step):
    """Remove Chromium's profile lock (and its two companion links) from the storage, after
    making sure no container of spotidoctor's (by name or by image) is running. The files
    belong to the container's uid, so they are removed inside your user namespace."""

    storage_dir: str = ""  # as configured (``~`` allowed)
    container_name: str = ""
    image: str = ""
    kind: ClassVar[str] = "remove-profile-lock"

    @property
    def privilege(self) -> Privilege:
        return Privilege.USERNS

    def _storage(self, env: StepEnv) -> str:
        home = env.env.get("HOME") or os.path.expanduser("~")
        path = self.storage_dir
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        return os.path.normpath(os.path.join(home, path))

    def preview(self, env: StepEnv) -> list[str]:
        storage = self._storage(env)
        return [f"only when `podman ps` shows neither {self.container_name} nor a container of {self.image}:",
                f"$ podman unshare find {storage}/config {storage}/cache -maxdepth {SEARCH_DEPTH} -name {LOCK_NAME} "
                "-type l",
                f"$ podman unshare rm -f -- LOCK (and {', '.join(COMPANIONS)} beside it)"]

    def _running(self, env: StepEnv) -> list[str]:
        running = []
        for flt in (f"name=^{self.container_name}$", f"ancestor={self.image}"):
            done = env.probes.cmd.run(("podman", "ps", "--quiet", "--filter", flt), timeout=PODMAN_TIMEOUT_S)
            if done.returncode != 0:
                raise FixFailed(f"cannot tell whether Spotify's container runs (`podman ps` failed: "
                                f"{done.error_text()}); nothing removed")
            running += done.stdout.split()
        return running

    def apply(self, env: StepEnv) -> str:
        if self._running(env):
            raise FixFailed(f"a container of spotidoctor's is running ({self.container_name}): the lock may be "
                            f"live; stop it first (`podman stop {self.container_name}`)")
        storage = self._storage(env)
        found = find_locks(env.probes.cmd, storage)
        locks = [path for path, _ in found]
        if not locks:
            return "no profile lock left in the storage"
        doomed = [p for lock in locks for p in (lock, *(os.path.join(os.path.dirname(lock), c) for c in COMPANIONS))]
        done = env.probes.cmd.run(("podman", "unshare", "rm", "-f", "--", *doomed), timeout=PODMAN_TIMEOUT_S)
        left = [path for path, _ in find_locks(env.probes.cmd, storage)]
        if done.returncode != 0 or left:
            raise FixFailed(f"could not remove {', '.join(left or locks)}: {done.error_text() or 'still there'}")
        return "removed the stale profile lock " + ", ".join(f"{path} (-> {target})" for path, target in found)

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data.update(storage_dir=self.storage_dir, container_name=self.container_name, image=self.image)
        return data


def stale_lock_fix(nxt: Config) -> Fix:
    step = RemoveStaleProfileLock("remove the stale profile lock from the storage", storage_dir=nxt.storage_dir,
                                  container_name=nxt.container_name, image=nxt.image)
    return Fix.safe(FIX_ID, "remove Chromium's stale profile lock (only while no Spotify container runs)", step,
                    notes=("A live Spotify keeps the lock too: the fix checks `podman ps` first.",))

"""A private, healthy environment for ``spotidoctor check``, set up as the current
(unprivileged) user under one temporary directory, and taken down again.

Own HOME and XDG dirs (so podman keeps its storage, runroot and pause process there too),
an Xvfb with a cookie, a PulseAudio daemon, the stand-in image built FROM scratch through
``spotidoctor build`` (so it carries spotidoctor's labels), storage of N files owned by the
container user's mapped uid, and one ``spotidoctor launch`` of the stand-in, which leaves
the last launch log. spotidoctor's own safe fixes put the X cookie, the pulse socket module,
the cookie copy and the client config in place, exactly as a user would get them.

Nothing outside that directory is touched except the display socket Xvfb creates in
``/tmp/.X11-unix`` (removed when Xvfb stops).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests import servers
from tests.standin import CONTAINERFILE, assemble_rootfs

IMAGE = "localhost/spotidoctor-bench:latest"
CONTAINER_UID = 1500
# The stand-in's recipe as tests/standin.py builds it: the home belongs to the container user.
BENCH_CONTAINERFILE = CONTAINERFILE.replace(
    "COPY rootfs/ /\n", "COPY rootfs/ /\nCOPY --chown=1500:1500 rootfs/home/spotify_user /home/spotify_user\n")
NETWORK_NOTE = ('network = "none" in the benchmark\'s config.toml: rootless podman\'s default network '
                "(slirp4netns/pasta) needs /dev/net/tun, which is root-only on some machines; "
                "podman.network then checks the mode a launch really uses")
# Variables of the real session that would leak into the private environment.
LEAKY = ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_DIRS", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF",
         "CONTAINERS_REGISTRIES_CONF", "CONTAINER_HOST", "CONTAINER_CONNECTION", "REGISTRY_AUTH_FILE",
         "XDG_SESSION_TYPE", "SPOTIDOCTOR_DISABLE_PLUGINS")


def spotidoctor_argv() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m spotidoctor``."""
    script = Path(sys.executable).with_name("spotidoctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spotidoctor"]


def run(argv: Sequence[str], env: dict[str, str], *, timeout: float = 300, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout, input=input)
    if check and done.returncode != 0:
        output = f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{output}")
    return done


def private_env(root: Path) -> dict[str, str]:
    env = servers.base_env(root)
    for name in LEAKY:
        env.pop(name, None)
    home = Path(env["HOME"])
    env.update(XDG_DATA_HOME=str(home / ".local/share"), XDG_CACHE_HOME=str(home / ".cache"), NO_COLOR="1",
               LANG=env.get("LANG", "C.UTF-8"))
    return env


def populate(tree: Path, files: int, per_dir: int = 100) -> int:
    """``files`` empty files under ``tree``/config and ``tree``/cache (a twentieth in config),
    ``per_dir`` to a directory, a hundred directories to a parent. Returns the entry count."""
    entries = 0
    for sub, share in (("config", files // 20), ("cache", files - files // 20)):
        base = tree / sub
        base.mkdir(parents=True, exist_ok=True)
        for n in range(0, share, per_dir):
            directory = base / f"p{n // (per_dir * 100):03d}" / f"d{n // per_dir % 100:02d}"
            directory.mkdir(parents=True, exist_ok=True)
            for i in range(min(per_dir, share - n)):
                os.close(os.open(directory / f"f{i:03d}", os.O_CREAT | os.O_WRONLY, 0o644))
    for _ in tree.rglob("*"):
        entries += 1
    return entries


def mapped_owner(env: dict[str, str], container_uid: int = CONTAINER_UID) -> tuple[int, int]:
    """The host (uid, gid) of ``container_uid`` in podman's rootless namespace."""
    found = []
    for which in ("uid_map", "gid_map"):
        text = run(["podman", "unshare", "cat", f"/proc/self/{which}"], env).stdout
        for line in text.splitlines():
            inside, outside, count = (int(x) for x in line.split())
            if inside <= container_uid < inside + count:
                found.append(outside + container_uid - inside)
                break
        else:
            raise RuntimeError(f"container uid {container_uid} is not mapped by podman ({which}: {text.strip()})")
    return found[0], found[1]


def give_to_container_user(env: dict[str, str], tree: Path) -> None:
    run(["podman", "unshare", "chown", "-R", f"{CONTAINER_UID}:{CONTAINER_UID}", "--", str(tree)], env,
        timeout=1800)


def remove_tree(env: dict[str, str], tree: Path) -> None:
    """Remove a tree that may hold files of the container user (inside the namespace)."""
    if tree.exists():
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(tree)], env=env, capture_output=True,
                       timeout=1800)
    shutil.rmtree(tree, ignore_errors=True)


@dataclass
class Healthy:
    root: Path
    env: dict[str, str]
    xserver: servers.XServer
    pulse: servers.PulseServer
    storage: Path
    owner: tuple[int, int]
    entries: int
    last_log: Path
    image: str = IMAGE
    notes: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


class Environment:
    """Context manager: ``with Environment(root, files) as healthy: ...``."""

    def __init__(self, root: Path, files: int, log: object = print) -> None:
        self.root = root
        self.files = files
        self.log = log
        self._xvfb: servers.XvfbStarter | None = None
        self._pulse: servers.PulseServer | None = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> Healthy:
        try:
            return self._prepare()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _say(self, text: str) -> None:
        self.log(f"  setup: {text}")  # type: ignore[operator]

    def _prepare(self) -> Healthy:
        self.root.mkdir(parents=True, exist_ok=True)
        env = self.env = private_env(self.root)
        self._podman_config(env)
        self._say("starting Xvfb and PulseAudio")
        self._xvfb = servers.XvfbStarter(self.root)
        xserver = self._xvfb()
        self._pulse = servers.start_pulseaudio(self.root)
        env.update(xserver.env())
        storage = self.root / "storage"
        config = Path(env["XDG_CONFIG_HOME"]) / "spotidoctor" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'image = "{IMAGE}"\nstorage_dir = "{storage}"\nnetwork = "none"\n'
                          f'containerfile = "{self.root / "image" / "Containerfile"}"\n')
        self._say("building the stand-in image with `spotidoctor build`")
        self._build(env)
        self._say(f"creating {self.files:,} files of storage, owned by the container user")
        entries = populate(storage, self.files)
        give_to_container_user(env, storage)
        owner = mapped_owner(env)
        self._say("applying spotidoctor's safe fixes (X cookie, pulse socket, cookie copy, client config)")
        run([*spotidoctor_argv(), "fix", "--yes"], env, check=False, timeout=600)
        self._say("launching the stand-in once (the last launch log)")
        launched = run([*spotidoctor_argv(), "launch", "--yes"], env, check=False, timeout=600)
        healthy = Healthy(self.root, env, xserver, self._pulse, storage, owner, entries, self._last_log(env))
        for part in ("x11", "audio", "storage"):
            if f"standin: {part} ok" not in launched.stdout:
                healthy.notes.append(f"the stand-in's launch did not report `{part} ok` "
                                     f"(exit {launched.returncode}): {launched.stdout[-500:]}{launched.stderr[-500:]}")
        healthy.statuses = self._statuses(env)
        return healthy

    def _podman_config(self, env: dict[str, str]) -> None:
        """podman keeps storage and runroot under the private HOME/runtime dir; only the user's
        engine settings (e.g. ``runtime = "runc"`` on hybrid cgroups) are carried over."""
        real = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "containers" / "containers.conf"
        target = Path(env["XDG_CONFIG_HOME"]) / "containers" / "containers.conf"
        target.parent.mkdir(parents=True, exist_ok=True)
        if real.is_file():
            shutil.copyfile(real, target)

    def _build(self, env: dict[str, str]) -> None:
        image_dir = self.root / "image"
        assemble_rootfs(image_dir / "rootfs")
        (image_dir / "Containerfile").write_text(BENCH_CONTAINERFILE)
        run([*spotidoctor_argv(), "build", "--containerfile", str(image_dir / "Containerfile"), "--image", IMAGE],
            env, timeout=900)

    @staticmethod
    def _last_log(env: dict[str, str]) -> Path:
        launches = Path(env["XDG_STATE_HOME"]) / "spotidoctor" / "launches"
        logs = sorted(launches.glob("*/container.log"))
        if not logs:
            raise RuntimeError(f"`spotidoctor launch` left no container log under {launches}")
        return logs[-1]

    @staticmethod
    def _statuses(env: dict[str, str]) -> dict[str, str]:
        done = run([*spotidoctor_argv(), "check", "--json"], env, check=False, timeout=600)
        try:
            return {r["id"]: r["status"] for r in json.loads(done.stdout)["results"]}
        except (ValueError, KeyError) as exc:
            raise RuntimeError(f"`spotidoctor check --json` printed no document: {exc}\n{done.stderr[-2000:]}") from exc

    def close(self) -> None:
        if self._pulse is not None:
            servers.stop(self._pulse.proc)
        if self._xvfb is not None:
            self._xvfb.close()
        if self.env:
            # Trees with the container user's files (the storage; podman's own storage, which
            # holds the image) go inside the namespace, before its pause process is stopped.
            remove_tree(self.env, self.root / "storage")
            remove_tree(self.env, Path(self.env["XDG_DATA_HOME"]) / "containers")
            servers.stop_podman_pause(self.env)
            shutil.rmtree(self.root, ignore_errors=True)

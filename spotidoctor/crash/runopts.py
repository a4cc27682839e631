"""What a recorded ``podman run`` argv says about Spotify's resources, and the limit syntaxes.

podman's size syntax (``--shm-size=2g``) and ``--ulimit NAME=SOFT[:HARD]`` are parsed here;
``parse_run_argv`` reads a launch record's exact argv back into ``RunOptions``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spotidoctor.units import GiB, KiB, MiB, TiB, format_bytes

_SIZE = re.compile(r"(\d{1,15}(?:\.\d{1,6})?)\s*([kmgtp]?)(?:i?b)?", re.I)
_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB, "p": TiB * KiB}


def parse_size(text: str | None) -> int | None:
    """podman's size syntax (``64m``, ``2g``, ``65536000``, ``1.5GiB``) in bytes."""
    if not text:
        return None
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        return None
    return int(float(m[1]) * _UNITS[m[2].lower()])


def human(size: int | None) -> str:
    """A limit or size for messages: ``2 GiB``; None is ``unlimited``."""
    return "unlimited" if size is None else format_bytes(size)


def parse_ulimit(text: str) -> tuple[str, int | None, int | None] | None:
    """``nofile=1024:4096`` / ``data=-1`` -> (name, soft, hard); -1 means unlimited."""
    name, _, value = text.partition("=")
    soft_s, _, hard_s = value.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        return None
    return name.strip(), (None if soft < 0 else soft), (None if hard < 0 else hard)


_VALUE_OPTIONS = frozenset({
    "--shm-size", "--ipc", "--ulimit", "--memory", "-m", "--memory-swap", "--pids-limit", "--security-opt",
    "--mount", "--tmpfs", "--name", "-v", "--volume", "-e", "--env", "--env-file", "--network", "--net",
    "--log-driver", "--log-opt", "--userns", "--user", "-u", "--entrypoint", "--device", "--group-add",
    "--runtime", "--cap-drop", "--cap-add", "--hostname", "-h", "--workdir", "-w", "--label", "-l",
    "--annotation", "--pod", "--cpus", "--add-host", "--dns", "--secret", "--uidmap", "--gidmap", "--sysctl",
    "--pull", "--init-path", "--cgroupns", "--cgroups", "--uts", "--pid", "--platform", "--arch", "--os",
    "--stop-signal", "--stop-timeout", "--timeout", "--publish", "-p", "--expose", "--tz", "--umask",
    "--mac-address", "--ip", "--ip6", "--health-cmd", "--restart", "--systemd", "--cidfile", "--conmon-pidfile",
})


@dataclass(frozen=True)
class RunOptions:
    """What a recorded ``podman run`` argv says about the resources it gave Spotify."""

    shm_size: str | None = None
    ipc: str | None = None
    ulimits: tuple[str, ...] = ()
    memory: str | None = None
    pids_limit: str | None = None
    security_opts: tuple[str, ...] = ()
    shm_mount_size: str | None = None  # --mount/--tmpfs on /dev/shm
    shm_bind: bool = False  # a volume over /dev/shm
    command: tuple[str, ...] = ()  # after the image: Spotify's own arguments

    def ulimit(self, name: str) -> tuple[int | None, int | None] | None:
        for item in reversed(self.ulimits):  # the last one wins
            parsed = parse_ulimit(item)
            if parsed and parsed[0] == name:
                return parsed[1], parsed[2]
        return None

    @property
    def seccomp(self) -> str | None:
        for opt in self.security_opts:
            key, sep, value = opt.replace(":", "=", 1).partition("=")
            if sep and key == "seccomp":
                return value
        return None


def parse_run_argv(argv: Sequence[str], image: str = "") -> RunOptions:
    tokens = list(argv)
    if "run" in tokens:
        tokens = tokens[tokens.index("run") + 1:]
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            index += 1
            break
        if token == image or not token.startswith("-"):
            break
        name, eq, value = token.partition("=")
        if not eq and name in _VALUE_OPTIONS and index + 1 < len(tokens):
            index += 1
            value = tokens[index]
        found.setdefault(name, []).append(value)
        index += 1
    return _run_options(found, tuple(tokens[index + 1:]))


def _last(found: Mapping[str, list[str]], *names: str) -> str | None:
    values = [v for n in names for v in found.get(n, [])]
    return values[-1] if values else None


def _run_options(found: Mapping[str, list[str]], command: tuple[str, ...]) -> RunOptions:
    shm_mount = None
    for item in found.get("--mount", []):
        fields = dict(part.partition("=")[::2] for part in item.split(","))
        if fields.get("destination", fields.get("dst", fields.get("target"))) == "/dev/shm":
            shm_mount = fields.get("tmpfs-size", "unlimited")
    for item in found.get("--tmpfs", []):
        path, _, opts = item.partition(":")
        if path == "/dev/shm":
            sizes = [o.partition("=")[2] for o in opts.split(",") if o.startswith("size=")]
            shm_mount = sizes[-1] if sizes else "unlimited"
    volumes = found.get("-v", []) + found.get("--volume", [])
    return RunOptions(
        shm_size=_last(found, "--shm-size"), ipc=_last(found, "--ipc"), ulimits=tuple(found.get("--ulimit", [])),
        memory=_last(found, "--memory", "-m"), pids_limit=_last(found, "--pids-limit"),
        security_opts=tuple(found.get("--security-opt", [])), shm_mount_size=shm_mount,
        shm_bind=any(v.split(":")[1:2] == ["/dev/shm"] for v in volumes), command=command,
    )

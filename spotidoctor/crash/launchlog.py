"""Per-launch records kept by ``spotidoctor launch`` and read by the crash checks and reports.

Layout: ``$XDG_STATE_HOME/spotidoctor/launches/<launch-id>/`` holding ``launch.json`` (this
record) and ``container.log`` (podman's k8s-file log, which survives ``--rm``). Launch ids
sort by time, so the newest is last.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from spotidoctor.probes.fs import RealFS
from spotidoctor.types import JSONValue

RECORD = "launch.json"
CONTAINER_LOG = "container.log"


@dataclass(frozen=True)
class LaunchRecord:
    launch_id: str
    directory: str
    started: float  # epoch seconds
    argv: tuple[str, ...] = ()  # the exact podman argv
    image: str = ""
    container_name: str = ""
    profile: str = ""
    shm_size: str = ""
    spotify_args: tuple[str, ...] = ()
    rlimits: dict[str, list[int | None]] = field(default_factory=dict)  # podman's, as [soft, hard]
    host: dict[str, JSONValue] = field(default_factory=dict)  # overcommit, cgroup version, ...
    ended: float | None = None
    exit_code: int | None = None
    channels: dict[str, JSONValue] = field(default_factory=dict)  # what each channel did and refused
    podman_errors: tuple[str, ...] = ()  # podman's own error lines from the launch's stderr

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, CONTAINER_LOG)

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("directory")
        return data


def new_launch_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def save(fs: RealFS, record: LaunchRecord) -> None:
    path = os.path.join(record.directory, RECORD)
    # The launches directory and the launch's own are spotidoctor's: private, no symlinks.
    fs.write_private(path, json.dumps(record.to_json(), indent=2).encode(), mode=0o600,
                     top=os.path.dirname(record.directory))


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# Field -> accepted JSON shape; a record is read only when every present field has it, so
# a hand-edited or damaged launch.json never reaches the crash checks with wrong types.
_SHAPES: dict[str, Any] = {
    "launch_id": lambda v: isinstance(v, str), "started": _number, "argv": _strings,
    "image": lambda v: isinstance(v, str), "container_name": lambda v: isinstance(v, str),
    "profile": lambda v: isinstance(v, str), "shm_size": lambda v: isinstance(v, str),
    "spotify_args": _strings, "rlimits": lambda v: isinstance(v, dict), "host": lambda v: isinstance(v, dict),
    "channels": lambda v: isinstance(v, dict),
    "ended": lambda v: v is None or _number(v),
    "exit_code": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "podman_errors": _strings,
}


def load(fs: RealFS, directory: str) -> LaunchRecord | None:
    text = fs.read_text_or_none(os.path.join(directory, RECORD))
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None  # a damaged record is skipped, not fatal
    if not isinstance(data, dict) or not {"launch_id", "started"} <= data.keys():
        return None
    if any(key not in _SHAPES or not _SHAPES[key](value) for key, value in data.items()):
        return None
    data["argv"] = tuple(data.get("argv", ()))
    data["spotify_args"] = tuple(data.get("spotify_args", ()))
    data["podman_errors"] = tuple(data.get("podman_errors", ()))
    return LaunchRecord(directory=directory, **data)


def records(fs: RealFS, launches_dir: str) -> list[LaunchRecord]:
    """All readable launch records, newest first."""
    found = []
    for name in sorted(fs.listdir(launches_dir), reverse=True):
        record = load(fs, os.path.join(launches_dir, name))
        if record is not None:
            found.append(record)
    return found


def rotate(fs: RealFS, launches_dir: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` launch directories; return what was removed."""
    names = sorted(fs.listdir(launches_dir), reverse=True)
    removed = []
    for name in names[keep:]:
        shutil.rmtree(fs.host(os.path.join(launches_dir, name)), ignore_errors=True)
        removed.append(name)
    return removed

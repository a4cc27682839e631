"""``$XDG_CONFIG_HOME/spotidoctor/config.toml``: typed, validated, overridable by flags,
and ``SetConfig``, the fix step that changes one key of it.

Defaults match the original design so its users migrate without changes.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from spotidoctor.errors import ConfigError
from spotidoctor.fixes import Step

if TYPE_CHECKING:
    from spotidoctor.fixes import StepEnv
    from spotidoctor.probes.fs import RealFS
    from spotidoctor.types import JSONValue

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PROFILES = ("isolated", "keep-id")
AUDIO_MODES = ("filtered", "direct")
X11_TRUST_LEVELS = ("untrusted", "trusted")
_SIZE = re.compile(r"^[0-9]+[bkmgBKMG]?$")
_ULIMIT = re.compile(r"^[a-z]+=-?[0-9]+(:-?[0-9]+)?$")
# spotify_repo ends up in an apt source line: a space or "[trusted=yes]" would change what apt
# trusts. The bundled recipe refuses the same characters in its SPOTIFY_REPO argument.
_REPO_URL = re.compile(r"^https?://[A-Za-z0-9:/._~%@+-]+$")


@dataclass(frozen=True)
class Config:
    image: str = "spotify_pod"
    container_name: str = "spotify-container"
    storage_dir: str = "~/.spotify"
    container_uid: int = 1500
    container_user: str = "spotify_user"
    profile: str = "isolated"
    shm_size: str = "1g"
    network: str = ""  # empty: podman's own default (slirp4netns / pasta)
    extra_run_args: tuple[str, ...] = ()
    spotify_args: tuple[str, ...] = ()
    ulimits: tuple[str, ...] = ()  # passed as --ulimit, e.g. "nofile=65536:65536"
    lift_rlimit_as: bool = True  # raise the soft address-space limit to the hard one before podman
    share_pipewire: bool = False  # mount pipewire-0: the whole PipeWire graph, not just audio
    image_max_age_days: int = 30
    keep_launch_logs: int = 10
    containerfile: str = ""  # empty: the bundled recipe
    build_args: tuple[str, ...] = ()  # KEY=VALUE
    spotify_repo: str = ""  # empty: the recipe's default, Spotify's own repository (SPOTIFY_REPO)
    auto_update: bool = False  # launch rebuilds first when the repository has a newer Spotify
    ignore: tuple[str, ...] = ()  # check ids/prefixes never run
    scale_factor: float = 0  # Spotify's --force-device-scale-factor; 0: follow the desktop (GDK_SCALE, Xft.dpi)
    audio: str = "filtered"  # the playback-only filter; "direct": the dedicated socket (+ cookie), opt-in
    x11_trust: str = "untrusted"  # a per-launch untrusted X cookie; "trusted": the display's own, opt-in
    dbus: bool = True  # the filtered session bus (when there is one)
    login_callback_port: int = 4381  # the sign-in callback relay's host port (127.0.0.1)
    source: str | None = field(default=None, compare=False)  # the file it came from

    def storage_path(self, home: str) -> str:
        """The storage directory, absolute (``~`` expanded against ``home``)."""
        path = self.storage_dir
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        return os.path.normpath(os.path.join(home, path))

    def with_overrides(self, **overrides: Any) -> Config:
        clean = {k: v for k, v in overrides.items() if v is not None}
        for key, value in clean.items():
            _validate(key, value, "command line")
        return dataclasses.replace(self, **clean)


def _names_fit(path: str) -> bool:
    """Every component fits NAME_MAX (255 bytes): a longer one is an error for every system call."""
    return all(len(part.encode("utf-8", "surrogateescape")) <= 255 for part in path.split("/"))


def _is_str_tuple(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_ulimit_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) and _ULIMIT.match(v) for v in value)


def _is_build_args(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) and "=" in v for v in value)


def _is_scale(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == 0 or 0.25 <= value <= 8


_CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "image": ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip())),
    "container_name": ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip())),
    "storage_dir": ("a non-empty path whose names are at most 255 bytes each (Linux's limit)",
                    lambda v: isinstance(v, str) and bool(v.strip()) and _names_fit(v)),
    "container_uid": ("an integer from 1 to 65535", lambda v: type(v) is int and 0 < v < 65536),
    "container_user": ("a user name", lambda v: isinstance(v, str) and bool(re.fullmatch(r"[a-z_][a-z0-9_-]*", v))),
    "profile": (f"one of {', '.join(PROFILES)}", lambda v: v in PROFILES),
    "shm_size": ("a size like '1g' or '512m'", lambda v: isinstance(v, str) and bool(_SIZE.match(v))),
    "network": ("a podman network mode string", lambda v: isinstance(v, str)),
    "extra_run_args": ("a list of strings", _is_str_tuple),
    "spotify_args": ("a list of strings", _is_str_tuple),
    "ulimits": ("a list like ['nofile=65536:65536']", _is_ulimit_list),
    "lift_rlimit_as": ("true or false", lambda v: isinstance(v, bool)),
    "share_pipewire": ("true or false", lambda v: isinstance(v, bool)),
    "image_max_age_days": ("a positive integer", lambda v: type(v) is int and v > 0),
    "keep_launch_logs": ("a positive integer", lambda v: type(v) is int and v > 0),
    "containerfile": ("a path string", lambda v: isinstance(v, str)),
    "build_args": ("a list of KEY=VALUE strings", _is_build_args),
    "spotify_repo": ("an http(s) URL without spaces or brackets, e.g. 'https://repository.spotify.com'",
                     lambda v: isinstance(v, str) and (v == "" or _REPO_URL.match(v) is not None)),
    "auto_update": ("true or false", lambda v: isinstance(v, bool)),
    "ignore": ("a list of check ids", _is_str_tuple),
    "scale_factor": ("0 (follow the desktop) or a number from 0.25 to 8, like 1.5", _is_scale),
    "audio": (f"one of {', '.join(AUDIO_MODES)}", lambda v: v in AUDIO_MODES),
    "x11_trust": (f"one of {', '.join(X11_TRUST_LEVELS)}", lambda v: v in X11_TRUST_LEVELS),
    "dbus": ("true or false", lambda v: isinstance(v, bool)),
    "login_callback_port": ("a port from 1024 to 65535", lambda v: type(v) is int and 1024 <= v <= 65535),
}
KNOWN_KEYS = tuple(_CHECKS)


def _validate(key: str, value: object, where: str) -> None:
    if key not in _CHECKS:
        raise ConfigError(f"{where}: unknown key {key!r} (known keys: {', '.join(KNOWN_KEYS)})")
    expected, ok = _CHECKS[key]
    if not ok(value):
        raise ConfigError(f"{where}: {key} must be {expected}, got {value!r}")


def from_mapping(data: Mapping[str, object], where: str) -> Config:
    values: dict[str, Any] = {}
    for key, value in data.items():
        _validate(key, value, where)
        values[key] = tuple(value) if isinstance(value, list) else value
    return Config(**values, source=where)


def load(path: str) -> Config:
    """Read ``path``; a missing file is the defaults, anything unreadable a ``ConfigError``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return parse(raw, path)


def reload(fs: RealFS, path: str, overrides: Mapping[str, object]) -> Config:
    """config.toml as it is now (a fix may just have changed it), read through the fs probe,
    with the command-line overrides applied again."""
    try:
        raw = fs.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        return Config().with_overrides(**overrides)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return parse(raw, path).with_overrides(**overrides)


def parse(raw: bytes, path: str) -> Config:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return from_mapping(data, path)


def render_value(value: object) -> str:
    """A TOML literal for the value types the config uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {value!r} as TOML")


def updated_text(text: str, key: str, value: object) -> str:
    """``text`` with top-level ``key`` set to ``value``; comments and other keys stay."""
    line = f"{key} = {render_value(value)}\n"
    lines = text.splitlines(keepends=True)
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(first_table):
        if pattern.match(lines[i]):
            lines[i] = line
            return "".join(lines)
    if first_table and not lines[first_table - 1].endswith("\n"):
        lines[first_table - 1] += "\n"
    lines.insert(first_table, line)
    return "".join(lines)


def set_config_value(env: StepEnv, key: str, value: object) -> None:
    """Change one key of config.toml atomically, with a backup, refusing invalid results."""
    path = env.paths.config_file
    fs = env.probes.fs
    old = fs.read_text_or_none(path) or ""
    new = updated_text(old, key, value)
    try:
        from_mapping(tomllib.loads(new), path)
    except (tomllib.TOMLDecodeError, ConfigError) as exc:
        raise ConfigError(f"refusing to write {path}: the result would be invalid ({exc})") from exc
    if new == old:
        return
    if old:
        env.backups.save(path)
    fs.write_atomic(path, new.encode(), mode=0o644)


@dataclass(frozen=True)
class SetConfig(Step):
    """Change one key of spotidoctor's own config.toml (backed up); the next launch uses it."""

    key: str = ""
    value: str | int | bool | tuple[str, ...] = ""
    kind: ClassVar[str] = "set-config"

    def preview(self, env: StepEnv) -> list[str]:
        return [f"{env.paths.config_file}: set {self.key} = {render_value(self.value)}"]

    def apply(self, env: StepEnv) -> str:
        set_config_value(env, self.key, self.value)
        return f"set {self.key} in {env.paths.config_file}"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["key"] = self.key
        data["value"] = render_value(self.value)
        return data

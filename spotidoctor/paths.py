"""Where spotidoctor keeps its files (XDG base directories), derived from an env mapping."""
from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass

APP = "spotidoctor"


@dataclass(frozen=True)
class UserInfo:
    uid: int
    gid: int
    name: str
    home: str

    @classmethod
    def current(cls, env: Mapping[str, str]) -> UserInfo:
        uid, gid = os.getuid(), os.getgid()
        try:
            entry = pwd.getpwuid(uid)
            name, pw_home = entry.pw_name, entry.pw_dir
        except KeyError:  # a uid without a passwd entry (containers, NSS trouble)
            name, pw_home = env.get("USER", str(uid)), "/"
        return cls(uid, gid, name, env.get("HOME") or pw_home)


@dataclass(frozen=True)
class Paths:
    config_dir: str  # $XDG_CONFIG_HOME/spotidoctor: config.toml, checks.d/
    state_dir: str  # $XDG_STATE_HOME/spotidoctor: launches, logs, backups, crash logs
    # $XDG_RUNTIME_DIR/spotidoctor: cookie copies handed to the container. Without
    # XDG_RUNTIME_DIR it falls back to <state>/run for files that hold no secret (the podman
    # probe's empty rootfs); cookie copies are never written there (layout.secrets_dir).
    runtime_dir: str
    xdg_config_home: str
    xdg_runtime_dir: str | None
    config_override: str | None = None  # --config PATH

    @property
    def config_file(self) -> str:
        return self.config_override or os.path.join(self.config_dir, "config.toml")

    @property
    def dropin_dir(self) -> str:
        return os.path.join(self.config_dir, "checks.d")

    @property
    def backup_dir(self) -> str:
        return os.path.join(self.state_dir, "backups")

    @property
    def launches_dir(self) -> str:
        return os.path.join(self.state_dir, "launches")

    @property
    def lock_file(self) -> str:
        return os.path.join(self.state_dir, "lock")

    @classmethod
    def from_env(cls, env: Mapping[str, str], home: str) -> Paths:
        def xdg(name: str, default: str) -> str:
            value = env.get(name, "")
            # The spec says relative values are invalid and must be ignored.
            return value if os.path.isabs(value) else os.path.join(home, default)

        config_home = xdg("XDG_CONFIG_HOME", ".config")
        state_dir = os.path.join(xdg("XDG_STATE_HOME", ".local/state"), APP)
        runtime = env.get("XDG_RUNTIME_DIR") or None
        runtime_dir = os.path.join(runtime, APP) if runtime else os.path.join(state_dir, "run")
        return cls(os.path.join(config_home, APP), state_dir, runtime_dir, config_home, runtime)

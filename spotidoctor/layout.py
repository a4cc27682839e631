"""Where the artifacts shared by fix steps and the launcher live (one place, no guessing).

The fixes create these files; the launcher mounts them; the checks verify them.
"""
from __future__ import annotations

import os

from spotidoctor.paths import Paths

# The original design's names: `load-module module-native-protocol-unix socket=pulse-socket
# auth-cookie=pulse-cookie` (relative: $XDG_RUNTIME_DIR/pulse/ and ~/.config/pulse/).
PULSE_SOCKET_NAME = "pulse-socket"
PULSE_COOKIE_NAME = "pulse-cookie"

# Inside the container.
CONTAINER_HOME = "/home/spotify_user"
CONTAINER_HOSTNAME = "spotify"  # stable, so Chromium recognises its own stale profile lock
CONTAINER_PULSE_SOCKET = "/run/spotidoctor/pulse-native"
CONTAINER_PULSE_COOKIE = "/run/spotidoctor/pulse-cookie"
CONTAINER_PULSE_CLIENT_CONF = "/run/spotidoctor/pulse-client.conf"
CONTAINER_PIPEWIRE_SOCKET = "/run/spotidoctor/pipewire-0"
CONTAINER_XAUTHORITY = "/run/spotidoctor/Xauthority"
CONTAINER_SPOTIFY_CONFIG = f"{CONTAINER_HOME}/.config/spotify"
CONTAINER_SPOTIFY_CACHE = f"{CONTAINER_HOME}/.cache/spotify"


# Cookie copies (secrets) are written only under $XDG_RUNTIME_DIR/spotidoctor: a tmpfs of
# your own that logind removes at logout. Without XDG_RUNTIME_DIR there is no such place.
NO_RUNTIME_DIR = "XDG_RUNTIME_DIR is not set"
NO_RUNTIME_DIR_ADVICE = (
    "spotidoctor writes cookie copies only under $XDG_RUNTIME_DIR/spotidoctor (a private tmpfs that is "
    "removed at logout), never in your home. Run it from your desktop session, where systemd-logind sets "
    "XDG_RUNTIME_DIR; over su or sudo use `machinectl shell USER@` instead, or, when /run/user/$(id -u) "
    "exists, `export XDG_RUNTIME_DIR=/run/user/$(id -u)`.")


def secrets_dir(paths: Paths) -> str | None:
    """Where cookie copies may be written: $XDG_RUNTIME_DIR/spotidoctor, or None without it."""
    return paths.runtime_dir if paths.xdg_runtime_dir else None


def pulse_socket(paths: Paths) -> str | None:
    """Host path of the dedicated container socket ($XDG_RUNTIME_DIR/pulse/pulse-socket)."""
    if not paths.xdg_runtime_dir:
        return None
    return os.path.join(paths.xdg_runtime_dir, "pulse", PULSE_SOCKET_NAME)


def pulse_cookie(paths: Paths) -> str:
    """Host path of that socket's auth cookie (~/.config/pulse/pulse-cookie)."""
    return os.path.join(paths.xdg_config_home, "pulse", PULSE_COOKIE_NAME)


def pulse_cookie_copy(paths: Paths) -> str:
    """A host-owned 0644 copy of the cookie, mounted read-only."""
    return os.path.join(paths.runtime_dir, "pulse-cookie")


def pulse_client_conf(paths: Paths) -> str:
    """Client config handed to the container: autospawn = no, enable-shm = no."""
    return os.path.join(paths.runtime_dir, "pulse-client.conf")


def x11_cookie(paths: Paths, display_number: int) -> str:
    """The FamilyWild cookie file for one display, readable by the container user."""
    return os.path.join(paths.runtime_dir, f"Xauthority-{display_number}")


def pipewire_drop_in(paths: Paths) -> str:
    return os.path.join(paths.xdg_config_home, "pipewire", "pipewire-pulse.conf.d",
                        "60-spotidoctor-socket.conf")


def storage_config(storage_dir: str) -> str:
    return os.path.join(storage_dir, "config")


def storage_cache(storage_dir: str) -> str:
    return os.path.join(storage_dir, "cache")

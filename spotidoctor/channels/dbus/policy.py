"""What the filtered bus lets Spotify do, as data, and the ``xdg-dbus-proxy`` command line for it.

The policy is Flathub's for com.spotify.Client: Spotify may own its MPRIS name and talk to
four desktop services; every other name is invisible to it, and calls to them are refused
by the proxy. ``policy_args()`` pairs each proxy argument with the reason for it, so
``launch --dry-run`` can print them the way it prints the podman arguments.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PolicyArg", "DbusPolicy", "SPOTIFY_POLICY", "MPRIS_NAME", "PROXY_BINARY", "policy_args", "proxy_argv"]

PolicyArg = tuple[str, str]  # (argument, why)
PROXY_BINARY = "xdg-dbus-proxy"
MPRIS_NAME = "org.mpris.MediaPlayer2.spotify"


@dataclass(frozen=True)
class DbusPolicy:
    """Names the client may own and names it may talk to, each with the reason."""

    own: tuple[tuple[str, str], ...]
    talk: tuple[tuple[str, str], ...]


SPOTIFY_POLICY = DbusPolicy(
    own=((MPRIS_NAME, "Spotify's MPRIS name: media keys and the desktop's player controls call it"),),
    talk=(
        ("org.freedesktop.Notifications", "notifications (track changes) through libnotify"),
        ("org.freedesktop.ScreenSaver", "keeps the screen saver off while Spotify is fullscreen"),
        ("org.gnome.SettingsDaemon.MediaKeys", "GNOME's media-keys service, which Spotify registers with"),
        ("org.kde.StatusNotifierWatcher", "the tray icon (StatusNotifierItem)"),
    ),
)


def policy_args(policy: DbusPolicy = SPOTIFY_POLICY) -> tuple[PolicyArg, ...]:
    """The proxy's filter arguments, one reason each (pure: for ``--dry-run``)."""
    return (
        ("--filter", "filter the bus: names not listed below are invisible, calls to them refused"),
        *((f"--own={name}", why) for name, why in policy.own),
        *((f"--talk={name}", why) for name, why in policy.talk),
    )


def proxy_argv(binary: str, bus_address: str, listen_path: str, ready_fd: int,
               policy: DbusPolicy = SPOTIFY_POLICY) -> tuple[str, ...]:
    """``xdg-dbus-proxy --fd=N ADDRESS PATH --filter --own=... --talk=...``.

    ``--fd``: the proxy writes one byte to that pipe once it listens, and exits when the
    other end closes (so it never outlives spotidoctor, however spotidoctor ends).
    """
    return (binary, f"--fd={ready_fd}", bus_address, listen_path, *(arg for arg, _ in policy_args(policy)))


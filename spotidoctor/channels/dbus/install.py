"""Is ``xdg-dbus-proxy`` installed, and how to install it (pure helpers for the ``dbus.*`` checks)."""
from __future__ import annotations

from collections.abc import Callable

from spotidoctor.channels.dbus.policy import PROXY_BINARY

__all__ = ["INSTALL_COMMANDS", "find_proxy", "install_advice"]

# (distribution family, os-release ID/ID_LIKE words, command); the package has the same name in all three.
INSTALL_COMMANDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Debian/Ubuntu", ("debian", "ubuntu"), "sudo apt install xdg-dbus-proxy"),
    ("Fedora", ("fedora", "rhel", "centos"), "sudo dnf install xdg-dbus-proxy"),
    ("Arch", ("arch",), "sudo pacman -S xdg-dbus-proxy"),
)


def find_proxy(which: Callable[[str], str | None]) -> str | None:
    """The proxy's path, or None (``which`` is the command runner's)."""
    return which(PROXY_BINARY)


def _os_words(os_release: str) -> set[str]:
    words: set[str] = set()
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            words.update(value.strip().strip("\"'").lower().split())
    return words


def install_advice(os_release: str | None = None) -> str:
    """How to install the proxy: this distribution's command when ``/etc/os-release`` names a
    known family, else all three."""
    words = _os_words(os_release or "")
    for family, ids, command in INSTALL_COMMANDS:
        if words & set(ids):
            return f"Install it: `{command}` ({family})."
    listed = ", ".join(f"`{command}` ({family})" for family, _, command in INSTALL_COMMANDS)
    return f"Install the package xdg-dbus-proxy: {listed}."

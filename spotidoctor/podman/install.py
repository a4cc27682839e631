"""Where podman's helpers are installed, and the install command for this host's package manager."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spotidoctor.api import Context


# containers/common's default search list for the "runc" runtime.
RUNC_PATHS = ("/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc",
              "/sbin/runc", "/bin/runc", "/usr/lib/cri-o-runc/sbin/runc", "/run/current-system/sw/bin/runc")


def find_runc(ctx: Context) -> str | None:
    """Where runc is installed (podman's own search list, then PATH), or None."""
    for path in RUNC_PATHS:
        if ctx.probes.fs.exists(path):
            return path
    return ctx.probes.cmd.which("runc")


# Package names per package manager (first one found wins).
_MANAGERS = (("apt-get", ("apt-get", "install", "-y")), ("dnf", ("dnf", "install", "-y")),
             ("zypper", ("zypper", "--non-interactive", "install")), ("pacman", ("pacman", "-S", "--noconfirm")))


def package_install_argv(ctx: Context, packages: Mapping[str, str]) -> tuple[str, ...] | None:
    """The install command for this host's package manager, e.g. ``apt-get install -y runc``.

    ``packages`` maps a package manager (``apt-get``, ``dnf``, ``zypper``, ``pacman``) to the
    package name there; None when no known manager is installed or the package is unknown.
    """
    for manager, argv in _MANAGERS:
        if manager in packages and ctx.probes.cmd.which(manager):
            return (*argv, packages[manager])
    return None

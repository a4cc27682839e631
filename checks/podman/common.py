"""Install fixes for podman's helpers: the package names per package manager."""
from __future__ import annotations

from spotidoctor.api import Context, Fix
from spotidoctor.fixes import Instruction, Privilege, RunCommand, Step
from spotidoctor.podman.install import package_install_argv

PACKAGES_RUNC = {"apt-get": "runc", "dnf": "runc", "zypper": "runc", "pacman": "runc"}
PACKAGES_CRUN = {"apt-get": "crun", "dnf": "crun", "zypper": "crun", "pacman": "crun"}
PACKAGES_PODMAN = {"apt-get": "podman", "dnf": "podman", "zypper": "podman", "pacman": "podman"}
PACKAGES_BUILDAH = {"apt-get": "buildah", "dnf": "buildah", "zypper": "buildah", "pacman": "buildah"}
PACKAGES_CATATONIT = {"apt-get": "catatonit", "dnf": "catatonit", "zypper": "catatonit", "pacman": "catatonit"}
PACKAGES_SLIRP = {"apt-get": "slirp4netns", "dnf": "slirp4netns", "zypper": "slirp4netns", "pacman": "slirp4netns"}
PACKAGES_PASTA = {"apt-get": "passt", "dnf": "passt", "zypper": "passt", "pacman": "passt"}


def install_fix(ctx: Context, fix_id: str, what: str, packages: dict[str, str]) -> Fix:
    """A manual fix installing a package with this host's package manager (root)."""
    argv = package_install_argv(ctx, packages)
    step: Step = (RunCommand(f"Install {what}", argv=argv, run_as=Privilege.ROOT) if argv else
                  Instruction(f"Install {what}", text=f"Install the {packages['apt-get']} package "
                              "with your distribution's package manager."))
    return Fix.manual(fix_id, f"Install {what}", step)

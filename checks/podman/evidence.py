"""What a bug report holds about podman (declared by ``podman.rootless``): versions,
``podman info``, the live id maps and the containers.conf/storage.conf settings."""
from __future__ import annotations

import os

from spotidoctor.api import Context
from spotidoctor.bundle.sources import NO_COMMENTS
from spotidoctor.bundle.spec import BundleSpec


def podman_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("podman", "version"), "podman/version.txt", timeout_s=20)
    spec.add_command(("buildah", "version"), "podman/buildah-version.txt", timeout_s=20)
    spec.add_command(("podman", "info", "--format", "json"), "podman/info.json", timeout_s=30,
                     max_bytes=512 * 1024)
    spec.add_command(("podman", "unshare", "cat", "/proc/self/uid_map"), "podman/unshare-uid_map.txt", timeout_s=20)
    spec.add_command(("podman", "unshare", "cat", "/proc/self/gid_map"), "podman/unshare-gid_map.txt", timeout_s=20)
    for name in ("containers.conf", "storage.conf"):
        spec.add_file(os.path.join(ctx.paths.xdg_config_home, "containers", name), f"podman/user-{name}",
                      only_lines_matching=NO_COMMENTS, max_bytes=64 * 1024)
        spec.add_file(f"/etc/containers/{name}", f"podman/etc-{name}", only_lines_matching=NO_COMMENTS,
                      max_bytes=64 * 1024)

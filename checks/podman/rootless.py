"""podman.rootless: ``podman info`` works and says rootless; its facts for the launcher."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, Message
from spotidoctor.podman.info import podman_info, podman_info_age, podman_info_error
from spotidoctor.resultcache import age_text

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


AS_ROOT = "spotidoctor runs as root: Spotify's container must be rootless, started by your own user"
NOT_ROOTLESS = "podman does not run rootless for this user"


INFO_CACHED = ("podman info answered {age} ago and nothing it depends on changed since "
               "(`spotidoctor check --fresh` asks again)")


def _info_failure(error: str) -> tuple[Message, ...]:
    advice = []
    if "newuidmap" in error or "uid_map" in error or "subuid" in error:
        advice.append("See `spotidoctor check userns`.")
    if "podman system migrate" in error or "invalid internal status" in error:
        advice.append("`podman system migrate` resets the pause process (it stops your running containers).")
    return (Message.error(error, *advice),)


VFS_DRIVER = ("podman stores images with the vfs driver: each layer is a full copy, so the Spotify image takes "
              "several times its size on disk and every build copies it again.")
VFS_ADVICE = ("Use overlay: set `driver = \"overlay\"` under [storage] in ~/.config/containers/storage.conf "
              "(rootless overlay needs Linux 5.13 or fuse-overlayfs).",
              "Then `podman system reset` (it removes all your images and containers) and `spotidoctor build`.")


class PodmanRootless(Check):
    """What it checks: `podman info` works for you and reports rootless mode; records the
    runtime, cgroup version, log driver, network backend and graph driver as facts.

    Why it matters: Spotify's container runs rootless, as your user, so its files and
    sockets are reachable only through the mappings spotidoctor checks. cgroup v1 means
    rootless resource limits are ignored.

    `podman info` (slow: podman asks the package manager about its helpers) is remembered
    for an hour while nothing it depends on changes: podman's binary, every containers.conf
    and storage.conf, /etc/subuid and /etc/subgid, the OCI runtimes, newuidmap/newgidmap,
    the package database, the userns sysctls, podman's environment, the boot and the pause
    process. A remembered answer says so; `spotidoctor check --fresh`, `fix` and the
    re-checks after fixes always ask podman.

    Fix safety: none (run spotidoctor as your normal user; see the userns checks).
    """

    id = "podman.rootless"
    title = "podman runs rootless for you"
    category = "container"
    requires = ("podman.installed",)
    tags = frozenset({"launch"})
    timeout_s = 75.0

    @staticmethod
    def prefetch(ctx: Context) -> None:
        """The runner starts this when the run begins: `podman info` (podman's slowest query,
        it asks dpkg/rpm about its helpers) then overlaps podman.installed; run() gets the
        answer through ctx.memo. Never as root, like run()."""
        if ctx.user.uid != 0:
            podman_info(ctx)

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: podman/buildah versions, podman info, the unshare id maps, containers.conf."""
        from .evidence import podman_evidence  # only reports load the bundle code

        podman_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        if ctx.user.uid == 0:
            return self.fail(AS_ROOT, Message.error("Run spotidoctor as the user who will use Spotify, "
                                                    "without sudo; fixes that need root ask for it step by step."))
        info = podman_info(ctx)
        if info is None:
            error = podman_info_error(ctx) or "podman info failed"
            return self.fail("`podman info` failed", *_info_failure(error))
        if not info.rootless:
            return self.fail(NOT_ROOTLESS, facts=info.facts())
        notes: tuple[Message, ...] = ()
        if info.cgroup_version == "v1":
            notes = (Message.info("cgroups v1: rootless podman ignores resource limits (--memory, --pids-limit)."),)
        age = podman_info_age(ctx)
        if age is not None:
            notes += (Message.info(INFO_CACHED.format(age=age_text(age))),)
        summary = (f"rootless podman {info.version_text} (runtime {info.oci_runtime or '?'}, "
                   f"cgroups {info.cgroup_version or '?'}, storage {info.graph_driver or '?'})")
        if info.graph_driver == "vfs":
            return self.warn(f"{summary}: the vfs storage driver copies every image layer in full",
                             Message.hint(VFS_DRIVER, *VFS_ADVICE), *notes, facts=info.facts())
        return self.ok(summary, *notes, facts=info.facts())

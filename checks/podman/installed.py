"""podman.installed: podman and buildah are installed (and new enough for the profile)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability
from spotidoctor.config import SetConfig
from spotidoctor.facts import PodmanVersionFacts
from spotidoctor.podman.info import VERSION_TIMEOUT_S, tool_version

from .common import PACKAGES_BUILDAH, PACKAGES_PODMAN, install_fix

NO_PODMAN = "podman is not installed"
NO_BUILDAH = "buildah is not installed (spotidoctor builds the image with it)"
KEEP_ID_TOO_OLD = "profile keep-id needs podman 4.3.0 or later (--userns=keep-id:uid=,gid=); this is podman {version}"


class PodmanInstalled(Check):
    """What it checks: `podman` and `buildah` are installed; reports their versions; with
    the keep-id profile, podman is at least 4.3.0.

    Why it matters: spotidoctor runs Spotify with rootless podman and builds its image with
    buildah. `--userns=keep-id:uid=1500,gid=1500` arrived in podman 4.3.0.

    Fix safety: manual (installing packages needs root); switching a too-old podman back to
    the isolated profile is unsafe (it changes who must own the storage).
    """

    id = "podman.installed"
    title = "podman and buildah are installed"
    category = "container"
    tags = frozenset({"launch"})
    # Both `--version` calls may run into their own timeout (a hung podman): the check must
    # outlive them, so the result names the command that hung instead of "check timed out".
    timeout_s = 2 * VERSION_TIMEOUT_S + 5.0
    fix_availability = FixAvailability.SOMETIMES

    @staticmethod
    def prefetch(ctx: Context) -> None:
        """Started when the run begins: `buildah --version` runs while run() waits for
        `podman --version` instead of after it (both memoised; same answers, same timeouts)."""
        tool_version(ctx, "buildah")

    def run(self, ctx: Context) -> CheckResult:
        podman = tool_version(ctx, "podman")
        buildah = tool_version(ctx, "buildah")
        facts = PodmanVersionFacts(podman_version=podman.text or None, buildah_version=buildah.text or None).to_json()
        if not podman.installed:
            return self.fail(NO_PODMAN, facts=facts,
                             fixes=(install_fix(ctx, "podman.install-podman", "podman", PACKAGES_PODMAN),))
        if podman.error:
            return self.fail(f"`podman --version` failed: {podman.error}", facts=facts)
        if ctx.config.profile == "keep-id" and podman.version is not None and not podman.at_least(4, 3):
            return self.fail(KEEP_ID_TOO_OLD.format(version=podman.text), facts=facts, fixes=(Fix.unsafe(
                "podman.profile-isolated", "Use the isolated profile (container uid 1500 → your subordinate uid)",
                SetConfig("Set profile = isolated in spotidoctor's config", key="profile", value="isolated"),
                notes=("Storage must then be owned by the container user: run `spotidoctor fix storage`.",),
                recheck=("storage.ownership",)),))
        if not buildah.installed:
            return self.warn(NO_BUILDAH, facts=facts,
                             fixes=(install_fix(ctx, "podman.install-buildah", "buildah", PACKAGES_BUILDAH),))
        return self.ok(f"podman {podman.text or '?'}, buildah {buildah.text or '?'}", facts=facts)

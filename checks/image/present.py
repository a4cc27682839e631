"""image.present: the configured image exists (and what it is)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message
from spotidoctor.backend.images import PODMAN_TIMEOUT_S, ImageInfo, ImageLookup, Presence, lookup_image
from spotidoctor.backend.recipe import LABEL_SPOTIFY_VERSION, LABEL_VERSION
from spotidoctor.types import JSONValue

from .common import age_days, build_fixes, short_id

if TYPE_CHECKING:
    from spotidoctor.bundle.spec import BundleSpec


class ImagePresent(Check):
    """What it checks: the configured image (default ``spotify_pod``) exists in your podman
    storage (``podman image exists``: 0 present, 1 absent, 125 storage error) and can be
    inspected. When podman itself cannot answer (not installed, a broken storage.conf, a
    storage error, a timeout), the check is skipped with podman's words: an image is never
    reported missing, nor built, because podman failed.

    Why it matters: ``spotidoctor launch`` runs Spotify from it; without it there is nothing to
    run (launch builds it first).

    Fix safety: safe, needs network: ``buildah bud`` builds the image from spotidoctor's
    recipe (Debian + Spotify's apt repository, a few minutes). Nothing else is touched.
    """

    id = "image.present"
    title = "The Spotify image exists"
    category = "container"
    tags = frozenset({"launch"})
    timeout_s = 2 * PODMAN_TIMEOUT_S + 5
    fix_availability = FixAvailability.ALWAYS

    def collect(self, spec: BundleSpec, ctx: Context) -> None:
        """For bug reports: the image's labels, ids and run config."""
        from .evidence import image_evidence  # only reports load the bundle code

        image_evidence(spec, ctx)

    def run(self, ctx: Context) -> CheckResult:
        found = lookup_image(ctx)
        image = ctx.config.image
        if found.presence is Presence.PRESENT and found.info is not None:
            return self.ok(self._summary(found.info), facts=self._facts(found.info))
        if found.presence is Presence.ABSENT:
            return self.fail(f"{image} is not built yet", Message.hint(
                "`spotidoctor launch` builds it before the first start; `spotidoctor build` builds it now."),
                facts={"image": image, "present": False}, fixes=build_fixes(ctx))
        return self._unknown(found)

    @staticmethod
    def _summary(info: ImageInfo) -> str:
        days = age_days(info)
        age = f", built {days} day(s) ago" if days is not None else ""
        spotify = info.labels.get(LABEL_SPOTIFY_VERSION)
        return f"{info.name} exists ({short_id(info.id)}{age}" + (f", Spotify {spotify})" if spotify else ")")

    @staticmethod
    def _facts(info: ImageInfo) -> dict[str, JSONValue]:
        return {
            "image": info.name, "present": True, "image_id": info.id, "digest": info.digest,
            "created": info.created.isoformat() if info.created else None, "user": info.user,
            "built_by_spotidoctor": info.built_by_spotidoctor,
            "spotidoctor_version": info.labels.get(LABEL_VERSION),
            "spotify_version": info.labels.get(LABEL_SPOTIFY_VERSION),
        }

    def _unknown(self, found: ImageLookup) -> CheckResult:
        """Unknown is not absent: a skip with podman's own words, and no build fix."""
        if found.returncode == 127:
            return self.skip(f"cannot tell whether {found.name} exists: podman is not installed "
                             "(`sudo apt install podman buildah`)", facts={"image": found.name, "present": None})
        reason = found.error or f"exit status {found.returncode}"
        return self.skip(f"cannot tell whether {found.name} exists: podman failed ({reason}); "
                         "`spotidoctor check podman` diagnoses podman", facts={"image": found.name, "present": None})

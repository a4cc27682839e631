"""image.age: the image is recent enough (Spotify cannot update itself inside it)."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.types import JSONValue

from .common import NOT_OURS, NOT_OURS_ADVICE, age_days, build_fixes, present_image

STALE_HINT = ("Spotify cannot update itself inside an immutable image: rebuild it to get the current "
              "client and security fixes.")


class ImageAge(Check):
    """What it checks: the image is younger than ``image_max_age_days`` (default 30 days),
    from podman's ``Created`` time.

    Why it matters: Spotify's in-app updater cannot change an immutable image, so the
    client only gets newer when the image is rebuilt.

    Fix safety: safe, needs network: rebuild from the current recipe, for images spotidoctor
    built; other images are only reported.
    """

    id = "image.age"
    title = "The image is recent (Spotify cannot update itself inside it)"
    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    tags = frozenset({"launch"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        info = present_image(ctx)
        if info is None:
            return self.skip("the image is not present")
        days = age_days(info)
        limit = ctx.config.image_max_age_days
        facts: dict[str, JSONValue] = {"age_days": days, "max_age_days": limit}
        if days is None:
            return self.warn("podman reports no creation time for the image", facts=facts)
        if days <= limit:
            return self.ok(f"built {days} day(s) ago (limit {limit})", facts=facts)
        if info.built_by_spotidoctor:
            return self.warn(f"{info.name} is {days} days old (limit {limit})", Message.hint(STALE_HINT),
                             facts=facts, fixes=build_fixes(ctx, f"Rebuild {info.name} with the current Spotify"))
        return self.warn(f"{info.name} is {days} days old (limit {limit})",
                         Message.hint(STALE_HINT + " " + NOT_OURS, *NOT_OURS_ADVICE), facts=facts)

"""What the image checks share: the looked-up image, its age, the build fix, and the advice
for an image spotidoctor did not build."""
from __future__ import annotations

from datetime import datetime, timezone

from spotidoctor.api import Context
from spotidoctor.backend.build import build_fix
from spotidoctor.backend.images import ImageInfo, Presence, lookup_image
from spotidoctor.backend.rollback import is_previous
from spotidoctor.errors import UsageError
from spotidoctor.fixes import Fix

NOT_OURS = "spotidoctor never overwrites an image it did not build."
NOT_OURS_ADVICE = (
    "To use spotidoctor's recipe instead, pick a new name: set image = \"spotidoctor-spotify\" in "
    "config.toml (or pass --image) and run `spotidoctor build`.",
    "To keep this image, nothing is needed: spotidoctor launches it as it is (it needs /usr/bin/spotify "
    "and a home directory /home/spotify_user for the configured uid).",
)


def build_fixes(ctx: Context, title: str | None = None) -> tuple[Fix, ...]:
    """The build fix, or none when config.toml's build_args cannot be used (image.recipe says why)
    or the image is ``IMAGE:previous`` (kept by the last rebuild: never built over)."""
    if is_previous(ctx.config.image):
        return ()
    try:
        return (build_fix(ctx.config, title),)
    except UsageError:
        return ()


def present_image(ctx: Context) -> ImageInfo | None:
    found = lookup_image(ctx)
    return found.info if found.presence is Presence.PRESENT else None


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def age_days(info: ImageInfo) -> int | None:
    if info.created is None:
        return None
    return max(0, (datetime.now(timezone.utc) - info.created).days)

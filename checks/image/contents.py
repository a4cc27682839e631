"""What the image-contents checks (image.fonts, image.tray, image.url-opener, image.locale)
share: the one look inside the image (``spotidoctor.daily.imagecontents``, kept per image id)
and the advice for what is missing."""
from __future__ import annotations

import abc

from spotidoctor.api import Check, CheckResult, Context, FixAvailability, Message, Severity
from spotidoctor.backend.images import ImageInfo
from spotidoctor.daily.imagecontents import Feature, ImageContents, image_contents

from .common import build_fixes, present_image

# The Debian packages that provide each feature (the bundled recipe installs them).
PACKAGES = {Feature.CJK_FONT: "fonts-noto-cjk", Feature.EMOJI_FONT: "fonts-noto-color-emoji",
            Feature.TRAY: "libayatana-appindicator3-1", Feature.GIO_LAUNCH_DESKTOP: "libglib2.0-0"}
LOOK_TIMEOUT_S = 90.0


class ImageContentsCheck(Check):
    """An image-contents check: a warning about one look inside the present image (slow: the
    look runs a container the first time per image id)."""

    category = "container"
    severity = Severity.WARNING
    requires = ("image.present",)
    timeout_s = LOOK_TIMEOUT_S
    tags = frozenset({"slow"})
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        found = contents_of(self, ctx)
        if isinstance(found, CheckResult):
            return found
        return self.judge(ctx, *found)

    @abc.abstractmethod
    def judge(self, ctx: Context, info: ImageInfo, contents: ImageContents) -> CheckResult:
        """The result for what ``contents`` holds."""


def contents_of(check: Check, ctx: Context) -> tuple[ImageInfo, ImageContents] | CheckResult:
    """The image and what is in it, or the result to return (skipped, cannot look)."""
    info = present_image(ctx)
    if info is None:
        return check.skip("the image is not present")
    contents = image_contents(ctx, info)
    if isinstance(contents, str):
        return check.warn(f"cannot look inside {info.name}", Message.error(contents))
    return info, contents


def missing(check: Check, ctx: Context, info: ImageInfo, features: tuple[Feature, ...], what: str,
            effect: str) -> CheckResult:
    """A warning naming what ``info`` lacks, the packages, and how to rebuild."""
    packages = " ".join(PACKAGES[f] for f in features)
    if info.built_by_spotidoctor and not ctx.config.containerfile:
        advice = ("spotidoctor's recipe installs them: rebuild with `spotidoctor build`.",)
        fixes = build_fixes(ctx, f"Rebuild {info.name} from the current recipe")
    else:
        advice = (f"Add the Debian packages {packages} to your image's recipe "
                  f"({ctx.config.containerfile or 'the image was not built by spotidoctor'}), "
                  "then rebuild it (`spotidoctor build`).",)
        fixes = ()
    return check.warn(f"{info.name} lacks {what}: {effect}", Message.hint(f"Packages: {packages}.", *advice),
                      facts={"missing": [f.value for f in features]}, fixes=fixes)

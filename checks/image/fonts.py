"""image.fonts: the image has CJK and colour emoji fonts."""
from __future__ import annotations

from spotidoctor.api import CheckResult, Context
from spotidoctor.backend.images import ImageInfo
from spotidoctor.daily.imagecontents import Feature, ImageContents

from .contents import ImageContentsCheck, missing

FEATURES = (Feature.CJK_FONT, Feature.EMOJI_FONT)


class ImageFonts(ImageContentsCheck):
    """What it checks: the image has a CJK font (Noto Sans CJK, or another CJK family) and a
    colour emoji font (Noto Color Emoji), looked up inside the image once per image id.

    Why it matters: Debian's slim base has neither; Spotify then shows Chinese, Japanese and
    Korean titles and emoji as empty boxes.

    Fix safety: safe, needs network, for images built by spotidoctor: rebuild with the
    current recipe, which installs fonts-noto-cjk and fonts-noto-color-emoji. Other images:
    add those packages to their recipe.
    """

    id = "image.fonts"
    title = "The image has CJK and emoji fonts"

    def judge(self, ctx: Context, info: ImageInfo, contents: ImageContents) -> CheckResult:
        absent = tuple(f for f in FEATURES if not contents.has(f))
        if absent:
            what = " and ".join({Feature.CJK_FONT: "a CJK font", Feature.EMOJI_FONT: "an emoji font"}[f]
                                for f in absent)
            return missing(self, ctx, info, absent, what, "those characters show as empty boxes")
        return self.ok(f"CJK font {contents.found[Feature.CJK_FONT.value]}, emoji font "
                       f"{contents.found[Feature.EMOJI_FONT.value]}")

"""image.tray: the image has the tray icon library."""
from __future__ import annotations

from spotidoctor.api import CheckResult, Context
from spotidoctor.backend.images import ImageInfo
from spotidoctor.daily.imagecontents import Feature, ImageContents

from .contents import ImageContentsCheck, missing


class ImageTray(ImageContentsCheck):
    """What it checks: the image has libayatana-appindicator3 (or the older libappindicator3),
    the library Spotify shows its tray icon with.

    Why it matters: without it there is no tray icon (and "close to tray" cannot work); the
    icon also needs the filtered D-Bus (dbus.*) and a tray on the desktop.

    Fix safety: safe, needs network, for images built by spotidoctor: rebuild with the
    current recipe (libayatana-appindicator3-1). Other images: add that package.
    """

    id = "image.tray"
    title = "The image has the tray icon library"

    def judge(self, ctx: Context, info: ImageInfo, contents: ImageContents) -> CheckResult:
        if not contents.has(Feature.TRAY):
            return missing(self, ctx, info, (Feature.TRAY,), "the tray library (libayatana-appindicator3)",
                           "Spotify shows no tray icon")
        return self.ok(f"tray library {contents.found[Feature.TRAY.value]}")

"""image.url-opener: GIO can start the desktop entry that opens links on the host."""
from __future__ import annotations

from spotidoctor.api import CheckResult, Context
from spotidoctor.backend.images import ImageInfo
from spotidoctor.daily.imagecontents import Feature, ImageContents

from .contents import ImageContentsCheck, missing


class ImageUrlOpener(ImageContentsCheck):
    """What it checks: the image has GIO's `gio-launch-desktop` helper (Debian: in
    libglib2.0-0), through which GLib starts every desktop entry, including the one
    spotidoctor mounts to send links (sign-in, "open in browser") to your host's browser.

    Why it matters: Spotify opens URLs with GIO's default-handler API; without the helper
    the click does nothing, and a new user cannot sign in through the browser (the QR code
    still works).

    Fix safety: safe, needs network, for images built by spotidoctor: rebuild (GLib comes
    with Spotify's dependencies). Other images: add libglib2.0-0.
    """

    id = "image.url-opener"
    title = "The image can hand links to the host's browser"

    def judge(self, ctx: Context, info: ImageInfo, contents: ImageContents) -> CheckResult:
        if not contents.has(Feature.GIO_LAUNCH_DESKTOP):
            return missing(self, ctx, info, (Feature.GIO_LAUNCH_DESKTOP,), "GIO's gio-launch-desktop",
                           "links and the browser sign-in do not open (the QR code still works)")
        return self.ok(f"gio-launch-desktop at {contents.found[Feature.GIO_LAUNCH_DESKTOP.value]}")

"""image.*: the container image Spotify runs from.

Present (``podman image exists`` / ``inspect``), built by spotidoctor from the current
recipe (the ``io.spotidoctor.recipe-hash`` label), recent enough (Spotify cannot update
itself inside an immutable image), made for the configured container uid, and holding the
newest Spotify of the repository it was built from (signed index, checked with gpgv); and
(one look inside, kept per image id) it has CJK and emoji fonts, the tray library, GIO's
gio-launch-desktop and your locale. The
fix builds the image; an image spotidoctor did not build is explained, never overwritten.
"""
from __future__ import annotations

from .age import ImageAge
from .fonts import ImageFonts
from .locale import ImageLocale
from .present import ImagePresent
from .recipe import ImageRecipe
from .tray import ImageTray
from .update import ImageUpdate
from .url_opener import ImageUrlOpener
from .user import ImageUser

CHECKS = (ImagePresent, ImageRecipe, ImageAge, ImageUser, ImageUpdate, ImageFonts, ImageTray, ImageUrlOpener,
          ImageLocale)

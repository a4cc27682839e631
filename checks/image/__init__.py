"""image.*: the container image Spotify runs from.

Present (``podman image exists`` / ``inspect``), built by spotidoctor from the current
recipe (the ``io.spotidoctor.recipe-hash`` label), recent enough (Spotify cannot update
itself inside an immutable image), made for the configured container uid, and holding the
newest Spotify of the repository it was built from (signed index, checked with gpgv). The
fix builds the image; an image spotidoctor did not build is explained, never overwritten.
"""
from __future__ import annotations

from .age import ImageAge
from .present import ImagePresent
from .recipe import ImageRecipe
from .update import ImageUpdate
from .user import ImageUser

CHECKS = (ImagePresent, ImageRecipe, ImageAge, ImageUser, ImageUpdate)

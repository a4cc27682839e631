"""The image recipe: the bundled Containerfile (or the user's own), its build arguments,
the hash that says "built from this recipe", and the labels spotidoctor puts on images.

The hash covers the Containerfile text and every build argument, so changing the
configured uid, the key URL or the recipe itself makes an existing image "not current".
"""
from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spotidoctor import __version__
from spotidoctor.errors import UsageError
from spotidoctor.probes.fs import RealFS

__all__ = ["Recipe", "bundled_text", "load_recipe", "parse_build_args", "effective_build_args",
           "recipe_hash", "build_labels", "BUNDLED", "UID_ARG", "KEY_URL_ARG", "LABEL_VERSION",
           "LABEL_RECIPE", "LABEL_RECIPE_HASH", "LABEL_BUILD_DATE", "LABEL_SPOTIFY_VERSION",
           "LABEL_UID", "SPOTIFY_DOWNLOAD_URL", "VERSION_MARK", "REPO_ARG", "SPOTIFY_REPO_DEFAULT",
           "LABEL_SPOTIFY_REPO"]

BUNDLED = "bundled"
UID_ARG = "SPOTIFY_UID"
KEY_URL_ARG = "SPOTIFY_KEY_URL"
REPO_ARG = "SPOTIFY_REPO"
SPOTIFY_REPO_DEFAULT = "https://repository.spotify.com"  # suite stable, component non-free
SPOTIFY_DOWNLOAD_URL = "https://www.spotify.com/us/download/linux/"

LABEL_VERSION = "io.spotidoctor.version"
LABEL_RECIPE = "io.spotidoctor.recipe"  # "bundled" or the Containerfile path
LABEL_RECIPE_HASH = "io.spotidoctor.recipe-hash"
LABEL_BUILD_DATE = "io.spotidoctor.build-date"
LABEL_UID = "io.spotidoctor.container-uid"
LABEL_SPOTIFY_VERSION = "io.spotidoctor.spotify-version"
LABEL_SPOTIFY_REPO = "io.spotidoctor.spotify-repo"  # set by the bundled recipe: the repository it used
# The bundled recipe prints this line (dpkg-query) after installing Spotify. Anchored: the
# STEP line that runs the command contains the same text with ${Version} unexpanded.
VERSION_MARK = re.compile(r"^spotidoctor-spotify-version=([0-9A-Za-z.+:~-]+)\s*$")


@dataclass(frozen=True)
class Recipe:
    """A Containerfile's text and where it came from."""

    text: str
    source: str  # BUNDLED or the absolute path of the user's Containerfile

    @property
    def is_bundled(self) -> bool:
        return self.source == BUNDLED

    @property
    def context_dir(self) -> str | None:
        """The build context: the Containerfile's directory (None: the bundled one needs none)."""
        return None if self.is_bundled else os.path.dirname(self.source)


def bundled_text() -> str:
    return (importlib.resources.files("spotidoctor.backend") / "resources" / "Containerfile").read_text(
        encoding="utf-8")


def load_recipe(fs: RealFS, containerfile: str, cwd: str | None = None) -> Recipe:
    """The bundled recipe for ``""``, else the file at ``containerfile`` (a clear error if unreadable)."""
    if not containerfile:
        return Recipe(bundled_text(), BUNDLED)
    path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(containerfile)))
    try:
        text = fs.read_text(path)
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; pass the Containerfile itself") from None
    except OSError as exc:
        raise UsageError(f"cannot read Containerfile {path}: {exc.strerror or exc}") from None
    return Recipe(text, path)


def parse_build_args(items: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (later ones win); anything else is a usage error."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum():
            raise UsageError(f"build argument {item!r} is not KEY=VALUE")
        parsed[key] = value
    return parsed


def effective_build_args(container_uid: int, configured: Iterable[str],
                         extra: Iterable[str] = (), spotify_repo: str = "") -> dict[str, str]:
    """What the build gets: the configured uid and repository (when set), then config.build_args,
    then --build-arg."""
    named = {UID_ARG: str(container_uid), **({REPO_ARG: spotify_repo} if spotify_repo else {})}
    return {**named, **parse_build_args(configured), **parse_build_args(extra)}


def recipe_hash(text: str, build_args: Mapping[str, str]) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    for key in sorted(build_args):
        digest.update(f"\0{key}={build_args[key]}".encode())
    return "sha256:" + digest.hexdigest()


def build_labels(recipe: Recipe, build_args: Mapping[str, str], built_at: str) -> dict[str, str]:
    """Labels for a build. ``built_at`` is an ISO 8601 UTC time (passed in: this stays pure)."""
    return {
        LABEL_VERSION: __version__,
        LABEL_RECIPE: recipe.source,
        LABEL_RECIPE_HASH: recipe_hash(recipe.text, build_args),
        LABEL_BUILD_DATE: built_at,
        LABEL_UID: build_args.get(UID_ARG, ""),
    }

"""What the image holds that daily use needs: one look inside, kept per image id.

One throwaway container (no network, no capabilities, ``/bin/sh`` of the image) lists:

- a CJK font and a colour emoji font (Spotify's titles in Chinese, Japanese and Korean and
  its emoji show as empty boxes without them; Debian's slim base has neither);
- the tray library, libayatana-appindicator3 (or the older libappindicator3);
- GIO's ``gio-launch-desktop``, through which GLib starts the desktop entry that opens links;
- the locales: ``locale -a`` where the image has it, and the directories in /usr/lib/locale.

An image id names fixed contents, so the answer is kept in the result cache under that id
(for ``CACHE_TTL_S``) and shared by the ``image.*`` checks and the launch within a run.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from spotidoctor.errors import ProbeUnavailable
from spotidoctor.resultcache import cached
from spotidoctor.types import JSONValue

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.backend.images import ImageInfo
    from spotidoctor.probes.command import CommandRunner

__all__ = ["Feature", "ImageContents", "PROBE_SCRIPT", "probe_argv", "parse_probe", "image_contents",
           "probe_image", "CACHE_KEY", "CACHE_TTL_S", "PROBE_TIMEOUT_S"]

PROBE_TIMEOUT_S = 60.0
CACHE_KEY = "image-contents"
CACHE_TTL_S = 30 * 24 * 3600.0
END = "end"


class Feature(str, Enum):
    CJK_FONT = "cjk-font"
    EMOJI_FONT = "emoji-font"
    TRAY = "tray"
    GIO_LAUNCH_DESKTOP = "gio-launch-desktop"


# Where each feature lives on Debian/Ubuntu, Fedora and Arch; the first existing path wins.
_PATHS: dict[Feature, tuple[str, ...]] = {
    Feature.CJK_FONT: ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/*/*/*CJK*",
                       "/usr/share/fonts/*/*CJK*", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
                       "/usr/share/fonts/*/wqy*/*", "/usr/share/fonts/wqy*/*"),
    Feature.EMOJI_FONT: ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "/usr/share/fonts/*/*/*[Ee]moji*",
                         "/usr/share/fonts/*/*[Ee]moji*"),
    Feature.TRAY: ("/usr/lib/*/libayatana-appindicator3.so.1", "/usr/lib64/libayatana-appindicator3.so.1",
                   "/usr/lib/libayatana-appindicator3.so.1", "/usr/lib/*/libappindicator3.so.1",
                   "/usr/lib64/libappindicator3.so.1", "/usr/lib/libappindicator3.so.1"),
    Feature.GIO_LAUNCH_DESKTOP: ("/usr/lib/*/glib-2.0/gio-launch-desktop", "/usr/libexec/gio-launch-desktop",
                                 "/usr/lib/glib-2.0/gio-launch-desktop", "/usr/bin/gio-launch-desktop"),
}

# Plain POSIX sh: only builtins, plus the image's own `locale` when it has one.
_HEAD = r"""have() {
  name=$1; shift
  for p in "$@"; do
    if [ -e "$p" ]; then echo "have $name $p"; return 0; fi
  done
  echo "missing $name"
}
"""
_TAIL = r"""if command -v locale >/dev/null 2>&1; then
  echo "locale-a"
  locale -a 2>/dev/null | while IFS= read -r l; do echo "locale $l"; done
fi
for d in /usr/lib/locale/*/; do
  if [ -d "$d" ]; then d=${d%/}; echo "localedir ${d##*/}"; fi
done
if [ -e /usr/lib/locale/locale-archive ]; then echo "locale-archive"; fi
echo end
"""
PROBE_SCRIPT = _HEAD + "".join(f"have {feature.value} {' '.join(paths)}\n" for feature, paths in _PATHS.items()) \
    + _TAIL
PROBE_VERSION = hashlib.sha256(PROBE_SCRIPT.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ImageContents:
    image_id: str
    found: Mapping[str, str] = field(default_factory=dict)  # feature -> the path found
    locales: tuple[str, ...] | None = None  # None: unknown (a locale-archive without `locale -a`)

    def has(self, feature: Feature) -> bool:
        return feature.value in self.found

    @property
    def missing(self) -> tuple[Feature, ...]:
        return tuple(f for f in Feature if not self.has(f))

    def to_json(self) -> JSONValue:
        locales: JSONValue = None if self.locales is None else list(self.locales)
        return {"image_id": self.image_id, "found": dict(self.found), "locales": locales,
                "version": PROBE_VERSION}

    @classmethod
    def from_json(cls, data: JSONValue) -> ImageContents:
        if not isinstance(data, dict) or data.get("version") != PROBE_VERSION:
            raise ValueError("not image contents of this version")
        found, locales, image_id = data["found"], data["locales"], data["image_id"]
        if not isinstance(found, dict) or not isinstance(image_id, str) or \
                not all(isinstance(v, str) for v in found.values()):
            raise ValueError("malformed image contents")
        if locales is not None and not (isinstance(locales, list) and all(isinstance(x, str) for x in locales)):
            raise ValueError("malformed locales")
        return cls(image_id, {str(k): str(v) for k, v in found.items()},
                   None if locales is None else tuple(str(x) for x in locales))


def probe_argv(image_id: str) -> tuple[str, ...]:
    """A throwaway container of the image running ``PROBE_SCRIPT``: no network, no
    capabilities, nothing mounted; by id, so the answer belongs to exactly that image."""
    return ("podman", "run", "--rm", "--pull=never", "--network=none", "--cap-drop=all",
            "--security-opt=no-new-privileges", "--user=0", "--entrypoint=/bin/sh", image_id, "-c", PROBE_SCRIPT)


def parse_probe(image_id: str, text: str) -> ImageContents:
    """The probe's stdout; ``ProbeUnavailable`` when it did not run to its end."""
    lines = text.splitlines()
    if END not in lines:
        raise ProbeUnavailable("the look inside the image did not finish")
    found: dict[str, str] = {}
    listed: list[str] = []
    directories: list[str] = []
    has_locale_a = archive = False
    known = {f.value for f in Feature}
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "have":
            name, _, path = rest.partition(" ")
            if name in known and path:
                found.setdefault(name, path)
        elif word == "locale-a":
            has_locale_a = True
        elif word == "locale" and rest:
            listed.append(rest)
        elif word == "localedir" and rest:
            directories.append(rest)
        elif word == "locale-archive":
            archive = True
    if not has_locale_a and archive:
        return ImageContents(image_id, found, None)  # the archive's locales cannot be listed without `locale`
    return ImageContents(image_id, found, tuple(sorted(set(listed) | set(directories))))


def probe_image(cmd: CommandRunner, image_id: str, *, timeout: float = PROBE_TIMEOUT_S) -> ImageContents:
    done = cmd.run(probe_argv(image_id), timeout=timeout)
    if done.timed_out:
        raise ProbeUnavailable(f"looking inside the image did not finish within {timeout:g}s")
    if not done.ok and END not in done.stdout.splitlines():
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "level=warning" not in ln]
        reason = lines[-1].strip() if lines else done.error_text()
        raise ProbeUnavailable(f"cannot look inside the image (it needs /bin/sh): {reason}")
    return parse_probe(image_id, done.stdout)


def image_contents(ctx: Context, info: ImageInfo) -> ImageContents | str:
    """The contents of ``info``'s image, or why they cannot be known: asked once per run
    (``ctx.memo``) and kept per image id in the result cache."""
    def compute() -> ImageContents | str:
        try:
            return cached(ctx.cache, ctx.probes.fs, CACHE_KEY, lambda: [info.id, PROBE_VERSION], CACHE_TTL_S,
                          lambda: probe_image(ctx.probes.cmd, info.id), encode=ImageContents.to_json,
                          decode=ImageContents.from_json).value
        except ProbeUnavailable as exc:
            return exc.reason

    return ctx.memo.get(f"image.contents:{info.id}", compute)

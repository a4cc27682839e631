"""What podman knows about an image: present, absent or unknown (``podman image exists``: 0 /
1 / 125, ``man 1 podman-image-exists``) and, when present, the parsed ``podman image inspect``
JSON list. Unknown is never reported as absent: podman also exits 1 when it cannot start at
all (a broken storage.conf), so absence needs a quiet ``exists`` and an "image not known".

One lookup per image and run is shared through ``ctx.memo``, so the ``image.*`` checks
and the launcher ask podman once.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

from spotidoctor.backend.recipe import LABEL_RECIPE_HASH
from spotidoctor.errors import ParseError

if TYPE_CHECKING:
    from spotidoctor.api import Context
    from spotidoctor.probes.command import CommandRunner

__all__ = ["ImageInfo", "Presence", "ImageLookup", "lookup_image", "parse_inspect", "parse_created", "complaint",
           "split_user", "uid_for_name", "passwd_argv", "PODMAN_TIMEOUT_S"]

PODMAN_TIMEOUT_S = 30.0  # podman can be slow on a cold start (pause process, storage lock)
_FRACTION = re.compile(r"(\.\d{6})\d+")
# podman's logrus lines that are not failures: time="..." level=warning msg="..."
_WARNING = re.compile(r"\blevel=(?:warning|info|debug)\b|^WARN\[")


class Presence(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # podman failed: storage error, missing, timed out


@dataclass(frozen=True)
class ImageInfo:
    name: str
    id: str
    created: datetime | None
    user: str  # Config.User as podman reports it ("1500:1500", "spotify_user", "" = root)
    labels: Mapping[str, str] = field(default_factory=dict)
    digest: str = ""
    architecture: str = ""  # as podman reports it (Go's names: amd64, arm64, ...)

    @property
    def built_by_spotidoctor(self) -> bool:
        return LABEL_RECIPE_HASH in self.labels


@dataclass(frozen=True)
class ImageLookup:
    name: str
    presence: Presence
    info: ImageInfo | None = None
    error: str = ""  # why presence is UNKNOWN (podman's own words)
    returncode: int = 0


def parse_created(text: str) -> datetime | None:
    """``2026-11-29T22:51:11.199306773Z`` (nanoseconds, Z) as an aware datetime; None if unparsable."""
    if not text:
        return None
    cleaned = _FRACTION.sub(r"\1", text.strip())
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        created = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def _labels(entry: Mapping[str, object]) -> dict[str, str]:
    config = entry.get("Config")
    raw = entry.get("Labels") or (config.get("Labels") if isinstance(config, dict) else None) or {}
    if not isinstance(raw, dict):
        raise ParseError("Labels is not an object")
    return {str(k): str(v) for k, v in raw.items()}


def parse_inspect(text: str, name: str) -> ImageInfo:
    """The first entry of ``podman image inspect`` output (a JSON list)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"podman image inspect printed invalid JSON: {exc}") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ParseError("podman image inspect printed no image entry")
    entry = data[0]
    config = entry.get("Config") if isinstance(entry.get("Config"), dict) else {}
    assert isinstance(config, dict)
    user = config.get("User") or entry.get("User") or ""
    return ImageInfo(name=name, id=str(entry.get("Id", "")), created=parse_created(str(entry.get("Created", ""))),
                     user=str(user), labels=_labels(entry), digest=str(entry.get("Digest", "")),
                     architecture=str(entry.get("Architecture", "")))


def split_user(spec: str) -> tuple[str, str]:
    """``USER`` as (user, group); an empty user is root."""
    user, _, group = spec.partition(":")
    return (user or "0"), group


def uid_for_name(passwd: str, name: str) -> int | None:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def passwd_argv(image: str) -> tuple[str, ...]:
    """Read the image's /etc/passwd by running ``cat`` in a throwaway container.

    Rootless ``podman image mount`` only works inside ``podman unshare``, whose mount is
    gone when it returns; a short, network-less, capability-less run with a timeout is
    the honest alternative. Used only when the image names its user instead of a uid.
    """
    return ("podman", "run", "--rm", "--pull=never", "--network=none", "--cap-drop=all", "--user=0",
            "--entrypoint=cat", image, "/etc/passwd")


def complaint(stderr: str) -> str:
    """podman's stderr without its warnings ("" when it only warned): what it failed with."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " ".join(line for line in lines if not _WARNING.search(line))[:400]


def _confirm_absent(cmd: CommandRunner, name: str) -> ImageLookup | None:
    """``podman image exists`` exits 1 for "no such image" and also when podman itself cannot
    start (a broken storage.conf or containers.conf exits 1 with an error on stderr). Absent
    only when podman said nothing but warnings and ``inspect`` then says "image not known"."""
    done = cmd.run(("podman", "image", "inspect", "--format", "{{.Id}}", name), timeout=PODMAN_TIMEOUT_S)
    if not done.ok and not done.timed_out and "image not known" in done.stderr:
        return ImageLookup(name, Presence.ABSENT, returncode=1)
    if done.ok:
        return None  # it exists after all (built meanwhile): inspect it in full
    return ImageLookup(name, Presence.UNKNOWN, error=complaint(done.stderr) or done.error_text(),
                       returncode=done.returncode)


def _lookup(cmd: CommandRunner, name: str) -> ImageLookup:
    exists = cmd.run(("podman", "image", "exists", name), timeout=PODMAN_TIMEOUT_S)
    if exists.returncode == 1 and not exists.timed_out:
        problem = complaint(exists.stderr)
        if problem:
            return ImageLookup(name, Presence.UNKNOWN, error=problem, returncode=1)
        absent = _confirm_absent(cmd, name)
        if absent is not None:
            return absent
    elif not exists.ok:
        return ImageLookup(name, Presence.UNKNOWN, error=exists.error_text(), returncode=exists.returncode)
    done = cmd.run(("podman", "image", "inspect", name), timeout=PODMAN_TIMEOUT_S)
    if not done.ok:
        # Removed between the two calls, or a storage error (rc 125, "image not known").
        if "image not known" in done.stderr:
            return ImageLookup(name, Presence.ABSENT, returncode=done.returncode)
        return ImageLookup(name, Presence.UNKNOWN, error=done.error_text(), returncode=done.returncode)
    try:
        return ImageLookup(name, Presence.PRESENT, parse_inspect(done.stdout, name))
    except ParseError as exc:
        return ImageLookup(name, Presence.UNKNOWN, error=str(exc))


def lookup_image(ctx: Context, name: str | None = None) -> ImageLookup:
    """The configured image (or ``name``), asked once per run and shared via ``ctx.memo``."""
    image = name or ctx.config.image
    return ctx.memo.get(f"image.lookup:{image}", lambda: _lookup(ctx.probes.cmd, image))

"""Validation of the names and paths config.toml hands to podman, with podman's own rules (pure).

- image: the reference grammar of containers/image (docker/reference/regexp.go) that podman
  parses: ``[domain[:port]/]component(/component)*[:tag][@digest]``, lower-case components,
  at most 255 characters of name. ``--privileged`` is no image: it would reach podman's
  argv as an option.
- container name: libpod's ``^[a-zA-Z0-9][a-zA-Z0-9_.-]*$``.
- storage path: ``:`` is --volume's separator; Linux allows 255 bytes per path component and
  4095 per path; NUL cannot be passed at all; control characters are refused (they garble
  every message that shows the path and are never intended).
- ulimits: podman's ``--ulimit`` (go-units ParseUlimit): ``NAME=SOFT[:HARD]`` with NAME from
  ulimitNameMapping, -1 for unlimited, soft <= hard.

Each function returns the problems, one sentence each; () means valid.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["image_problems", "container_name_problems", "storage_path_problems", "ulimit_problems", "ulimits_problems",
           "ULIMIT_NAMES", "NAME_MAX", "PATH_MAX"]

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?", re.ASCII)
NAME_TOTAL_MAX = 255
TRANSPORTS = ("containers-storage:", "oci-archive:", "docker-archive:", "docker-daemon:")
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)

NAME_MAX = 255  # bytes per path component (Linux)
PATH_MAX = 4095  # bytes per path, without the terminating NUL
ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
                "rtprio", "rttime", "sigpending", "stack")


def image_problems(reference: str) -> tuple[str, ...]:
    if not reference:
        return ("image is empty",)
    if reference.startswith("-"):
        return (f"image {reference!r} starts with '-': podman would read it as an option, not an image",)
    if "://" in reference or reference.startswith(TRANSPORTS):
        return (f"image {reference!r} names a transport; give the image name spotidoctor builds "
                "(e.g. spotify_pod or localhost/spotify_pod:latest)",)
    match = REFERENCE.fullmatch(reference)
    if match is None:
        hint = " (image names are lower case)" if reference.lower() != reference else ""
        return (f"image {reference!r} is not a valid image reference{hint}: expected "
                "[registry/]name[:tag][@digest], e.g. localhost/spotify_pod:latest",)
    if len(match["name"]) > NAME_TOTAL_MAX:
        return (f"image name is {len(match['name'])} characters long; podman allows at most {NAME_TOTAL_MAX}",)
    return ()


def container_name_problems(name: str) -> tuple[str, ...]:
    if CONTAINER_NAME.fullmatch(name) is None:
        return (f"container_name {name!r} is not a valid podman container name: it must match "
                "[a-zA-Z0-9][a-zA-Z0-9_.-]* (letters, digits, '_', '.', '-'; not starting with one of the last three)",)
    return ()


def storage_path_problems(path: str, setting: str = "storage_dir") -> tuple[str, ...]:
    if "\0" in path:
        return (f"{setting} contains a NUL byte, which no path can hold",)
    problems = []
    if ":" in path:
        problems.append(f"{setting} {path!r} contains ':', which podman's --volume reads as the separator of "
                        "source, destination and options: the storage mount would break")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        problems.append(f"{setting} {path!r} contains control characters (a newline, tab or escape)")
    encoded = path.encode("utf-8", errors="surrogateescape")
    if len(encoded) > PATH_MAX:
        problems.append(f"{setting} is {len(encoded)} bytes long; Linux paths are at most {PATH_MAX}")
    for component in encoded.split(b"/"):
        if len(component) > NAME_MAX:
            shown = component[:24].decode("utf-8", errors="replace")
            problems.append(f"{setting}: the path component {shown!r}… is {len(component)} bytes; Linux allows "
                            f"at most {NAME_MAX} per name")
    return tuple(problems)


def _limit(text: str) -> int | None:
    if text == "infinity":
        return -1
    if re.fullmatch(r"[+-]?[0-9]{1,19}", text) is None:
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def ulimit_problems(spec: str) -> tuple[str, ...]:
    if spec == "host":
        return ()  # podman copies the host's limits (allowed once, alone)
    name, eq, limits = spec.partition("=")
    if not eq:
        return (f"ulimit {spec!r} is not NAME=SOFT[:HARD]",)
    if name not in ULIMIT_NAMES:
        return (f"ulimit {spec!r}: podman knows no limit named {name!r} (known: {', '.join(ULIMIT_NAMES)})",)
    parts = limits.split(":")
    if len(parts) > 2:
        return (f"ulimit {spec!r}: at most two values, SOFT[:HARD]",)
    values = [_limit(p) for p in parts]
    if any(v is None for v in values):
        return (f"ulimit {spec!r}: limits are whole numbers, -1 meaning unlimited",)
    soft, hard = values[0], values[-1]
    assert soft is not None and hard is not None
    if hard != -1 and (soft == -1 or soft > hard):
        return (f"ulimit {spec!r}: the soft limit must not exceed the hard limit",)
    return ()


def ulimits_problems(specs: Sequence[str]) -> tuple[str, ...]:
    problems = [p for spec in specs for p in ulimit_problems(spec)]
    if "host" in specs and len(specs) > 1:
        problems.append("ulimit 'host' copies every host limit and cannot be combined with other ulimits")
    return tuple(problems)

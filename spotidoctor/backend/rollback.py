"""Keep the image a rebuild replaces as ``IMAGE:previous``, and make it current again.

A rebuild tags the current image ``IMAGE:previous`` before buildah moves the name ``IMAGE`` to
the new image; the image that was ``previous`` until then is removed once the build
succeeded (so exactly one older image is kept), or gets its tag back when the build failed.
``spotidoctor rollback`` swaps the two names: the previous image becomes ``IMAGE`` and the
newer one ``IMAGE:previous``, so a second rollback undoes the first. Tags are names only:
``podman tag ID NAME`` moves NAME to that image and copies nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spotidoctor.errors import ProbeUnavailable
from spotidoctor.hardening.names import REFERENCE
from spotidoctor.probes.command import CommandRunner

__all__ = ["PREVIOUS_TAG", "previous_name", "is_previous", "image_id", "Kept", "keep_previous", "settle",
           "Swapped", "swap", "TAG_TIMEOUT_S"]

PREVIOUS_TAG = "previous"
TAG_TIMEOUT_S = 60.0
Log = Callable[[str], None]


def _split(image: str) -> tuple[str, str, str] | None:
    """(name, tag, digest) of a reference podman accepts, else None."""
    match = REFERENCE.fullmatch(image)
    if match is None:
        return None
    return match["name"], match["tag"] or "", match["digest"] or ""


def is_previous(image: str) -> bool:
    parts = _split(image)
    return parts is not None and parts[1] == PREVIOUS_TAG and not parts[2]


def previous_name(image: str) -> str | None:
    """``NAME:previous`` for ``NAME[:TAG]``; None for a digest reference or a ``:previous`` one."""
    parts = _split(image)
    if parts is None or parts[2] or parts[1] == PREVIOUS_TAG:
        return None
    return f"{parts[0]}:{PREVIOUS_TAG}"


def image_id(cmd: CommandRunner, name: str) -> str:
    """The id ``name`` points to, "" when there is no such image; ``ProbeUnavailable`` when
    podman cannot tell (unknown is never reported as absent)."""
    done = cmd.run(("podman", "image", "inspect", "--format", "{{.Id}}", name), timeout=TAG_TIMEOUT_S)
    if done.ok and done.stdout.strip():
        return done.stdout.strip().splitlines()[0].removeprefix("sha256:")
    if not done.timed_out and "image not known" in done.stderr:
        return ""
    raise ProbeUnavailable(f"podman cannot tell which image {name} is: {done.error_text()}")


def _tag(cmd: CommandRunner, image_id_: str, name: str) -> str:
    """"" when ``name`` now points to the image, else podman's reason."""
    done = cmd.run(("podman", "tag", image_id_, name), timeout=TAG_TIMEOUT_S)
    return "" if done.ok else done.error_text()


@dataclass(frozen=True)
class Kept:
    """What ``keep_previous`` did before a build."""

    name: str = ""  # IMAGE:previous ("" when the image has none, e.g. a digest reference)
    replaced: str = ""  # the id now tagged ``name`` (the image the build replaces); "" = nothing kept
    older: str = ""  # the id ``name`` pointed to before ("" = none)


def keep_previous(cmd: CommandRunner, image: str, log: Log) -> Kept:
    """Tag the current ``image`` as ``IMAGE:previous`` before a build replaces it (only when it exists)."""
    name = previous_name(image)
    if name is None:
        return Kept()
    try:
        current = image_id(cmd, image)
        older = image_id(cmd, name) if current else ""
    except ProbeUnavailable as exc:
        log(f"# not keeping the replaced image: {exc.reason}")
        return Kept()
    if not current:
        return Kept(name)
    if current == older:  # rebuilt right after a rollback-free build: previous already is this image
        return Kept(name, "", older)
    problem = _tag(cmd, current, name)
    if problem:
        log(f"# could not tag {current} as {name}: {problem}")
        return Kept(name, "", older)
    log(f"# kept {current} as {name}")
    return Kept(name, current, older)


def settle(cmd: CommandRunner, kept: Kept, new_id: str, ok: bool, log: Log) -> None:
    """After the build: drop the image ``previous`` pointed to before (success), or give the
    ``previous`` tag back to it (failure: the build replaced nothing)."""
    if not kept.replaced:
        return
    if not ok:
        if kept.older:
            _tag(cmd, kept.older, kept.name)
        else:
            cmd.run(("podman", "untag", kept.replaced, kept.name), timeout=TAG_TIMEOUT_S)
        log(f"# the build failed: {kept.name} is {kept.older or 'gone'} again")
        return
    if kept.older and kept.older not in (kept.replaced, new_id.removeprefix("sha256:")):
        # Untagged now. Best effort: a container still using it keeps it, another tag protects it.
        done = cmd.run(("podman", "rmi", kept.older), timeout=TAG_TIMEOUT_S)
        log(f"# removed the image before the previous one ({kept.older})" if done.ok else
            f"# kept the image before the previous one ({kept.older}): {done.error_text()}")


@dataclass(frozen=True)
class Swapped:
    image: str
    previous: str  # IMAGE:previous
    now_current: str  # the id IMAGE points to now
    now_previous: str  # the id IMAGE:previous points to now ("" when there was no current image)


def swap(cmd: CommandRunner, image: str) -> Swapped:
    """Make ``IMAGE:previous`` current and keep the current image as ``IMAGE:previous``.
    ``ProbeUnavailable`` (with what happened) when it cannot."""
    name = previous_name(image)
    if name is None:
        raise ProbeUnavailable(f"{image} has no previous image: give the image name without :{PREVIOUS_TAG} "
                               "or a digest")
    current, previous = image_id(cmd, image), image_id(cmd, name)
    if not previous:
        raise ProbeUnavailable(f"there is no {name} to roll back to (a rebuild keeps the image it replaces "
                               "under that name)")
    if previous == current:
        raise ProbeUnavailable(f"{image} and {name} are the same image ({_short(current)}): nothing to roll back")
    problem = _tag(cmd, previous, image)
    if problem:
        raise ProbeUnavailable(f"podman tag {_short(previous)} {image} failed: {problem}")
    if not current:
        cmd.run(("podman", "untag", previous, name), timeout=TAG_TIMEOUT_S)
        return Swapped(image, name, previous, "")
    problem = _tag(cmd, current, name)
    if problem:
        raise ProbeUnavailable(f"{image} is now {_short(previous)}, but tagging the newer image {_short(current)} "
                               f"as {name} failed: {problem} (`podman tag {_short(current)} {name}` keeps it)")
    return Swapped(image, name, previous, current)


def _short(image_id_: str) -> str:
    return image_id_[:12]

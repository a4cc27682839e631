"""What the ownership scan found besides wrong owners, said briefly: hard-linked files (never
chowned), symlinks pointing out of the storage (never followed), parts of the tree not scanned.

Paths in messages are shortened in the middle: a tree 10,000 directories deep must not make
a 20 KB line.
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from spotidoctor.api import Message
from spotidoctor.fixes import Fix, Instruction, Step

from .scan import HardLink, WrongOwner

MAX_PATH_CHARS = 160
COPY_FIX_ID = "storage.copy-hard-links"

HARD_LINKS = ("{count} hard-linked file{s} in the storage: each shares its content and owner with another "
              "name{where}; spotidoctor never chowns one (a chown acts on the file, so every name would "
              "change owner)")
HARD_LINK_LINE = "{path} ({uid}:{gid}, {nlink} names{outside})"
HARD_LINK_ADVICE = ("The other names: `find ~ -xdev -samefile {path}`. If one of them is a file of yours that "
                    "the container user now owns (an earlier chown), give it back: `podman unshare chown 0:0 -- "
                    "<that path>`.")
LINKS_OUT = ("{count} symlink{s} in the storage point{verb} out of it (e.g. {sample}): spotidoctor never "
             "follows a symlink; the fix changes the owner of the link itself, never of what it points to")
LINKS_OUT_ADVICE = "If you did not make it, remove it: `podman unshare rm -- {path}`."
NOT_COVERED = "{count} director{ies} of the storage could not be scanned: {reason}; their contents were not checked"
NOT_COVERED_SUMMARY = ("{count} entries owned by {owner} ({who}), but the scan is incomplete: "
                       "{missing} director{ies} not covered")


def short(path: str, limit: int = MAX_PATH_CHARS) -> str:
    """``path`` cut in the middle to at most ``limit`` characters."""
    if len(path) <= limit:
        return path
    keep = (limit - 1) // 2
    return f"{path[:keep]}…{path[-keep:]}"


def plural(count: int, word: str = "s") -> str:
    return "" if count == 1 else word


def points_outside(sample: WrongOwner, storage_dir: str) -> bool:
    if sample.link_to is None:
        return False
    target = os.path.normpath(os.path.join(os.path.dirname(sample.path), sample.link_to))
    root = os.path.normpath(storage_dir)
    return not (target == root or target.startswith(root + "/"))


def sample_line(sample: WrongOwner, storage_dir: str) -> str:
    line = f"{short(sample.path)} ({sample.uid}:{sample.gid})"
    if sample.link_to is not None:
        where = "out of the storage" if points_outside(sample, storage_dir) else "inside the storage"
        line += f" -> {short(sample.link_to)} (a symlink pointing {where}; never followed)"
    return line


def links_out_message(samples: Sequence[WrongOwner], storage_dir: str) -> Message | None:
    outside = [s for s in samples if points_outside(s, storage_dir)]
    if not outside:
        return None
    first = outside[0]
    text = LINKS_OUT.format(count=len(outside), s=plural(len(outside)), verb="" if len(outside) != 1 else "s",
                            sample=f"{short(first.path)} -> {short(first.link_to or '')}")
    return Message.hint(text, *(LINKS_OUT_ADVICE.format(path=shlex.quote(s.path)) for s in outside))


def hard_links_message(links: Sequence[HardLink], count: int, inside: dict[tuple[int, int], int]) -> Message:
    """``inside``: (dev, ino) -> names found inside the storage, to say how many are elsewhere."""
    lines = []
    elsewhere = 0
    for link in links[:5]:
        names_inside = inside.get((link.dev, link.ino), 1) if link.ino else 1
        outside = link.nlink - names_inside
        elsewhere += outside > 0
        lines.append(HARD_LINK_LINE.format(path=short(link.path), uid=link.uid, gid=link.gid, nlink=link.nlink,
                                           outside=f", {outside} outside the storage" if outside > 0 else ""))
    where = " outside the storage" if elsewhere else ""
    more = [f"... and {count - len(lines)} more"] if count > len(lines) else []
    advice = [HARD_LINK_ADVICE.format(path=shlex.quote(links[0].path))] if links else []
    return Message.error(HARD_LINKS.format(count=count, s=plural(count), where=where), *lines, *more, *advice)


def manual_copy_steps(path: str, owner: tuple[int, int]) -> tuple[Instruction, ...]:
    """The copy done by hand, for one hard-linked file (namespace ids)."""
    quoted = shlex.quote(path)
    copy = shlex.quote(path + ".copy")
    return (Instruction("by hand, for each hard-linked file", text=(
        f"podman unshare cp --preserve=mode,timestamps -- {quoted} {copy} && "
        f"podman unshare chown {owner[0]}:{owner[1]} -- {copy} && podman unshare mv -f -T -- {copy} {quoted}")),)


def copy_fix(steps: Sequence[Step], example: str, owner: tuple[int, int]) -> Fix:
    manual = manual_copy_steps(example, owner)[0].text
    return Fix.unsafe(COPY_FIX_ID, "Replace the hard-linked files in the storage by private copies for the "
                      "container user (the other names keep the original)", *steps,
                      notes=("Unsafe because the storage's name stops sharing the file with the other names: "
                             "changes on one side no longer show on the other.",
                             f"The same by hand, per file: {manual}",
                             "Or delete the storage's name (Spotify recreates its cache files; settings in "
                             "prefs would be lost): `podman unshare rm -- PATH`."))

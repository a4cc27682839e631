"""The storage checks' fix steps, USERNS steps that re-check the guards before they run:

- ``UserNsChown``: ``podman unshare find -P DIR -xdev ! ( -type f -links +1 ) -exec chown
  --no-dereference U:G -- {} +``: every entry, never following a symlink, except regular files
  with more than one name (a chown acts on the inode: a hard link to ``~/.bashrc`` would hand
  the user's file to the container);
- ``CopyHardLinks``: replaces those hard-linked files by private copies (``backend.linkcopy``).
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from spotidoctor.backend.storageguard import StorageGuard, refusals
from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Privilege, Step

if TYPE_CHECKING:
    from spotidoctor.fixes import StepEnv
    from spotidoctor.types import JSONValue


CHOWN_TIMEOUT_S = 1800.0  # a cache of hundreds of thousands of files on a slow disk


def chown_tree_argv(path: str, owner: tuple[int, int]) -> tuple[str, ...]:
    """The one safe recursive chown: never following a symlink, never a hard-linked file.
    ``find -P`` lists every entry without following links; ``chown --no-dereference`` changes
    a symlink itself. Run as it is by root, inside ``podman unshare`` by the user."""
    return ("find", "-P", path, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
            "-exec", "chown", "--no-dereference", f"{owner[0]}:{owner[1]}", "--", "{}", "+")


def chown_argv(path: str, owner: tuple[int, int]) -> tuple[str, ...]:
    return ("podman", "unshare", *chown_tree_argv(path, owner))


def link_copy_argv(path: str, owner: tuple[int, int], python: str = sys.executable) -> tuple[str, ...]:
    return ("podman", "unshare", python, "-m", "spotidoctor.backend.linkcopy", "--owner",
            f"{owner[0]}:{owner[1]}", "--", path)


@dataclass(frozen=True)
class UserNsChown(Step):
    """Recursively chown ``path`` inside ``podman unshare`` after re-checking the guards;
    hard-linked regular files are left alone (``CopyHardLinks`` offers a way out).

    ``owner`` is in namespace ids: (1500, 1500) becomes the container user's subordinate
    ids on the host; (0, 0) is you (the keep-id migration).
    """

    path: str = ""
    owner: tuple[int, int] = (0, 0)
    guard: StorageGuard | None = None
    timeout_s: float = CHOWN_TIMEOUT_S
    kind: ClassVar[str] = "userns-chown"

    @property
    def privilege(self) -> Privilege:
        return Privilege.USERNS

    @property
    def argv(self) -> tuple[str, ...]:
        return chown_argv(self.path, self.owner)

    def _refusals(self, env: StepEnv) -> list[str]:
        if self.guard is None:
            return ["no guard rails were given for this chown"]
        return refusals(env.probes.fs, self.guard, self.path)

    def preview(self, env: StepEnv) -> list[str]:
        lines = [f"$ {shlex.join(self.argv)}"]
        return lines + [f"(would refuse: {reason})" for reason in self._refusals(env)]

    def apply(self, env: StepEnv) -> str:
        reasons = self._refusals(env)
        if reasons:
            raise FixFailed(f"refusing to chown {self.path}: {'; '.join(reasons)}")
        done = env.probes.cmd.run(self.argv, timeout=self.timeout_s)
        if not done.ok:
            raise FixFailed(f"`{shlex.join(self.argv)}` failed: {done.error_text()}")
        return f"chowned {self.path} to {self.owner[0]}:{self.owner[1]} inside podman unshare"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        data["argv"] = list(self.argv)
        return data


@dataclass(frozen=True)
class CopyHardLinks(Step):
    """Replace every hard-linked regular file below ``path`` by a private copy owned by
    ``owner`` (namespace ids), inside ``podman unshare``, after re-checking the guards. The
    file's other names keep the original, its owner and its content."""

    path: str = ""
    owner: tuple[int, int] = (0, 0)
    guard: StorageGuard | None = None
    timeout_s: float = CHOWN_TIMEOUT_S
    kind: ClassVar[str] = "userns-copy-hard-links"

    @property
    def privilege(self) -> Privilege:
        return Privilege.USERNS

    @property
    def argv(self) -> tuple[str, ...]:
        return link_copy_argv(self.path, self.owner)

    def _refusals(self, env: StepEnv) -> list[str]:
        if self.guard is None:
            return ["no guard rails were given for this copy"]
        return refusals(env.probes.fs, self.guard, self.path)

    def preview(self, env: StepEnv) -> list[str]:
        lines = [f"$ {shlex.join(self.argv)}"]
        return lines + [f"(would refuse: {reason})" for reason in self._refusals(env)]

    def apply(self, env: StepEnv) -> str:
        reasons = self._refusals(env)
        if reasons:
            raise FixFailed(f"refusing to copy in {self.path}: {'; '.join(reasons)}")
        done = env.probes.cmd.run(self.argv, timeout=self.timeout_s)
        if not done.ok:
            raise FixFailed(f"copying the hard-linked files of {self.path} failed: {done.error_text()}")
        copied = sum(1 for line in done.stdout.splitlines() if line.startswith("copied "))
        owner = f"{self.owner[0]}:{self.owner[1]}"
        return f"{self.path}: {copied} hard-linked file(s) replaced by private copies owned by {owner}"

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        data["argv"] = list(self.argv)
        return data

"""The storage checks' fix steps, USERNS steps that re-check the guards before they run:

- ``UserNsChown``: ``podman unshare find -P DIR -xdev ! ( -type f -links +1 ) -exec chown
  --no-dereference U:G -- {} +``: every entry, never following a symlink, except regular files
  with more than one name (a chown acts on the inode: a hard link to ``~/.bashrc`` would hand
  the user's file to the container);
- ``CopyHardLinks``: replaces those hard-linked files by private copies (``backend.linkcopy``).
"""
from __future__ import annotations

import dataclasses
import shlex
import sys
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from spotidoctor.backend.storageguard import StorageGuard, refusals
from spotidoctor.errors import FixFailed
from spotidoctor.fixes import Privilege, Step, listens_for_progress, report_progress

if TYPE_CHECKING:
    from spotidoctor.fixes import StepEnv
    from spotidoctor.probes.command import Completed
    from spotidoctor.types import JSONValue


CHOWN_TIMEOUT_S = 1800.0  # a cache of hundreds of thousands of files on a slow disk
PROGRESS_EVERY = 500  # entries between two progress reports


def chown_tree_argv(path: str, owner: tuple[int, int], *, verbose: bool = False) -> tuple[str, ...]:
    """The one safe recursive chown: never following a symlink, never a hard-linked file.
    ``find -P`` lists every entry without following links; ``chown --no-dereference`` changes
    a symlink itself. Run as it is by root, inside ``podman unshare`` by the user.
    ``verbose``: chown prints a line per entry (counted for the progress display)."""
    return ("find", "-P", path, "-xdev", "!", "(", "-type", "f", "-links", "+1", ")",
            "-exec", "chown", *(("--verbose",) if verbose else ()), "--no-dereference",
            f"{owner[0]}:{owner[1]}", "--", "{}", "+")


def chown_argv(path: str, owner: tuple[int, int], *, verbose: bool = False) -> tuple[str, ...]:
    return ("podman", "unshare", *chown_tree_argv(path, owner, verbose=verbose))


def link_copy_argv(path: str, owner: tuple[int, int], python: str = sys.executable) -> tuple[str, ...]:
    return ("podman", "unshare", python, "-m", "spotidoctor.backend.linkcopy", "--owner",
            f"{owner[0]}:{owner[1]}", "--", path)


@dataclass(frozen=True)
class GuardedStorageStep(Step):
    """A USERNS step on ``path`` (owner in namespace ids) that re-checks the storage guards
    before it runs and refuses, naming why, when one fails."""

    path: str = ""
    owner: tuple[int, int] = (0, 0)
    guard: StorageGuard | None = None
    timeout_s: float = CHOWN_TIMEOUT_S
    action: ClassVar[str] = ""  # what a refusal names: "chown", "copy in"

    @property
    def privilege(self) -> Privilege:
        return Privilege.USERNS

    @property
    def argv(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _refusals(self, env: StepEnv) -> list[str]:
        if self.guard is None:
            return [f"no guard rails were given for this {self.action.split()[0]}"]
        return refusals(env.probes.fs, self.guard, self.path)

    def _refuse_unless_guarded(self, env: StepEnv) -> None:
        reasons = self._refusals(env)
        if reasons:
            raise FixFailed(f"refusing to {self.action} {self.path}: {'; '.join(reasons)}")

    def preview(self, env: StepEnv) -> list[str]:
        lines = [f"$ {shlex.join(self.argv)}"]
        return lines + [f"(would refuse: {reason})" for reason in self._refusals(env)]

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        data["argv"] = list(self.argv)
        return data


@dataclass(frozen=True)
class UserNsChown(GuardedStorageStep):
    """Recursively chown ``path`` inside ``podman unshare`` after re-checking the guards;
    hard-linked regular files are left alone (``CopyHardLinks`` offers a way out).

    ``owner`` is in namespace ids: (1500, 1500) becomes the container user's subordinate
    ids on the host; (0, 0) is you (the keep-id migration).
    """

    entries: int = 0  # how many the check's scan counted below ``path`` (0: unknown); for the progress
    kind: ClassVar[str] = "userns-chown"
    action: ClassVar[str] = "chown"
    duration_hint: ClassVar[str] = ("up to a few minutes for a large cache; Ctrl-C stops it safely, and "
                                    "`spotidoctor fix storage` finishes it later")

    @property
    def argv(self) -> tuple[str, ...]:
        return chown_argv(self.path, self.owner)

    def apply(self, env: StepEnv) -> str:
        self._refuse_unless_guarded(env)
        if listens_for_progress(env):
            done = self._counting(env)
        else:
            done = env.probes.cmd.run(self.argv, timeout=self.timeout_s)
        if not done.ok:
            raise FixFailed(f"`{shlex.join(self.argv)}` failed: {done.error_text()}")
        return f"chowned {self.path} to {self.owner[0]}:{self.owner[1]} inside podman unshare"

    def _counting(self, env: StepEnv) -> Completed:
        """The same chown with ``--verbose`` (a line per entry), counted for the progress display;
        its own error lines are kept for the message."""
        argv = chown_argv(self.path, self.owner, verbose=True)
        counted = 0
        problems: deque[str] = deque(maxlen=5)
        total = self.entries or None

        def on_line(line: str) -> None:
            nonlocal counted
            counted += 1
            if not line.startswith(("changed ownership of", "ownership of")):
                problems.append(line)
            if counted % PROGRESS_EVERY == 0:
                report_progress(env, counted, total)

        done = env.probes.cmd.stream(argv, on_line, timeout=self.timeout_s)
        report_progress(env, counted, total)
        return dataclasses.replace(done, stderr="\n".join(problems))


@dataclass(frozen=True)
class CopyHardLinks(GuardedStorageStep):
    """Replace every hard-linked regular file below ``path`` by a private copy owned by
    ``owner`` (namespace ids), inside ``podman unshare``, after re-checking the guards. The
    file's other names keep the original, its owner and its content."""

    kind: ClassVar[str] = "userns-copy-hard-links"
    action: ClassVar[str] = "copy in"

    @property
    def argv(self) -> tuple[str, ...]:
        return link_copy_argv(self.path, self.owner)

    def apply(self, env: StepEnv) -> str:
        self._refuse_unless_guarded(env)
        done = env.probes.cmd.run(self.argv, timeout=self.timeout_s)
        if not done.ok:
            raise FixFailed(f"copying the hard-linked files of {self.path} failed: {done.error_text()}")
        copied = sum(1 for line in done.stdout.splitlines() if line.startswith("copied "))
        owner = f"{self.owner[0]}:{self.owner[1]}"
        return f"{self.path}: {copied} hard-linked file(s) replaced by private copies owned by {owner}"

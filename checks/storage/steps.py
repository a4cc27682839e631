"""The storage checks' fix step: ``podman unshare chown -R -P --no-dereference --preserve-root
U:G -- /abs``, a USERNS step that re-checks the guards before it runs.
"""
from __future__ import annotations

import dataclasses
import shlex
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


def chown_argv(path: str, owner: tuple[int, int]) -> tuple[str, ...]:
    """The one safe chown form: recursive, never following any symlink."""
    return ("podman", "unshare", "chown", "-R", "-P", "--no-dereference", "--preserve-root",
            f"{owner[0]}:{owner[1]}", "--", path)


@dataclass(frozen=True)
class UserNsChown(Step):
    """Recursively chown ``path`` inside ``podman unshare`` after re-checking the guards.

    ``owner`` is in namespace ids: (1500, 1500) becomes the container user's subordinate
    ids on the host; (0, 0) is you (the keep-id migration).
    """

    path: str = ""
    owner: tuple[int, int] = (0, 0)
    guard: StorageGuard | None = None
    timeout_s: float = CHOWN_TIMEOUT_S
    entries: int = 0  # how many the check's scan counted below ``path`` (0: unknown); for the progress
    kind: ClassVar[str] = "userns-chown"
    duration_hint: ClassVar[str] = ("up to a few minutes for a large cache; Ctrl-C stops it safely, and "
                                    "`spotidoctor fix storage` finishes it later")

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
        argv = (*self.argv[:4], "--verbose", *self.argv[4:])
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

    def to_json(self) -> dict[str, JSONValue]:
        data = super().to_json()
        data["path"] = self.path
        data["owner"] = f"{self.owner[0]}:{self.owner[1]}"
        data["argv"] = list(self.argv)
        return data

"""Show a build as it runs: a rich progress bar over buildah's ``STEP n/m`` lines on a
terminal, the step lines alone when piped. The full output always goes to the log file.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol

from spotidoctor.backend.failures import STEP_LINE
from spotidoctor.backend.recipe import VERSION_MARK

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["BuildDisplay", "PlainDisplay", "RichDisplay", "QuietDisplay", "make_display", "step_label"]



class BuildDisplay(Protocol):
    def start(self, image: str, log_path: str) -> None: ...

    def line(self, text: str) -> None: ...

    def finish(self, ok: bool) -> None: ...


def step_label(match: re.Match[str]) -> str:
    stage = f"stage {match['stage']}/{match['stages']} · " if match["stage"] else ""
    return f"{stage}step {match['step']}/{match['steps']}: {match['what']}"


class QuietDisplay:
    """Shows nothing (fix steps run inside `spotidoctor fix`, which prints the outcome)."""

    def start(self, image: str, log_path: str) -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def finish(self, ok: bool) -> None:
        pass


class PlainDisplay:
    """One line per build step with the time so far and, from the second step on, a rough
    estimate of the time left; the command output itself stays in the log."""

    def __init__(self, out: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._started = clock()

    def start(self, image: str, log_path: str) -> None:
        self._started = self._clock()
        print(f"Building {image} (full log: {log_path}); this takes a few minutes, Ctrl-C stops it safely",
              file=self._out, flush=True)

    def line(self, text: str) -> None:
        match = STEP_LINE.match(text)
        version = None if match else VERSION_MARK.match(text)
        if match:
            print(f"  {step_label(match)}  ({_timing(match, self._clock() - self._started)})", file=self._out,
                  flush=True)
        elif version:
            print(f"  Spotify {version.group(1)}", file=self._out, flush=True)

    def finish(self, ok: bool) -> None:
        pass


class RichDisplay:
    """A progress bar per build stage plus the latest output line (rich imported lazily)."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console

        self._console = Console(file=out, highlight=False)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, image: str, log_path: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console.print(f"Building {image} (full log: {log_path}); this takes a few minutes, Ctrl-C stops "
                            "it safely", markup=False)
        # markup=False: build output is full of [brackets] rich would take for styles.
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                  TextColumn("{task.fields[last]}", style="dim", markup=False),
                                  console=self._console, transient=False)
        self._progress.start()
        self._task = self._progress.add_task("starting", total=None, last="")

    def line(self, text: str) -> None:
        if self._progress is None or self._task is None:
            return
        match = STEP_LINE.match(text)
        if match:
            label = step_label(match)
            self._progress.update(self._task, description=_clip(label, 60), total=int(match["steps"]),
                                  completed=int(match["step"]) - 1, last="")
            self._console.print(label, style="dim", markup=False, soft_wrap=True)
            return
        self._progress.update(self._task, last=_clip(text.strip(), 50))

    def finish(self, ok: bool) -> None:
        if self._progress is None or self._task is None:
            return
        task = self._progress.tasks[0]
        if ok and task.total:
            self._progress.update(self._task, completed=task.total, last="")
        self._progress.update(self._task, description="done" if ok else "failed", last="")
        self._progress.stop()


def _timing(match: re.Match[str], elapsed_s: float) -> str:
    """``1 min so far, about 3 min left``: steps done so far at the same pace (a rough guess:
    the package installation is the long one)."""
    from spotidoctor.render.progress import duration_text, eta_text

    so_far = f"{duration_text(elapsed_s)} so far"
    eta = eta_text(int(match["step"]) - 1, int(match["steps"]), elapsed_s)
    return f"{so_far}, {eta}" if eta else so_far


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def make_display(out: IO[str] | None = None, env: Mapping[str, str] | None = None) -> BuildDisplay:
    """Rich on a terminal (unless NO_COLOR / TERM=dumb / CI), plain otherwise."""
    from spotidoctor.render.text import use_rich

    stream: Any = out or sys.stdout
    environ = env or {}
    if use_rich(stream, environ) and not environ.get("CI"):
        return RichDisplay(stream)
    return PlainDisplay(stream)

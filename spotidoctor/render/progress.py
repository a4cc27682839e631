"""Progress of a counted task (entries chowned, report items collected) with an estimate of the
time left: a transient rich bar on a terminal, a plain line every few seconds otherwise.

rich is imported only for a terminal.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING

from spotidoctor.render.text import use_rich

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_EVERY_S = 5.0


def duration_text(seconds: float) -> str:
    """``40 s``, ``3 min``, ``1 h 5 min``: rounded the way a person says it."""
    if seconds < 59.5:
        return f"{max(1, int(seconds + 0.5))} s"
    minutes = int(seconds / 60 + 0.5)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def eta_text(done: int, total: int | None, elapsed_s: float) -> str | None:
    """``about 3 min left`` from the rate so far; None until there is a rate to go by."""
    if not total or done <= 0 or done >= total or elapsed_s <= 0:
        return None
    return f"about {duration_text(elapsed_s * (total - done) / done)} left"


class Meter:
    """One counted task. ``update(done)`` as it goes, ``close()`` at the end (also on errors)."""

    def __init__(self, label: str, total: int | None, stream: IO[str], env: Mapping[str, str], *,
                 clock: Callable[[], float] = time.monotonic, every_s: float = PLAIN_EVERY_S) -> None:
        self.label = label
        self.total = total or None
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._every_s = every_s
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if use_rich(stream, env):
            self._start_rich()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self._stream, highlight=False)
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.total)

    def line(self, done: int) -> str:
        """The plain line: ``chown: 1200 of 5000 (24%), about 40 s left``."""
        if not self.total:
            return f"    {self.label}: {done}"
        eta = eta_text(done, self.total, self._clock() - self._started)
        return f"    {self.label}: {done} of {self.total} ({100 * done // self.total}%)" + (f", {eta}" if eta else "")

    def update(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)
            return
        now = self._clock()
        if now - self._last_line >= self._every_s:
            self._last_line = now
            print(self.line(done), file=self._stream, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

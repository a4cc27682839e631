"""Results as they come. Each check's lines appear as soon as it and the checks before it in
its namespace have finished (so every namespace reads in its documented order, and a hung
pulse server does not hold back the X11 results); on a terminal a transient status line
says what is still running and for how long. Piped, or with NO_COLOR, the same lines are
plain and flushed one by one.

rich is imported only when the output is a terminal (start-up time is measured).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, TYPE_CHECKING

from spotidoctor.engine.reporter import NullReporter
from spotidoctor.model import CheckResult
from spotidoctor.render.text import Line, result_lines, use_rich

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

SHOW_TIMEOUT_AFTER_S = 2.0  # "pulse.server 4s of 15s" once a check is slow enough to wonder about


def namespace(check_id: str) -> str:
    return check_id.partition(".")[0]


class InOrder:
    """Releases results per namespace in plan order: a result waits only for the checks before
    it in its own namespace. A result that was not planned is released at once."""

    def __init__(self, check_ids: Iterable[str]) -> None:
        self._queues: dict[str, deque[str]] = {}
        for check_id in check_ids:
            self._queues.setdefault(namespace(check_id), deque()).append(check_id)
        self._held: dict[str, CheckResult] = {}

    def add(self, result: CheckResult) -> list[CheckResult]:
        queue = self._queues.get(namespace(result.check_id))
        if queue is None or result.check_id not in queue:
            return [result]
        self._held[result.check_id] = result
        released = []
        while queue and queue[0] in self._held:
            released.append(self._held.pop(queue.popleft()))
        return released

    def rest(self) -> list[CheckResult]:
        """Whatever is still held (a check before it never reported), in plan order."""
        ordered = [self._held.pop(cid) for queue in self._queues.values() for cid in queue if cid in self._held]
        for queue in self._queues.values():
            queue.clear()
        return ordered


class Output:
    """Lines to a stream: styled through one rich console on a terminal, else plain and flushed."""

    def __init__(self, stream: IO[str], env: Mapping[str, str]) -> None:
        self.stream = stream
        self.console: Console | None = None
        if use_rich(stream, env):
            from rich.console import Console

            self.console = Console(file=stream, highlight=False)

    def lines(self, lines: Sequence[Line]) -> None:
        if self.console is None:
            for _, text in lines:
                print(text, file=self.stream, flush=True)
            return
        from rich.text import Text

        for style, text in lines:
            self.console.print(Text(text, style=style or ""), soft_wrap=True)


class StatusLine:
    """``⠋ running: pulse.server 4s of 15s, podman.runtime 1s`` under the results (rich Live,
    transient: it is gone when the run ends)."""

    def __init__(self, console: Console) -> None:
        from rich.spinner import Spinner

        self._console = console
        self._running: dict[str, tuple[float, float]] = {}  # id -> (started, timeout)
        self._lock = threading.Lock()
        self._spinner = Spinner("dots", style="cyan")
        self._live: Live | None = None
        self.label = "running"

    def start(self) -> None:
        """Show it (again); it starts by itself with the first running check."""
        if self._live is not None:
            return
        from rich.live import Live

        self._live = Live(self, console=self._console, transient=True, refresh_per_second=4,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def started(self, check_id: str, timeout_s: float) -> None:
        with self._lock:
            self._running[check_id] = (time.monotonic(), timeout_s)
        self.start()

    def finished(self, check_id: str) -> None:
        with self._lock:
            self._running.pop(check_id, None)

    def text(self, now: float) -> str:
        with self._lock:
            running = sorted(self._running.items(), key=lambda item: item[1][0])
        parts = []
        for check_id, (started, timeout_s) in running:
            waited = now - started
            limit = f" of {timeout_s:g}s" if waited >= SHOW_TIMEOUT_AFTER_S else ""
            parts.append(f"{check_id} {waited:.0f}s{limit}")
        return f"{self.label}: " + ", ".join(parts) if parts else ""

    def __rich__(self) -> RenderableType:
        from rich.text import Text

        text = self.text(time.monotonic())
        if not text:
            return Text("")
        self._spinner.update(text=Text(text, style="dim", no_wrap=True, overflow="ellipsis"))
        return self._spinner


class LiveChecks(NullReporter):
    """The ``Reporter`` for ``check``: streamed result lines (``show_results``) and, on a
    terminal, the status line while checks run. Use as a context manager (the status line
    must stop, also on Ctrl-C)."""

    def __init__(self, stream: IO[str], env: Mapping[str, str], check_ids: Iterable[str], *,
                 verbose: bool = False, show_results: bool = True) -> None:
        self.output = Output(stream, env)
        self._order = InOrder(check_ids)
        self._verbose = verbose
        self._show = show_results
        self.status = StatusLine(self.output.console) if self.output.console is not None else None

    def __enter__(self) -> LiveChecks:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.pause()

    def pause(self) -> None:
        """Take the status line away (before a question, or once a round of checks is done);
        the next check that starts brings it back."""
        if self.status is not None:
            self.status.stop()

    def check_started(self, check_id: str, timeout_s: float) -> None:
        if self.status is not None:
            self.status.started(check_id, timeout_s)

    def check_finished(self, result: CheckResult) -> None:
        if self.status is not None:
            self.status.finished(result.check_id)
        if self._show:
            self.show(self._order.add(result))

    def show(self, results: Sequence[CheckResult]) -> None:
        for result in results:
            self.output.lines(result_lines(result, self._verbose))

    def flush(self) -> None:
        """Show whatever is still held back (nothing, when every planned check reported)."""
        if self._show:
            self.show(self._order.rest())

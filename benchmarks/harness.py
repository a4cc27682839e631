"""Timing primitives for the benchmarks: one process at a time, wall clock and peak RSS,
spotidoctor and its baseline interleaved (A B A B ...) after a warm-up, medians compared.

Interleaving matters on a shared machine: a burst of load elsewhere hits both sides
alike instead of skewing one of them.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Run:
    """One finished process: wall seconds, exit status and, when sampled, its peak RSS (KiB).

    ``peak_rss_kib`` is the last ``VmHWM`` read from /proc while the process ran (the
    high-water mark of its own memory since exec). ``wait4``'s ``ru_maxrss`` would be
    wrong: Linux carries the parent's memory at fork time into it, i.e. the benchmark's.
    """

    seconds: float
    returncode: int
    peak_rss_kib: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False


def run_process(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
                timeout: float = 600.0, capture: bool = False, sample_rss: bool = False) -> Run:
    """Start ``argv``, wait for it with ``wait4`` (its own rusage: peak RSS), time the wall clock.

    The child gets its own session so a timeout kills everything it started.
    """
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd, stdout=out,
                            stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    sampler = _HighWater(proc.pid) if sample_rss else None
    stdout = stderr = ""
    try:
        if capture:
            # communicate() reaps the child itself; read the pipes by hand and reap with wait4.
            assert proc.stdout is not None and proc.stderr is not None
            readers = [_Reader(proc.stdout), _Reader(proc.stderr)]
            status = _wait(proc.pid)
            elapsed = time.perf_counter() - started
            stdout, stderr = (r.text() for r in readers)
        else:
            status = _wait(proc.pid)
            elapsed = time.perf_counter() - started
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    peak = sampler.stop() if sampler else None
    return Run(elapsed, proc.returncode, peak, stdout, stderr, timed_out.is_set())


def _wait(pid: int) -> int:
    return os.waitpid(pid, 0)[1]


class _HighWater:
    """Poll /proc/PID/status for VmHWM while the process runs (every 2 ms)."""

    def __init__(self, pid: int) -> None:
        self.kib = 0
        self._path = f"/proc/{pid}/status"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                with open(self._path) as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
                            break
            except (OSError, ValueError):
                return
            self._done.wait(0.002)

    def stop(self) -> int | None:
        self._done.set()
        self._thread.join(1)
        return self.kib or None


class _Reader:
    """Drain a pipe in a thread so a chatty child never blocks on a full pipe."""

    def __init__(self, stream: object) -> None:
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: object) -> None:
        read = stream.read
        for chunk in iter(lambda: read(65536), b""):
            self._chunks.append(chunk)
        stream.close()

    def text(self) -> str:
        self._thread.join(10)
        return b"".join(self._chunks).decode("utf-8", errors="replace")


@dataclass
class Pair:
    """The runs of one figure's two sides."""

    ours: list[Run] = field(default_factory=list)
    baseline: list[Run] = field(default_factory=list)

    @property
    def ours_median(self) -> float:
        return statistics.median(r.seconds for r in self.ours)

    @property
    def baseline_median(self) -> float:
        return statistics.median(r.seconds for r in self.baseline)


def interleaved(ours: Callable[[], Run], baseline: Callable[[], Run], *, repeat: int, warmup: int = 1,
                before_each: Callable[[], None] | None = None) -> Pair:
    """``warmup`` unrecorded rounds, then ``repeat`` rounds of (ours, baseline), alternating
    which side goes first. ``before_each`` runs before every single run (e.g. drop caches)."""
    pair = Pair()
    for _ in range(warmup):
        for side in (ours, baseline):
            if before_each:
                before_each()
            side()
    for i in range(repeat):
        order = ((ours, pair.ours), (baseline, pair.baseline))
        for side, runs in (order if i % 2 == 0 else order[::-1]):
            if before_each:
                before_each()
            runs.append(side())
    return pair


@dataclass
class Figure:
    """One row of the table (and one object in the JSON)."""

    key: str
    title: str
    baseline_title: str
    target_text: str
    ours_s: float | None = None
    baseline_s: float | None = None
    ratio: float | None = None
    passed: bool | None = None  # None: not measured (or informational)
    informational: bool = False  # context for another figure; no target of its own
    unit: str = "s"
    runs: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.informational and self.ours_s is not None:
            return "info"
        return {True: "pass", False: "MISS", None: "not measured"}[self.passed]

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key, "title": self.title, "baseline": self.baseline_title, "unit": self.unit,
            "spotidoctor_median": _round(self.ours_s), "baseline_median": _round(self.baseline_s),
            "ratio": _round(self.ratio, 2), "target": self.target_text, "pass": self.passed,
            "verdict": self.verdict, "runs": {k: [_round(v) for v in vs] for k, vs in self.runs.items()},
            **({"extra": self.extra} if self.extra else {}), "notes": self.notes,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def ratio_figure(figure: Figure, pair: Pair, limit: float) -> Figure:
    """Fill ``figure`` from ``pair``: pass when ours ≤ ``limit`` × the baseline."""
    figure.ours_s, figure.baseline_s = pair.ours_median, pair.baseline_median
    figure.ratio = figure.ours_s / figure.baseline_s if figure.baseline_s > 0 else None
    figure.passed = figure.ratio is not None and figure.ratio <= limit
    figure.runs = {"spotidoctor": [r.seconds for r in pair.ours], "baseline": [r.seconds for r in pair.baseline]}
    return figure


def added_figure(figure: Figure, pair: Pair, limit_s: float) -> Figure:
    """Fill ``figure`` from ``pair``: pass when ours adds at most ``limit_s`` to the baseline."""
    figure.ours_s, figure.baseline_s = pair.ours_median, pair.baseline_median
    figure.ratio = figure.ours_s / figure.baseline_s if figure.baseline_s > 0 else None
    figure.extra["added_s"] = round(figure.ours_s - figure.baseline_s, 4)
    figure.passed = figure.ours_s - figure.baseline_s <= limit_s
    figure.runs = {"spotidoctor": [r.seconds for r in pair.ours], "baseline": [r.seconds for r in pair.baseline]}
    return figure

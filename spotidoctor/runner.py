"""Select, order and run checks: concurrently, each with its own timeout.

Independent checks start at once (the work is subprocess and socket waits, so threads are
enough); a check starts when its prerequisites are done. A check whose prerequisite did
not pass is SKIP with that reason, so one root cause is reported once. A check that
raises or outlives its timeout becomes ERROR and the run goes on; its thread is a daemon
and is abandoned, and the CLI kills any subprocess it left running.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from spotidoctor.api import Check, Context
from spotidoctor.errors import ProbeTimeout, ProbeUnavailable, UsageError
from spotidoctor.model import CheckResult, Status

MAX_PARALLEL = 24
PASSING = (Status.OK, Status.WARN)


def matches(check_id: str, selector: str) -> bool:
    """``x11.display`` exact; ``x11`` or ``x11.`` a namespace; ``x11.*`` / ``*cookie*`` globs."""
    if any(ch in selector for ch in "*?["):
        return fnmatch.fnmatchcase(check_id, selector)
    return check_id == selector or check_id.startswith(selector.rstrip(".") + ".")


@dataclass(frozen=True)
class Plan:
    checks: tuple[type[Check], ...]  # in registry order, prerequisites included
    ignored: frozenset[str] = frozenset()


def plan(available: Sequence[type[Check]], selectors: Sequence[str] = (),
         ignore: Iterable[str] = ()) -> Plan:
    """What to run for ``check SELECTOR... --ignore ...``; unknown selectors are usage errors."""
    by_id = {c.id: c for c in available}
    ignore = tuple(ignore)
    for selector in selectors:
        if not any(matches(cid, selector) for cid in by_id):
            raise UsageError(f"no check matches {selector!r} (see `spotidoctor list`)")
    wanted = {cid for cid in by_id if not selectors or any(matches(cid, s) for s in selectors)}
    stack = list(wanted)
    while stack:  # pull in prerequisites (ruff/flake8 --select semantics)
        for req in by_id[stack.pop()].requires:
            if req not in wanted:
                wanted.add(req)
                stack.append(req)
    ignored = frozenset(cid for cid in wanted if any(matches(cid, s) for s in ignore))
    chosen = tuple(c for c in available if c.id in wanted)
    return Plan(chosen, ignored)


@dataclass
class RunReport:
    results: list[CheckResult]
    tracebacks: dict[str, str] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, ctx: Context, *, max_parallel: int = MAX_PARALLEL) -> None:
        self._ctx = ctx
        self._max_parallel = max_parallel

    def run(self, run_plan: Plan) -> RunReport:
        order = [c for c in run_plan.checks]
        results: dict[str, CheckResult] = {}
        tracebacks: dict[str, str] = {}
        timed_out: list[str] = []
        done: queue.Queue[tuple[str, CheckResult, str | None]] = queue.Queue()
        running: dict[str, float] = {}  # id -> deadline
        pending = [c for c in order if c.id not in run_plan.ignored]
        self._prefetch(pending)

        while pending or running:
            for check in list(pending):
                if len(running) >= self._max_parallel:
                    break
                ready, blocked = self._readiness(check, results, run_plan.ignored)
                if not ready:
                    continue  # a prerequisite is still running
                pending.remove(check)
                if blocked:
                    results[check.id] = _stamped(check, CheckResult(check.id, Status.SKIP, blocked))
                    continue
                running[check.id] = time.monotonic() + check.timeout_s
                self._start(check, results, done)
            if not running:
                continue
            wait = max(0.0, min(running.values()) - time.monotonic())
            try:
                check_id, result, trace = done.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic()
                for check_id, deadline in list(running.items()):
                    if deadline <= now:
                        del running[check_id]
                        timed_out.append(check_id)
                        check = _by_id(order, check_id)
                        results[check_id] = _stamped(check, CheckResult(
                            check_id, Status.ERROR,
                            f"hung: did not finish within its {check.timeout_s:g}s timeout",
                            duration_s=check.timeout_s))
                continue
            if check_id in running:  # else: it already timed out; drop the late answer
                del running[check_id]
                results[check_id] = result
                if trace:
                    tracebacks[check_id] = trace
        ordered = [results[c.id] for c in order if c.id in results]
        return RunReport(ordered, tracebacks, timed_out)

    def _prefetch(self, checks: Sequence[type[Check]]) -> None:
        """Start the slow probes planned checks declare (a ``prefetch(ctx)`` static method,
        e.g. ``podman info``) at once, so they overlap the prerequisites instead of waiting
        for them. Answers are shared through ``ctx.memo``; a failure is left for the check
        itself to meet (the memo keeps no exceptions)."""
        for check in checks:
            hook = getattr(check, "prefetch", None)
            if callable(hook):
                threading.Thread(target=_quietly, args=(hook, self._ctx), daemon=True,
                                 name=f"prefetch {check.id}").start()

    @staticmethod
    def _readiness(check: type[Check], results: dict[str, CheckResult],
                   ignored: frozenset[str]) -> tuple[bool, str | None]:
        """(prerequisites all finished, the skip reason if one did not pass)."""
        for req in check.requires:
            if req in ignored:
                return True, f"requires {req} (ignored)"
            if req not in results:
                return False, None
            if results[req].status not in PASSING:
                return True, f"requires {req} ({results[req].status.value})"
        return True, None

    def _start(self, check: type[Check], results: dict[str, CheckResult],
               done: queue.Queue[tuple[str, CheckResult, str | None]]) -> None:
        prior = {req: results[req] for req in check.requires}
        ctx = dataclasses.replace(self._ctx, prior=prior)
        thread = threading.Thread(target=_run_one, args=(check, ctx, done), daemon=True,
                                  name=f"check {check.id}")
        thread.start()


def _stamped(check: type[Check], result: CheckResult) -> CheckResult:
    return dataclasses.replace(result, severity=check.severity, title=check.title,
                               category=check.category)


def _by_id(checks: Sequence[type[Check]], check_id: str) -> type[Check]:
    return next(c for c in checks if c.id == check_id)


def _quietly(hook: Callable[[Context], object], ctx: Context) -> None:
    try:
        hook(ctx)
    except Exception:  # noqa: BLE001 - the check meets the same failure and reports it
        pass


def _run_one(check_cls: type[Check], ctx: Context,
             done: queue.Queue[tuple[str, CheckResult, str | None]]) -> None:
    started = time.monotonic()
    trace = None
    try:
        result = _execute(check_cls, ctx)
    except ProbeTimeout as exc:
        result = CheckResult.error(check_cls.id, f"hung: {exc.reason}")
    except ProbeUnavailable as exc:
        result = CheckResult.error(check_cls.id, f"could not run: {exc.reason}")
    except Exception as exc:
        trace = traceback.format_exc()
        result = CheckResult.error(check_cls.id, f"crashed: {type(exc).__name__}: {exc}",
                                   "This is a bug in the check; `spotidoctor check -v` shows the traceback.")
    result = dataclasses.replace(result, check_id=check_cls.id, severity=check_cls.severity,
                                 duration_s=time.monotonic() - started, title=check_cls.title,
                                 category=check_cls.category)
    done.put((check_cls.id, result, trace))


def _execute(check_cls: type[Check], ctx: Context) -> CheckResult:
    check = check_cls()
    reason = check.applies(ctx)
    if reason:
        return check.skip(reason)
    result: object = check.run(ctx)  # plugins may return anything
    if not isinstance(result, CheckResult):  # nvim: an empty report is an error
        return CheckResult.error(check_cls.id, f"returned {type(result).__name__}, not a CheckResult")
    if not result.summary:
        return dataclasses.replace(result, summary=result.status.value)
    return result

"""Run a plan of checks: concurrently, each with its own timeout.

Independent checks start at once (the work is subprocess and socket waits, so threads are
enough); a check starts when its prerequisites are done. A check whose prerequisite did
not pass is SKIP with that reason, so one root cause is reported once. A check that
raises or outlives its timeout becomes ERROR and the run goes on; its thread is a daemon
and is abandoned, and ``run_checks`` kills any subprocess it left running. Each result
goes to the reporter as it arrives.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from spotidoctor.api import Check, Context
from spotidoctor.engine.planning import Plan
from spotidoctor.engine.reporter import NullReporter, Reporter
from spotidoctor.engine.session import Session
from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.model import CheckResult, Status

MAX_PARALLEL = 24
PASSING = (Status.OK, Status.WARN)


@dataclass
class _RunState:
    order: list[type[Check]]  # registry order, the order results are returned in
    ignored: frozenset[str]
    results: dict[str, CheckResult] = field(default_factory=dict)
    tracebacks: dict[str, str] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)  # id -> deadline
    done: queue.Queue[tuple[str, CheckResult, str | None]] = field(default_factory=queue.Queue)


@dataclass
class RunReport:
    results: list[CheckResult]
    tracebacks: dict[str, str] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)


def run_checks(session: Session, run_plan: Plan, reporter: Reporter | None = None,
               known: Sequence[CheckResult] = ()) -> RunReport:
    """Run ``run_plan`` in the session's context, then kill whatever subprocess a check that
    timed out left running (a podman or X client). ``known``: results of prerequisites that
    are not in the plan (the launch fast path's trusted ones); they are not returned."""
    try:
        return Runner(session.ctx, reporter=reporter).run(run_plan, known)
    finally:
        kill_all = getattr(session.ctx.probes.cmd, "kill_all", None)
        if callable(kill_all):
            kill_all()


class Runner:
    def __init__(self, ctx: Context, *, max_parallel: int = MAX_PARALLEL, reporter: Reporter | None = None) -> None:
        self._ctx = ctx
        self._max_parallel = max_parallel
        self._reporter: Reporter = reporter or NullReporter()

    def run(self, run_plan: Plan, known: Sequence[CheckResult] = ()) -> RunReport:
        state = _RunState(list(run_plan.checks), run_plan.ignored)
        state.results.update((r.check_id, r) for r in known)
        pending = [c for c in state.order if c.id not in run_plan.ignored]
        self._prefetch(pending)
        while pending or state.running:
            self._start_ready(pending, state)
            if state.running:
                self._wait_for_one(state)
            elif pending:  # nothing runs, so nothing can make these ready: never spin
                self._strand(pending, state)
        ordered = [state.results[c.id] for c in state.order if c.id in state.results]
        return RunReport(ordered, state.tracebacks, state.timed_out)

    def _finish(self, state: _RunState, result: CheckResult) -> None:
        state.results[result.check_id] = result
        self._reporter.check_finished(result)

    def _start_ready(self, pending: list[type[Check]], state: _RunState) -> None:
        """Start every pending check whose prerequisites are done (skip it when one failed)."""
        for check in list(pending):
            if len(state.running) >= self._max_parallel:
                break
            ready, blocked = self._readiness(check, state.results, state.ignored)
            if not ready:
                continue  # a prerequisite is still running
            pending.remove(check)
            if blocked:
                self._finish(state, _stamped(check, CheckResult(check.id, Status.SKIP, blocked)))
                continue
            state.running[check.id] = time.monotonic() + check.timeout_s
            self._reporter.check_started(check.id, check.timeout_s)
            self._start(check, state.results, state.done)

    def _strand(self, pending: list[type[Check]], state: _RunState) -> None:
        """Checks waiting for a prerequisite that was never scheduled (a bug in the plan or
        a plugin's ``requires``) become ERROR instead of waiting forever; their dependents
        are then skipped as usual. Checks that only wait for each other (a cycle) all become ERROR."""
        waiting = {c.id for c in pending}
        unscheduled = [c for c in pending
                       if any(req not in state.results and req not in waiting for req in c.requires)]
        why = "which is not scheduled" if unscheduled else "waiting in a cycle"
        stranded = [(c, [req for req in c.requires if req not in state.results]) for c in unscheduled or pending]
        for check, missing in stranded:
            pending.remove(check)
            self._finish(state, _stamped(check, CheckResult.error(
                check.id, f"could not run: requires {', '.join(missing)}, {why}",
                "This is a bug in the check plan; `spotidoctor list` shows the checks and their prerequisites.")))

    def _wait_for_one(self, state: _RunState) -> None:
        """The next finished check, or the ones whose deadline passed become ERROR."""
        wait = max(0.0, min(state.running.values()) - time.monotonic())
        try:
            check_id, result, trace = state.done.get(timeout=wait)
        except queue.Empty:
            self._time_out(state)
            return
        if check_id in state.running:  # else: it already timed out; drop the late answer
            del state.running[check_id]
            if trace:
                state.tracebacks[check_id] = trace
            self._finish(state, result)

    def _time_out(self, state: _RunState) -> None:
        now = time.monotonic()
        for check_id, deadline in list(state.running.items()):
            if deadline <= now:
                del state.running[check_id]
                state.timed_out.append(check_id)
                check = _by_id(state.order, check_id)
                self._finish(state, _stamped(check, CheckResult(
                    check_id, Status.ERROR, f"hung: did not finish within its {check.timeout_s:g}s timeout",
                    duration_s=check.timeout_s)))

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

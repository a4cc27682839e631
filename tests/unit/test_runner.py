"""Runner: selection, ordering, requires → skip, concurrency, timeouts, crash isolation."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from spotidoctor.api import Check, Context
from spotidoctor.engine.planning import Plan, matches, plan
from spotidoctor.engine.reporter import NullReporter
from spotidoctor.engine.runner import Runner
from spotidoctor.errors import ProbeTimeout, ProbeUnavailable, UsageError
from spotidoctor.model import CheckResult, Status
from spotidoctor.testing import make_context


def make_check(check_id: str, behaviour, *, requires: tuple[str, ...] = (), timeout: float = 5.0,
               applies=None) -> type[Check]:
    attrs = {"id": check_id, "title": check_id, "requires": requires, "timeout_s": timeout,
             "run": lambda self, ctx: behaviour(self, ctx)}
    if applies is not None:
        attrs["applies"] = lambda self, ctx: applies
    return type(check_id.replace(".", "_"), (Check,), attrs)


def ok(self: Check, ctx: Context) -> CheckResult:
    return self.ok("fine", facts={"seen": sorted(ctx.prior)})


def fail(self: Check, ctx: Context) -> CheckResult:
    return self.fail("broken")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return make_context(tmp_path)


def statuses(results: list[CheckResult]) -> dict[str, tuple[Status, str]]:
    return {r.check_id: (r.status, r.summary) for r in results}


@pytest.mark.parametrize(("check_id", "selector", "expected"), [
    ("x11.display", "x11.display", True),
    ("x11.display", "x11", True),
    ("x11.display", "x11.", True),
    ("x11.display", "x1", False),
    ("x11.display", "x11.*", True),
    ("x11.display", "*display", True),
    ("pulse.server", "x11.*", False),
])
def test_selector_matching(check_id: str, selector: str, expected: bool) -> None:
    assert matches(check_id, selector) is expected


def test_selection_pulls_in_prerequisites_and_unknown_selector_is_usage_error() -> None:
    a = make_check("t.a", ok)
    b = make_check("t.b", ok, requires=("t.a",))
    c = make_check("u.c", ok)
    chosen = plan([a, b, c], ["t.b"])
    assert [x.id for x in chosen.checks] == ["t.a", "t.b"]
    with pytest.raises(UsageError, match="no check matches 'nope'"):
        plan([a, b, c], ["nope"])


def test_failed_prerequisite_skips_dependents_with_the_reason(ctx: Context) -> None:
    a = make_check("t.a", fail)
    b = make_check("t.b", ok, requires=("t.a",))
    c = make_check("t.c", ok, requires=("t.b",))
    report = Runner(ctx).run(plan([a, b, c]))
    assert statuses(report.results) == {
        "t.a": (Status.FAIL, "broken"),
        "t.b": (Status.SKIP, "requires t.a (fail)"),
        "t.c": (Status.SKIP, "requires t.b (skip)"),
    }


def test_prerequisite_results_reach_the_dependent(ctx: Context) -> None:
    a = make_check("t.a", ok)
    b = make_check("t.b", ok, requires=("t.a",))
    report = Runner(ctx).run(plan([a, b]))
    assert report.results[1].facts == {"seen": ["t.a"]}


def test_ignored_check_does_not_run_and_blocks_its_dependents(ctx: Context) -> None:
    ran = []
    a = make_check("t.a", lambda self, ctx: ran.append("a") or self.ok("x"))
    b = make_check("t.b", ok, requires=("t.a",))
    report = Runner(ctx).run(plan([a, b], ignore=["t.a"]))
    assert ran == []
    assert statuses(report.results) == {"t.b": (Status.SKIP, "requires t.a (ignored)")}


def test_independent_checks_run_concurrently(ctx: Context) -> None:
    # Each check waits for the other at a barrier: only a concurrent runner gets both through.
    barrier = threading.Barrier(3, timeout=5)

    def meet(self: Check, ctx: Context) -> CheckResult:
        barrier.wait()
        return self.ok("met")

    checks = [make_check(f"t.c{i}", meet) for i in range(3)]
    report = Runner(ctx).run(plan(checks))
    assert [r.status for r in report.results] == [Status.OK] * 3


def test_hanging_check_times_out_and_the_others_complete(ctx: Context) -> None:
    forever = threading.Event()
    hang = make_check("t.hang", lambda self, ctx: forever.wait() and self.ok("never"), timeout=0.3)
    after = make_check("t.after", ok, requires=("t.hang",))
    other = make_check("t.other", ok)
    report = Runner(ctx).run(plan([hang, after, other]))
    forever.set()
    assert statuses(report.results) == {
        "t.hang": (Status.ERROR, "hung: did not finish within its 0.3s timeout"),
        "t.after": (Status.SKIP, "requires t.hang (error)"),
        "t.other": (Status.OK, "fine"),
    }
    assert report.timed_out == ["t.hang"]


def test_crashing_check_becomes_error_with_traceback(ctx: Context) -> None:
    def boom(self: Check, ctx: Context) -> CheckResult:
        raise KeyError("surprise")

    report = Runner(ctx).run(plan([make_check("t.boom", boom), make_check("t.fine", ok)]))
    boom_result, fine = report.results
    assert boom_result.status is Status.ERROR
    assert boom_result.summary == "crashed: KeyError: 'surprise'"
    assert "KeyError" in report.tracebacks["t.boom"]
    assert fine.status is Status.OK


@pytest.mark.parametrize(("exc", "summary"), [
    (ProbeUnavailable("pulse server not reachable"), "could not run: pulse server not reachable"),
    (ProbeTimeout("X server :9 accepted but never answered"), "hung: X server :9 accepted but never answered"),
])
def test_probe_errors_are_reported_as_reasons(ctx: Context, exc: Exception, summary: str) -> None:
    def raise_it(self: Check, ctx: Context) -> CheckResult:
        raise exc

    (result,) = Runner(ctx).run(plan([make_check("t.p", raise_it)])).results
    assert (result.status, result.summary) == (Status.ERROR, summary)


def test_not_applicable_is_skip_with_reason(ctx: Context) -> None:
    check = make_check("t.na", ok, applies="no PipeWire here")
    (result,) = Runner(ctx).run(plan([check])).results
    assert (result.status, result.summary) == (Status.SKIP, "no PipeWire here")


def test_a_non_result_return_is_an_error(ctx: Context) -> None:
    (result,) = Runner(ctx).run(plan([make_check("t.none", lambda self, ctx: None)])).results
    assert (result.status, result.summary) == (Status.ERROR, "returned NoneType, not a CheckResult")


def test_results_are_stamped_with_metadata_and_registry_order(ctx: Context) -> None:
    slow_first = make_check("t.z", ok)
    second = make_check("t.a", ok)
    report = Runner(ctx).run(plan([slow_first, second]))
    assert [r.check_id for r in report.results] == ["t.z", "t.a"]
    assert report.results[0].title == "t.z"


def test_a_prerequisite_never_scheduled_is_an_error_not_a_spin(ctx: Context) -> None:
    # A plan built by hand (or a plugin naming a check that does not exist) can leave a
    # prerequisite out; the runner must finish, not wait for it forever.
    orphan = make_check("t.orphan", ok, requires=("t.missing",))
    fine = make_check("t.fine", ok)
    report = Runner(ctx).run(Plan((orphan, fine)))
    assert statuses(report.results) == {
        "t.orphan": (Status.ERROR, "could not run: requires t.missing, which is not scheduled"),
        "t.fine": (Status.OK, "fine"),
    }


def test_a_chain_behind_an_unscheduled_prerequisite_and_a_cycle(ctx: Context) -> None:
    orphan = make_check("t.orphan", ok, requires=("t.missing",))
    after = make_check("t.after", ok, requires=("t.orphan",))
    report = Runner(ctx).run(Plan((orphan, after)))
    assert statuses(report.results) == {
        "t.orphan": (Status.ERROR, "could not run: requires t.missing, which is not scheduled"),
        "t.after": (Status.SKIP, "requires t.orphan (error)"),
    }
    a = make_check("t.a", ok, requires=("t.b",))
    b = make_check("t.b", ok, requires=("t.a",))
    cycle = Runner(ctx).run(Plan((a, b)))
    assert statuses(cycle.results) == {
        "t.a": (Status.ERROR, "could not run: requires t.b, waiting in a cycle"),
        "t.b": (Status.ERROR, "could not run: requires t.a, waiting in a cycle"),
    }


def test_a_hung_check_is_reported_within_its_own_timeout(ctx: Context) -> None:
    # The hang is bounded at 40 timeouts so a runner that ignores the deadline still ends;
    # the result must arrive while the check is still hanging, and not before its timeout.
    release = threading.Event()
    returned = threading.Event()
    timeout = 0.25

    def hang(self: Check, ctx: Context) -> CheckResult:
        release.wait(40 * timeout)
        returned.set()
        return self.ok("answered late")

    seen: list[tuple[str, bool, float]] = []
    started = time.monotonic()

    class Recorder(NullReporter):
        def check_finished(self, result: CheckResult) -> None:
            seen.append((result.summary, returned.is_set(), time.monotonic() - started))

    report = Runner(ctx, reporter=Recorder()).run(plan([make_check("t.hang", hang, timeout=timeout)]))
    release.set()
    assert [r.status for r in report.results] == [Status.ERROR]
    [(summary, check_had_returned, elapsed)] = seen
    assert summary == "hung: did not finish within its 0.25s timeout"
    assert not check_had_returned
    assert elapsed >= timeout

"""The engine reports through a Reporter and never prints: every result as it finishes, each
fix and step as it starts and ends, and the re-check after fixes as progress."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from spotidoctor.api import Check, CheckResult, Context, Fix
from spotidoctor.engine.fixer import FixPolicy
from spotidoctor.engine.fixloop import fix_loop
from spotidoctor.engine.planning import plan
from spotidoctor.engine.records import Applied, Candidate, StepRecord
from spotidoctor.engine.registry import Loaded, Registry
from spotidoctor.engine.reporter import NullReporter, Reporter
from spotidoctor.engine.runner import Runner, run_checks
from spotidoctor.engine.session import Session
from spotidoctor.fixes import RunCommand, Step, WriteFile
from spotidoctor.model import Status
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

MARK = "/home/alice/marker"


class Recorder(NullReporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def check_finished(self, result: CheckResult) -> None:
        self.events.append(("check", f"{result.check_id}={result.status.value}"))

    def fix_started(self, candidate: Candidate) -> None:
        self.events.append(("fix", candidate.fix.id))

    def step_started(self, fix: Fix, step: Step) -> None:
        self.events.append(("step", step.description))

    def step_finished(self, fix: Fix, record: StepRecord) -> None:
        self.events.append(("done", f"{record.description}={'ok' if record.ok else 'failed'}"))

    def fix_finished(self, applied: Applied) -> None:
        self.events.append(("fixed", f"{applied.fix.id} not run: {', '.join(applied.not_run) or '-'}"))

    def progress(self, message: str) -> None:
        self.events.append(("progress", message))


class Marker(Check):
    id = "t.marker"
    title = "marker"

    def run(self, ctx: Context) -> CheckResult:
        if ctx.probes.fs.exists(MARK):
            return self.ok("present")
        return self.fail("missing", fixes=(Fix.safe("t.write", "write the marker",
                                                    WriteFile("write", path=MARK, content="x\n")),))


class Steps(Check):
    id = "t.steps"
    title = "steps"

    def run(self, ctx: Context) -> CheckResult:
        return self.fail("broken", fixes=(Fix.safe("t.steps", "three steps", RunCommand("first", argv=("true",)),
                                                   RunCommand("second", argv=("false",)),
                                                   RunCommand("third", argv=("true",))),))


class Needs(Check):
    id = "t.needs"
    title = "needs the marker"
    requires = ("t.marker",)

    def run(self, ctx: Context) -> CheckResult:
        return self.ok("the marker is there")


def session(tmp_path: Path) -> Session:
    commands = FakeCommandRunner([FakeCommand(("true",)), FakeCommand(("false",), returncode=1)], repeat=True)
    registry = Registry(tuple(Loaded(c, "test") for c in (Marker, Steps, Needs)), ())
    return Session(make_context(tmp_path, commands=commands), registry)


def test_the_null_reporter_is_a_reporter() -> None:
    reporter: Reporter = NullReporter()
    reporter.progress("nothing happens")


def test_every_result_is_reported_once_as_it_finishes(tmp_path: Path) -> None:
    sess, recorder = session(tmp_path), Recorder()
    report = run_checks(sess, plan(sess.registry.checks), recorder)
    assert sorted(recorder.events) == sorted(("check", f"{r.check_id}={r.status.value}") for r in report.results)
    assert [r.check_id for r in report.results] == ["t.marker", "t.steps", "t.needs"]  # registry order
    # The skip is decided when its prerequisite has failed, so it is reported after it.
    assert recorder.events.index(("check", "t.needs=skip")) > recorder.events.index(("check", "t.marker=fail"))


def test_a_timed_out_check_is_reported_too(tmp_path: Path) -> None:
    release = threading.Event()

    class Hangs(Check):
        id = "t.hangs"
        title = "hangs"
        timeout_s = 0.01

        def run(self, ctx: Context) -> CheckResult:
            release.wait(30)
            return self.ok("too late")

    recorder = Recorder()
    try:
        report = Runner(make_context(tmp_path), reporter=recorder).run(plan([Hangs]))
    finally:
        release.set()
    assert report.timed_out == ["t.hangs"] and recorder.events == [("check", "t.hangs=error")]


def test_the_fix_loop_reports_fixes_steps_and_the_re_check(tmp_path: Path) -> None:
    sess, recorder = session(tmp_path), Recorder()
    outcome = fix_loop(sess, plan(sess.registry.checks), FixPolicy(), lambda fix: True, recorder)
    fixing = [e for e in recorder.events if e[0] != "check"]
    assert fixing == [
        ("fix", "t.write"), ("step", "write"), ("done", "write=ok"), ("fixed", "t.write not run: -"),
        ("fix", "t.steps"), ("step", "first"), ("done", "first=ok"), ("step", "second"),
        ("done", "second=failed"), ("fixed", "t.steps not run: third"),
        ("progress", "checking again after the fixes (round 2)"),
    ]
    rounds = [e for e in recorder.events if e[0] == "check"]
    assert len(rounds) == 6 and ("check", "t.needs=ok") in rounds[3:]  # the marker's dependant ran in round 2
    assert [outcome.verified(a) for a in outcome.applied] == [True, False]
    assert outcome.state_after(outcome.applied[1]) is Status.FAIL


@pytest.mark.parametrize("answer, applied", [(True, ["t.write", "t.steps"]), (False, [])])
def test_declined_fixes_are_withheld_not_reported(tmp_path: Path, answer: bool, applied: list[str]) -> None:
    sess, recorder = session(tmp_path), Recorder()
    outcome = fix_loop(sess, plan(sess.registry.checks), FixPolicy(), lambda fix: answer, recorder)
    assert [a.fix.id for a in outcome.applied] == applied
    assert [e[1] for e in recorder.events if e[0] == "fix"] == applied
    assert [why for _, why in outcome.withheld] == ([] if answer else ["declined", "declined"])

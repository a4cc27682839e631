"""Performance hooks found by the benchmarks: the runner's ``prefetch`` and the pulsectl import
without its library search."""
from __future__ import annotations

import ctypes.util
import threading
from pathlib import Path

import pytest

from spotidoctor.api import Check, Context
from spotidoctor.checks.podman.rootless import PodmanRootless
from spotidoctor.engine.planning import plan
from spotidoctor.engine.runner import Runner
from spotidoctor.model import CheckResult, Status
from spotidoctor.paths import UserInfo
from spotidoctor.probes.pulse import _libpulse_soname
from spotidoctor.testing import FakeCommand, FakeCommandRunner, make_context

INFO = ("podman", "info", "--format", "json")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return make_context(tmp_path)


def test_prefetch_starts_before_the_prerequisites_finish(ctx: Context) -> None:
    """B's probe runs while A (its prerequisite) still runs: A waits for it and would fail."""
    fetched = threading.Event()

    class A(Check):
        id, title = "t.a", "a"

        def run(self, ctx: Context) -> CheckResult:
            return self.ok("overlapped") if fetched.wait(5) else self.fail("prefetch never ran")

    class B(Check):
        id, title, requires = "t.b", "b", ("t.a",)

        @staticmethod
        def prefetch(ctx: Context) -> None:
            ctx.memo.get("t.answer", lambda: fetched.set() or "answer")

        def run(self, ctx: Context) -> CheckResult:
            return self.ok(ctx.memo.get("t.answer", lambda: "asked again"))

    report = Runner(ctx).run(plan([A, B]))
    assert [(r.check_id, r.status, r.summary) for r in report.results] == [
        ("t.a", Status.OK, "overlapped"), ("t.b", Status.OK, "answer")]


def test_a_failing_prefetch_is_left_to_the_check(ctx: Context) -> None:
    calls: list[str] = []

    class Flaky(Check):
        id, title = "t.flaky", "flaky"

        @staticmethod
        def prefetch(ctx: Context) -> None:
            calls.append("prefetch")
            raise RuntimeError("boom")

        def run(self, ctx: Context) -> CheckResult:
            return self.ok("ran")

    class Ignored(Check):
        id, title = "t.ignored", "ignored"

        @staticmethod
        def prefetch(ctx: Context) -> None:
            calls.append("ignored")

        def run(self, ctx: Context) -> CheckResult:
            return self.ok("never")

    report = Runner(ctx).run(plan([Flaky, Ignored], ignore=["t.ignored"]))
    assert [(r.check_id, r.status) for r in report.results] == [("t.flaky", Status.OK)]
    assert calls == ["prefetch"] and not report.tracebacks


@pytest.mark.parametrize("uid, asked", [(1000, 1), (0, 0)])
def test_podman_rootless_prefetches_podman_info_once_never_as_root(tmp_path: Path, uid: int, asked: int) -> None:
    runner = FakeCommandRunner([FakeCommand(INFO, "{}")], repeat=True)
    ctx = make_context(tmp_path, commands=runner, user=UserInfo(uid, uid, "alice", "/home/alice"))
    PodmanRootless.prefetch(ctx)
    PodmanRootless.prefetch(ctx)
    assert runner.calls.count(INFO) == asked


def test_libpulse_lookup_is_answered_without_searching(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(__import__("sys").modules, "pulsectl", raising=False)
    searched: list[str] = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: searched.append(name) or f"lib{name}.so.9")
    real = ctypes.util.find_library
    with _libpulse_soname():
        assert ctypes.util.find_library("libpulse") == "libpulse.so.0"
        assert ctypes.util.find_library("rt") == "librt.so.9"
    assert ctypes.util.find_library is real and searched == ["rt"]

"""``SubprocessRunner.start``: children that run on without waiting, still in the live set."""
from __future__ import annotations

from spotidoctor.probes.command import RC_NOT_FOUND, SubprocessRunner


def test_start_of_a_missing_program_is_status_127() -> None:
    child = SubprocessRunner().start(["definitely-not-a-command-xyz"])
    assert child.pid is None and child.poll() == RC_NOT_FOUND and "not found" in child.stderr_text()


def test_started_children_are_in_the_live_set_until_reaped_or_released() -> None:
    runner = SubprocessRunner()
    quick = runner.start(["true"])
    assert quick.wait(10) == 0
    assert runner.kill_all() == 0  # reaped: no longer live
    slow = runner.start(["sleep", "60"])
    assert slow.wait(0.05) is None
    slow.release()
    assert runner.kill_all() == 0  # released: kill_all does not reach it
    assert slow.kill() != 0 and slow.poll() is not None


def test_kill_all_reaches_started_children() -> None:
    runner = SubprocessRunner()
    child = runner.start(["sleep", "60"])
    assert runner.kill_all() == 1
    assert child.wait(10) is not None


def test_captured_stderr_is_read_after_the_end() -> None:
    child = SubprocessRunner().start(["sh", "-c", "echo oops >&2; exit 3"], capture_stderr=True)
    assert child.wait(10) == 3 and child.stderr_text() == "oops\n"

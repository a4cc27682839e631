"""``SubprocessRunner.start``: the one way to start a long-running child (a proxy, a helper, the
host's browser, podman for a launch) without waiting; it stays in the live set until reaped,
stopped or released."""
from __future__ import annotations

import os
import signal
import sys

import pytest

from spotidoctor.probes.command import RC_NOT_FOUND, SubprocessRunner


def test_start_of_a_missing_program_is_status_127() -> None:
    child = SubprocessRunner().start(["definitely-not-a-command-xyz"])
    assert child.pid is None and child.poll() == RC_NOT_FOUND and "not found" in child.stderr_text()
    assert child.stop() == RC_NOT_FOUND and child.kill() == RC_NOT_FOUND


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
    assert child.wait(10) == -signal.SIGKILL
    assert child.stop() == -signal.SIGKILL  # stopping an ended child only reaps it


def test_captured_stderr_is_read_after_the_end() -> None:
    child = SubprocessRunner().start(["sh", "-c", "echo oops >&2; exit 3"], capture_stderr=True)
    assert child.wait(10) == 3 and child.stderr_text() == "oops\n"


def test_stderr_goes_to_a_descriptor_or_is_captured_not_both(tmp_path) -> None:
    with pytest.raises(ValueError):
        SubprocessRunner().start(["true"], stderr=2, capture_stderr=True)


def test_passed_fds_reach_the_child_and_stderr_goes_where_asked(tmp_path) -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    log = os.open(tmp_path / "err", os.O_WRONLY | os.O_CREAT, 0o600)
    code = "import os, sys; os.write(int(sys.argv[1]), b'x'); sys.stderr.write('oops\\n')"
    child = SubprocessRunner().start([sys.executable, "-c", code, str(write_fd)], pass_fds=(write_fd,), stderr=log)
    os.close(write_fd)
    os.close(log)
    assert os.read(read_fd, 1) == b"x"
    assert os.read(read_fd, 1) == b""  # it is exiting
    assert child.wait(5) == 0
    assert child.stop() == 0
    os.close(read_fd)
    assert (tmp_path / "err").read_text() == "oops\n"


def test_an_unpassed_descriptor_does_not_reach_the_child() -> None:
    read_fd, write_fd = os.pipe()  # inheritable, but not in pass_fds: closed in the child all the same
    code = "import os, sys\ntry:\n    os.fstat(int(sys.argv[1]))\nexcept OSError:\n    sys.exit(9)"
    child = SubprocessRunner().start([sys.executable, "-c", code, str(write_fd)])
    try:
        assert child.wait(10) == 9
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_stop_terminates_the_group_and_forgets_the_child() -> None:
    runner = SubprocessRunner()
    child = runner.start(["sh", "-c", "sleep 30 & wait"])
    assert child.pid is not None and child.poll() is None
    assert child.wait(0.05) is None
    assert child.stop() == -signal.SIGTERM
    assert child.poll() == -signal.SIGTERM
    assert runner.kill_all() == 0  # no longer in the live set
    assert child.stop() == -signal.SIGTERM  # stopping twice is harmless


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    code = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "os.write(int(sys.argv[1]), b'x'); time.sleep(30)")
    child = SubprocessRunner().start([sys.executable, "-c", code, str(write_fd)], pass_fds=(write_fd,))
    os.close(write_fd)
    assert os.read(read_fd, 1) == b"x"  # SIGTERM is ignored from now on
    os.close(read_fd)
    assert child.stop(grace_s=0.3) == -signal.SIGKILL


def test_own_session_by_default_and_ours_when_asked() -> None:
    runner = SubprocessRunner()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    code = "import os, sys; os.write(1, f'{os.getsid(0)} {os.getpgid(0)}'.encode())"
    own = runner.start([sys.executable, "-c", code], stdout=write_fd)
    ours = runner.start([sys.executable, "-c", code], stdout=write_fd, own_session=False)
    os.close(write_fd)
    assert own.wait(10) == 0 and ours.wait(10) == 0
    with os.fdopen(read_fd, "rb") as out:
        text = out.read().decode()
    assert f"{own.pid} {own.pid}" in text  # a session and group of its own
    assert f"{os.getsid(0)} {os.getpgid(0)}" in text  # ours: the terminal's Ctrl-C reaches it


def test_stopping_a_child_in_our_group_signals_only_the_child() -> None:
    """A foreground child (podman run) leads no group: stop() must not signal ours (the test's)."""
    child = SubprocessRunner().start(["sleep", "30"], own_session=False)
    assert child.stop() == -signal.SIGTERM  # and pytest is still alive to see it


def test_signal_reaches_only_a_running_child() -> None:
    child = SubprocessRunner().start(["sleep", "30"])
    child.signal(signal.SIGINT)
    assert child.wait(10) == -signal.SIGINT
    child.signal(signal.SIGINT)  # ended: nothing happens

"""``SubprocessRunner.start_child``: a long-running child (the D-Bus proxy) in the live set."""
from __future__ import annotations

import os
import signal
import sys

from spotidoctor.probes.command import SubprocessRunner


def test_a_missing_program_is_none() -> None:
    assert SubprocessRunner().start_child(["definitely-not-a-command-xyz"]) is None


def test_passed_fds_reach_the_child_and_stderr_goes_where_asked(tmp_path) -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    log = os.open(tmp_path / "err", os.O_WRONLY | os.O_CREAT, 0o600)
    code = "import os, sys; os.write(int(sys.argv[1]), b'x'); sys.stderr.write('oops\\n')"
    child = SubprocessRunner().start_child([sys.executable, "-c", code, str(write_fd)], pass_fds=(write_fd,),
                                           stderr_fd=log)
    os.close(write_fd)
    os.close(log)
    assert child is not None
    assert os.read(read_fd, 1) == b"x"
    assert os.read(read_fd, 1) == b""  # it is exiting
    assert child.wait(5) == 0
    assert child.stop() == 0
    os.close(read_fd)
    assert (tmp_path / "err").read_text() == "oops\n"


def test_stop_terminates_the_group_and_forgets_the_child() -> None:
    runner = SubprocessRunner()
    child = runner.start_child(["sh", "-c", "sleep 30 & wait"])
    assert child is not None and child.poll() is None
    assert child.wait(0.05) is None
    assert child.stop() == -signal.SIGTERM
    assert child.poll() == -signal.SIGTERM
    assert runner.kill_all() == 0  # no longer in the live set
    assert child.stop() == -signal.SIGTERM  # stopping twice is harmless


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    code = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "os.write(int(sys.argv[1]), b'x'); time.sleep(30)")
    child = SubprocessRunner().start_child([sys.executable, "-c", code, str(write_fd)], pass_fds=(write_fd,))
    os.close(write_fd)
    assert child is not None
    assert os.read(read_fd, 1) == b"x"  # SIGTERM is ignored from now on
    os.close(read_fd)
    assert child.stop(grace_s=0.3) == -signal.SIGKILL


def test_kill_all_ends_a_running_child() -> None:
    runner = SubprocessRunner()
    child = runner.start_child(["sleep", "30"])
    assert child is not None
    assert runner.kill_all() == 1
    assert child.stop() == -signal.SIGKILL

"""The subprocess wrapper, the sysroot filesystem probe and the memo."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from spotidoctor.memo import Memo
from spotidoctor.probes.command import RC_NOT_FOUND, SubprocessRunner
from spotidoctor.probes.fs import RealFS


def test_missing_executable_is_returncode_127() -> None:
    done = SubprocessRunner().run(["definitely-not-a-command-xyz"])
    assert (done.returncode, done.not_found) == (RC_NOT_FOUND, True)
    assert "command not found" in done.error_text()


def test_output_env_and_input() -> None:
    done = SubprocessRunner({"PATH": os.environ["PATH"], "A": "1"}).run(
        ["sh", "-c", 'read x; echo "$A$B$x"; echo err >&2; exit 3'], env={"B": "2"}, input="3\n")
    assert (done.returncode, done.stdout, done.stderr, done.ok) == (3, "123\n", "err\n", False)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    runner = SubprocessRunner()
    done = runner.run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5)
    assert done.timed_out and done.returncode == 124
    assert "timed out after" in done.error_text()
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the grandchild survived the timeout"
        time.sleep(0.05)


def test_kill_all_stops_children_of_abandoned_calls() -> None:
    runner = SubprocessRunner()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(runner.run(["sleep", "60"], timeout=120)))
    thread.start()
    deadline = time.monotonic() + 5
    while not runner.kill_all():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    thread.join(5)
    assert not thread.is_alive()


def test_stream_delivers_lines_as_they_come() -> None:
    lines: list[str] = []
    done = SubprocessRunner().stream(["sh", "-c", "echo one; echo two >&2; exit 5"], lines.append)
    assert lines == ["one", "two"] and done.returncode == 5


def test_fs_maps_paths_under_the_sysroot_and_writes_atomically(tmp_path: Path) -> None:
    fs = RealFS(tmp_path)
    fs.write_atomic("/etc/demo.conf", b"hello", mode=0o640)
    target = tmp_path / "etc" / "demo.conf"
    assert target.read_bytes() == b"hello" and target.stat().st_mode & 0o777 == 0o640
    assert fs.read_text("/etc/demo.conf") == "hello"
    assert fs.lstat("/etc/demo.conf").size == 5  # type: ignore[union-attr]
    assert fs.read_text_or_none("/etc/missing") is None
    assert [p.name for p in (tmp_path / "etc").iterdir()] == ["demo.conf"]  # no temp file left
    os.symlink("/etc/demo.conf", tmp_path / "link")
    assert fs.realpath("/link") == "/etc/demo.conf"


def test_memo_computes_once_under_concurrency() -> None:
    memo = Memo()
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    def worker() -> None:
        barrier.wait()
        assert memo.get("podman-info", compute) == 42

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]


def test_memo_does_not_cache_failures() -> None:
    memo = Memo()
    with pytest.raises(RuntimeError):
        memo.get("k", lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert memo.get("k", lambda: 7) == 7

"""The container's xdg-open shim under the shells images have (dash, busybox sh), writing into
a real URL channel's FIFO on this host."""
from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.urlopen import UrlChannel, UrlLimits, render_shim
from tests import servers

SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"]}


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Recorder(list[str]):
    def __call__(self, url: str) -> None:
        self.append(url)


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    servers.require(SHELLS[request.param][0])
    return SHELLS[request.param]


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[tuple[UrlChannel, Recorder, Recorder, Path]]:
    workdir = tmp_path / "launch"
    workdir.mkdir(mode=0o700)
    web, spotify = Recorder(), Recorder()
    ch = UrlChannel.start(str(workdir), web, spotify, log=lambda line: None, limits=UrlLimits(burst=100))
    shim = tmp_path / "xdg-open"
    shim.write_text(render_shim(ch.fifo_path))  # the same script, pointed at the host-side FIFO path
    yield ch, web, spotify, shim
    ch.stop()


def run(shell: list[str], shim: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shell, str(shim), *args], capture_output=True, text=True, timeout=30)


def test_each_argument_becomes_one_line(shell: list[str],
                                        channel: tuple[UrlChannel, Recorder, Recorder, Path]) -> None:
    ch, web, spotify, shim = channel
    done = run(shell, shim, "https://example.org/a?x=1&y=2", "spotify:album:1", "https://example.org/$(id)")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: len(web) == 2 and len(spotify) == 1, "three URLs")
    assert web == ["https://example.org/a?x=1&y=2", "https://example.org/$(id)"] and spotify == ["spotify:album:1"]


def test_a_line_break_or_an_overlong_url_is_refused_in_the_container(
        shell: list[str], channel: tuple[UrlChannel, Recorder, Recorder, Path]) -> None:
    ch, web, _, shim = channel
    done = run(shell, shim, "https://example.org/a\nhttps://evil.example/", "https://example.org/" + "x" * 4000, "")
    assert done.returncode == 1 and done.stderr.count("refused") == 3
    time.sleep(0.2)
    assert web == [] and ch.stats.refused == 0  # nothing reached the FIFO


def test_usage_version_and_a_missing_channel(shell: list[str], tmp_path: Path) -> None:
    shim = tmp_path / "xdg-open"
    shim.write_text(render_shim(str(tmp_path / "absent.fifo")))
    assert run(shell, shim).returncode == 1
    assert "spotidoctor" in run(shell, shim, "--version").stdout
    missing = run(shell, shim, "https://example.org/")
    assert missing.returncode == 3 and "not there" in missing.stderr
    assert not (tmp_path / "absent.fifo").exists()


def test_concurrent_writers_never_mix_lines(shell: list[str],
                                            channel: tuple[UrlChannel, Recorder, Recorder, Path]) -> None:
    ch, web, _, shim = channel
    long_tail = "q" * 3900  # near the limit: each line is still one write below PIPE_BUF
    urls = [f"https://example.org/{i}/{long_tail}" for i in range(12)]
    threads = [threading.Thread(target=run, args=(shell, shim, url)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    wait_until(lambda: len(web) + ch.stats.refused >= len(urls), "all lines")
    assert sorted(web) == sorted(urls) and ch.stats.refused == 0

"""The URL channel on the host: its files, its FIFO, and what a hostile writer can do to it.

A real FIFO in the test's tmp dir; the opener and the spotify: callback are recorders.
"""
from __future__ import annotations

import configparser
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.urlcheck import MAX_URL_BYTES
from spotidoctor.channels.urlopen import (
    CONTAINER_DIR,
    CONTAINER_FIFO,
    CONTAINER_SHIM,
    DESKTOP_ID,
    ChannelError,
    HostOpener,
    UrlChannel,
    UrlLimits,
    channel_env,
    channel_mounts,
    desktop_entry,
    mimeapps_list,
    render_shim,
)
from spotidoctor.probes.command import Started, SubprocessRunner


class Frozen:
    """A clock that does not move: the rate limit shows exactly its burst."""

    def __call__(self) -> float:
        return 50.0


class Recorder:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.event = threading.Event()

    def __call__(self, url: str) -> None:
        self.urls.append(url)
        self.event.set()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "launch"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def channel(workdir: Path) -> Iterator[tuple[UrlChannel, Recorder, Recorder, list[str]]]:
    web, spotify, log = Recorder(), Recorder(), []
    ch = UrlChannel.start(str(workdir), web, spotify, log=log.append, clock=Frozen())
    yield ch, web, spotify, log
    ch.stop()


def write(ch: UrlChannel, data: bytes) -> None:
    fd = os.open(ch.fifo_path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                time.sleep(0.001)
    finally:
        os.close(fd)


def settle(ch: UrlChannel, count: Callable[[], int], n: int) -> None:
    wait_until(lambda: count() >= n, f"{n} events")


def total(ch: UrlChannel) -> int:
    s = ch.stats
    return s.opened + s.spotify + s.refused + s.dropped + s.failed


# -- the files --------------------------------------------------------------------------------------

def test_the_tree_the_container_gets(channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch = channel[0]
    root = Path(ch.root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    fifo = os.lstat(ch.fifo_path)
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o622  # write-only for the container
    shim = root / "xdg-open"
    assert stat.S_IMODE(shim.stat().st_mode) == 0o755
    assert f"fifo='{CONTAINER_FIFO}'" in shim.read_text() and "@FIFO@" not in shim.read_text()
    assert (root / "share/applications" / DESKTOP_ID).read_text() == desktop_entry()
    assert (root / "config/mimeapps.list").read_text() == mimeapps_list()
    assert not [p for p in root.rglob("*.tmp")]


def test_mounts_and_env_say_where_and_why(channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch = channel[0]
    mounts = {m.container_path: m for m in ch.mounts()}
    assert mounts[CONTAINER_DIR].host_path == ch.root and mounts[CONTAINER_DIR].read_only
    assert mounts["/usr/bin/xdg-open"].host_path == os.path.join(ch.root, "xdg-open")
    assert all(m.read_only and m.reason for m in mounts.values())
    env = {e.name: e.value for e in ch.env()}
    assert env["BROWSER"] == CONTAINER_SHIM
    assert env["XDG_DATA_DIRS"].split(":")[0] == f"{CONTAINER_DIR}/share"
    assert env["XDG_CONFIG_DIRS"].split(":")[0] == f"{CONTAINER_DIR}/config"
    assert all(e.reason.startswith("links: ") for e in ch.env())
    assert mounts[CONTAINER_DIR].arg()[0] == f"--volume={ch.root}:{CONTAINER_DIR}:ro"
    assert channel_mounts(ch.root) == ch.mounts() and channel_env() == ch.env()  # what a dry run shows


def test_desktop_entry_and_mimeapps_make_the_shim_the_default() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read_string(desktop_entry())
    group = entry["Desktop Entry"]
    assert group["Exec"] == f"{CONTAINER_SHIM} %u" and group["Type"] == "Application"
    assert set(group["MimeType"].strip(";").split(";")) == {
        "x-scheme-handler/http", "x-scheme-handler/https", "x-scheme-handler/spotify"}
    lists = configparser.ConfigParser(interpolation=None)
    lists.read_string(mimeapps_list())
    for mime in ("x-scheme-handler/http", "x-scheme-handler/https", "x-scheme-handler/spotify"):
        assert lists["Default Applications"][mime] == DESKTOP_ID


def test_shim_template_is_filled() -> None:
    text = render_shim("/x/y.fifo", 123)
    assert "fifo='/x/y.fifo'" in text and "max=123" in text and "@FIFO@" not in text and "@MAX_BYTES@" not in text
    assert text.startswith("#!/bin/sh\n")


def test_stop_removes_the_fifo_and_its_directory(workdir: Path) -> None:
    ch = UrlChannel.start(str(workdir), Recorder(), Recorder(), log=lambda line: None)
    root = Path(ch.root)
    assert root.exists()
    ch.stop()
    ch.stop()  # idempotent
    assert not root.exists() and sorted(p.name for p in workdir.iterdir()) == []


def test_leftovers_of_an_earlier_launch_are_replaced(workdir: Path) -> None:
    stale = workdir / "urlopen"
    stale.mkdir()
    (stale / "url.fifo").write_text("not a fifo")
    ch = UrlChannel.start(str(workdir), Recorder(), Recorder(), log=lambda line: None)
    try:
        assert stat.S_ISFIFO(os.lstat(ch.fifo_path).st_mode)
    finally:
        ch.stop()


@pytest.mark.parametrize("shape", ["open", "symlink", "missing", "file"])
def test_the_work_directory_must_be_private(tmp_path: Path, shape: str) -> None:
    target = tmp_path / "dir"
    if shape == "open":
        target.mkdir(mode=0o755)
        target.chmod(0o755)
    elif shape == "symlink":
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        target.symlink_to(real)
    elif shape == "file":
        target.write_text("")
    with pytest.raises(ChannelError, match="URL channel"):
        UrlChannel.start(str(target), Recorder(), Recorder(), log=lambda line: None)
    assert not (tmp_path / "real" / "urlopen").exists()


def test_the_default_log_is_a_private_file_in_the_work_directory(workdir: Path) -> None:
    ch = UrlChannel.start(str(workdir), Recorder(), Recorder())
    write(ch, b"javascript:alert(1)\n")
    wait_until(lambda: ch.stats.refused == 1, "the refusal")
    ch.stop()
    log = workdir / "channels.log"
    assert "url refused: scheme=javascript length=19" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


# -- reading ----------------------------------------------------------------------------------------

def test_web_urls_go_to_the_opener_and_spotify_uris_to_the_callback(
        channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch, web, spotify, log = channel
    write(ch, b"https://example.org/a\nspotify:track:1\n")
    settle(ch, lambda: ch.stats.opened + ch.stats.spotify, 2)
    assert web.urls == ["https://example.org/a"] and spotify.urls == ["spotify:track:1"]
    assert "url opened on the host: scheme=https host=example.org length=21" in log
    assert "spotify: URI handed to Spotify: scheme=spotify length=15" in log


def test_partial_writes_make_one_url(channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch, web, _, _ = channel
    for piece in (b"https://exa", b"mple.org/", b"split", b"\n"):
        write(ch, piece)
        time.sleep(0.02)
    settle(ch, lambda: ch.stats.opened, 1)
    assert web.urls == ["https://example.org/split"]


def test_garbage_is_refused_and_never_logged(channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch, web, spotify, log = channel
    garbage = [b"file:///etc/passwd", b"javascript:alert('SECRET')", b"https://example.org/\x00SECRET",
               b"\x1b]0;SECRET\x07", b"https://SECRET@example.org/", "https://SECRET.exämple/".encode(),
               b"\xff\xfe\xfd"]
    write(ch, b"\n".join(garbage) + b"\nhttps://example.org/ok\n")
    settle(ch, lambda: total(ch), len(garbage) + 1)
    assert web.urls == ["https://example.org/ok"] and spotify.urls == []
    assert ch.stats.refused == len(garbage)
    assert not [line for line in log if "SECRET" in line or "passwd" in line]
    assert sum("url refused:" in line for line in log) == len(garbage)


def test_a_huge_line_without_newline_costs_one_refusal_then_reading_goes_on(workdir: Path) -> None:
    web, log = Recorder(), []
    ch = UrlChannel.start(str(workdir), web, Recorder(), log=log.append, clock=Frozen(),
                          limits=UrlLimits(read_bytes_per_s=64 * 1024 * 1024))
    try:
        write(ch, b"https://example.org/" + b"A" * (3 * 1024 * 1024))  # megabytes, no newline
        write(ch, b"B" * 10_000 + b"\nhttps://example.org/after\n")
        settle(ch, lambda: ch.stats.opened, 1)
        assert web.urls == ["https://example.org/after"]
        assert ch.stats.refused == 1 and f"url refused: a line longer than {MAX_URL_BYTES} bytes" in log
        assert ch._framer.pending == 0
    finally:
        ch.stop()


def test_a_flooding_writer_is_read_no_faster_than_the_budget(workdir: Path) -> None:
    now = [0.0]
    web = Recorder()
    ch = UrlChannel.start(str(workdir), web, Recorder(), log=lambda line: None, clock=lambda: now[0],
                          limits=UrlLimits(read_bytes_per_s=128 * 1024))
    flood = b"x" * (64 * 1024 - 1) + b"\n"
    writer = threading.Thread(target=write, args=(ch, flood * 4 + b"https://example.org/late\n"), daemon=True)
    writer.start()
    try:
        wait_until(lambda: ch.stats.refused >= 1, "the first budget")
        time.sleep(0.3)
        assert ch.stats.refused < 4 and web.urls == []  # the budget is spent: the reader waits

        def later() -> bool:  # time passes: the budget refills and the rest is read
            now[0] += 1.0
            return ch.stats.opened == 1

        wait_until(later, "the rest of the flood")
        assert ch.stats.refused == 4 and web.urls == ["https://example.org/late"]
    finally:
        ch.stop()
        writer.join(5)


def test_a_flood_opens_only_the_burst(channel: tuple[UrlChannel, Recorder, Recorder, list[str]]) -> None:
    ch, web, _, log = channel
    write(ch, b"".join(b"https://example.org/%d\n" % i for i in range(200)))
    settle(ch, lambda: total(ch), 200)
    assert web.urls == [f"https://example.org/{i}" for i in range(UrlLimits().burst)]
    assert ch.stats.dropped == 200 - UrlLimits().burst
    assert len(log) < 40  # the log is throttled too: a flood cannot fill the disk


def test_the_rate_refills_with_time(workdir: Path) -> None:
    now = [0.0]
    web = Recorder()
    ch = UrlChannel.start(str(workdir), web, Recorder(), log=lambda line: None, clock=lambda: now[0],
                          limits=UrlLimits(burst=2, per_second=1.0))
    try:
        write(ch, b"https://a.example/\nhttps://b.example/\nhttps://c.example/\n")
        settle(ch, lambda: total(ch), 3)
        now[0] += 1.0
        write(ch, b"https://d.example/\n")
        settle(ch, lambda: total(ch), 4)
        assert web.urls == ["https://a.example/", "https://b.example/", "https://d.example/"]
    finally:
        ch.stop()


def test_a_failing_opener_is_logged_and_the_channel_goes_on(workdir: Path) -> None:
    log: list[str] = []
    calls: list[str] = []

    def broken(url: str) -> None:
        calls.append(url)
        raise RuntimeError(f"cannot open {url}")

    ch = UrlChannel.start(str(workdir), broken, Recorder(), log=log.append, clock=Frozen())
    try:
        write(ch, b"https://example.org/one\nhttps://example.org/two\n")
        settle(ch, lambda: ch.stats.failed, 2)
        assert calls == ["https://example.org/one", "https://example.org/two"]
        assert "url opening failed (RuntimeError): scheme=https host=example.org length=23" in log
        assert not [line for line in log if "/one" in line]
    finally:
        ch.stop()


def test_a_slow_callback_does_not_block_reading(workdir: Path) -> None:
    release = threading.Event()
    web = Recorder()

    def slow(uri: str) -> None:
        release.wait(10)

    ch = UrlChannel.start(str(workdir), web, slow, log=lambda line: None, clock=Frozen(),
                          limits=UrlLimits(burst=50, queue_size=2))
    try:
        write(ch, b"spotify:a\n" + b"".join(b"https://example.org/%d\n" % i for i in range(10)))
        settle(ch, lambda: total(ch), 8)  # the queue is full: the rest is dropped, not waited for
        assert ch.stats.dropped >= 1
    finally:
        release.set()
        ch.stop()


def test_an_unfinished_line_at_stop_is_logged(workdir: Path) -> None:
    log: list[str] = []
    ch = UrlChannel.start(str(workdir), Recorder(), Recorder(), log=log.append)
    write(ch, b"https://example.org/no-newline")
    wait_until(lambda: ch._framer.pending > 0, "the partial line")
    ch.stop()
    assert "url channel: an unfinished line (30 bytes, no newline) was dropped" in log


# -- the host's opener ----------------------------------------------------------------------------

class FakeStarter:
    def __init__(self, path: str | None = "/usr/bin/xdg-open", codes: list[int | None] | None = None) -> None:
        self.path = path
        self.started: list[list[str]] = []
        self.children: list[FakeChild] = []
        self._codes = codes or []

    def which(self, name: str) -> str | None:
        return self.path

    def start(self, argv: list[str], **kw: object) -> Started:
        self.started.append(list(argv))
        child = FakeChild(self._codes.pop(0) if self._codes else 0)
        self.children.append(child)
        return child  # type: ignore[return-value]


class FakeChild:
    def __init__(self, code: int | None) -> None:
        self.code = code
        self.released = False

    def poll(self) -> int | None:
        return self.code

    def release(self) -> None:
        self.released = True


def test_host_opener_runs_xdg_open_with_the_url_as_one_argument() -> None:
    starter, log = FakeStarter(), []
    opener = HostOpener(starter, log.append)  # type: ignore[arg-type]
    opener("https://example.org/a?b=c")
    assert starter.started == [["/usr/bin/xdg-open", "https://example.org/a?b=c"]]


def test_host_opener_without_xdg_open_says_so() -> None:
    log: list[str] = []
    unopened: list[str] = []
    opener = HostOpener(FakeStarter(path=None), log.append, on_unopened=unopened.append)  # type: ignore[arg-type]
    opener("https://example.org/")
    assert log == ["cannot open a link: no xdg-open on PATH"] and unopened == ["https://example.org/"]


def test_host_opener_reports_a_failed_xdg_open_and_releases_a_running_one() -> None:
    log: list[str] = []
    unopened: list[str] = []
    starter = FakeStarter(codes=[3, None])
    opener = HostOpener(starter, log.append, on_unopened=unopened.append)  # type: ignore[arg-type]
    opener("https://fails.example/")
    opener("https://runs.example/")  # reaps the first on the way
    assert log == ["xdg-open exited with status 3: the link did not open"]
    assert unopened == ["https://fails.example/"]
    opener.close()
    assert starter.children[1].released  # a browser xdg-open still runs is left alone


def test_the_real_starter_runs_the_recorder_found_on_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "opened"
    recorder = bindir / "xdg-open"
    recorder.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {out}\n')
    recorder.chmod(0o755)
    runner = SubprocessRunner({"PATH": f"{bindir}:/usr/bin:/bin"})
    opener = HostOpener(runner, lambda line: None)
    opener("https://example.org/x;rm -rf ~")
    wait_until(lambda: out.exists() and out.read_text() != "", "the recorder")
    assert out.read_text() == "https://example.org/x;rm -rf ~\n"
    opener.close()

"""URLs the container opens land in the host's browser (``xdg-open``, ``$BROWSER`` and GIO).

Inside the container nothing but ``sh`` is needed: a shim (``resources/xdg-open.sh``) is
mounted as ``/usr/bin/xdg-open`` and named by ``BROWSER``; a desktop entry running it plus a
``mimeapps.list`` making it the default for ``x-scheme-handler/{http,https,spotify}``, found
through ``XDG_DATA_DIRS``/``XDG_CONFIG_DIRS``, send GIO's default handler
(``g_app_info_launch_default_for_uri``, ``gio open``) to the same shim. The shim writes each
URL as one line into a FIFO spotidoctor created: mode 0622 (a container user that is not you
may write but not read it) in a 0755 directory inside the caller's private 0700 directory, so
only what gets it bind-mounted can reach it.

On the host one thread reads the FIFO (never blocking on it: it holds it open read-write, so
the shim's open never waits either), frames lines without holding more than one URL's worth
(``urlcheck.LineFramer``), judges each line (``urlcheck.check_url``), rate-limits (a burst,
then about one a second) and queues what passes; a second thread hands ``http``/``https``
URLs to the opener (``HostOpener``: the user's own ``xdg-open`` from ``PATH``) and
``spotify:`` URIs to the launcher's callback. Refusals are logged by scheme and length.
"""
from __future__ import annotations

import errno
import os
import queue
import select
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from spotidoctor.channels.ratelimit import Clock, LogLine, ThrottledLog, TokenBucket
from spotidoctor.channels.runparts import EnvVar, Mount
from spotidoctor.channels.urlcheck import LineFramer, Overlong, UrlKind, Verdict, check_url
from spotidoctor.channels.urlfiles import (
    CONFIG_SUBDIR,
    CONTAINER_DIR,
    CONTAINER_FIFO,
    CONTAINER_SHIM,
    CONTAINER_XDG_OPEN,
    DATA_SUBDIR,
    DESKTOP_ID,
    FIFO_NAME,
    SHIM_NAME,
    ChannelError,
    build_tree,
    check_private_dir,
    desktop_entry,
    mimeapps_list,
    render_shim,
)
from spotidoctor.probes.command import ProcessStarter, Started

__all__ = ["UrlChannel", "UrlLimits", "UrlStats", "HostOpener", "ChannelError", "channel_mounts", "channel_env",
           "CHANNEL_DIR_NAME", "CONTAINER_DIR",
           "CONTAINER_SHIM", "CONTAINER_FIFO", "DESKTOP_ID", "render_shim", "desktop_entry", "mimeapps_list"]

CHANNEL_DIR_NAME = "urlopen"
LOG_NAME = "channels.log"
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class UrlLimits:
    burst: int = 5  # URLs opened at once ...
    per_second: float = 1.0  # ... then about one a second
    queue_size: int = 16
    read_bytes_per_s: int = 256 * 1024  # a flooding writer costs at most this much reading
    log_burst: int = 20  # refusal lines logged at once, then one every 10 s
    log_per_second: float = 0.1


@dataclass
class UrlStats:
    opened: int = 0  # http(s) handed to the opener
    spotify: int = 0  # spotify: URIs handed to the callback
    refused: int = 0  # lines that failed the check
    dropped: int = 0  # accepted but over the rate limit or the queue
    failed: int = 0  # the opener or callback raised
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


# -- host side: opening -----------------------------------------------------------------------

class HostOpener:
    """Opens web URLs with the user's ``xdg-open`` (from the runner's ``PATH``), never waiting
    for it: some desktops' xdg-open runs the browser itself until it closes."""

    def __init__(self, starter: ProcessStarter, log: LogLine, *, program: str = "xdg-open",
                 on_unopened: Callable[[str], None] | None = None) -> None:
        self._starter = starter
        self._log = log
        self._program = program
        self._on_unopened = on_unopened
        self._children: list[tuple[Started, str]] = []
        self._lock = threading.Lock()

    def __call__(self, url: str) -> None:
        self.reap()
        path = self._starter.which(self._program)
        if path is None:
            self._log(f"cannot open a link: no {self._program} on PATH")
            self._unopened(url)
            return
        child = self._starter.start([path, url])
        with self._lock:
            self._children.append((child, url))

    def reap(self) -> None:
        with self._lock:
            children, self._children = self._children, []
        for child, url in children:
            code = child.poll()
            if code is None:
                with self._lock:
                    self._children.append((child, url))
            elif code != 0:
                self._log(f"{self._program} exited with status {code}: the link did not open")
                self._unopened(url)

    def close(self) -> None:
        """Reap what ended; leave running ones (a browser) alone and out of the live set."""
        self.reap()
        with self._lock:
            children, self._children = self._children, []
        for child, _ in children:
            child.release()

    def _unopened(self, url: str) -> None:
        if self._on_unopened is not None:
            self._on_unopened(url)


# -- the channel --------------------------------------------------------------------------------

_STOP = object()


class UrlChannel:
    """Start with ``UrlChannel.start``; add ``mounts()`` and ``env()`` to ``podman run``;
    ``stop()`` when the container has ended (the FIFO and its directory go away)."""

    def __init__(self, root: str, fifo_fd: int, opener: Callable[[str], None],
                 on_spotify_uri: Callable[[str], None], log: LogLine, limits: UrlLimits, clock: Clock) -> None:
        self.root = root
        self.stats = UrlStats()
        self._fd = fifo_fd
        self._opener = opener
        self._on_spotify_uri = on_spotify_uri
        self._log = log
        self._noisy = ThrottledLog(log, TokenBucket(limits.log_burst, limits.log_per_second, clock))
        self._urls = TokenBucket(limits.burst, limits.per_second, clock)
        self._bytes = TokenBucket(limits.read_bytes_per_s, limits.read_bytes_per_s, clock)
        self._queue: queue.Queue[object] = queue.Queue(limits.queue_size)
        self._framer = LineFramer()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="spotidoctor-url-reader", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="spotidoctor-url-opener", daemon=True)
        self._stopped = False

    @classmethod
    def start(cls, workdir: str, opener: Callable[[str], None], on_spotify_uri: Callable[[str], None], *,
              log: LogLine | None = None, limits: UrlLimits | None = None,
              clock: Clock = time.monotonic) -> UrlChannel:
        """Create ``<workdir>/urlopen`` (workdir: a private 0700 directory of the user) and start
        reading. Raises ``ChannelError`` with a clear message when that is not possible."""
        check_private_dir(workdir)
        root = os.path.join(workdir, CHANNEL_DIR_NAME)
        try:
            fd = build_tree(root)
        except OSError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise ChannelError(f"URL channel: cannot create {root}: {exc.strerror or exc}") from None
        channel = cls(root, fd, opener, on_spotify_uri, log or _file_log(workdir), limits or UrlLimits(), clock)
        channel._reader.start()
        channel._dispatcher.start()
        return channel

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.root, FIFO_NAME)

    def mounts(self) -> tuple[Mount, ...]:
        return channel_mounts(self.root)

    def env(self) -> tuple[EnvVar, ...]:
        return channel_env()

    def stop(self) -> None:
        """Stop reading, hand over what is queued, remove the FIFO and its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._reader.join(5)
        self._queue_put_stop()
        self._dispatcher.join(10)
        if not self._reader.is_alive():  # never close an fd a thread still uses
            for fd in (self._fd, self._wake_r, self._wake_w):
                os.close(fd)
        if self._framer.pending:
            self._log(f"url channel: an unfinished line ({self._framer.pending} bytes, no newline) was dropped")
        shutil.rmtree(self.root, ignore_errors=True)
        self._noisy.flush()
        close = getattr(self._opener, "close", None)
        if callable(close):
            close()

    # -- reader thread --------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            self._read_frames()
        except Exception as exc:  # never a traceback on the user's terminal; the log says it
            self._log(f"url channel: the reader stopped ({type(exc).__name__}); links no longer open")

    def _read_frames(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stopping.is_set():
            pause = self._bytes.wait_time(READ_CHUNK)
            if pause > 0:  # a flood: read no faster than the budget
                select.select([self._wake_r], [], [], pause)
                continue
            poller.poll()
            if self._stopping.is_set():
                return
            try:
                data = os.read(self._fd, READ_CHUNK)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                self._log(f"url channel: reading the FIFO failed ({exc.strerror}); links stop working")
                return
            self._bytes.spend(len(data))
            for frame in self._framer.feed(data):
                self._judge(frame)

    def _judge(self, frame: bytes | Overlong) -> None:
        if isinstance(frame, Overlong):
            self.stats.add("refused")
            self._noisy(f"url refused: a line longer than {frame.limit} bytes")
            return
        if not frame:
            return
        verdict = check_url(frame)
        if not verdict.accepted:
            self.stats.add("refused")
            self._noisy(f"url refused: {verdict.describe()}")
        elif not self._urls.allow():
            self.stats.add("dropped")
            self._noisy(f"url dropped: too many links at once ({verdict.describe()})")
        else:
            try:
                self._queue.put_nowait(verdict)
            except queue.Full:
                self.stats.add("dropped")
                self._noisy(f"url dropped: the opener is behind ({verdict.describe()})")

    # -- dispatcher thread ------------------------------------------------------------------------

    def _queue_put_stop(self) -> None:
        while True:
            try:
                self._queue.put_nowait(_STOP)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def _dispatch_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Verdict) and item.url is not None
            self._hand_over(item, item.url)

    def _hand_over(self, verdict: Verdict, url: str) -> None:
        spotify = verdict.kind is UrlKind.SPOTIFY
        try:
            (self._on_spotify_uri if spotify else self._opener)(url)
        except Exception as exc:  # a broken opener must not end the channel
            self.stats.add("failed")
            self._log(f"url {'handover' if spotify else 'opening'} failed ({type(exc).__name__}): "
                      f"{verdict.describe()}")
            return
        self.stats.add("spotify" if spotify else "opened")
        self._log(f"{'spotify: URI handed to Spotify' if spotify else 'url opened on the host'}: "
                  f"{verdict.describe()}")


def channel_mounts(root: str) -> tuple[Mount, ...]:
    """What ``UrlChannel.mounts()`` returns for a channel directory ``root`` (``launch --dry-run``
    can show it without creating anything: ``<launch dir>/urlopen``)."""
    return (
        Mount(root, CONTAINER_DIR, True,
              "links: spotidoctor's xdg-open, a desktop entry and mimeapps.list for GIO, and the FIFO "
              "that hands URLs to the host (mounted read-only: the container can write URLs into it, not "
              "change the files)"),
        Mount(os.path.join(root, SHIM_NAME), CONTAINER_XDG_OPEN, True,
              "links: `xdg-open URL` in the container opens http(s) links in your browser on the host"),
    )


def channel_env() -> tuple[EnvVar, ...]:
    return (
        EnvVar("BROWSER", CONTAINER_SHIM, "links: programs that honour $BROWSER use the same shim"),
        EnvVar("XDG_DATA_DIRS", f"{CONTAINER_DIR}/{DATA_SUBDIR}:/usr/local/share:/usr/share",
               "links: GIO finds the shim's desktop entry (then the image's own, as by default)"),
        EnvVar("XDG_CONFIG_DIRS", f"{CONTAINER_DIR}/{CONFIG_SUBDIR}:/etc/xdg",
               "links: its mimeapps.list makes the shim GIO's default for http, https and spotify: "
               "(g_app_info_launch_default_for_uri, `gio open`)"),
    )


def _file_log(workdir: str) -> LogLine:
    from spotidoctor.channels.eventlog import FileLog

    return FileLog(os.path.join(workdir, LOG_NAME))

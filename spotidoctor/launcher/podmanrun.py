"""``podman run`` in the foreground, its output through the terminal filter.

podman stays in spotidoctor's process group, so the terminal's Ctrl-C reaches it directly, as
it always did; podman passes signals on to the container (``--sig-proxy``, its default). Its
stdout and stderr are pipes: one thread each relays them through a ``TerminalFilter``, so
only text and newlines reach the user's terminal (no OSC 52 clipboard writes, no title
changes, no cursor movement). Exit codes are podman's, unchanged.

- Ctrl-C: the terminal sends SIGINT to the whole process group, podman included, which stops the
  container; spotidoctor waits for podman to end, as it always did. (It never sends podman a
  second SIGINT: podman would then report that the container is no longer running and exit 1
  instead of passing on the container's status.)
- SIGTERM/SIGHUP to spotidoctor (``SystemExit`` from the CLI's handler): podman gets SIGTERM
  (the container stops, as with ``podman stop``), spotidoctor waits up to ``STOP_WAIT_S`` for
  it and unwinds, so the caller stops the channels.
"""
from __future__ import annotations

import os
import select
import signal
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

from spotidoctor.hardening.terminal import TerminalFilter
from spotidoctor.probes.command import ProcessStarter, Started

__all__ = ["run_filtered", "stream_writer", "FilteredRelay", "STOP_WAIT_S", "DRAIN_S"]

STOP_WAIT_S = 15.0
DRAIN_S = 2.0  # once podman ended, how long output that is still in flight is relayed
READ_SIZE = 65536
Writer = Callable[[bytes], None]


def stream_writer(stream: TextIO) -> Writer:
    """Bytes to ``stream``: to its file descriptor when it has one, else as text (tests)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        def write_text(data: bytes) -> None:
            stream.write(data.decode("utf-8", errors="replace"))
            stream.flush()

        return write_text
    stream.flush()  # what spotidoctor printed comes first

    def write_fd(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    return write_fd


class FilteredRelay:
    """Reads ``src_fd`` until end of file (or ``finish``), writes it filtered; owns ``src_fd``."""

    def __init__(self, src_fd: int, write: Writer) -> None:
        self._src = src_fd
        self._write = write
        self._filter = TerminalFilter()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._broken = False
        self.bytes_read = 0
        self._thread = threading.Thread(target=self._run, name="spotidoctor-output", daemon=True)
        self._thread.start()

    def _emit(self, data: bytes) -> None:
        if data and not self._broken:
            try:
                self._write(data)
            except OSError:  # our terminal is gone: keep draining podman's pipe, show nothing more
                self._broken = True

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._src, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if ready.get(self._src):
                    data = os.read(self._src, READ_SIZE)
                    if not data:
                        break
                    self.bytes_read += len(data)
                    self._emit(self._filter.feed(data))
                elif ready.get(self._wake_r):
                    break
        except OSError:
            pass
        finally:
            self._emit(self._filter.finish())

    def finish(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the end of the output, then stop reading and close."""
        self._thread.join(timeout)
        if self._thread.is_alive():  # something (conmon's cleanup) still holds the pipe open
            os.write(self._wake_w, b"x")
            self._thread.join(1.0)
        if not self._thread.is_alive():
            for fd in (self._src, self._wake_r, self._wake_w):
                os.close(fd)


def _wait(child: Started) -> int:
    while True:
        try:
            code = child.wait(None)
            assert code is not None
            return code
        except KeyboardInterrupt:
            continue  # podman got the terminal's SIGINT too and stops the container
        except SystemExit:
            child.signal(signal.SIGTERM)
            child.wait(STOP_WAIT_S)
            raise


def run_filtered(starter: ProcessStarter, argv: Sequence[str], out: Writer, err: Writer) -> int:
    """Run ``argv`` (podman) in the foreground, output filtered; its exit status."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        child = starter.start(argv, stdout=out_w, stderr=err_w, own_session=False)
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    relays = (FilteredRelay(out_r, out), FilteredRelay(err_r, err))
    try:
        return _wait(child)
    finally:
        for relay in relays:
            relay.finish(DRAIN_S)

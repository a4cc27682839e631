"""Start and stop ``xdg-dbus-proxy`` for one launch, through the command runner.

Readiness comes from its ``--fd``: it writes one byte to our pipe once its socket listens
(no polling for the socket). The same pipe ties its life to ours: when our end closes
(``stop``, or spotidoctor ending in any way) the proxy exits on its own. Its stderr goes to
a private log file next to its socket, read back only to explain a failed start.
"""
from __future__ import annotations

import os
import select
import stat
from collections.abc import Callable

from spotidoctor.channels.dbus.policy import PROXY_BINARY, SPOTIFY_POLICY, DbusPolicy, proxy_argv
from spotidoctor.probes.command import ProcessStarter, Started

__all__ = ["ProxyProcess", "ProxyStartError", "start_proxy", "READY_TIMEOUT_S"]

READY_TIMEOUT_S = 5.0
STOP_GRACE_S = 2.0
EXIT_WAIT_S = 1.0  # the proxy leaves within milliseconds of its --fd closing
LOG_TAIL_BYTES = 2000


class ProxyStartError(Exception):
    """The proxy is missing, exited, or did not get ready; the message says which and why."""


class ProxyProcess:
    def __init__(self, child: Started, ready_fd: int, socket_path: str, log_path: str) -> None:
        self.child = child
        self.socket_path = socket_path
        self.log_path = log_path
        self._ready_fd: int | None = ready_fd

    @property
    def running(self) -> bool:
        return self.child.poll() is None

    def stop(self, exit_wait_s: float = EXIT_WAIT_S) -> int:
        """Close our end of the ``--fd`` pipe, so the proxy exits; signal it only if it does not."""
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None
        status = self.child.wait(exit_wait_s)
        return self.child.stop(STOP_GRACE_S) if status is None else self.child.stop(0)

    def log_tail(self) -> str:
        return read_tail(self.log_path)


def read_tail(path: str, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as log:
        size = os.fstat(fd).st_size
        log.seek(max(0, size - limit))
        text = log.read(limit).decode("utf-8", errors="replace")
    return " ".join(text.split())


def _wait_ready(fd: int, timeout: float) -> bytes | None:
    """One byte from the proxy (b"" if it exited first), or None on timeout."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    if not poller.poll(timeout * 1000):
        return None
    return os.read(fd, 1)


def start_proxy(runner: ProcessStarter, bus_address: str, socket_path: str, log_path: str, *,
                policy: DbusPolicy = SPOTIFY_POLICY, binary: str = PROXY_BINARY,
                timeout: float = READY_TIMEOUT_S, advice: Callable[[], str] | None = None) -> ProxyProcess:
    """Start the proxy listening at ``socket_path`` (in a private directory) and wait until it is
    ready; its socket is then made 0600. Raises ``ProxyStartError``."""
    found = runner.which(binary)
    if found is None:
        raise ProxyStartError(f"{binary} is not installed. {advice() if advice else ''}".strip())
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            child = runner.start(proxy_argv(found, bus_address, socket_path, write_fd, policy),
                                 pass_fds=(write_fd,), stderr=log_fd)
        finally:
            os.close(log_fd)
    finally:
        os.close(write_fd)  # only the proxy holds the write end now: EOF means it exited
    if child.pid is None:
        os.close(read_fd)
        raise ProxyStartError(f"{found} could not be started")
    proxy = ProxyProcess(child, read_fd, socket_path, log_path)
    try:
        _become_ready(proxy, read_fd, timeout)
    except BaseException:
        proxy.stop(exit_wait_s=0)  # it is stuck or gone: no point waiting for a clean exit
        raise
    return proxy


def _become_ready(proxy: ProxyProcess, read_fd: int, timeout: float) -> None:
    answer = _wait_ready(read_fd, timeout)
    if answer is None:
        raise ProxyStartError(f"xdg-dbus-proxy did not get ready within {timeout:g}s {_said(proxy)}".strip())
    if not answer:
        status = proxy.child.stop(STOP_GRACE_S)
        raise ProxyStartError(f"xdg-dbus-proxy exited (status {status}) before it was ready {_said(proxy)}".strip())
    try:
        mode = os.lstat(proxy.socket_path).st_mode
    except OSError as exc:
        raise ProxyStartError(f"xdg-dbus-proxy said it was ready, but {proxy.socket_path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ProxyStartError(f"{proxy.socket_path} is not a socket")
    os.chmod(proxy.socket_path, 0o600)  # only the user (the relay) connects to it


def _said(proxy: ProxyProcess) -> str:
    tail = proxy.log_tail()
    return f"(it said: {tail})" if tail else ""

"""Reaching into a running container's network namespace without root.

The user owns the rootless user namespace, so ``nsenter --user=/proc/PID/ns/user
--net=/proc/PID/ns/net --preserve-credentials`` may enter it (PID from ``podman inspect``;
``--preserve-credentials`` keeps our own uid, which may read the Python it runs, where the
default setuid(0) would become an unrelated subordinate uid under the keep-id profile). One
long-lived helper runs there (``nshelper``) and hands back fresh TCP sockets created in that
namespace: connecting and pumping them is done here, on the host. Measured on the test VM
(2 cores, shared), median per connection: a fresh ``nsenter`` + Python client 26 ms, through
``podman unshare nsenter`` 58 ms; through this helper's sockets 2 ms for a whole request to a
CGI in the container. Starting the relay (``podman inspect`` + the helper) took 58 ms, once.
"""
from __future__ import annotations

import os
import select
import socket
import sys
import threading

from spotidoctor.channels.nshelper import READY, REQUEST
from spotidoctor.probes.command import CommandRunner, ProcessStarter, Started

__all__ = ["NetnsError", "HelperSockets", "helper_argv", "parse_pid", "container_pid", "ProcessWatch"]

INSPECT_TIMEOUT_S = 10.0
HELPER_MODULE = "spotidoctor.channels.nshelper"
HELPER_READY_TIMEOUT_S = 15.0


class NetnsError(Exception):
    """The container's network namespace cannot be used (a clear message for the log)."""


def helper_argv(pid: int, python: str) -> list[str]:
    return ["nsenter", f"--user=/proc/{pid}/ns/user", f"--net=/proc/{pid}/ns/net", "--preserve-credentials",
            "--", python, "-m", HELPER_MODULE]


class HelperSockets:
    """Sockets from ``nshelper`` running in the container's network namespace."""

    def __init__(self, child: Started, chan: socket.socket) -> None:
        self._child = child
        self._chan = chan
        self._lock = threading.Lock()

    @classmethod
    def start(cls, starter: ProcessStarter, pid: int, python: str = sys.executable,
              ready_timeout_s: float = HELPER_READY_TIMEOUT_S) -> HelperSockets:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            child = starter.start(helper_argv(pid, python), stdin=theirs.fileno(), capture_stderr=True, cwd="/")
        finally:
            theirs.close()
        ours.settimeout(ready_timeout_s)
        try:
            hello = ours.recv(256)
        except OSError:
            hello = b""
        if not hello.startswith(READY):
            ours.close()
            raise NetnsError(f"cannot enter the container's network namespace: {_helper_failure(child)}")
        if hello[len(READY):].decode(errors="replace") == os.readlink("/proc/self/ns/net"):
            ours.close()
            child.kill()
            raise NetnsError("the container shares the host's network (--network host): Spotify's own "
                             "127.0.0.1 listener is the host's, no relay is needed")
        ours.settimeout(None)
        return cls(child, ours)

    def socket(self) -> socket.socket:
        with self._lock:
            try:
                self._chan.send(REQUEST)
                msg, fds, _, _ = socket.recv_fds(self._chan, 64, 1)
            except OSError as exc:
                raise NetnsError(f"the namespace helper is gone ({exc.strerror or exc})") from None
        if msg != b"ok" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise NetnsError(f"the namespace helper could not make a socket ({msg.decode(errors='replace')})")
        return socket.socket(fileno=fds[0])

    def close(self) -> None:
        self._chan.close()  # the helper sees EOF and exits
        if self._child.wait(2.0) is None:
            self._child.kill()

    @property
    def pid(self) -> int | None:
        return self._child.pid


def _helper_failure(child: Started) -> str:
    if child.wait(3.0) is None:
        child.kill()
        return "the helper did not answer"
    text = " ".join(child.stderr_text().split())
    return text[:400] or f"the helper exited with status {child.poll()}"


# -- finding the container's process ---------------------------------------------------------------

def parse_pid(text: str) -> int | None:
    """``podman inspect --format {{.State.Pid}}``: a running container's pid, else None (0, junk)."""
    value = text.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def container_pid(runner: CommandRunner, container: str) -> int | None:
    done = runner.run(("podman", "inspect", "--format", "{{.State.Pid}}", container), timeout=INSPECT_TIMEOUT_S)
    return parse_pid(done.stdout) if done.ok else None


class ProcessWatch:
    """Readable when the container's process has ended (a pidfd; /proc polling without one)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.fd = None

    def ended(self) -> bool:
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], 0)[0])
        return not os.path.exists(f"/proc/{self.pid}")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

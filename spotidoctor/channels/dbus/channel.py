"""The filtered D-Bus channel for one launch: ``xdg-dbus-proxy`` behind an authentication relay.

    session bus  <-  xdg-dbus-proxy (filter: Flathub's policy)  <-  relay  <-  container
                     proxy.sock, 0600                                bus, 0666 (bind-mounted)

Both sockets live in a fresh 0700 directory of the user, so nothing but the user reaches
them through the filesystem; the container reaches ``bus`` because podman bind-mounts that
one file. The relay answers the container's authentication (any claimed uid: the
container's uid is a subordinate uid the bus would reject) and authenticates to the proxy
as the user; see ``relay.py`` and ``sasl.py``.

    channel = DbusChannel.start(session_bus.address, paths.runtime_dir)
    ...  channel.run_args("/run/spotidoctor/bus"): --volume={channel.container_socket}:/run/spotidoctor/bus:ro
         --env=DBUS_SESSION_BUS_ADDRESS={channel.container_address("/run/spotidoctor/bus")}
    channel.stop()
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

from spotidoctor.channels.dbus.address import unix_path_address
from spotidoctor.channels.dbus.install import install_advice
from spotidoctor.channels.dbus.policy import PROXY_BINARY, SPOTIFY_POLICY, DbusPolicy, PolicyArg
from spotidoctor.channels.dbus.proxy import READY_TIMEOUT_S, ProxyProcess, ProxyStartError, start_proxy
from spotidoctor.channels.dbus.relay import RefusalLog, RelayThread, listen_socket, probe_upstream
from spotidoctor.channels.dbus.sasl import UpstreamRefused
from spotidoctor.errors import SpotidoctorError
from spotidoctor.probes.command import ProcessStarter

__all__ = ["DbusChannel", "DbusChannelError", "run_args", "CONTAINER_SOCKET_NAME", "PROXY_SOCKET_NAME"]

CONTAINER_SOCKET_NAME = "bus"
PROXY_SOCKET_NAME = "proxy.sock"
PROXY_LOG_NAME = "proxy.log"


class DbusChannelError(SpotidoctorError):
    """The channel could not start; ``reason`` is a sentence for the user."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DbusChannel:
    """A running channel. Build it with ``start``; end it with ``stop`` (or ``with``)."""

    def __init__(self, directory: str, proxy: ProxyProcess, relay: RelayThread, log: RefusalLog, guid: str) -> None:
        self.directory = directory
        self.container_socket = os.path.join(directory, CONTAINER_SOCKET_NAME)
        self.proxy_socket = proxy.socket_path
        self.guid = guid  # the session bus's GUID, which clients also get in OK
        self._proxy = proxy
        self._relay = relay
        self._log = log
        self._stopped = False

    @classmethod
    def start(cls, session_bus_address: str, workdir: str, *, runner: ProcessStarter | None = None,
              policy: DbusPolicy = SPOTIFY_POLICY, binary: str = PROXY_BINARY,
              ready_timeout: float = READY_TIMEOUT_S, on_refusal: Callable[[str], None] | None = None,
              os_release: str | None = None) -> DbusChannel:
        """Start the proxy (upstream: ``session_bus_address``) and the relay in a new private
        directory under ``workdir``; return once a test authentication through the proxy has
        reached the bus. Raises ``DbusChannelError`` with the reason (nothing left running).

        ``on_refusal`` is called from the relay's thread with each refusal's text.
        ``os_release`` (the text of /etc/os-release) picks the install command named when the
        proxy is missing."""
        if not session_bus_address.strip() or "\0" in session_bus_address:
            raise DbusChannelError("no session bus address to connect the D-Bus proxy to")
        directory = _private_directory(workdir)
        proxy: ProxyProcess | None = None
        try:
            proxy = start_proxy(runner or _default_runner(), session_bus_address,
                                os.path.join(directory, PROXY_SOCKET_NAME), os.path.join(directory, PROXY_LOG_NAME),
                                policy=policy, binary=binary, timeout=ready_timeout,
                                advice=lambda: install_advice(os_release))
            guid = _first_authentication(proxy, ready_timeout)
            log = RefusalLog(on_refusal)
            relay = RelayThread(listen_socket(os.path.join(directory, CONTAINER_SOCKET_NAME)), proxy.socket_path,
                                os.getuid(), log)
            relay.start()
        except BaseException as exc:
            if proxy is not None:
                proxy.stop()
            shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, (ProxyStartError, OSError, RuntimeError)):
                raise DbusChannelError(f"the D-Bus channel did not start: {exc}") from None
            raise
        return cls(directory, proxy, relay, log, guid)

    def run_args(self, mount_path: str) -> tuple[PolicyArg, ...]:
        return run_args(self.container_socket, mount_path)

    def container_address(self, mount_path: str) -> str:
        """``DBUS_SESSION_BUS_ADDRESS`` inside the container, where ``container_socket`` is mounted."""
        return unix_path_address(mount_path)

    @property
    def running(self) -> bool:
        return not self._stopped and self._proxy.running and self._relay.alive

    def refusals(self) -> tuple[str, ...]:
        """The relay's recent refusals (pid/uid and a reason each; never message contents)."""
        return self._log.entries()

    def stop(self) -> None:
        """End the relay (every connection), then the proxy; remove the sockets and the directory."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._relay.stop()
        finally:
            self._proxy.stop()
            for name in (CONTAINER_SOCKET_NAME, PROXY_SOCKET_NAME, PROXY_LOG_NAME):
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, name))
            with suppress(OSError):
                os.rmdir(self.directory)

    def __enter__(self) -> DbusChannel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def run_args(container_socket: str, mount_path: str) -> tuple[PolicyArg, ...]:
    """The ``podman run`` arguments that hand the channel to the container, a reason each (pure:
    ``launch --dry-run`` can print them before any channel exists). A read-only bind of a socket
    still lets the container connect."""
    return ((f"--volume={container_socket}:{mount_path}:ro",
             "D-Bus: the filtered session bus (xdg-dbus-proxy behind spotidoctor's relay), this socket only"),
            (f"--env=DBUS_SESSION_BUS_ADDRESS={unix_path_address(mount_path)}",
             "libdbus, GDBus and sd-bus connect there"))


def _private_directory(workdir: str) -> str:
    try:
        return tempfile.mkdtemp(prefix="dbus-", dir=workdir)  # 0700, a new name: nothing to follow
    except OSError as exc:
        raise DbusChannelError(f"cannot create a private directory in {workdir}: {exc.strerror}") from None


def _first_authentication(proxy: ProxyProcess, timeout: float) -> str:
    """The bus's GUID, from one authentication through the proxy (it connects upstream per client)."""
    try:
        return probe_upstream(proxy.socket_path, os.getuid(), timeout)
    except (OSError, UpstreamRefused) as exc:
        tail = proxy.log_tail()
        said = f" (xdg-dbus-proxy said: {tail})" if tail else ""
        raise ProxyStartError(f"the session bus did not accept a connection through the proxy: {exc}{said}") from None


def _default_runner() -> ProcessStarter:
    from spotidoctor.probes.command import SubprocessRunner

    return SubprocessRunner()

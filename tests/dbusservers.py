"""A private ``dbus-daemon --session`` for tests, and D-Bus clients run as the container's uid.

The bus listens on a socket in the test's tmp dir, with a config of its own (no service
activation, everything allowed: the filtering under test is the proxy's). Clients "in the
container" run through the product's own ``run_as_argv``: ``podman unshare`` + ``setpriv``
to the container uid, which the host sees as a subordinate uid, with only the channel's
socket bind-mounted into a private tmpfs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from spotidoctor.channels.dbus.address import unix_path_address
from spotidoctor.channels.dbus.proof import run_as_argv
from spotidoctor.config import Config
from tests import servers

CONTAINER_UID = Config().container_uid  # the image's spotify_user
WIRE = Path(__file__).with_name("dbuswire.py")
CLIENT_TIMEOUT_S = 30.0
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class SessionBus:
    proc: subprocess.Popen[bytes]
    socket_path: str
    env: dict[str, str]  # a host client's environment, DBUS_SESSION_BUS_ADDRESS set

    @property
    def address(self) -> str:
        return unix_path_address(self.socket_path)

    def host_client(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """A client on the real bus as the user (dbus-send on the host)."""
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)


def start_session_bus(tmp: Path) -> SessionBus:
    tmp.mkdir(parents=True, exist_ok=True)
    env = servers.base_env(tmp)
    socket_path = str(tmp / "bus")
    config = tmp / "session.conf"
    config.write_text(BUS_CONFIG.format(path=escape(socket_path)))
    log = tmp / "dbus-daemon.log"
    proc = servers.start(["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile"], env, log)
    with servers.stopped_on_failure(proc):
        servers.wait_for(lambda: os.path.exists(socket_path), 10, "dbus-daemon", proc, log)
    env["DBUS_SESSION_BUS_ADDRESS"] = unix_path_address(socket_path)
    return SessionBus(proc, socket_path, env)


@contextmanager
def scratch_dir() -> Iterator[str]:
    """Where the client's private tmpfs is mounted: the container uid must reach it, so not
    below the test's (0700) tmp dir."""
    path = tempfile.mkdtemp(prefix="spotidoctor-dbus-test-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_container(socket_path: str, *client: str, uid: int = CONTAINER_UID) -> subprocess.CompletedProcess[str]:
    """Run ``client`` (absolute path first) as ``uid``, connected only to ``socket_path``."""
    with scratch_dir() as scratch:
        argv = run_as_argv(str(shutil.which("podman")), scratch, socket_path, uid, uid, client)
        return subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)


@contextmanager
def container_standin(socket_path: str, names: Sequence[str], uid: int = CONTAINER_UID
                      ) -> Iterator[subprocess.Popen[str]]:
    """``dbuswire.py serve NAMES`` as ``uid`` through ``socket_path``: a stand-in Spotify that owns
    the names and answers every call (stdout: ``owned ...``, then ``call MEMBER PATH`` lines)."""
    with scratch_dir() as scratch:
        client = (str(shutil.which("python3")), "-c", WIRE.read_text(), "serve", *names)
        proc = subprocess.Popen(run_as_argv(str(shutil.which("podman")), scratch, socket_path, uid, uid, client),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            yield proc
        finally:
            servers.stop(proc)  # type: ignore[arg-type]
            proc.communicate()

"""An X socket of another uid gets no cookie: a real listener run by a subordinate uid of the test
user (``podman unshare setpriv --reuid=1``), in a private sticky directory like /tmp/.X11-unix.

First the socket file belongs to that uid (the file check refuses before connecting); then the
file is given to the test user while the listener stays foreign (SO_PEERCRED refuses after
connecting, before the setup request). The listener records how many bytes each client sent.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor.channels import x11socket
from spotidoctor.channels.x11 import UnsafeXServer, UntrustedCookie
from spotidoctor.probes import x11auth
from spotidoctor.probes.fs import RealFS
from tests import servers

LISTENER = """
import os, socket, sys
path, record = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o777)
s.listen(4)
s.settimeout(120)
while True:
    conn, _ = s.accept()
    conn.settimeout(10)
    data = b""
    try:
        while chunk := conn.recv(4096):
            data += chunk
    except OSError:
        pass
    with open(record, "a") as fh:
        fh.write(f"{len(data)}\\n")
    conn.close()
"""
NUMBER = 5  # inside the private directory: no real display is involved
CANARY = bytes.fromhex("5ec2e7c0" * 4)


@dataclass
class Foreign:
    socket_dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.socket_dir / f"X{NUMBER}"

    @property
    def record(self) -> Path:
        return self.socket_dir / "received"

    def received(self) -> list[int]:
        return [int(n) for n in self.record.read_text().split()] if self.record.exists() else []


@pytest.fixture
def foreign(podman: str, tmp_path: Path) -> Iterator[Foreign]:
    servers.require("setpriv", "python3")
    socket_dir = Path(tempfile.mkdtemp(prefix="sdx11-", dir="/tmp"))  # short: socket paths max 108 bytes
    socket_dir.chmod(0o1777)  # like /tmp/.X11-unix, so the subordinate uid can create its socket
    proc = servers.start(["podman", "unshare", "setpriv", "--reuid=1", "--regid=1", "--clear-groups",
                          "python3", "-c", LISTENER, str(socket_dir / f"X{NUMBER}"), str(socket_dir / "received")],
                         dict(os.environ), tmp_path / "listener.log")
    server = Foreign(socket_dir, proc)
    try:
        servers.wait_for(server.socket.is_socket, 60, "listener of a subordinate uid", proc, tmp_path / "listener.log")
        yield server
    finally:
        servers.stop(proc)
        shutil.rmtree(socket_dir, ignore_errors=True)


def xauthority_with_canary(tmp_path: Path) -> str:
    path = tmp_path / "Xauthority"
    path.write_bytes(x11auth.encode_xauthority([x11auth.XauthEntry(
        x11auth.FAMILY_WILD, b"host", str(NUMBER).encode(), x11auth.MIT_MAGIC_COOKIE, CANARY)]))
    return str(path)


def create(foreign: Foreign, tmp_path: Path) -> None:
    dest = tmp_path / "run" / "Xauthority"
    UntrustedCookie.create(f":{NUMBER}", xauthority_with_canary(tmp_path), str(dest),
                           socket_dir=str(foreign.socket_dir))


def test_socket_file_of_another_uid_is_flagged_before_connecting(foreign: Foreign, tmp_path: Path) -> None:
    owner = foreign.socket.lstat().st_uid
    assert owner not in (os.getuid(), 0)
    problems = x11socket.ownership_problems(RealFS(), NUMBER, os.getuid(), str(foreign.socket_dir))
    assert problems == (f"{foreign.socket} belongs to uid {owner}, not you (uid {os.getuid()}) or root: "
                        "another user's X server (or a fake one) would receive your cookie",)
    with pytest.raises(UnsafeXServer, match=f"no cookie sent: .*belongs to uid {owner}"):
        create(foreign, tmp_path)
    assert foreign.received() == []  # not even a connection
    assert not (tmp_path / "run" / "Xauthority").exists()


def test_foreign_listener_behind_a_file_of_ours_gets_no_byte(foreign: Foreign, tmp_path: Path) -> None:
    listener_uid = foreign.socket.lstat().st_uid
    chown = subprocess.run(["podman", "unshare", "chown", "0:0", str(foreign.socket)], capture_output=True,
                           text=True, timeout=60)
    assert chown.returncode == 0, chown.stderr
    assert foreign.socket.lstat().st_uid == os.getuid()
    assert x11socket.ownership_problems(RealFS(), NUMBER, os.getuid(), str(foreign.socket_dir)) == ()
    with pytest.raises(UnsafeXServer, match=f"X server :{NUMBER} is run by uid {listener_uid}, not you"):
        create(foreign, tmp_path)
    servers.wait_for(lambda: foreign.received() != [], 30, "the listener's record")
    assert foreign.received() == [0]  # it was connected to, and sent nothing: no setup, no cookie

"""Starting the proxy (``--fd`` readiness, failures) and the channel's life, with a stand-in proxy.

The stand-in is a small Python program with xdg-dbus-proxy's command line: it binds PATH,
writes one byte to ``--fd`` when ready and exits when the other end of that pipe closes
(as the real one does); behind its socket it plays a bus that answers ``OK <guid>`` and
echoes. The real proxy and bus are in tests/integration/test_dbus_channel.py.
"""
from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from spotidoctor.channels.dbus.channel import DbusChannel, DbusChannelError
from spotidoctor.channels.dbus.proxy import ProxyStartError, start_proxy
from spotidoctor.probes.command import SubprocessRunner

GUID = "fedcba9876543210fedcba9876543210"

STANDIN = r'''
import os, select, socket, sys, threading
fd = int(sys.argv[1].split("=", 1)[1])
path = sys.argv[3]
MODE = "{mode}"
open(os.path.join(os.path.dirname(sys.argv[0]), "pid"), "w").write(str(os.getpid()))
if MODE == "exit":
    sys.stderr.write("Failed to connect to bus: no such file\n")
    sys.exit(3)
if MODE == "silent":
    select.select([], [], [], 30)
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(8)

def serve(conn):
    data = b""
    while b"\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    conn.sendall(b"REJECTED EXTERNAL\r\n" if MODE == "reject" else b"OK {guid}\r\n")
    while b"BEGIN\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    conn.sendall(data.split(b"BEGIN\r\n", 1)[1])
    while chunk := conn.recv(4096):
        conn.sendall(chunk)

def accept():
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

threading.Thread(target=accept, daemon=True).start()
os.write(fd, b"x")
poller = select.poll()
poller.register(fd, 0)  # POLLERR/POLLHUP only: the reader went away
poller.poll()
sys.exit(0)
'''


def standin(tmp_path: Path, mode: str = "ok") -> str:
    directory = tmp_path / f"standin-{mode}"
    directory.mkdir()
    program = directory / "xdg-dbus-proxy"
    program.write_text(f"#!{sys.executable}\n" + STANDIN.replace("{mode}", mode).replace("{guid}", GUID))
    program.chmod(0o755)
    return str(program)


def standin_pid(program: str) -> int:
    return int(Path(program).with_name("pid").read_text())


def gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    return directory


def start(workdir: Path, program: str, **kw: object) -> DbusChannel:
    return DbusChannel.start("unix:path=/nonexistent/bus", str(workdir), runner=SubprocessRunner(), binary=program,
                             **kw)  # type: ignore[arg-type]


def test_a_channel_starts_and_stops_cleanly(tmp_path: Path, workdir: Path) -> None:
    program = standin(tmp_path)
    channel = start(workdir, program)
    try:
        assert channel.running and channel.guid == GUID
        assert stat.S_IMODE(os.stat(channel.directory).st_mode) == 0o700
        assert Path(channel.directory).parent == workdir
        assert stat.S_IMODE(os.stat(channel.container_socket).st_mode) == 0o666
        assert stat.S_IMODE(os.stat(channel.proxy_socket).st_mode) == 0o600
        assert channel.container_address("/run/spotidoctor/bus") == "unix:path=/run/spotidoctor/bus"
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(channel.container_socket)
            client.sendall(b"\0AUTH EXTERNAL 31353030\r\nBEGIN\r\nhi")
            received = b""
            while not received.endswith(b"hi"):
                received += client.recv(4096)
            assert received == f"OK {GUID}\r\nhi".encode()
    finally:
        channel.stop()
    assert not channel.running
    assert not os.path.exists(channel.directory) and os.listdir(workdir) == []
    assert gone(standin_pid(program))
    channel.stop()  # twice is fine


def test_the_proxy_exits_by_itself_when_the_ready_pipe_closes(tmp_path: Path) -> None:
    program = standin(tmp_path)
    proxy = start_proxy(SubprocessRunner(), "unix:path=/x", str(tmp_path / "p.sock"), str(tmp_path / "p.log"),
                        binary=program)
    assert proxy.running
    os.close(proxy._ready_fd)  # what happens to our end when spotidoctor dies, however it dies
    proxy._ready_fd = None
    assert proxy.child.wait(5) == 0  # it left on its own: no signal was sent
    assert proxy.stop() == 0


def test_a_proxy_that_exits_says_why(tmp_path: Path, workdir: Path) -> None:
    with pytest.raises(DbusChannelError) as caught:
        start(workdir, standin(tmp_path, "exit"))
    said = "exited (status 3) before it was ready (it said: Failed to connect to bus: no such file)"
    assert said in str(caught.value)
    assert os.listdir(workdir) == []


def test_a_proxy_that_never_gets_ready_is_stopped(tmp_path: Path, workdir: Path) -> None:
    program = standin(tmp_path, "silent")
    with pytest.raises(DbusChannelError, match="did not get ready within 0.3s"):
        start(workdir, program, ready_timeout=0.3)
    assert gone(standin_pid(program))
    assert os.listdir(workdir) == []


def test_a_bus_that_rejects_us_stops_the_start(tmp_path: Path, workdir: Path) -> None:
    program = standin(tmp_path, "reject")
    with pytest.raises(DbusChannelError, match="the session bus did not accept a connection through the proxy: "
                                               "the session bus rejected"):
        start(workdir, program)
    assert gone(standin_pid(program))
    assert os.listdir(workdir) == []


def test_a_missing_proxy_says_how_to_install_it(workdir: Path) -> None:
    with pytest.raises(DbusChannelError, match=r"xdg-dbus-proxy is not installed. Install it: `sudo dnf install "
                                               r"xdg-dbus-proxy` \(Fedora\)"):
        DbusChannel.start("unix:path=/x", str(workdir), runner=SubprocessRunner({"PATH": "/nonexistent"}),
                          os_release='ID=fedora\nNAME="Fedora Linux"\n')


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DbusChannelError, match="no session bus address"):
        DbusChannel.start(" ", str(tmp_path))
    with pytest.raises(DbusChannelError, match="cannot create a private directory in .*missing"):
        DbusChannel.start("unix:path=/x", str(tmp_path / "missing"))


def test_start_proxy_errors_are_proxy_start_errors(tmp_path: Path) -> None:
    with pytest.raises(ProxyStartError, match="not installed"):
        start_proxy(SubprocessRunner({"PATH": "/nonexistent"}), "unix:path=/x", str(tmp_path / "s"),
                    str(tmp_path / "l"))

"""The filtered D-Bus channel against the real things: a private ``dbus-daemon --session``,
the real ``xdg-dbus-proxy``, and real clients (libdbus's ``dbus-send``, GDBus's ``gdbus``, a
raw-protocol stand-in player) running as the container's uid, which the host sees as a
subordinate uid (``podman unshare`` + ``setpriv``; see tests/dbusservers.py).

On the real bus, as the user, a stand-in service owns ``org.freedesktop.Notifications``
(on the allow list) and ``org.example.Hidden`` (not on it): both answer calls from the
host, so a refusal through the channel is the filter's doing, not a missing service.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.dbus.channel import DbusChannel
from spotidoctor.channels.dbus.policy import MPRIS_NAME
from spotidoctor.channels.dbus.proof import NameOutcome, prove_filter, request_name_argv
from spotidoctor.probes.command import SubprocessRunner
from tests import servers
from tests.dbusservers import CONTAINER_UID, SessionBus, as_container, container_standin, start_session_bus
from tests.dbuswire import StandIn

ALLOWED = "org.freedesktop.Notifications"
HIDDEN = "org.example.Hidden"
FORBIDDEN = "org.example.Forbidden"
TOOLS = ("dbus-daemon", "xdg-dbus-proxy", "dbus-send", "gdbus", "podman", "setpriv", "unshare", "python3")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    servers.require(*TOOLS)
    session = start_session_bus(tmp_path / "session")
    yield session
    servers.stop(session.proc)


@pytest.fixture
def services(bus: SessionBus) -> Iterator[StandIn]:
    standin = StandIn(bus.socket_path, (ALLOWED, HIDDEN))
    yield standin
    standin.close()


@pytest.fixture
def channel(bus: SessionBus, tmp_path: Path) -> Iterator[DbusChannel]:
    workdir = tmp_path / "run"
    workdir.mkdir(mode=0o700)
    started = DbusChannel.start(bus.address, str(workdir), runner=SubprocessRunner(bus.env))
    yield started
    started.stop()
    assert started.refusals() == ()  # every client in these tests is a well-behaved one


def tool(name: str) -> str:
    return str(shutil.which(name))


def dbus_send(*args: str) -> tuple[str, ...]:
    return (tool("dbus-send"), "--session", "--print-reply", "--reply-timeout=5000", *args)


def gdbus_call(destination: str, path: str, method: str, *args: str) -> tuple[str, ...]:
    return (tool("gdbus"), "call", "--session", "--timeout=5", "--dest", destination, "--object-path", path,
            "--method", method, *args)


def ping_argv(client: str, destination: str) -> tuple[str, ...]:
    if client == "gdbus":
        return gdbus_call(destination, "/", "org.freedesktop.DBus.Peer.Ping")
    return dbus_send(f"--dest={destination}", "/", "org.freedesktop.DBus.Peer.Ping")


def request_argv(client: str, name: str) -> tuple[str, ...]:
    if client == "gdbus":
        return gdbus_call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName",
                          name, "4")
    return request_name_argv(tool("dbus-send"), name)


def owned(client: str, done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 0 and ("(uint32 1,)" if client == "gdbus" else "uint32 1") in done.stdout


def refused(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode != 0 and "org.freedesktop.DBus.Error.ServiceUnknown" in done.stderr


@pytest.mark.parametrize("client", ["dbus-send", "gdbus"])
def test_the_container_uid_owns_mpris_and_talks_to_an_allowed_name(client: str, channel: DbusChannel,
                                                                   services: StandIn) -> None:
    owning = as_container(channel.container_socket, *request_argv(client, MPRIS_NAME))
    assert owned(client, owning), owning
    ping = as_container(channel.container_socket, *ping_argv(client, ALLOWED))
    assert ping.returncode == 0, ping
    assert ("org.freedesktop.DBus.Peer.Ping", "/") in services.calls


@pytest.mark.parametrize("client", ["dbus-send", "gdbus"])
def test_the_container_uid_is_refused_another_name_and_a_hidden_destination(client: str, bus: SessionBus,
                                                                            channel: DbusChannel,
                                                                            services: StandIn) -> None:
    assert refused(as_container(channel.container_socket, *request_argv(client, FORBIDDEN)))
    assert refused(as_container(channel.container_socket, *ping_argv(client, HIDDEN)))
    assert ("org.freedesktop.DBus.Peer.Ping", "/") not in services.calls
    # The same two requests on the real bus, as the user, succeed: the filter refused them.
    assert owned(client, bus.host_client(*request_argv(client, FORBIDDEN)))
    assert bus.host_client(*ping_argv(client, HIDDEN)).returncode == 0


def test_playpause_from_the_host_reaches_a_standin_player_in_the_container(bus: SessionBus,
                                                                          channel: DbusChannel) -> None:
    with container_standin(channel.container_socket, [MPRIS_NAME]) as player:
        assert player.stdout is not None
        first = player.stdout.readline()
        assert first == f"owned {MPRIS_NAME} as uid {CONTAINER_UID}\n", (first, player.stderr)
        done = bus.host_client(tool("dbus-send"), "--session", "--print-reply", "--reply-timeout=5000",
                               f"--dest={MPRIS_NAME}", "/org/mpris/MediaPlayer2",
                               "org.mpris.MediaPlayer2.Player.PlayPause")
        assert done.returncode == 0 and done.stdout.startswith("method return"), done
        assert player.stdout.readline() == "call org.mpris.MediaPlayer2.Player.PlayPause /org/mpris/MediaPlayer2\n"
        # The player really is another uid: the host sees its subordinate uid, not ours.
        uids = {int(p.read_text().split("Uid:")[1].split()[0]) for p in Path("/proc").glob("[0-9]*/status")
                if _child_of(p.parent.name, player.pid) and "python3" in _name(p)}
        assert uids and os.getuid() not in uids


def test_the_proxy_socket_itself_is_out_of_the_containers_reach(channel: DbusChannel) -> None:
    done = as_container(channel.proxy_socket, *request_name_argv(tool("dbus-send"), MPRIS_NAME))
    assert done.returncode != 0 and "Permission denied" in done.stderr, done


def test_the_product_proof_from_the_container_uid(channel: DbusChannel) -> None:
    # The user's own environment: podman with the bus's private runtime dir would start (and
    # leave behind) a pause process of its own; the proof needs only the channel's socket.
    proof = prove_filter(SubprocessRunner(), channel.container_socket, CONTAINER_UID, CONTAINER_UID)
    assert proof.proved, proof.summary()
    assert (proof.mpris.outcome, proof.forbidden.outcome) == (NameOutcome.OWNED, NameOutcome.REFUSED)


def test_stop_ends_the_proxy_and_removes_the_sockets(bus: SessionBus, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir(mode=0o700)
    channel = DbusChannel.start(bus.address, str(workdir), runner=SubprocessRunner(bus.env))
    pid = channel._proxy.child.pid
    assert _alive(pid) and channel.running
    channel.stop()
    assert not _alive(pid)
    assert not os.path.exists(channel.container_socket) and not os.path.exists(channel.proxy_socket)
    assert os.listdir(workdir) == []


def test_the_proxy_does_not_outlive_a_killed_spotidoctor(bus: SessionBus, tmp_path: Path) -> None:
    """Its ``--fd`` pipe closes when our process dies, however it dies (here: SIGKILL)."""
    workdir = tmp_path / "run"
    workdir.mkdir(mode=0o700)
    code = ("import sys, time; from spotidoctor.channels.dbus.channel import DbusChannel; "
            "c = DbusChannel.start(sys.argv[1], sys.argv[2]); print(c._proxy.child.pid, flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, bus.address, str(workdir)], env=bus.env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        pid = int(holder.stdout.readline())
        assert _alive(pid)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        servers.wait_for(lambda: not _alive(pid), 10, "the orphaned proxy's exit")
    finally:
        holder.kill()
        holder.wait()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _name(status: Path) -> str:
    try:
        return status.read_text().split("\n", 1)[0]
    except OSError:
        return ""


def _child_of(pid: str, ancestor: int) -> bool:
    """``pid`` descends from ``ancestor`` (the stand-in's podman unshare)."""
    current = pid
    for _ in range(32):
        try:
            parent = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            return False
        if int(parent) == ancestor:
            return True
        if parent in ("0", "1"):
            return False
        current = parent
    return False


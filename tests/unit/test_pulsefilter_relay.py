"""The audio filter's relay over real unix sockets, against a fake pulse server (tests/pulsefake.py):
socket modes, credentials upstream, refusals, audio pass-through, bounded buffers and misbehaving
clients that end only their own connection."""
from __future__ import annotations

import array
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.pulse import relay as relay_mod
from spotidoctor.channels.pulse.protocol import (
    DESCRIPTOR,
    ERR_ACCESS,
    FLAG_MEMFD,
    FLAG_SHM,
    FRAME_SIZE_MAX,
    VERSION_MASK,
    Command,
)
from spotidoctor.channels.pulse.relay import HIGH_WATER, FilterError, PulseFilter, default_cookie, default_upstream
from spotidoctor.channels.pulse.tagstruct import U32, Arbitrary, CVolume, String
from tests import servers
from tests.pulsefake import (
    OTHER_SINK_INPUT,
    VERSION,
    FakeServer,
    auth,
    block,
    closed,
    command,
    read_packet,
    sink_input_entry,
)

COOKIE = bytes(reversed(range(256)))


@pytest.fixture
def unprivileged() -> None:
    """The filter refuses to run as root; like the integration tests, these need a normal user."""
    if os.geteuid() == 0:
        if servers.IN_CI:
            pytest.fail("the audio filter's tests run as an unprivileged user (see .ci/test-as-user)")
        pytest.skip("the audio filter's tests run as an unprivileged user (see .ci/test-as-user)")


@pytest.fixture
def runtime(tmp_path: Path, unprivileged: None) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeServer]:
    server = FakeServer(tmp_path / "upstream")
    yield server
    server.close()


@pytest.fixture
def relay(fake: FakeServer, runtime: Path, tmp_path: Path) -> Iterator[PulseFilter]:
    cookie = tmp_path / "cookie"
    cookie.write_bytes(COOKIE)
    cookie.chmod(0o600)
    pulse_filter = PulseFilter(str(fake.path), runtime_dir=str(runtime), cookie_path=str(cookie))
    pulse_filter.start()
    yield pulse_filter
    pulse_filter.stop()


def connect(pulse_filter: PulseFilter) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    assert pulse_filter.socket_path
    sock.connect(pulse_filter.socket_path)
    return sock


def ready(pulse_filter: PulseFilter) -> socket.socket:
    """A client that is past AUTH."""
    sock = connect(pulse_filter)
    sock.sendall(auth(tag=1))
    assert read_packet(sock)[0] == U32(Command.REPLY)
    return sock


def until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.01)
    return False


# -- the socket ------------------------------------------------------------------------------------

def test_socket_is_world_connectable_inside_a_private_directory_removed_at_stop(
        fake: FakeServer, runtime: Path) -> None:
    pulse_filter = PulseFilter(str(fake.path), runtime_dir=str(runtime))
    path = Path(pulse_filter.start())
    directory = path.parent
    assert directory.parent == runtime
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700 and directory.stat().st_uid == os.geteuid()
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o666
    stats = pulse_filter.stop()
    assert not directory.exists()
    assert stats.connections == 0 and stats.open_connections == 0


@pytest.mark.parametrize("mode", [0o777, 0o720])
def test_a_runtime_dir_others_can_write_is_refused(fake: FakeServer, tmp_path: Path, unprivileged: None,
                                                    mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(FilterError, match="others cannot write"):
        PulseFilter(str(fake.path), runtime_dir=str(shared)).start()
    assert list(shared.iterdir()) == []


def test_a_missing_upstream_is_a_clear_error(runtime: Path, tmp_path: Path) -> None:
    with pytest.raises(FilterError, match="no pulse server socket at .*nothing"):
        PulseFilter(str(tmp_path / "nothing"), runtime_dir=str(runtime)).start()
    (tmp_path / "file").write_text("")
    with pytest.raises(FilterError, match="is not a socket"):
        PulseFilter(str(tmp_path / "file"), runtime_dir=str(runtime)).start()


def test_root_is_refused(fake: FakeServer, runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_mod.os, "geteuid", lambda: 0)
    with pytest.raises(FilterError, match="does not run as root"):
        PulseFilter(str(fake.path), runtime_dir=str(runtime)).start()


def test_defaults_follow_libpulse(tmp_path: Path) -> None:
    assert default_upstream({"PULSE_SERVER": "unix:/x/native"}) == "/x/native"
    assert default_upstream({"PULSE_SERVER": "tcp:host:4713"}) is None
    assert default_upstream({"XDG_RUNTIME_DIR": "/run/user/5"}) == "/run/user/5/pulse/native"
    assert default_upstream({"PULSE_RUNTIME_PATH": "/p", "XDG_RUNTIME_DIR": "/r"}) == "/p/native"
    (tmp_path / "pulse").mkdir()
    (tmp_path / "pulse" / "cookie").write_bytes(COOKIE)
    assert default_cookie({"HOME": "/nonexistent", "XDG_CONFIG_HOME": str(tmp_path)}) == str(tmp_path / "pulse/cookie")
    assert default_cookie({"HOME": "/nonexistent"}) is None


# -- AUTH upstream ----------------------------------------------------------------------------------

def test_upstream_auth_has_the_users_credentials_and_cookie_and_no_shared_memory(
        relay: PulseFilter, fake: FakeServer) -> None:
    sock = connect(relay)
    sock.sendall(auth(tag=1, flags=FLAG_SHM | FLAG_MEMFD, cookie=bytes(256)))
    reply = read_packet(sock)
    assert reply == [U32(Command.REPLY), U32(1), U32(VERSION)]  # the server offered SHM + memfd: cleared
    [upstream] = fake.wait_for(1)
    assert upstream.packets[0] == [U32(Command.AUTH), U32(1), U32(VERSION), Arbitrary(COOKIE)]
    assert upstream.creds and upstream.creds[0] == (os.getpid(), os.getuid(), os.getgid())
    assert not upstream.packets[0][2].value & ~VERSION_MASK  # type: ignore[union-attr]


# -- refusals and streams ---------------------------------------------------------------------------

def test_a_refused_command_is_answered_by_the_filter_and_never_reaches_the_server(
        relay: PulseFilter, fake: FakeServer) -> None:
    sock = ready(relay)
    sock.sendall(command(Command.LOAD_MODULE, 42, String(b"module-null-sink"), String(b"")))
    assert read_packet(sock) == [U32(Command.ERROR), U32(42), U32(ERR_ACCESS)]
    sock.sendall(command(Command.GET_SERVER_INFO, 43))
    assert read_packet(sock)[:2] == [U32(Command.REPLY), U32(43)]
    [upstream] = fake.connections
    assert Command.LOAD_MODULE not in upstream.commands()
    assert relay.stats().refused == {"LOAD_MODULE": 1}


def test_audio_passes_through_on_the_clients_stream_only(relay: PulseFilter, fake: FakeServer) -> None:
    sock = ready(relay)
    sock.sendall(command(Command.CREATE_PLAYBACK_STREAM, 2, String(b"music")))
    reply = read_packet(sock)
    channel = reply[2].value  # type: ignore[union-attr]
    assert read_packet(sock)[0] == U32(Command.REQUEST)
    audio = os.urandom(200_000)
    sock.sendall(block(channel, audio) + block(channel + 50, b"not mine"))
    [upstream] = fake.connections
    assert until(lambda: len(upstream.audio.get(channel, b"")) == len(audio))
    assert bytes(upstream.audio[channel]) == audio and channel + 50 not in upstream.audio
    sock.sendall(command(Command.SET_SINK_INPUT_VOLUME, 3, U32(OTHER_SINK_INPUT), CVolume((0, 0))))
    assert read_packet(sock) == [U32(Command.ERROR), U32(3), U32(ERR_ACCESS)]
    sock.sendall(command(Command.GET_SINK_INPUT_INFO_LIST, 4))
    assert read_packet(sock) == [U32(Command.REPLY), U32(4), *sink_input_entry(100 + channel)]


# -- misbehaving clients -------------------------------------------------------------------------------

def send_fd(sock: socket.socket, data: bytes) -> None:
    with open(os.devnull, "rb") as fh:
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fh.fileno()]).tobytes())])


@pytest.mark.parametrize("attack", ["fd", "oversized", "garbage", "shm"])
def test_a_misbehaving_client_loses_only_its_own_connection(relay: PulseFilter, fake: FakeServer,
                                                             attack: str) -> None:
    good = ready(relay)
    bad = ready(relay)
    if attack == "fd":
        send_fd(bad, command(Command.GET_SERVER_INFO, 2))
    elif attack == "oversized":
        bad.sendall(DESCRIPTOR.pack(FRAME_SIZE_MAX + 1, 0, 0, 0, 0))
    elif attack == "garbage":
        bad.sendall(os.urandom(8) + b"\xff" * 200)
    else:
        bad.sendall(block(0, bytes(16), flags=FLAG_SHM))
    assert closed(bad)
    assert until(lambda: fake.connections[1].closed.is_set())  # its upstream connection is gone too
    good.sendall(command(Command.GET_SERVER_INFO, 2))
    assert read_packet(good)[:2] == [U32(Command.REPLY), U32(2)]
    stats = relay.stats()
    assert stats.open_connections == 1 and sum(stats.ended.values()) == 1
    reason = next(iter(stats.ended))
    expected = {"fd": "file descriptors", "oversized": "a frame of", "garbage": "", "shm": "shared memory"}
    assert expected[attack] in reason


def test_a_client_that_floods_and_never_reads_stalls_only_itself(relay: PulseFilter) -> None:
    flood = ready(relay)
    flood.setblocking(False)
    refused = command(Command.LOAD_MODULE, 7, String(b"m"), String(b"")) * 2000
    pending = memoryview(refused)
    stalled_since = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # send until the filter stops reading the flooder for a while
        try:
            pending = pending[flood.send(pending):] or memoryview(refused)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break
            time.sleep(0.05)
    assert stalled_since is not None, "the filter kept reading a client that never reads its answers"
    other = ready(relay)
    other.sendall(command(Command.GET_SERVER_INFO, 2))
    assert read_packet(other)[:2] == [U32(Command.REPLY), U32(2)]
    with relay._lock:  # what the filter holds for the flooder stays bounded
        [link] = [link for link in relay._links.values() if link.id == 1]
        assert len(link.session.out_client) < HIGH_WATER + 2 * relay_mod.READ_SIZE
    assert relay.stats().refused["LOAD_MODULE"] > 1000


def test_clients_beyond_the_limit_are_turned_away(fake: FakeServer, runtime: Path) -> None:
    pulse_filter = PulseFilter(str(fake.path), runtime_dir=str(runtime), max_clients=2)
    pulse_filter.start()
    try:
        first, second = ready(pulse_filter), ready(pulse_filter)
        third = connect(pulse_filter)
        assert closed(third)
        assert until(lambda: pulse_filter.stats().turned_away == 1)
        first.sendall(command(Command.GET_SERVER_INFO, 2))
        assert read_packet(first)[:2] == [U32(Command.REPLY), U32(2)]
        second.close()
    finally:
        stats = pulse_filter.stop()
    assert stats.connections == 2 and stats.open_connections == 0


def test_the_server_going_away_closes_the_client_and_the_filter_keeps_serving(
        relay: PulseFilter, fake: FakeServer) -> None:
    sock = ready(relay)
    fake.socks[0].shutdown(socket.SHUT_RDWR)  # close() would not wake the fake's reading thread
    assert closed(sock)
    again = ready(relay)
    again.sendall(command(Command.GET_SERVER_INFO, 2))
    assert read_packet(again)[:2] == [U32(Command.REPLY), U32(2)]


def test_stop_closes_open_clients(fake: FakeServer, runtime: Path) -> None:
    pulse_filter = PulseFilter(str(fake.path), runtime_dir=str(runtime))
    pulse_filter.start()
    sock = ready(pulse_filter)
    stats = pulse_filter.stop()
    assert closed(sock)
    assert stats.connections == 1 and stats.open_connections == 0
    assert "1 connection(s), 0 refused" in stats.summary()


def test_an_unreadable_cookie_falls_back_to_credentials_without_logging_it(
        fake: FakeServer, runtime: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cookie = tmp_path / "cookie"
    cookie.write_bytes(COOKIE[:10])  # too short: not a cookie
    with PulseFilter(str(fake.path), runtime_dir=str(runtime), cookie_path=str(cookie)) as pulse_filter:
        ready(pulse_filter)
    assert fake.connections[0].packets[0][3] == Arbitrary(bytes(256))
    assert all(COOKIE[:10].hex() not in r.getMessage() for r in caplog.records)


def test_packets_before_reading_the_socket_are_buffered_not_lost(relay: PulseFilter) -> None:
    sock = connect(relay)
    # AUTH and three commands in one write: the filter sends AUTH first (with credentials), then the rest.
    sock.sendall(auth(tag=1) + b"".join(command(Command.GET_SERVER_INFO, tag) for tag in (2, 3, 4)))
    tags = [read_packet(sock)[1] for _ in range(4)]
    assert tags == [U32(1), U32(2), U32(3), U32(4)]


def test_a_stopped_filter_can_start_again_on_a_fresh_socket(fake: FakeServer, runtime: Path) -> None:
    pulse_filter = PulseFilter(str(fake.path), runtime_dir=str(runtime))
    first = pulse_filter.start()
    pulse_filter.stop()
    second = pulse_filter.start()
    try:
        assert second != first and not Path(first).exists()
        ready(pulse_filter).sendall(command(Command.GET_SERVER_INFO, 2))
    finally:
        pulse_filter.stop()
    assert list(runtime.iterdir()) == []

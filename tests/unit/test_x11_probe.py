"""The raw X connection-setup probe against scripted unix-socket servers (no X server)."""
from __future__ import annotations

import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.probes.x11 import (
    SET_ACCESS_CONTROL_ENABLE,
    Handshake,
    HostEntry,
    SetupStatus,
    XlibProbe,
    _raw_requests,
    change_hosts_request,
    setup_request,
)
from spotidoctor.probes.x11auth import MIT_MAGIC_COOKIE, XauthEntry, encode_xauthority, parse_display

COOKIE = bytes(range(16))


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Short path: unix socket names are limited to 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="sdx11-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Scripted:
    """Accepts clients, records what the last one sent, answers each with ``respond``."""

    def __init__(self, path: Path, respond: Callable[[socket.socket, bytes], None]) -> None:
        self.received = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)  # a loaded machine accepts late; a full backlog makes connect() fail with EAGAIN
        self._conns: list[socket.socket] = []
        self._respond = respond
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            head = _read(conn, 12)
            if len(head) < 12:
                continue
            _, _, _, name_len, data_len = struct.unpack("<cxHHHHxx", head)
            self.received = head + _read(conn, _pad(name_len) + _pad(data_len))
            self._respond(conn, self.received)

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self.sock.close()


def _pad(n: int) -> int:
    return n + (-n % 4)


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def failed(reason: bytes) -> Callable[[socket.socket, bytes], None]:
    def respond(conn: socket.socket, _: bytes) -> None:
        body = reason + b"\0" * (-len(reason) % 4)
        conn.sendall(struct.pack("<BBHHH", 0, len(reason), 11, 0, len(body) // 4) + body)
    return respond


def success(conn: socket.socket, _: bytes) -> None:
    body = b"\0" * 32  # the rest of a real reply; the probe must consume it
    conn.sendall(struct.pack("<BxHHH", 1, 11, 0, len(body) // 4) + body)


def never(conn: socket.socket, _: bytes) -> None:
    pass


@pytest.fixture
def serve(sock_dir: Path) -> Iterator[Callable[[int, Callable[[socket.socket, bytes], None]], Scripted]]:
    started: list[Scripted] = []

    def start(number: int, respond: Callable[[socket.socket, bytes], None]) -> Scripted:
        server = Scripted(sock_dir / f"X{number}", respond)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def probe(sock_dir: Path, xauthority: Path | None = None) -> XlibProbe:
    env = {"HOME": str(sock_dir / "nohome")}
    if xauthority:
        env["XAUTHORITY"] = str(xauthority)
    return XlibProbe(env, socket_dir=str(sock_dir))


def test_setup_request_layout() -> None:
    assert setup_request(b"", b"") == b"l\0\x0b\0\0\0\0\0\0\0\0\0"
    request = setup_request(MIT_MAGIC_COOKIE, COOKIE)
    assert request[:12] == struct.pack("<cxHHHHxx", b"l", 11, 0, 18, 16)
    assert request[12:] == MIT_MAGIC_COOKIE + b"\0\0" + COOKIE
    assert len(request) % 4 == 0


def test_success_offers_the_cookie_of_the_probes_xauthority(sock_dir: Path, serve) -> None:
    xauth = sock_dir / "xa"
    hostname = open("/proc/sys/kernel/hostname").read().strip()
    xauth.write_bytes(encode_xauthority([XauthEntry(256, hostname.encode(), b"5", MIT_MAGIC_COOKIE, COOKIE)]))
    server = serve(5, success)
    assert probe(sock_dir, xauth).handshake(":5") == Handshake(SetupStatus.SUCCESS, "", "MIT-MAGIC-COOKIE-1",
                                                               str(xauth))
    assert server.received == struct.pack("<cxHHHHxx", b"l", 11, 0, 18, 16) + MIT_MAGIC_COOKIE + b"\0\0" + COOKIE


def test_a_server_run_by_another_uid_gets_no_cookie(sock_dir: Path, serve,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SO_PEERCRED names who listens; here it is made to say uid 4242 (the real case, another user's
    listener, runs in tests/integration/test_x11_socket_owner.py)."""
    xauth = sock_dir / "xa"
    xauth.write_bytes(encode_xauthority([XauthEntry(65535, b"", b"5", MIT_MAGIC_COOKIE, COOKIE)]))
    server = serve(5, success)
    monkeypatch.setattr("spotidoctor.probes.x11.peer_uid", lambda sock: 4242)
    with pytest.raises(ProbeUnavailable, match="run by uid 4242.*no cookie was sent"):
        probe(sock_dir, xauth).handshake(":5")
    with pytest.raises(ProbeUnavailable, match="run by uid 4242"):
        _raw_requests(parse_display(":5"), str(sock_dir / "X5"), MIT_MAGIC_COOKIE, COOKIE, [], 2.0)
    assert server.received == b""
    monkeypatch.setattr("spotidoctor.probes.x11.peer_uid", lambda sock: 0)  # root's server: fine
    assert probe(sock_dir, xauth).handshake(":5").ok and server.received == setup_request(MIT_MAGIC_COOKIE, COOKIE)


def test_explicit_xauthority_wins(sock_dir: Path, serve) -> None:
    wild = sock_dir / "wild"
    wild.write_bytes(encode_xauthority([XauthEntry(0xFFFF, b"elsewhere", b"6", MIT_MAGIC_COOKIE, COOKIE)]))
    server = serve(6, success)
    shake = probe(sock_dir).handshake(":6", xauthority=str(wild))
    assert shake.ok and shake.xauthority == str(wild)
    assert server.received == setup_request(MIT_MAGIC_COOKIE, COOKIE)  # FamilyWild is honoured


def test_authorization_required(sock_dir: Path, serve) -> None:
    reason = b"Authorization required, but no authorization protocol specified\n"
    serve(7, failed(reason))
    shake = probe(sock_dir).handshake(":7")
    assert shake == Handshake(SetupStatus.FAILED, reason.decode().strip(), "", str(sock_dir / "nohome/.Xauthority"))
    assert shake.authorization_required


def test_authenticate_reply(sock_dir: Path, serve) -> None:
    def respond(conn: socket.socket, _: bytes) -> None:
        conn.sendall(struct.pack("<BxHHH", 2, 0, 0, 2) + b"more auth please")  # 16 bytes = 4 words
    serve(8, respond)
    assert probe(sock_dir).handshake(":8").status is SetupStatus.AUTHENTICATE


def test_server_closing_early_is_a_failure(sock_dir: Path, serve) -> None:
    serve(9, lambda conn, _: conn.close())
    shake = probe(sock_dir).handshake(":9")
    assert shake.status is SetupStatus.FAILED and "closed the connection" in shake.reason


def test_connection_dropped_during_a_server_reset_is_retried(sock_dir: Path, serve) -> None:
    # A bare X server resets when its last client leaves and drops whoever connects meanwhile.
    calls: list[int] = []

    def drop_first(conn: socket.socket, request: bytes) -> None:
        calls.append(1)
        if len(calls) == 1:
            conn.close()
        else:
            success(conn, request)

    serve(12, drop_first)
    assert probe(sock_dir).handshake(":12").status is SetupStatus.SUCCESS
    assert len(calls) == 2


def test_missing_socket(sock_dir: Path) -> None:
    assert probe(sock_dir).handshake(":10").status is SetupStatus.MISSING


def test_refused_on_a_leftover_socket(sock_dir: Path) -> None:
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(sock_dir / "X11"))
    leftover.close()  # the file stays, nobody listens: a dead server's socket
    assert probe(sock_dir).handshake(":11").status is SetupStatus.REFUSED


def test_hung_server_times_out_naming_the_display(sock_dir: Path, serve) -> None:
    serve(12, never)
    with pytest.raises(ProbeTimeout, match=r"X server :12 .*did not answer within 0.3s"):
        probe(sock_dir).handshake(":12", timeout=0.3)


@pytest.mark.parametrize("display", ["tcp/host:0", "host:0", "garbage", ""])
def test_non_local_displays_are_not_probed(sock_dir: Path, display: str) -> None:
    with pytest.raises(ProbeUnavailable):
        probe(sock_dir).handshake(display)


def test_unreadable_xauthority_means_no_cookie(sock_dir: Path, serve) -> None:
    broken = sock_dir / "broken"
    broken.write_bytes(b"\x01")
    server = serve(13, success)
    assert probe(sock_dir, broken).handshake(":13").auth_name == ""
    assert server.received == setup_request(b"", b"")


def test_a_huge_xauthority_is_named_by_its_size_not_read(sock_dir: Path, serve) -> None:
    huge = sock_dir / "huge"
    with open(huge, "wb") as fh:  # sparse: 100 MiB without writing them
        fh.truncate(100 << 20)
    serve(17, failed(b"Authorization required, but no authorization protocol specified"))
    shake = probe(sock_dir, huge).handshake(":17")
    assert (shake.auth_name, shake.authorization_required) == ("", True)
    assert shake.auth_problem == (f"it is {100 << 20} bytes, larger than the 1024 KiB spotidoctor reads "
                                  "(a normal one holds a few hundred bytes)")


# -- raw host-list requests (the revoke fix) ---------------------------------------------------

def test_change_hosts_request_encoding() -> None:
    assert change_hosts_request(1, HostEntry(252, b"")) == bytes([109, 1, 2, 0, 252, 0, 0, 0])
    inet = change_hosts_request(1, HostEntry(0, bytes([10, 0, 0, 2])))
    assert inet == bytes([109, 1, 3, 0, 0, 0, 4, 0, 10, 0, 0, 2])
    si = change_hosts_request(0, HostEntry(5, b"localuser\0bob"))
    assert len(si) % 4 == 0 and si[2] == len(si) // 4 and si[6] == 13
    assert SET_ACCESS_CONTROL_ENABLE == bytes([111, 1, 1, 0])


def _x_server_answering(errors: dict[int, int],
                        requests: list[bytes] | None = None) -> Callable[[socket.socket, bytes], None]:
    """Accept the setup, then answer N requests: an error for the listed sequence numbers and
    a reply for the last one (the round trip). Each request received goes to ``requests``."""
    def respond(conn: socket.socket, _: bytes) -> None:
        success(conn, b"")
        count = 0
        while True:
            head = _read(conn, 4)
            if len(head) < 4:
                return
            (length,) = struct.unpack_from("<H", head, 2)
            request = head + _read(conn, length * 4 - 4)
            if requests is not None:
                requests.append(request)
            count += 1
            if count in errors:
                conn.sendall(struct.pack("<BBH", 0, errors[count], count) + b"\0" * 28)
            if head[0] == 43:  # GetInputFocus: the reply ends the exchange
                conn.sendall(struct.pack("<BBHI", 1, 0, count, 0) + b"\0" * 24)
                return
    return respond


def test_raw_requests_round_trip(sock_dir: Path, serve) -> None:
    received: list[bytes] = []
    server = serve(14, _x_server_answering({}, received))
    _raw_requests(parse_display(":14"), str(sock_dir / "X14"), MIT_MAGIC_COOKIE, COOKIE,
                  [change_hosts_request(1, HostEntry(252, b"")), SET_ACCESS_CONTROL_ENABLE], 2.0)
    # The setup carried the cookie; then exactly the requests, in order, and one round trip.
    assert server.received == struct.pack("<cxHHHHxx", b"l", 11, 0, 18, 16) + MIT_MAGIC_COOKIE + b"\0\0" + COOKIE
    assert received == [
        struct.pack("<BBHBxH", 109, 1, 2, 252, 0),  # ChangeHosts Delete, family LOCAL, no address
        struct.pack("<BBH", 111, 1, 1),  # SetAccessControl Enable
        struct.pack("<BxH", 43, 1),  # GetInputFocus: waits for the server to answer
    ]


def test_raw_requests_report_x_errors(sock_dir: Path, serve) -> None:
    serve(15, _x_server_answering({1: 10}))
    with pytest.raises(ProbeUnavailable, match="rejected the change: BadAccess"):
        _raw_requests(parse_display(":15"), str(sock_dir / "X15"), b"", b"",
                      [change_hosts_request(1, HostEntry(252, b""))], 2.0)


def test_revoke_against_a_hung_server_times_out(sock_dir: Path, serve) -> None:
    serve(16, never)
    with pytest.raises(ProbeTimeout):
        probe(sock_dir).revoke(":16", [HostEntry(252, b"")], enable_access_control=True, timeout=0.3)


def test_host_entry_text() -> None:
    assert HostEntry(252, b"").text == "LOCAL:" and HostEntry(252, b"").xhost_spec == "local:"
    assert HostEntry(0, bytes([10, 1, 2, 3])).text == "INET:10.1.2.3"
    assert HostEntry(6, bytes.fromhex("fe80" + "00" * 13 + "01")).text == "INET6:fe80::1"
    assert HostEntry(5, b"localuser\0alice").text == "SI:localuser:alice"
    assert HostEntry(5, b"localuser\0alice").xhost_spec == "si:localuser:alice"
    assert HostEntry(77, b"x").text == "family77:x"

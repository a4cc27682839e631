"""The relay with a fake client (a plain socket) and a fake upstream standing in for the proxy.

The fake upstream behaves like xdg-dbus-proxy in front of a bus: it reads the NUL byte and
one AUTH line, answers ``OK <guid>`` (or what the test says), waits for ``BEGIN`` and then
echoes every byte. It records everything it got, so the tests see exactly what the relay
sent upstream (our uid, never the client's claim) and when it connected.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.dbus.relay import RefusalLog, RelayThread, listen_socket, probe_upstream
from spotidoctor.channels.dbus.sasl import NO_FDS, UpstreamRefused, upstream_hello

GUID = "0123456789abcdef0123456789abcdef"
OK = f"OK {GUID}\r\n".encode()
TIMEOUT = 5.0


def hexuid(uid: int) -> bytes:
    return str(uid).encode().hex().encode()


class FakeUpstream:
    def __init__(self, path: Path, answer: bytes = OK) -> None:
        self.path = str(path)
        self.answer = answer
        self.received: list[bytearray] = []
        self.closed = threading.Event()  # set when a connection's peer (the relay) closed it
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.received)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            got = bytearray()
            self.received.append(got)
            threading.Thread(target=self._serve, args=(conn, got), daemon=True).start()

    def _serve(self, conn: socket.socket, got: bytearray) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                while b"\r\n" not in got:
                    if not self._recv(conn, got):
                        return
                if not self.answer:
                    return  # hang up, like a proxy that could not reach the bus
                conn.sendall(self.answer)
                while b"BEGIN\r\n" not in got:
                    if not self._recv(conn, got):
                        return
                echo_from = got.index(b"BEGIN\r\n") + len(b"BEGIN\r\n")
                if len(got) > echo_from:
                    conn.sendall(bytes(got[echo_from:]))
                while True:
                    start = len(got)
                    if not self._recv(conn, got):
                        return
                    conn.sendall(bytes(got[start:]))
            except OSError:
                return
            finally:
                self.closed.set()

    @staticmethod
    def _recv(conn: socket.socket, got: bytearray) -> bool:
        chunk = conn.recv(65536)
        got += chunk
        return bool(chunk)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(tmp_path / "proxy.sock")
    yield fake
    fake.close()


class Running:
    def __init__(self, tmp_path: Path, upstream: FakeUpstream, **limits: float) -> None:
        self.path = str(tmp_path / "bus")
        self.log = RefusalLog()
        self.thread = RelayThread(listen_socket(self.path), upstream.path, os.getuid(), self.log,
                                  **limits)  # type: ignore[arg-type]
        self.thread.start()

    def client(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.path)
        return sock


@pytest.fixture
def relay(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Running]:
    running = Running(tmp_path, upstream)
    yield running
    running.thread.stop()


def read_lines(sock: socket.socket, count: int) -> list[bytes]:
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    lines = data.split(b"\r\n")
    assert lines[count:] == [b""], f"more than {count} lines: {data!r}"
    return lines[:count]


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def logged(log: RefusalLog) -> tuple[str, ...]:
    """The entries once there are some (the relay thread may add one just after closing a socket)."""
    deadline = time.monotonic() + TIMEOUT
    while not log.entries() and time.monotonic() < deadline:
        time.sleep(0.01)
    return log.entries()


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_the_socket_is_0666_for_the_container(relay: Running) -> None:
    assert os.stat(relay.path).st_mode & 0o777 == 0o666


def test_libdbus_claiming_uid_1500_gets_the_upstream_guid_and_a_spliced_stream(relay: Running,
                                                                               upstream: FakeUpstream) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL " + hexuid(1500) + b"\r\n")
        assert read_lines(client, 1) == [OK.strip()]
        client.sendall(b"NEGOTIATE_UNIX_FD\r\n")
        assert read_lines(client, 1) == [NO_FDS.encode()]
        client.sendall(b"BEGIN\r\nHello")
        assert read_exactly(client, 5) == b"Hello"
        client.sendall(b", bus")
        assert read_exactly(client, 5) == b", bus"
    # Upstream saw only the relay's own authentication, with our uid, then the messages.
    assert bytes(upstream.received[0]) == upstream_hello(os.getuid()) + b"BEGIN\r\nHello, bus"
    assert relay.log.entries() == ()


def test_gdbus_with_an_empty_identity(relay: Running, upstream: FakeUpstream) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH\r\n")
        assert read_lines(client, 1) == [b"REJECTED EXTERNAL"]
        assert upstream.connections == 0  # nothing upstream before the client is about to get OK
        client.sendall(b"AUTH EXTERNAL\r\n")
        assert read_lines(client, 1) == [b"DATA"]
        client.sendall(b"DATA \r\n")
        assert read_lines(client, 1) == [OK.strip()]
        client.sendall(b"NEGOTIATE_UNIX_FD\r\n")
        assert read_lines(client, 1) == [NO_FDS.encode()]
        client.sendall(b"BEGIN\r\nping")
        assert read_exactly(client, 4) == b"ping"
    assert bytes(upstream.received[0]).startswith(upstream_hello(os.getuid()) + b"BEGIN\r\n")


def test_sd_bus_pipelined_in_one_write(relay: Running, upstream: FakeUpstream) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\nfirst message")
        # The replies and the spliced message may arrive in one read: read them as one stream.
        expected = b"\r\n".join([b"DATA", OK.strip(), NO_FDS.encode()]) + b"\r\n" + b"first message"
        assert read_exactly(client, len(expected)) == expected


def test_a_megabyte_each_way_arrives_intact(relay: Running) -> None:
    payload = os.urandom(1 << 20)
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL 31\r\nBEGIN\r\n")
        assert read_lines(client, 1) == [OK.strip()]
        sender = threading.Thread(target=client.sendall, args=(payload,))
        sender.start()
        assert read_exactly(client, len(payload)) == payload
        sender.join()


def test_garbage_is_refused_and_logged_without_its_bytes(relay: Running, upstream: FakeUpstream) -> None:
    with relay.client() as client:
        client.sendall(b"GET /secret-token HTTP/1.1\r\n\r\n")
        assert closed_by_peer(client)
    (entry,) = logged(relay.log)
    assert entry == f"client pid {os.getpid()} uid {os.getuid()}: the first byte was not NUL: not a D-Bus client"
    assert upstream.connections == 0


def test_overlong_line_is_refused(relay: Running) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL " + b"3" * 5000)
        assert closed_by_peer(client)
    assert logged(relay.log)[0].endswith("an authentication line longer than 1024 bytes")


def test_early_close_after_ok_closes_the_upstream_connection(relay: Running, upstream: FakeUpstream) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL 31\r\n")
        assert read_lines(client, 1) == [OK.strip()]
    assert upstream.closed.wait(TIMEOUT)
    assert bytes(upstream.received[0]) == upstream_hello(os.getuid())  # never BEGIN
    assert logged(relay.log)[0].endswith("the client closed the connection while waiting for BEGIN")


def test_file_descriptors_are_refused_before_and_after_begin(relay: Running, upstream: FakeUpstream) -> None:
    with relay.client() as client, open(os.devnull) as passed:
        socket.send_fds(client, [b"\0"], [passed.fileno()])
        assert closed_by_peer(client)
    with relay.client() as client, open(os.devnull) as passed:
        client.sendall(b"\0AUTH EXTERNAL 31\r\nBEGIN\r\n")
        assert read_lines(client, 1) == [OK.strip()]
        socket.send_fds(client, [b"with a descriptor"], [passed.fileno()])
        assert closed_by_peer(client)
    assert [e.split(": ", 1)[1] for e in relay.log.entries()] == ["the client passed file descriptors; they were "
                                                                  "discarded"] * 2
    assert b"with a descriptor" not in bytes(upstream.received[0])


def test_upstream_rejection_closes_the_client_without_ok(tmp_path: Path) -> None:
    fake = FakeUpstream(tmp_path / "proxy.sock", answer=b"REJECTED EXTERNAL\r\n")
    running = Running(tmp_path, fake)
    try:
        with running.client() as client:
            client.sendall(b"\0AUTH EXTERNAL 31\r\n")
            assert closed_by_peer(client)
        assert logged(running.log)[0].endswith(
            "cannot authenticate to the D-Bus proxy: the session bus rejected the proxy's authentication as this user")
    finally:
        running.thread.stop()
        fake.close()


def test_no_upstream_at_all(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.close()
    os.unlink(upstream.path)
    running = Running(tmp_path, upstream)
    try:
        with running.client() as client:
            client.sendall(b"\0AUTH EXTERNAL 31\r\n")
            assert closed_by_peer(client)
        assert "cannot authenticate to the D-Bus proxy: [Errno 2]" in logged(running.log)[0]
    finally:
        running.thread.stop()


def test_the_auth_phase_times_out(tmp_path: Path, upstream: FakeUpstream) -> None:
    running = Running(tmp_path, upstream, auth_timeout=0.2)
    try:
        with running.client() as client:
            client.sendall(b"\0AUTH\r\n")
            assert read_lines(client, 1) == [b"REJECTED EXTERNAL"]
            assert closed_by_peer(client)  # no BEGIN: the deadline ends it
        assert logged(running.log)[0].endswith("no complete authentication within 0.2s")
    finally:
        running.thread.stop()


def test_the_number_of_clients_is_capped(tmp_path: Path, upstream: FakeUpstream) -> None:
    running = Running(tmp_path, upstream, max_clients=1)
    try:
        with running.client() as first:
            first.sendall(b"\0AUTH\r\n")
            assert read_lines(first, 1) == [b"REJECTED EXTERNAL"]  # the first one is being served
            with running.client() as second:
                assert closed_by_peer(second)
            assert logged(running.log)[0].endswith("refused, already 1 clients")
    finally:
        running.thread.stop()


def test_stop_ends_open_connections_and_closes_the_listener(relay: Running) -> None:
    client = relay.client()
    with client:
        client.sendall(b"\0AUTH EXTERNAL 31\r\nBEGIN\r\n")
        assert read_lines(client, 1) == [OK.strip()]
        relay.thread.stop()
        assert closed_by_peer(client)
    assert not relay.thread.alive
    with pytest.raises(OSError):
        relay.client()


def test_half_close_passes_the_end_on(relay: Running) -> None:
    with relay.client() as client:
        client.sendall(b"\0AUTH EXTERNAL 31\r\nBEGIN\r\nlast words")
        client.shutdown(socket.SHUT_WR)
        everything = b""
        while chunk := client.recv(4096):
            everything += chunk
        assert everything == OK + b"last words"  # echoed, then the upstream's end reached us


def test_probe_upstream_returns_the_guid(upstream: FakeUpstream) -> None:
    assert probe_upstream(upstream.path, os.getuid()) == GUID
    assert bytes(upstream.received[0]) == upstream_hello(os.getuid())


def test_probe_upstream_explains_a_proxy_that_hangs_up(tmp_path: Path) -> None:
    fake = FakeUpstream(tmp_path / "proxy.sock", answer=b"")
    try:
        with pytest.raises(UpstreamRefused, match="the proxy closed the connection"):
            probe_upstream(fake.path, os.getuid(), timeout=1.0)
    finally:
        fake.close()


def test_writing_to_a_vanished_peer_is_an_error_not_sigpipe() -> None:
    """Even where SIGPIPE kills (its default disposition), the relay gets EPIPE instead."""
    code = """
import asyncio, signal, socket, sys
from spotidoctor.channels.dbus.relay import send_bytes
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
ours, theirs = socket.socketpair()
ours.setblocking(False)
theirs.close()
async def main():
    await send_bytes(asyncio.get_running_loop(), ours, b"x" * 100000)
try:
    asyncio.run(main())
except BrokenPipeError:
    sys.exit(0)
sys.exit(1)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], timeout=30)
    assert done.returncode == 0  # -13 would be death by SIGPIPE

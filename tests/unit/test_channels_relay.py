"""The sign-in callback relay: the pump's bounds, the listener, the namespace helper's protocol.

The container's namespace is replaced by the test's own (``LocalSockets``): what is tested here
is everything around it; tests/integration/test_channels_standin.py enters a real container.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.callback import CallbackRelay, RelayLimits
from spotidoctor.channels.netns import HelperSockets, NetnsError, helper_argv, parse_pid
from spotidoctor.channels.nshelper import serve
from spotidoctor.channels.pump import PumpEnd, PumpLimits, pump
from spotidoctor.probes.command import Started, SubprocessRunner

LIMITS = PumpLimits(max_up_bytes=1000, max_down_bytes=100_000, idle_timeout_s=5, max_duration_s=20)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def run_pump(limits: PumpLimits = LIMITS, stop: threading.Event | None = None):  # type: ignore[no-untyped-def]
    """(browser end, client end, thread, result list): the pump relays between the inner ends."""
    browser, relay_a = pair()
    relay_b, client = pair()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(pump(relay_a, relay_b, limits, stop=stop)), daemon=True)
    thread.start()
    return browser, client, thread, result


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF; a reset (closed with our request unread) ends it like EOF."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


# -- the pump ---------------------------------------------------------------------------------------

def test_pump_relays_both_ways_and_passes_the_half_close_on() -> None:
    browser, client, thread, result = run_pump()
    browser.sendall(b"GET /login?code=abc HTTP/1.0\r\n\r\n")
    browser.shutdown(socket.SHUT_WR)
    assert recv_all(client) == b"GET /login?code=abc HTTP/1.0\r\n\r\n"  # EOF arrived too
    client.sendall(b"HTTP/1.0 200 OK\r\n\r\nsigned in")
    client.close()
    assert recv_all(browser) == b"HTTP/1.0 200 OK\r\n\r\nsigned in"
    thread.join(10)
    assert result[0].end is PumpEnd.DONE and (result[0].up_bytes, result[0].down_bytes) == (32, 28)  # type: ignore[attr-defined]


def test_pump_cuts_a_request_over_its_size() -> None:
    browser, client, thread, result = run_pump()
    browser.sendall(b"x" * 1001)
    thread.join(10)
    assert result[0].end is PumpEnd.TOO_BIG  # type: ignore[attr-defined]


def test_pump_cuts_an_answer_over_its_size() -> None:
    browser, client, thread, result = run_pump(PumpLimits(1000, 300_000, 5, 20))
    reader = threading.Thread(target=recv_all, args=(browser,), daemon=True)
    reader.start()
    client.settimeout(10)
    try:
        while thread.is_alive():
            client.send(b"y" * 65536)
    except OSError:
        pass  # the pump closed its end
    thread.join(10)
    assert result[0].end is PumpEnd.TOO_BIG and result[0].down_bytes > 300_000  # type: ignore[attr-defined]


def test_pump_buffers_little_for_a_browser_that_does_not_read() -> None:
    browser, client, thread, result = run_pump(PumpLimits(1000, 100_000_000, idle_timeout_s=0.3, max_duration_s=20))
    client.setblocking(False)
    while thread.is_alive():
        try:
            client.send(b"y" * 65536)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    thread.join(10)
    # Reading stops once one chunk waits for the browser: the pump holds at most that much
    # beyond what the sockets' own buffers take, and the exchange ends as idle.
    assert result[0].end is PumpEnd.IDLE and result[0].down_bytes < 8 * 1024 * 1024  # type: ignore[attr-defined]


def test_pump_ends_an_idle_exchange() -> None:
    browser, client, thread, result = run_pump(PumpLimits(1000, 1000, idle_timeout_s=0.2, max_duration_s=20))
    browser.sendall(b"GET /")
    thread.join(10)
    assert result[0].end is PumpEnd.IDLE  # type: ignore[attr-defined]


def test_pump_ends_a_trickle_at_its_total_time() -> None:
    browser, client, thread, result = run_pump(PumpLimits(10_000, 1000, idle_timeout_s=5, max_duration_s=0.3))
    while thread.is_alive():
        try:
            browser.send(b"x")
        except OSError:
            break
        time.sleep(0.02)
    thread.join(10)
    assert result[0].end is PumpEnd.TOO_LONG  # type: ignore[attr-defined]


def test_pump_stops_when_asked() -> None:
    stop = threading.Event()
    browser, client, thread, result = run_pump(stop=stop)
    stop.set()
    thread.join(10)
    assert result[0].end is PumpEnd.STOPPED  # type: ignore[attr-defined]


def test_pump_reports_a_reset() -> None:
    browser, client, thread, result = run_pump()
    client.close()
    browser.sendall(b"GET / HTTP/1.0\r\n\r\n")
    thread.join(10)
    assert result[0].end in (PumpEnd.RESET, PumpEnd.DONE)  # type: ignore[attr-defined]


# -- the relay ---------------------------------------------------------------------------------------

class LocalSockets:
    """Sockets in the test's own namespace, standing in for the container's."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.closed = False

    def socket(self) -> socket.socket:
        if self.fail:
            raise NetnsError("the namespace helper is gone (test)")
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def close(self) -> None:
        self.closed = True


class Inside:
    """A server on 127.0.0.1 that answers each request with its first line, or holds it open."""

    def __init__(self, answer: bool = True) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.answer:
                self.held.append(conn)
                continue
            with conn:
                line = conn.recv(4096).split(b"\r\n", 1)[0]
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\ngot " + line)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def inside() -> Iterator[Inside]:
    server = Inside()
    yield server
    server.close()


def ask(port: int, request: bytes = b"GET /login?code=abc HTTP/1.0\r\n\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        return recv_all(conn)


def test_a_request_reaches_the_inside_and_the_answer_comes_back(inside: Inside) -> None:
    log: list[str] = []
    relay = CallbackRelay.serve(LocalSockets(), port=0, container_port=inside.port, log=log.append)
    try:
        assert relay.wait_ready(10) and relay.problem is None and relay.port
        assert ask(relay.port) == b"HTTP/1.0 200 OK\r\n\r\ngot GET /login?code=abc HTTP/1.0"
        wait_until(lambda: relay.stats.relayed == 1, "the count")
    finally:
        relay.stop()


def test_the_relay_listens_on_loopback_only(inside: Inside) -> None:
    relay = CallbackRelay.serve(LocalSockets(), port=0, container_port=inside.port)
    try:
        assert relay._listener is not None and relay._listener.getsockname()[0] == "127.0.0.1"
    finally:
        relay.stop()


def test_a_busy_port_is_a_problem_not_an_exception(inside: Inside) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    source = LocalSockets()
    log: list[str] = []
    try:
        relay = CallbackRelay.serve(source, port=taken.getsockname()[1], container_port=inside.port, log=log.append)
        assert relay.problem is not None and "already in use" in relay.problem and "QR code" in relay.problem
        assert not relay.listening and relay.port is None and source.closed
        assert log == [f"callback relay: {relay.problem}"]
        relay.stop()
    finally:
        taken.close()


def test_connections_over_the_limit_are_closed_at_once() -> None:
    holder = Inside(answer=False)
    relay = CallbackRelay.serve(LocalSockets(), port=0, container_port=holder.port,
                                limits=RelayLimits(max_connections=2))
    try:
        assert relay.port
        open_ones = [socket.create_connection(("127.0.0.1", relay.port), timeout=10) for _ in range(2)]
        wait_until(lambda: len(holder.held) == 2, "two relayed connections")
        extra = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        assert extra.recv(10) == b""  # closed without being relayed
        assert relay.stats.refused_busy == 1 and len(holder.held) == 2
        for conn in [*open_ones, extra]:
            conn.close()
    finally:
        relay.stop()
        holder.close()


def test_nothing_listening_inside_closes_the_connection(inside: Inside) -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    log: list[str] = []
    relay = CallbackRelay.serve(LocalSockets(), port=0, container_port=closed_port, log=log.append)
    try:
        assert relay.port and ask(relay.port) == b""
        wait_until(lambda: relay.stats.failed == 1, "the failure")
        assert any(f"nothing answers on 127.0.0.1:{closed_port} in the container" in line for line in log)
    finally:
        relay.stop()


def test_a_gone_helper_closes_the_connection_and_is_logged(inside: Inside) -> None:
    log: list[str] = []
    relay = CallbackRelay.serve(LocalSockets(fail=True), port=0, container_port=inside.port, log=log.append)
    try:
        assert relay.port and ask(relay.port) == b""
        wait_until(lambda: relay.stats.failed == 1, "the failure")
        assert "callback relay: the namespace helper is gone (test)" in log
    finally:
        relay.stop()


def test_a_slow_browser_is_cut_by_the_limits(inside: Inside) -> None:
    relay = CallbackRelay.serve(LocalSockets(), port=0, container_port=inside.port,
                                limits=RelayLimits(idle_timeout_s=0.2))
    try:
        assert relay.port
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as conn:
            conn.sendall(b"GET")  # never finishes the request line; the inside waits for more
            wait_until(lambda: relay.stats.cut == 1, "the idle cut")
    finally:
        relay.stop()


def test_stop_closes_the_port_and_the_source(inside: Inside) -> None:
    source = LocalSockets()
    relay = CallbackRelay.serve(source, port=0, container_port=inside.port)
    port = relay.port
    assert port and relay.listening
    relay.stop()
    relay.stop()  # idempotent
    assert source.closed and not relay.listening
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_the_relay_ends_with_the_watched_process(inside: Inside) -> None:
    child = subprocess.Popen(["sleep", "60"])
    source = LocalSockets()
    log: list[str] = []
    relay = CallbackRelay.serve(source, port=0, container_port=inside.port, log=log.append, watch_pid=child.pid)
    try:
        assert relay.port and ask(relay.port).startswith(b"HTTP/1.0 200")
        child.kill()
        child.wait()
        wait_until(lambda: not relay.listening, "the relay to end with the process")
        assert source.closed and "callback relay: the container has ended; the port is closed" in log
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    finally:
        relay.stop()
        child.kill()


# -- the namespace helper -----------------------------------------------------------------------------

def test_the_helper_hands_out_sockets_over_its_channel() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(serve(theirs)), daemon=True)
    thread.start()
    assert ours.recv(256) == b"ready " + os.readlink("/proc/self/ns/net").encode()
    for _ in range(2):
        ours.send(b"socket")
        msg, fds, _, _ = socket.recv_fds(ours, 64, 1)
        with socket.socket(fileno=fds[0]) as sock:
            assert msg == b"ok" and sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
    ours.send(b"something else")
    thread.join(10)
    assert result == [2]  # an unknown request ends it
    ours.close()
    theirs.close()


class DirectStarter:
    """Runs the helper without nsenter (so in the test's own namespace), or a given argv."""

    def __init__(self, argv: list[str] | None = None) -> None:
        self.runner = SubprocessRunner()
        self.argv = argv

    def which(self, name: str) -> str | None:
        return self.runner.which(name)

    def start(self, argv: list[str], **kw: object) -> Started:
        python_part = argv[argv.index("--") + 1:]
        return self.runner.start(self.argv or python_part, **kw)  # type: ignore[arg-type]


def test_helper_argv_enters_user_and_net_namespaces_keeping_our_uid() -> None:
    argv = helper_argv(1234, "/venv/bin/python")
    assert argv == ["nsenter", "--user=/proc/1234/ns/user", "--net=/proc/1234/ns/net", "--preserve-credentials",
                    "--", "/venv/bin/python", "-m", "spotidoctor.channels.nshelper"]


def test_a_helper_in_our_own_namespace_is_refused_as_host_networking(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Path(__file__).resolve().parents[2]
    # The helper is started with our environment; set it for this test only (a leaked
    # PYTHONPATH changes which spotidoctor later tests' subprocesses import).
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH") or str(repo))
    with pytest.raises(NetnsError, match="shares the host's network"):
        HelperSockets.start(DirectStarter(), 1, sys.executable)


def test_a_helper_that_cannot_start_says_why() -> None:
    starter = DirectStarter(["sh", "-c", "echo 'nsenter: reassociate to namespace ns/user failed: EPERM' >&2; exit 1"])
    with pytest.raises(NetnsError, match="cannot enter the container's network namespace: nsenter: reassociate"):
        HelperSockets.start(starter, 1, sys.executable)


@pytest.mark.parametrize("text, pid", [("4242\n", 4242), ("0\n", None), ("", None), ("<no value>", None),
                                       ("-1", None), ("12 34", None)])
def test_parse_pid(text: str, pid: int | None) -> None:
    assert parse_pid(text) == pid


class ExplodingRunner(SubprocessRunner):
    def run(self, argv, **kw):  # type: ignore[no-untyped-def,override]
        raise RuntimeError("podman exploded")


def test_an_unexpected_error_becomes_a_problem_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    relay = CallbackRelay.start(ExplodingRunner(), "spotify", port=0)
    try:
        assert not relay.wait_ready(10)
        assert relay.problem == "stopped by an unexpected error (RuntimeError: podman exploded)"
        wait_until(lambda: not relay.listening, "the port to close")
    finally:
        relay.stop()
    assert "Traceback" not in capsys.readouterr().err

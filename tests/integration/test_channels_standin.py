"""Links and sign-in against real rootless podman, with --network none.

A FROM-scratch stand-in (busybox + GIO's ``gio``, tests/channels_standin.py) runs with the URL
channel's mounts and environment. Inside it, ``xdg-open`` and ``gio open`` hand URLs to the
host, where a recorder placed first on PATH as ``xdg-open`` receives the accepted ones; the
stand-in's busybox httpd listens on 127.0.0.1:4381 inside the container and answers a request
sent to a free port on the host's 127.0.0.1 through the callback relay. After stop the host
port is closed and the FIFO and the namespace helper are gone.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor.channels.callback import CallbackRelay
from spotidoctor.channels.runparts import run_args
from spotidoctor.channels.urlopen import HostOpener, UrlChannel
from spotidoctor.probes.command import SubprocessRunner
from tests import servers
from tests.channels_standin import ensure_image

INSIDE_PORT = 4381  # the client's own port, inside the container's network namespace


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def channels_image(podman: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    servers.require("busybox", "gio", "nsenter")
    return ensure_image(tmp_path_factory.mktemp("channels-standin"))


@dataclass
class Host:
    runner: SubprocessRunner
    opened: Path  # what the recorder xdg-open received, one argument per line
    log: list[str]
    spotify: list[str]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    opened = tmp_path / "opened"
    recorder = bindir / "xdg-open"
    recorder.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a" >> {opened}; done\n')
    recorder.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return Host(SubprocessRunner(env), opened, [], [])


def opened_urls(host: Host) -> list[str]:
    return host.opened.read_text().splitlines() if host.opened.exists() else []


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"spotidoctor-channels-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=120)


def podman_run(image: str, name: str, extra: list[str], command: list[str]) -> None:
    done = subprocess.run(["podman", "run", "-d", "--rm", f"--name={name}", "--network=none", "--cap-drop=all",
                           "--security-opt=no-new-privileges", *extra, image, *command],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def podman_exec(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", name, *argv], capture_output=True, text=True, timeout=60)


def ask(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(request)
        conn.settimeout(15)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# The launch's two profiles: the default rootless namespace (uid 1500 is a subordinate uid on
# the host) and keep-id (uid 1500 is the user's own uid, in a user namespace of its own).
PROFILES = {"isolated": [], "keep-id": ["--userns=keep-id:uid=1500,gid=1500", "--user=1500:1500"]}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_links_and_the_sign_in_callback_cross_the_container_boundary(
        channels_image: str, host: Host, container_name: str, tmp_path: Path, profile: str) -> None:
    workdir = tmp_path / "launch"
    workdir.mkdir(mode=0o700)
    channel = UrlChannel.start(str(workdir), HostOpener(host.runner, host.log.append), host.spotify.append,
                               log=host.log.append)
    port = free_port()
    relay = CallbackRelay.start(host.runner, container_name, port=port, container_port=INSIDE_PORT,
                                log=host.log.append, python=sys.executable)
    try:
        volume_env = [arg for arg, _ in run_args(channel.mounts(), channel.env())]
        podman_run(channels_image, container_name, [*PROFILES[profile], *volume_env],
                   ["httpd", "-f", "-p", f"127.0.0.1:{INSIDE_PORT}", "-h", "/www"])
        assert relay.wait_ready(60), relay.problem

        # Links: the shim (as /usr/bin/xdg-open and via GIO's default handler) hands them over.
        for argv in (["xdg-open", "https://example.org/a"], ["gio", "open", "https://example.org/b"],
                     ["xdg-open", "file:///etc/passwd"], ["xdg-open", "javascript:alert(1)"],
                     ["gio", "open", "spotify:track:4uLU6hMCjMI75M1A2tKUQC"]):
            done = podman_exec(container_name, *argv)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        wait_until(lambda: len(opened_urls(host)) >= 2 and channel.stats.refused >= 2 and host.spotify, "the links")
        assert sorted(opened_urls(host)) == ["https://example.org/a", "https://example.org/b"]
        assert host.spotify == ["spotify:track:4uLU6hMCjMI75M1A2tKUQC"]
        refusals = [line for line in host.log if line.startswith("url refused:")]
        assert len(refusals) == 2 and {r.split()[2] for r in refusals} == {"scheme=file", "scheme=javascript"}
        assert not [line for line in host.log if "passwd" in line or "alert" in line]

        if profile == "isolated":  # the FIFO is write-only for a container user that is not you
            peek = podman_exec(container_name, "cat", "/run/spotidoctor/url/url.fifo")
            assert peek.returncode != 0 and "Permission denied" in peek.stderr
        overwrite = podman_exec(container_name, "sh", "-c", "echo > /run/spotidoctor/url/xdg-open")
        assert overwrite.returncode != 0 and "Read-only file system" in overwrite.stderr  # the shim stays ours

        # Sign-in: the host's 127.0.0.1:PORT reaches the listener on the container's own loopback.
        answer = ask(port, b"GET /cgi-bin/login?code=AQBx-test-code HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in answer and answer.endswith(b"login ok code=AQBx-test-code\n")
        helper = relay.helper_pid
        assert helper is not None and alive(helper)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", container_name], capture_output=True, timeout=120)
        wait_until(lambda: not relay.listening, "the relay to end with the container")
        channel.stop()
        relay.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert not os.path.lexists(channel.fifo_path) and not os.path.lexists(channel.root)
    assert helper is not None and not alive(helper)
    assert "callback relay: the container has ended; the port is closed" in host.log


def test_a_busy_port_is_a_warning_and_the_links_still_work(
        channels_image: str, host: Host, container_name: str, tmp_path: Path) -> None:
    workdir = tmp_path / "launch"
    workdir.mkdir(mode=0o700)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        relay = CallbackRelay.start(host.runner, container_name, port=taken.getsockname()[1], log=host.log.append)
        assert relay.problem and "already in use" in relay.problem and not relay.listening
        relay.stop()
    channel = UrlChannel.start(str(workdir), HostOpener(host.runner, host.log.append), host.spotify.append,
                               log=host.log.append)
    try:
        podman_run(channels_image, container_name, [arg for arg, _ in run_args(channel.mounts(), channel.env())],
                   ["sleep", "120"])
        assert podman_exec(container_name, "xdg-open", "https://example.org/c").returncode == 0
        wait_until(lambda: opened_urls(host) == ["https://example.org/c"], "the link")
    finally:
        channel.stop()


def test_without_the_container_the_relay_gives_up_with_a_reason(host: Host, podman: str) -> None:
    relay = CallbackRelay.start(host.runner, f"spotidoctor-absent-{uuid.uuid4().hex[:8]}", port=free_port(),
                                wait_s=1.0, log=host.log.append)
    try:
        assert not relay.wait_ready(30)
        assert relay.problem and "was not running after 1s" in relay.problem and not relay.listening
    finally:
        relay.stop()

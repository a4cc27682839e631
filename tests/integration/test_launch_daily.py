"""Daily use through a real `spotidoctor launch`: Xvfb, PulseAudio, a private `dbus-daemon
--session`, rootless podman and a FROM-scratch stand-in (tests/standin.py's /usr/bin/spotify,
which records every --uri= it gets and stays with --stay; tests/daily.py's locale files;
busybox httpd, gio and the D-Bus tools from tests/channels_standin.py).

One launch runs the stand-in while the test, from the host and through `podman exec`, uses
it the way a desktop does: a link and a second launch (one container, the link arrives in it),
the scale from Xft.dpi and the language, links the container opens (http on the host, spotify:
in the running client), media keys over the filtered bus, the sign-in callback. After the
container ends, the proxy, its sockets and the relayed port are gone. A second test launches
through the installed desktop entry's Exec line and quits through its "Quit Spotify" action.
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spotidoctor.channels.dbus.policy import MPRIS_NAME
from spotidoctor.channels.dbus.proof import request_name_argv
from spotidoctor.daily.desktopentry import DESKTOP_ID
from tests import servers
from tests.channels_standin import ensure_launch_image
from tests.daily import ensure_daily_image
from tests.dbusservers import SessionBus, start_session_bus
from tests.integration.test_isolation import Host, Running, fresh_host, listening
from tests.integration.test_launch_standin import _storage, podman_store  # noqa: F401

TRACK = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
FROM_CONTAINER = "spotify:album:1DFixLWuPkv3KT3TnV35m3"
URIS = "/home/spotify_user/.cache/spotify/standin-uris"
TOOLS = ("busybox", "gio", "nsenter", "dbus-daemon", "xdg-dbus-proxy", "dbus-send", "gdbus", "dbus-test-tool",
         "xrdb", "buildah")


@pytest.fixture(scope="module")
def launch_image(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    servers.require(*TOOLS)
    daily = ensure_daily_image(tmp_path_factory.mktemp("daily-image"), standin_image)
    return ensure_launch_image(tmp_path_factory.mktemp("launch-image"), daily)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "spotify-storage"
    _storage(path, "isolated")
    yield path
    subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(path)], capture_output=True, timeout=120)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    session = start_session_bus(tmp_path / "bus")
    yield session
    servers.stop(session.proc)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def in_container(host: Host, *argv: str, detach: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", *(["-d"] if detach else []), host.name, *argv], env=host.env,
                          capture_output=True, text=True, timeout=60)


def uris(host: Host) -> list[str]:
    return in_container(host, "cat", URIS).stdout.splitlines()


def containers_of(host: Host) -> list[str]:
    listed = subprocess.run(["podman", "ps", "-a", "--filter", f"name=^{host.name}$", "--format", "{{.ID}}"],
                            env=host.env, capture_output=True, text=True, timeout=60)
    return listed.stdout.split()


def spotidoctor(host: Host, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spotidoctor", *args], env=host.env, capture_output=True,
                          text=True, timeout=120)


def second_launch(host: Host, *spotify_args: str) -> subprocess.CompletedProcess[str]:
    """A launch whose image does not exist: only a handover that skips the preflight (and the
    build it would start) ends with exit status 0."""
    return spotidoctor(host, "launch", "--config", str(host.config), "--image", "localhost/no-such-image:none",
                       "--container-name", host.name, *spotify_args)


def proxies_of(bus: SessionBus) -> dict[int, str]:
    """xdg-dbus-proxy processes connected to this test's bus: pid -> the socket they listen on."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == "xdg-dbus-proxy" and bus.address in argv:
            found[int(proc.name)] = argv[argv.index(bus.address) + 1]
    return found


def ask(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def login_answer(port: int) -> bytes:
    try:
        return ask(port, b"GET /cgi-bin/login?code=AQBx-test HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    except OSError:
        return b""


def config_port(host: Host) -> int:
    line = next(x for x in host.config.read_text().splitlines() if x.startswith("login_callback_port"))
    return int(line.split("=")[1])


def links_and_instance(host: Host) -> None:
    done = second_launch(host, f"https://open.spotify.com/track/{TRACK.rsplit(':', 1)[1]}?si=x")
    assert done.returncode == 0 and f"opened {TRACK} in the running Spotify" in done.stdout, done
    assert "Preflight" not in done.stdout + done.stderr
    plain = second_launch(host)
    assert plain.returncode == 0 and "Spotify is already running" in plain.stdout, plain
    assert TRACK in uris(host) and len(containers_of(host)) == 1


def scale_and_language(host: Host, running: Running) -> None:
    [args] = [line for line in running.lines if line.startswith("standin: uid=1500")]
    assert "--force-device-scale-factor=2" in args.split(), args
    environ = in_container(host, "sh", "-c", 'tr "\\0" "\\n" < /proc/$(cat /tmp/standin.pid)/environ').stdout
    assert "LANG=de_DE.UTF-8" in environ.splitlines(), environ  # the image has de_DE.utf8
    assert "LC_TIME=C.UTF-8" in environ.splitlines(), environ  # it lacks xx_XX: the fallback


def links_from_the_container(host: Host, opened: Path) -> None:
    for url in ("https://example.org/from-the-stand-in", FROM_CONTAINER):
        done = in_container(host, "xdg-open", url)
        assert done.returncode == 0, done
    wait_until(lambda: opened.exists() and FROM_CONTAINER in uris(host), "both links")
    assert opened.read_text().splitlines() == ["https://example.org/from-the-stand-in"]
    assert len(containers_of(host)) == 1


def gdbus_request(name: str) -> tuple[str, ...]:
    return ("gdbus", "call", "--session", "--timeout=5", "--dest", "org.freedesktop.DBus", "--object-path",
            "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.RequestName", name, "4")


def media_keys(host: Host, bus: SessionBus) -> None:
    gdbus = in_container(host, *gdbus_request(MPRIS_NAME))
    assert gdbus.returncode == 0 and "(uint32 1,)" in gdbus.stdout, gdbus
    libdbus = in_container(host, *request_name_argv("/usr/bin/dbus-send", MPRIS_NAME))
    assert libdbus.returncode == 0 and "uint32 1" in libdbus.stdout, libdbus
    forbidden = in_container(host, *request_name_argv("/usr/bin/dbus-send", "org.example.Forbidden"))
    assert forbidden.returncode != 0 and "org.freedesktop.DBus.Error" in forbidden.stderr, forbidden
    forbidden = in_container(host, *gdbus_request("org.example.Forbidden"))
    assert forbidden.returncode != 0 and "org.freedesktop.DBus.Error" in forbidden.stderr, forbidden
    player = in_container(host, "dbus-test-tool", "echo", "--session", f"--name={MPRIS_NAME}", detach=True)
    assert player.returncode == 0, player

    def play_pause() -> subprocess.CompletedProcess[str]:
        return bus.host_client("dbus-send", "--session", "--print-reply", "--reply-timeout=5000",
                               f"--dest={MPRIS_NAME}", "/org/mpris/MediaPlayer2",
                               "org.mpris.MediaPlayer2.Player.PlayPause")

    wait_until(lambda: play_pause().returncode == 0, "the player in the container to answer", 30)
    done = play_pause()
    assert done.stdout.startswith("method return"), done


def sign_in(host: Host, port: int) -> None:
    started = in_container(host, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www", detach=True)
    assert started.returncode == 0, started
    wait_until(lambda: login_answer(port).endswith(b"login ok code=AQBx-test\n"), "the sign-in callback", 60)


def stop(host: Host, running: Running) -> int:
    subprocess.run(["podman", "stop", "--time", "10", host.name], env=host.env, capture_output=True, timeout=120)
    return running.finish(timeout=120)


def test_a_daily_session_through_one_launch(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, launch_image: str,
        storage: Path, bus: SessionBus, podman_store: dict[str, str]) -> None:  # noqa: F811
    bindir, opened = tmp_path / "bin", tmp_path / "opened"
    bindir.mkdir()
    (bindir / "xdg-open").write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a" >> {opened}; done\n')
    (bindir / "xdg-open").chmod(0o755)
    xrdb = subprocess.run(["xrdb", "-merge"], input="Xft.dpi: 192\n", text=True, env={**os.environ, **xserver.env()},
                          capture_output=True, timeout=30)
    assert xrdb.returncode == 0, xrdb.stderr
    host = fresh_host(tmp_path, xserver, pulseaudio, podman_store, storage)
    host.env.update(PATH=f"{bindir}:{host.env.get('PATH', '/usr/bin:/bin')}", LANG="de_DE.UTF-8",
                    LC_TIME="xx_XX.UTF-8", DBUS_SESSION_BUS_ADDRESS=bus.address)
    port = config_port(host)
    running = host.start(launch_image, "--stay")
    proxies: dict[int, str] = {}
    try:
        running.wait_for("standin: running")
        proxies = proxies_of(bus)
        assert len(proxies) == 1, proxies
        links_and_instance(host)
        scale_and_language(host, running)
        links_from_the_container(host, opened)
        media_keys(host, bus)
        sign_in(host, port)
    finally:
        code = stop(host, running)
    assert code in (0, 143), running.output
    assert not listening(port)
    for pid, socket_path in proxies.items():
        assert not Path(f"/proc/{pid}").exists() and not os.path.lexists(os.path.dirname(socket_path))
    assert containers_of(host) == []
    [record] = host.records()  # the handed-over links started nothing
    channels = record["channels"]
    assert channels["links"]["opened"] == 1 and channels["links"]["spotify_uris"] == 1  # type: ignore[index]
    assert channels["sign-in"]["relayed"] >= 1  # type: ignore[index]


def test_the_desktop_entry_launches_and_its_quit_action_stops(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, launch_image: str,
        storage: Path, podman_store: dict[str, str]) -> None:  # noqa: F811
    host = fresh_host(tmp_path, xserver, pulseaudio, podman_store, storage)
    config_dir = Path(host.env["XDG_CONFIG_HOME"]) / "spotidoctor"
    config_dir.mkdir(parents=True, exist_ok=True)
    # What the Exec line does not say comes from config.toml (--stay: the stand-in keeps running).
    (config_dir / "config.toml").write_text(f'{host.config.read_text()}network = "none"\n'
                                            f'storage_dir = "{storage}"\nspotify_args = ["--stay"]\n')
    installed = spotidoctor(host, "desktop", "install", "--image", launch_image, "--container-name", host.name)
    assert installed.returncode == 0, installed
    entry = (Path(host.env.get("XDG_DATA_HOME", Path(host.env["HOME"]) / ".local/share")) / "applications"
             / DESKTOP_ID).read_text()
    execs = [line.removeprefix("Exec=") for line in entry.splitlines() if line.startswith("Exec=")]
    launch_line, quit_line = execs[0], execs[1]
    argv = [TRACK if arg == "%U" else arg for arg in shlex.split(launch_line)]
    assert TRACK in argv, launch_line
    proc = subprocess.Popen(argv, env=host.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    running = Running(proc)
    try:
        running.wait_for("standin: running")
        assert uris(host) == [TRACK]
        quit_done = subprocess.run(shlex.split(quit_line), env=host.env, capture_output=True, text=True, timeout=120)
        assert quit_done.returncode == 0, quit_done
        code = running.finish(timeout=120)
    finally:
        if proc.poll() is None:
            stop(host, running)
        spotidoctor(host, "desktop", "uninstall")
    assert code in (0, 143), running.output
    assert containers_of(host) == []

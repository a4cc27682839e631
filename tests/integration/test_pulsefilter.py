"""The audio filter against real PulseAudio and real pipewire + pipewire-pulse (+ wireplumber).

Through the filter: pactl info / list sinks, paplay and pacat play (the stream is seen
uncorked on the server), and what would change the server is refused with "Access denied"
(pactl where it has a command, a raw native-protocol client for the kill commands)
while the server stays as it was. A client of another uid with no cookie (the container's
situation, made with ``podman unshare`` + ``setpriv`` as the pulse probe does) plays through
the filter. The exposure scan finds an anonymous TCP module on both servers.
"""
from __future__ import annotations

import math
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor.channels.pulse import PulseFilter, scan_server
from spotidoctor.channels.pulse.protocol import ERR_ACCESS, Command
from spotidoctor.channels.pulse.tagstruct import U32, Proplist, Value
from spotidoctor.probes.pulse import ConnectOutcome, PulsectlProbe
from tests import pulsefake, servers

CONTAINER_UID = 1500  # the image's Spotify user; mapped to a subordinate uid by `podman unshare`


@dataclass
class Filtered:
    server: servers.PulseServer
    pulse_filter: PulseFilter
    socket: str
    env: dict[str, str]  # the server's private env, with PULSE_SERVER pointing at the filter

    def run(self, *argv: str, timeout: float = 20, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=timeout,
                              **kw)  # type: ignore[call-overload]


@pytest.fixture
def filtered(any_pulse: servers.PulseServer) -> Iterator[Filtered]:
    # A short private runtime dir: pytest's tmp paths leave too little of a socket path's 107 bytes.
    runtime = tempfile.mkdtemp(prefix="sdpf-", dir="/tmp")
    pulse_filter = PulseFilter(str(any_pulse.native_socket), runtime_dir=runtime)
    try:
        path = pulse_filter.start()
        yield Filtered(any_pulse, pulse_filter, path, {**any_pulse.env, "PULSE_SERVER": f"unix:{path}"})
    finally:
        pulse_filter.stop()
        os.rmdir(runtime)


@pytest.fixture
def pause_cleanup() -> Iterator[list[dict[str, str]]]:
    envs: list[dict[str, str]] = []
    yield envs
    for env in envs:
        servers.stop_podman_pause(env)


def write_wav(path: Path, seconds: float) -> Path:
    """A 44.1 kHz s16le stereo sine (what Spotify plays)."""
    frames = int(44100 * seconds)
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / 44100)) for i in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(b"".join(struct.pack("<hh", s, s) for s in samples))
    return path


def sink_inputs(server: servers.PulseServer) -> list[dict[str, str]]:
    """Host side `pactl list sink-inputs`: per input its fields and properties (name -> value)."""
    done = server.pactl("list", "sink-inputs")
    assert done.returncode == 0, done.stderr
    found = []
    for block in done.stdout.split("Sink Input #")[1:]:
        fields = {"index": block.split("\n", 1)[0].strip()}
        for line in block.splitlines()[1:]:
            key, sep, value = line.strip().partition(" = " if " = " in line else ": ")
            if sep:
                fields[key] = value.strip('"')
        found.append(fields)
    return found


def watch_uncorked(server: servers.PulseServer, proc: subprocess.Popen[bytes], app: str) -> bool:
    """Whether ``app``'s stream shows up uncorked on the server while ``proc`` plays."""
    while proc.poll() is None:
        if any(i.get("application.name") == app and i.get("Corked") == "no" for i in sink_inputs(server)):
            return True
        time.sleep(0.1)
    return False


def module_list(server: servers.PulseServer) -> str:
    done = server.pactl("list", "short", "modules")
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- what a player does ----------------------------------------------------------------------------

def test_info_and_sinks_through_the_filter(filtered: Filtered) -> None:
    info = filtered.run("pactl", "info")
    assert info.returncode == 0, info.stderr
    assert f"Server String: unix:{filtered.socket}" in info.stdout
    name = "pulseaudio" if filtered.server.kind == "pulseaudio" else "PulseAudio (on PipeWire"
    assert f"Server Name: {name}" in info.stdout
    sinks = filtered.run("pactl", "list", "sinks")
    assert sinks.returncode == 0, sinks.stderr
    assert "Name: testsink" in sinks.stdout
    assert filtered.pulse_filter.stats().refusals == 0


def test_paplay_plays_uncorked_through_the_filter(filtered: Filtered, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tone.wav", 2.0)
    proc = subprocess.Popen(["paplay", str(wav)], env=filtered.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        seen = watch_uncorked(filtered.server, proc, "paplay")
        _, err = proc.communicate(timeout=20)
    finally:
        servers.stop(proc)
    assert proc.returncode == 0, err
    assert seen, "paplay's stream never showed up uncorked on the server"
    stats = filtered.pulse_filter.stats()
    assert stats.bytes_from_client > wav.stat().st_size - 1000 and stats.refusals == 0


def test_pacat_plays_with_a_small_buffer(filtered: Filtered, tmp_path: Path) -> None:
    raw = tmp_path / "tone.raw"
    with wave.open(str(write_wav(tmp_path / "tone.wav", 1.5))) as wav:
        raw.write_bytes(wav.readframes(wav.getnframes()))
    with open(raw, "rb") as audio:
        proc = subprocess.Popen(["pacat", "--latency-msec=30", "--client-name=pacat-test"], env=filtered.env,
                                stdin=audio, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen = watch_uncorked(filtered.server, proc, "pacat-test")
            _, err = proc.communicate(timeout=20)
        finally:
            servers.stop(proc)
    assert proc.returncode == 0, err
    assert seen
    assert filtered.pulse_filter.stats().bytes_from_client > raw.stat().st_size


# -- what a player must not do ------------------------------------------------------------------------

@pytest.fixture
def victim(filtered: Filtered) -> Iterator[dict[str, str]]:
    """A second sink and another program's stream playing on testsink (started on the host side)."""
    loaded = filtered.server.pactl("load-module", "module-null-sink", "sink_name=othersink")
    assert loaded.returncode == 0, loaded.stderr
    proc = subprocess.Popen(["pacat", "--client-name=victim", "/dev/zero"], env=filtered.server.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        servers.wait_for(lambda: any(i.get("application.name") == "victim" for i in sink_inputs(filtered.server)),
                         15, "the victim's stream", proc)
        [stream] = [i for i in sink_inputs(filtered.server) if i.get("application.name") == "victim"]
        yield {"module": loaded.stdout.strip(), **stream}
    finally:
        servers.stop(proc)


def test_changes_to_the_server_are_refused_and_nothing_changes(filtered: Filtered, victim: dict[str, str],
                                                               tmp_path: Path) -> None:
    server = filtered.server
    wav = write_wav(tmp_path / "sample.wav", 0.2)
    modules, default = module_list(server), server.pactl("get-default-sink").stdout
    attempts = [
        ("LOAD_MODULE", ["pactl", "load-module", "module-null-sink", "sink_name=evil"]),
        ("LOAD_MODULE", ["pactl", "load-module", "module-native-protocol-tcp", "auth-anonymous=1",
                         "listen=127.0.0.1", f"port={free_port()}"]),
        ("SET_DEFAULT_SINK", ["pactl", "set-default-sink", "othersink"]),
        ("UNLOAD_MODULE", ["pactl", "unload-module", victim["module"]]),
        ("MOVE_SINK_INPUT", ["pactl", "move-sink-input", victim["index"], "othersink"]),
        ("SUSPEND_SINK", ["pactl", "suspend-sink", "testsink", "1"]),
        ("SET_SINK_VOLUME", ["pactl", "set-sink-volume", "testsink", "10%"]),
        ("CREATE_UPLOAD_STREAM", ["pactl", "upload-sample", str(wav), "evil-sample"]),
        ("CREATE_RECORD_STREAM", ["parec", "--raw", "-d", "testsink.monitor"]),
    ]
    for name, argv in attempts:
        done = filtered.run(*argv, timeout=15)
        assert done.returncode != 0 and "Access denied" in done.stderr, (argv, done.stdout, done.stderr)
        assert filtered.pulse_filter.stats().refused.get(name), (name, filtered.pulse_filter.stats())
    # pactl has no kill command (pacmd's goes through the CLI protocol): a raw native client asks.
    for cmd, index in ((Command.KILL_CLIENT, victim["Client"]), (Command.KILL_SINK_INPUT, victim["index"])):
        assert raw_command(filtered.socket, cmd, U32(int(index))) == [U32(Command.ERROR), U32(3), U32(ERR_ACCESS)]
    assert module_list(server) == modules
    assert server.pactl("get-default-sink").stdout == default
    assert server.pactl("list", "short", "samples").stdout.strip() == ""
    [stream] = [i for i in sink_inputs(server) if i.get("application.name") == "victim"]
    assert (stream["index"], stream["Sink"]) == (victim["index"], victim["Sink"])  # not moved, not killed
    assert " 65536 / 100% " in server.pactl("get-sink-volume", "testsink").stdout


def test_modules_and_clients_are_not_listed_to_the_client(filtered: Filtered, victim: dict[str, str]) -> None:
    for argv in (["pactl", "list", "modules"], ["pactl", "list", "clients"]):
        done = filtered.run(*argv)
        assert done.returncode != 0 and "Access denied" in done.stderr, done
    own = filtered.run("pactl", "list", "sink-inputs")
    assert own.returncode == 0 and "victim" not in own.stdout, own  # another program's stream stays hidden


def raw_command(path: str, cmd: int, *args: Value) -> list[Value]:
    """Connect like libpulse (AUTH, SET_CLIENT_NAME), send one command with tag 3, return the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(pulsefake.auth(tag=1, flags=0, cookie=bytes(256)))
        assert pulsefake.read_packet(sock)[0] == U32(Command.REPLY)
        sock.sendall(pulsefake.command(Command.SET_CLIENT_NAME, 2, Proplist((("application.name", b"raw\0"),))))
        assert pulsefake.read_packet(sock)[0] == U32(Command.REPLY)
        sock.sendall(pulsefake.command(cmd, 3, *args))
        return pulsefake.read_packet(sock)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the container's situation: another uid, no cookie ---------------------------------------------------

OTHER_UID_PLAY = r"""set -e
d=$1 sock=$2 wav=$3 uid=$4 paplay=$5
mount -t tmpfs -o mode=0755,size=8m spotidoctor-test "$d"
: > "$d/native"
mount --bind "$sock" "$d/native"
cp "$wav" "$d/audio.wav"
chmod 0644 "$d/audio.wav"
printf 'autospawn = no\n' > "$d/client.conf"
mkdir -m 0700 "$d/home"
chown "$uid:$uid" "$d/home"
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups env -i HOME="$d/home" \
  PULSE_SERVER="unix:$d/native" PULSE_CLIENTCONFIG="$d/client.conf" "$paplay" "$d/audio.wav"
"""


def play_as(env: dict[str, str], uid: int, socket_path: str, wav: Path, scratch: str) -> subprocess.Popen[bytes]:
    """paplay as ``uid`` of the user namespace (no cookie; shared memory allowed on its side)."""
    return subprocess.Popen(["podman", "unshare", "--", "unshare", "--mount", "--", "sh", "-c", OTHER_UID_PLAY,
                             "play-as", scratch, socket_path, str(wav), str(uid), str(shutil.which("paplay"))],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def test_another_uid_without_a_cookie_plays_through_the_filter(filtered: Filtered, podman: str, tmp_path: Path,
                                                               pause_cleanup: list[dict[str, str]]) -> None:
    server = filtered.server
    pause_cleanup.append(server.env)
    probe = PulsectlProbe(server.env)
    through = probe.connect_as(CONTAINER_UID, CONTAINER_UID, filtered.socket, None)
    assert through.outcome is ConnectOutcome.OK, through
    if server.kind == "pulseaudio":  # the same client on the server's own socket: refused (no cookie)
        direct = probe.connect_as(CONTAINER_UID, CONTAINER_UID, str(server.native_socket), None)
        assert direct.outcome is ConnectOutcome.ACCESS_DENIED, direct
    wav = write_wav(tmp_path / "tone.wav", 2.0)
    scratch = tempfile.mkdtemp(prefix="spotidoctor-filter-test-", dir="/tmp")  # a tmpfs goes over it
    proc = play_as(server.env, CONTAINER_UID, filtered.socket, wav, scratch)
    try:
        seen = watch_uncorked(server, proc, "paplay")
        _, err = proc.communicate(timeout=60)
    finally:
        servers.stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)
    assert proc.returncode == 0, err
    assert seen, "the other uid's stream never showed up uncorked on the server"
    stats = filtered.pulse_filter.stats()
    assert stats.connections == 2 and stats.refusals == 0 and stats.bytes_from_client > wav.stat().st_size - 1000
    if server.kind == "pulseaudio":  # the server saw the filter as the user, never the foreign uid
        accepted = [line for line in server.log.read_text().splitlines()
                    if "Got credentials" in line and "success=1" in line]
        assert accepted and all(f"uid={os.getuid()} " in line for line in accepted), accepted


# -- exposure ---------------------------------------------------------------------------------------------

def test_the_exposure_scan_finds_an_anonymous_tcp_module(any_pulse: servers.PulseServer) -> None:
    probe = PulsectlProbe(any_pulse.env)
    info, before = scan_server(probe)
    assert before == (), before
    port = free_port()
    loaded = any_pulse.pactl("load-module", "module-native-protocol-tcp", f"port={port}", "listen=127.0.0.1",
                             "auth-anonymous=1")
    assert loaded.returncode == 0, loaded.stderr
    try:
        _, found = scan_server(probe)
    finally:
        any_pulse.pactl("unload-module", loaded.stdout.strip())
    assert [e.module for e in found] == ["module-native-protocol-tcp"]
    assert found[0].index == int(loaded.stdout.strip())
    assert f"anyone who reaches port {port} on 127.0.0.1" in found[0].reason
    assert info.kind.value == any_pulse.kind

"""`spotidoctor launch` end to end: real Xvfb, real PulseAudio / PipeWire, rootless podman
and the FROM-scratch stand-in image whose /usr/bin/spotify probes X11, audio, storage,
/dev/shm and its rlimits.

Most tests prepare the host side the way the other areas' fixes leave it (FamilyWild
cookie file, the dedicated pulse socket + cookie copy, storage owned by the container
user), so they exercise the launcher itself; `test_preflight_fixes_prepare_a_fresh_host`
prepares nothing and lets the real preflight's safe fixes do it. The two tests of the
original design's direct socket and trusted cookie opt into them (``audio = "direct"``,
``x11_trust = "trusted"``); the others run with the defaults (the audio filter, an
untrusted cookie: tests/integration/test_isolation.py goes deep on those). Audio is
verified on the host: a stream of the stand-in shows up with the container's user name,
PulseAudio logs the client's credentials (the mapped subordinate uid on the direct socket),
and its null sink's monitor records what was played.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spotidoctor import layout
from spotidoctor.paths import Paths
from tests import servers
from tests.standin import ensure_current

CONTAINER_UID = 1500
LAUNCH_TIMEOUT_S = 300
ORIGINAL_DESIGN = 'audio = "direct"\nx11_trust = "trusted"\n'  # the opt-ins: direct socket, trusted cookie


def write_config(path: Path, text: str = "") -> Path:
    """config.toml with a free port for the sign-in relay (never another test's 127.0.0.1:4381)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path.write_text(f"login_callback_port = {port}\n{text}")
    return path


@pytest.fixture(autouse=True)
def remove_container_owned_storage(tmp_path: Path) -> Iterator[None]:
    """Storage the container user owns cannot be removed by pytest: remove it inside the
    user namespace, where those files belong to (namespace) root's subordinates."""
    yield
    for name in ("spotify-storage", "fresh-storage"):
        if (tmp_path / name).exists():
            subprocess.run(["podman", "unshare", "rm", "-rf", "--", str(tmp_path / name)], capture_output=True,
                           timeout=120)


@pytest.fixture(scope="session")
def standin(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The stand-in image, rebuilt if the cached one predates tests/standin.py's probes."""
    return ensure_current(tmp_path_factory.mktemp("standin-current"), standin_image)


@pytest.fixture(scope="session")
def podman_store(podman: str) -> dict[str, str]:
    """The real user's podman storage and runtime, to point a private HOME/XDG tree at."""
    info = json.loads(subprocess.run([podman, "info", "--format", "json"], capture_output=True, text=True,
                                     check=True, timeout=120).stdout)
    return {"graphroot": info["store"]["graphRoot"], "runroot": info["store"]["runRoot"],
            "driver": info["store"]["graphDriverName"], "runtime": info["host"]["ociRuntime"]["name"],
            "tmp_dir": os.path.join(os.environ["XDG_RUNTIME_DIR"], "libpod", "tmp")}


def mapped_uid(container_uid: int = CONTAINER_UID) -> int:
    """Host uid of a container uid in podman's default rootless namespace (the live map)."""
    uid_map = subprocess.run(["podman", "unshare", "cat", "/proc/self/uid_map"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    for line in uid_map.splitlines():
        inside, outside, count = (int(x) for x in line.split())
        if inside <= container_uid < inside + count:
            return outside + container_uid - inside
    raise AssertionError(f"container uid {container_uid} is not mapped: {uid_map}")


def _podman_config(env: dict[str, str], store: dict[str, str]) -> None:
    """spotidoctor runs with the pulse server's private HOME and XDG dirs; podman must still
    find the user's real storage (and its runroot/tmp dir, which its database pins)."""
    conf = Path(env["XDG_CONFIG_HOME"]) / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "storage.conf").write_text('[storage]\ndriver = "{driver}"\ngraphroot = "{graphroot}"\n'
                                       'runroot = "{runroot}"\n'.format(**store))
    (conf / "containers.conf").write_text('[engine]\nruntime = "{runtime}"\ntmp_dir = "{tmp_dir}"\n'.format(**store))


@dataclass
class LaunchSetup:
    env: dict[str, str]
    paths: Paths
    storage: Path
    name: str
    pulse: servers.PulseServer

    def launch(self, image: str, *extra: str, spotify_args: tuple[str, ...] = (),
               soft_address_space: int | None = None) -> subprocess.CompletedProcess[str]:
        if "--config" not in extra:
            extra = ("--config", str(write_config(self.storage.parent / "launch-config.toml")), *extra)
        argv = [sys.executable, "-m", "spotidoctor", "launch", "--image", image, "--network", "none", "--yes",
                "--storage-dir", str(self.storage), "--container-name", self.name, *extra, "--", *spotify_args]

        def limit_address_space() -> None:  # like `ulimit -S -v` in the shell that starts spotidoctor
            if soft_address_space is not None:
                resource.setrlimit(resource.RLIMIT_AS, (soft_address_space, resource.getrlimit(resource.RLIMIT_AS)[1]))

        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S,
                              preexec_fn=limit_address_space)

    def records(self) -> list[dict[str, object]]:
        root = Path(self.paths.launches_dir)
        return [json.loads((d / "launch.json").read_text()) for d in sorted(root.iterdir())]


def _x11_cookie(xserver: servers.XServer, paths: Paths) -> None:
    """A FamilyWild copy of the display's cookie, readable by the container user (a FamilyLocal
    entry is bound to the host name, which differs inside the container)."""
    listed = subprocess.run(["xauth", "-f", str(xserver.xauthority), "nlist", xserver.display],
                            capture_output=True, text=True, check=True).stdout
    wild = "".join("ffff" + line[4:] + "\n" for line in listed.splitlines() if line)
    target = layout.x11_cookie(paths, xserver.number)
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    subprocess.run(["xauth", "-f", target, "nmerge", "-"], input=wild, text=True, check=True, capture_output=True)
    os.chmod(target, 0o644)


def _pulseaudio_socket(server: servers.PulseServer, paths: Paths) -> None:
    socket, cookie = layout.pulse_socket(paths), layout.pulse_cookie(paths)
    assert socket
    done = server.pactl("load-module", "module-native-protocol-unix", f"socket={socket}", f"auth-cookie={cookie}")
    assert done.returncode == 0, done.stderr
    servers.wait_for(lambda: os.path.exists(socket) and os.path.exists(cookie), 10, "pulse-socket")
    copy = layout.pulse_cookie_copy(paths)
    os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
    shutil.copyfile(cookie, copy)
    os.chmod(copy, 0o644)


PW_DROP_IN = 'pulse.properties = {\n    server.address = [ "unix:native" "unix:pulse-socket" ]\n}\n'


def _default_sink_is_testsink(server: servers.PulseServer) -> bool:
    server.pactl("set-default-sink", "testsink")
    return "Default Sink: testsink" in server.pactl("info").stdout


# pipewire first; wireplumber and pipewire-pulse only once its socket exists. Started all
# at once (tests/servers.py), wireplumber or pipewire-pulse sometimes lose the race ("Failed
# to connect to PipeWire", "can't connect: Host is down") and no default sink ever appears.
PW_ORDERED = ('pipewire & while [ ! -S "$XDG_RUNTIME_DIR/pipewire-0" ]; do sleep 0.05; done; '
              'wireplumber & pipewire-pulse & wait')


def _start_pipewire_ordered(root: Path) -> servers.PulseServer:
    env = servers.base_env(root)
    paths = Paths.from_env(env, env["HOME"])
    drop_in = Path(layout.pipewire_drop_in(paths))
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(PW_DROP_IN)
    log = root / "pipewire.log"
    proc = servers.start(["dbus-run-session", "--", "sh", "-c", PW_ORDERED], env, log)
    server = servers.PulseServer("pipewire", env, proc, log)
    try:
        servers.wait_for(lambda: server.native_socket.is_socket() and server.pactl("info").returncode == 0,
                         20, "pipewire-pulse", proc, log)
        assert server.pactl("load-module", "module-null-sink", "sink_name=testsink").returncode == 0
        servers.wait_for(lambda: _default_sink_is_testsink(server), 10, "testsink as default sink", proc, log)
    except BaseException:
        servers.stop(proc)
        raise
    return server


@pytest.fixture
def pipewire_with_socket(tmp_path: Path) -> Iterator[servers.PulseServer]:
    """pipewire-pulse started with the container socket's drop-in already in place (what the
    audio fix writes), so no restart is needed."""
    servers.require("pipewire", "pipewire-pulse", "wireplumber", "dbus-run-session", "pactl")
    server = _start_pipewire_ordered(tmp_path / "pipewire")
    yield server
    servers.stop(server.proc)


def _client_conf(paths: Paths) -> None:
    conf = Path(layout.pulse_client_conf(paths))
    conf.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf.write_text("autospawn = no\nenable-shm = no\n")
    conf.chmod(0o644)


def _storage(root: Path, profile: str) -> None:
    for sub in ("config", "cache"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    if profile == "isolated":
        subprocess.run(["podman", "unshare", "chown", "-R", f"{CONTAINER_UID}:{CONTAINER_UID}", str(root)],
                       check=True, capture_output=True, timeout=60)


def prepare(tmp_path: Path, xserver: servers.XServer, pulse: servers.PulseServer, profile: str,
            store: dict[str, str]) -> LaunchSetup:
    env = {**pulse.env, **xserver.env(), "NO_COLOR": "1"}
    paths = Paths.from_env(env, env["HOME"])
    _podman_config(env, store)
    _x11_cookie(xserver, paths)
    if pulse.kind == "pulseaudio":
        _pulseaudio_socket(pulse, paths)
    socket = layout.pulse_socket(paths)
    assert socket and os.path.exists(socket), f"no container socket at {socket}"
    _client_conf(paths)
    storage = tmp_path / "spotify-storage"
    _storage(storage, profile)
    return LaunchSetup(env, paths, storage, f"sdtest-launch-{uuid.uuid4().hex[:8]}", pulse)


class AudioWitness:
    """Host-side proof that the stand-in played through the server.

    Polls ``pactl list sink-inputs`` (a stream of the stand-in must show up, with the
    container's user name in its client properties) and, on PulseAudio, records the null
    sink's monitor. pipewire-pulse's null sink monitor records silence without a hardware
    driver, so there the sink-input is the witness.
    """

    def __init__(self, pulse: servers.PulseServer, tmp: Path) -> None:
        self.pulse = pulse
        self.streams: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        self.raw = tmp / "monitor.raw"
        self.recorder = subprocess.Popen(["parec", "--device=testsink.monitor", "--raw", "--format=s16le",
                                          "--rate=44100", "--channels=2", str(self.raw)], env=pulse.env,
                                         start_new_session=True, stderr=subprocess.DEVNULL)

    def _poll(self) -> None:
        while not self._stop.is_set():
            listed = self.pulse.pactl("list", "sink-inputs").stdout
            self.streams += [b for b in listed.split("Sink Input #") if 'application.name = "standin-spotify"' in b]
            self._stop.wait(0.05)

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join(timeout=30)
        servers.stop(self.recorder)
        return self.raw.read_bytes() if self.raw.exists() else b""


ALL_PROBES = ("--probe-x11", "--probe-audio", "--write-storage", "--probe-shm", "--probe-limits")


def _assert_standin_ran(done: subprocess.CompletedProcess[str]) -> None:
    out = done.stdout
    assert "standin: uid=1500 gid=1500" in out, out + done.stderr
    assert "standin: x11 ok" in out, out + done.stderr
    assert "standin: audio ok" in out, out + done.stderr
    assert "standin: storage ok" in out, out + done.stderr


def _owners(storage: Path) -> set[tuple[int, int]]:
    """Host owners of what the stand-in wrote. The files sit in directories that may be 0700
    and owned by the container user, so they are stat'ed inside `podman unshare` and the
    namespace ids mapped back to host ids through the live uid_map."""
    files = (storage / "config" / "standin-config", storage / "cache" / "standin-cache")
    done = subprocess.run(["podman", "unshare", "stat", "-c", "%u %g", *map(str, files)], capture_output=True,
                          text=True, check=True, timeout=60)
    inside = {tuple(int(x) for x in line.split()) for line in done.stdout.splitlines()}
    return {(_to_host(uid), _to_host(gid)) for uid, gid in inside}


def _to_host(ns_id: int) -> int:
    return os.getuid() if ns_id == 0 else mapped_uid(ns_id)


@pytest.mark.parametrize("server_kind", ["pulseaudio", "pipewire_with_socket"])
def test_launch_runs_the_standin_with_display_audio_and_storage(
        request: pytest.FixtureRequest, server_kind: str, tmp_path: Path, xserver: servers.XServer,
        standin: str, podman_store: dict[str, str]) -> None:
    pulse: servers.PulseServer = request.getfixturevalue(server_kind)
    setup = prepare(tmp_path, xserver, pulse, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml", ORIGINAL_DESIGN)
    witness = AudioWitness(pulse, tmp_path)
    try:
        done = setup.launch(standin, "--config", str(config), spotify_args=ALL_PROBES + ("--exit=7",))
    finally:
        recorded = witness.stop()
    assert done.returncode == 7, done.stdout + done.stderr
    _assert_standin_ran(done)
    assert any('application.process.user = "spotify_user"' in s for s in witness.streams), witness.streams
    host_uid = mapped_uid()
    assert _owners(setup.storage) == {(host_uid, host_uid)}
    if server_kind == "pulseaudio":
        assert any(recorded), "the null sink's monitor recorded only silence"
        # The server saw the container's client as the mapped subordinate uid (cookie auth).
        assert f"Got credentials: uid={host_uid}" in pulse.log.read_text(errors="replace")
    [record] = setup.records()
    assert record["exit_code"] == 7 and record["image"] == standin
    assert "--shm-size=1g" in record["argv"] and "--user=1500:1500" in record["argv"]
    assert "standin: shm 1048576" in done.stdout  # --shm-size=1g took effect inside (podman's default: 64000)
    log = Path(setup.paths.launches_dir) / str(record["launch_id"]) / "container.log"
    assert "standin: x11 ok" in log.read_text()


def test_keep_id_profile_leaves_storage_owned_by_the_user(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, standin: str,
        podman_store: dict[str, str]) -> None:
    setup = prepare(tmp_path, xserver, pulseaudio, "keep-id", podman_store)
    done = setup.launch(standin, "--profile", "keep-id")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_standin_ran(done)
    assert _owners(setup.storage) == {(os.getuid(), os.getgid())}


def test_crashing_standin_exit_code_and_log_survive(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, standin: str,
        podman_store: dict[str, str]) -> None:
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    done = setup.launch(standin, spotify_args=("--probe-x11", "--print-oom", "--exit=133"))
    assert done.returncode == 133, done.stdout + done.stderr
    assert "Out of memory. size=262144" in done.stdout + done.stderr
    assert "Spotify exited with status 133" in done.stdout
    [record] = setup.records()
    log = Path(setup.paths.launches_dir) / str(record["launch_id"]) / "container.log"
    assert "FATAL:memory.cc(40)] Out of memory. size=262144" in log.read_text()
    assert record["exit_code"] == 133 and record["rlimits"]["as"][0] == record["rlimits"]["as"][1]


@pytest.mark.parametrize("lift, expected", [
    pytest.param("true", "Max address space unlimited unlimited bytes", id="lifted"),
    pytest.param("false", "Max address space 4294967296 unlimited bytes", id="kept"),
])
def test_soft_address_space_limit_is_lifted_before_podman(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, standin: str,
        podman_store: dict[str, str], lift: str, expected: str) -> None:
    """A shell's `ulimit -S -v 4194304` reaches Spotify through rootless podman (it passes the
    caller's rlimits into the container) unless the launcher lifts it; the launch record keeps
    the value it started with."""
    setup = prepare(tmp_path, xserver, pulseaudio, "isolated", podman_store)
    config = write_config(tmp_path / "config.toml", f"lift_rlimit_as = {lift}\n")
    done = setup.launch(standin, "--config", str(config), spotify_args=("--probe-limits",),
                        soft_address_space=4 << 30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"standin: limit {expected}" in done.stdout, done.stdout
    [record] = setup.records()
    assert record["rlimits"]["as"][0] == (None if lift == "true" else 4 << 30)


def test_preflight_fixes_prepare_a_fresh_host(
        tmp_path: Path, xserver: servers.XServer, pulseaudio: servers.PulseServer, standin: str,
        podman_store: dict[str, str]) -> None:
    """Nothing prepared by hand: `launch --yes` applies the other areas' safe fixes (X cookie
    file, pulse socket module and cookie copy, client config, storage dirs and ownership)."""
    env = {**pulseaudio.env, **xserver.env(), "NO_COLOR": "1"}
    paths = Paths.from_env(env, env["HOME"])
    _podman_config(env, podman_store)
    setup = LaunchSetup(env, paths, tmp_path / "fresh-storage", f"sdtest-launch-{uuid.uuid4().hex[:8]}", pulseaudio)
    setup.storage.mkdir()
    config = write_config(tmp_path / "config.toml", ORIGINAL_DESIGN)
    done = setup.launch(standin, "--config", str(config), spotify_args=ALL_PROBES + ("--exit=7",))
    assert done.returncode == 7, done.stdout + done.stderr
    _assert_standin_ran(done)
    host_uid = mapped_uid()
    assert _owners(setup.storage) == {(host_uid, host_uid)}
    assert f"Got credentials: uid={host_uid}" in pulseaudio.log.read_text(errors="replace")

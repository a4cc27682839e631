"""Real servers for integration tests: Xvfb, PulseAudio, PipeWire + pipewire-pulse, podman.

Every server runs as the current (unprivileged) user with a private runtime dir, HOME and
config dir under the test's tmp dir, so the desktop's own daemons are never touched. Each
runs in its own process group and is killed by that group at teardown (never by name).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))


def require(*tools: str) -> None:
    """Skip when a tool is missing locally; fail loudly in CI, where everything must run."""
    missing = [t for t in tools if shutil.which(t) is None]
    if os.geteuid() == 0:
        reason = "integration tests run as an unprivileged user (see .ci/test-as-user)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    if missing:
        reason = f"missing {', '.join(missing)} (installed by .ci/run)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout}s\n{detail}")


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def stopped_on_failure(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """A server that fails to come up is stopped: a fixture that raises never reaches its teardown."""
    try:
        yield
    except BaseException:
        stop(proc)
        raise


def base_env(tmp: Path) -> dict[str, str]:
    """A private HOME / XDG tree for one server."""
    home, runtime = tmp / "home", tmp / "run"
    for d in (home, runtime, home / ".config"):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "XAUTHORITY", "PULSE_SERVER", "PULSE_COOKIE", "WAYLAND_DISPLAY",
                        "DBUS_SESSION_BUS_ADDRESS", "PIPEWIRE_REMOTE")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_STATE_HOME=str(home / ".local/state"))
    return env


# -- X11 ---------------------------------------------------------------------------------

@dataclass
class XServer:
    number: int
    xauthority: Path
    cookie_hex: str
    proc: subprocess.Popen[bytes]

    @property
    def display(self) -> str:
        return f":{self.number}"

    @property
    def socket_path(self) -> str:
        return f"/tmp/.X11-unix/X{self.number}"

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "XAUTHORITY": str(self.xauthority)}


def free_display() -> int:
    for number in range(40 + os.getpid() % 200, 1000):
        if not os.path.exists(f"/tmp/.X{number}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            return number
    raise RuntimeError("no free X display number")


@dataclass
class XvfbStarter:
    tmp: Path
    servers: list[XServer] = field(default_factory=list)

    def __call__(self, *extra_args: str, cookie: bool = True) -> XServer:
        """Start an Xvfb with a MIT-MAGIC-COOKIE-1 in its own Xauthority file (``cookie=False``:
        an empty one, so the server has no cookie of its own and admits every local client)."""
        number = free_display()
        xauth = self.tmp / f"Xauthority.{number}"
        cookie_hex = secrets.token_hex(16) if cookie else ""
        if cookie:
            subprocess.run(["xauth", "-f", str(xauth), "add", f":{number}", ".", cookie_hex], check=True,
                           capture_output=True)
        else:
            xauth.write_bytes(b"")
        log = self.tmp / f"xvfb.{number}.log"
        proc = start(["Xvfb", f":{number}", "-nolisten", "tcp", "-auth", str(xauth), "-noreset",
                      "-screen", "0", "1280x800x24", *extra_args], dict(os.environ), log)
        server = XServer(number, xauth, cookie_hex, proc)
        self.servers.append(server)
        env = {**os.environ, **server.env()}
        wait_for(lambda: subprocess.run(["xdpyinfo"], env=env, capture_output=True).returncode == 0,
                 15, f"Xvfb :{number}", proc, log)
        return server

    def close(self) -> None:
        for server in self.servers:
            stop(server.proc)


# -- PulseAudio --------------------------------------------------------------------------

@dataclass
class PulseServer:
    """A running pulse server (real PulseAudio or pipewire-pulse) and its private env."""

    kind: str  # "pulseaudio" | "pipewire"
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def runtime_dir(self) -> Path:
        return Path(self.env["XDG_RUNTIME_DIR"])

    @property
    def config_home(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"])

    @property
    def native_socket(self) -> Path:
        return self.runtime_dir / "pulse" / "native"

    @property
    def server(self) -> str:
        return f"unix:{self.native_socket}"

    def pactl(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              timeout=15, **kw)  # type: ignore[call-overload]


PULSE_SCRIPT = """\
load-module module-native-protocol-unix
load-module module-null-sink sink_name=testsink
set-default-sink testsink
"""


def start_pulseaudio(tmp: Path, script: str = PULSE_SCRIPT) -> PulseServer:
    """``pulseaudio -n`` with our own script: no /etc/pulse/default.pa, no hardware."""
    env = base_env(tmp)
    pa = tmp / "test.pa"
    pa.write_text(script)
    log = tmp / "pulseaudio.log"
    proc = start(["pulseaudio", "--daemonize=no", "--fail", "-n", "-F", str(pa), "--exit-idle-time=-1",
                  "--log-level=info", "--log-target=stderr", "--disallow-exit=no"], env, log)
    server = PulseServer("pulseaudio", env, proc, log)
    with stopped_on_failure(proc):
        wait_for(lambda: server.native_socket.is_socket() and server.pactl("info").returncode == 0,
                 20, "pulseaudio", proc, log)
    return server


# pipewire first: wireplumber and pipewire-pulse started at the same moment sometimes find no
# pipewire-0 yet ("Failed to connect to PipeWire"); wireplumber then exits, and without a session
# manager no default sink is ever chosen (about 1 start in 12 on the test VM). A stale socket of a
# stopped stack (restarts) must not count as ready.
PIPEWIRE_STACK = ('rm -f "$XDG_RUNTIME_DIR/pipewire-0"; pipewire & '
                  'while [ ! -S "$XDG_RUNTIME_DIR/pipewire-0" ]; do sleep 0.05; done; '
                  "wireplumber & pipewire-pulse & wait")


def start_pipewire(tmp: Path) -> PulseServer:
    """pipewire + wireplumber + pipewire-pulse in a private D-Bus session."""
    env = base_env(tmp)
    log = tmp / "pipewire.log"
    proc = start(["dbus-run-session", "--", "sh", "-c", PIPEWIRE_STACK], env, log)
    server = PulseServer("pipewire", env, proc, log)
    with stopped_on_failure(proc):
        wait_for(lambda: server.native_socket.is_socket() and server.pactl("info").returncode == 0,
                 20, "pipewire-pulse", proc, log)
        done = server.pactl("load-module", "module-null-sink", "sink_name=testsink")
        if done.returncode != 0:
            raise RuntimeError(f"pipewire-pulse: cannot load a null sink: {done.stderr}")
        server.pactl("set-default-sink", "testsink")
        wait_for_default_sink(server)
    return server


def wait_for_default_sink(server: PulseServer, sink: str = "testsink") -> None:
    """wireplumber applies set-default-sink asynchronously (and drops it while it is still starting);
    until then pipewire-pulse says @DEFAULT_SINK@. Ask again until it sticks."""
    def settled() -> bool:
        if server.pactl("get-default-sink").stdout.strip() == sink:
            return True
        server.pactl("set-default-sink", sink)
        return False

    wait_for(settled, 15, f"default sink {sink}", server.proc, server.log)


def restart_pipewire_pulse(server: PulseServer) -> None:
    """Stop the whole stack and start it again with the same env (picks up drop-ins)."""
    stop(server.proc)
    fresh = start_pipewire_with_env(server.env, server.log)
    server.proc = fresh.proc


def start_pipewire_with_env(env: dict[str, str], log: Path) -> PulseServer:
    proc = start(["dbus-run-session", "--", "sh", "-c", PIPEWIRE_STACK], env, log)
    server = PulseServer("pipewire", env, proc, log)
    with stopped_on_failure(proc):
        wait_for(lambda: server.native_socket.is_socket() and server.pactl("info").returncode == 0,
                 20, "pipewire-pulse", proc, log)
    return server


def restart_pipewire_with_testsink(server: PulseServer) -> None:
    """``restart_pipewire_pulse`` plus what ``start_pipewire`` set up at runtime (``testsink``)."""
    restart_pipewire_pulse(server)
    done = server.pactl("load-module", "module-null-sink", "sink_name=testsink")
    if done.returncode != 0:
        raise RuntimeError(f"pipewire-pulse: cannot load a null sink: {done.stderr}")
    server.pactl("set-default-sink", "testsink")
    wait_for_default_sink(server)


def stop_podman_pause(env: dict[str, str]) -> None:
    """Kill the rootless pause process podman started for a private XDG_RUNTIME_DIR (by its pid file).

    ``podman unshare`` with a test's private runtime dir starts its own ``catatonit -P``,
    which outlives the test otherwise. The real runtime dir's pause process is never touched.
    """
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if not runtime or runtime == f"/run/user/{os.getuid()}":
        return
    pid_file = Path(runtime) / "libpod" / "tmp" / "pause.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            if f"XDG_RUNTIME_DIR={runtime}".encode() not in fh.read().split(b"\0"):
                return  # the pid was reused by something else
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass


# -- hung servers (robustness) -----------------------------------------------------------

@dataclass
class HungServer:
    """A unix socket whose server accepts connections and never answers."""

    path: Path
    sock: socket.socket
    accepted: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def hung_unix_server(path: Path) -> HungServer:
    import threading

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    server = HungServer(path, sock)

    def accept_forever() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            server.accepted.append(conn)

    threading.Thread(target=accept_forever, daemon=True).start()
    return server


# -- podman ------------------------------------------------------------------------------

def podman_works() -> tuple[bool, str]:
    done = subprocess.run(["podman", "info", "--format", "{{.Host.Security.Rootless}}"],
                          capture_output=True, text=True, timeout=60)
    return done.returncode == 0 and done.stdout.strip() == "true", done.stderr


def iter_lines(path: Path) -> Iterator[str]:
    with open(path, errors="replace") as fh:
        yield from fh

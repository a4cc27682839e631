"""Pulse probe: PulseAudio / pipewire-pulse through pulsectl (imported lazily).

Owned by the pulse.* checks. The traps and what this does:

- ``pulsectl.Pulse()`` autospawns a daemon and waits without a timeout: we always build
  it with ``connect=False`` and connect with ``PA_CONTEXT_NOAUTOSPAWN`` and a deadline.
- pulsectl reports every timed connect failure as "Timed-out" (and its own timed
  connect always waits the full timeout, even on success): we run libpulse's connect
  ourselves and read the real reason from ``pa_context_errno``.
- A server can accept a connection and then never answer (or hang later, mid-call):
  each operation runs in a worker thread joined with a deadline; a hang becomes
  ``ProbeTimeout`` naming the socket. A hung worker is abandoned (a daemon thread).
- libpulse reads its environment (PULSE_SERVER, PULSE_COOKIE, HOME, XDG_RUNTIME_DIR, ...)
  from the process environment while a context is created and connected. The probe's
  ``env`` may differ from ``os.environ`` (tests, ``PULSE_COOKIE`` for a connect test), so
  that window is serialised by one process-wide lock and only the differing keys are
  swapped in and restored.
- A connection as a *different* uid (the container's) cannot be made in-process: it runs
  ``pactl`` under ``podman unshare`` + ``setpriv`` in a private mount namespace, where the
  socket is bind-mounted and the cookie copied into a private tmpfs (nothing is exposed
  to other host users, and ``$XDG_RUNTIME_DIR/pulse`` stays 0700).
"""
from __future__ import annotations

import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from spotidoctor.errors import ProbeTimeout, ProbeUnavailable

if TYPE_CHECKING:
    from spotidoctor.probes.command import CommandRunner

__all__ = ["PulseProbe", "PulsectlProbe", "ServerKind", "ServerInfo", "ModuleInfo", "ConnectOutcome",
           "ConnectResult", "PulseUnreachable", "server_kind", "pipewire_version", "default_server",
           "OTHER_UID_SCRIPT", "classify_pactl"]

T = TypeVar("T")
CONNECT_TIMEOUT_S = 3.0
OPERATION_TIMEOUT_S = 5.0
OTHER_UID_TIMEOUT_S = 20.0
PIPEWIRE_PREFIX = "PulseAudio (on PipeWire"
SETUP_DONE = "spotidoctor: connecting as uid"
_POLL_SLICE_S = 0.02
# libpulse error codes (pulse/def.h) that mean something to a user.
PA_ERR_ACCESS = 1
PA_ERR_CONNECTIONREFUSED = 6
PA_ERR_TIMEOUT = 8
PA_ERR_INVALIDSERVER = 13
# What libpulse reads from the environment while connecting.
LIBPULSE_ENV = ("PULSE_SERVER", "PULSE_COOKIE", "PULSE_CLIENTCONFIG", "PULSE_RUNTIME_PATH",
                "PULSE_STATE_PATH", "HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME")
_ENV_LOCK = threading.Lock()


class ServerKind(str, Enum):
    PULSEAUDIO = "pulseaudio"
    PIPEWIRE = "pipewire"


def server_kind(server_name: str) -> ServerKind:
    """pipewire-pulse calls itself ``PulseAudio (on PipeWire x.y.z)`` (PipeWire's
    module-protocol-pulse/pulse-server.c); PulseAudio calls itself ``pulseaudio``."""
    return ServerKind.PIPEWIRE if server_name.startswith(PIPEWIRE_PREFIX) else ServerKind.PULSEAUDIO


def pipewire_version(server_name: str) -> str | None:
    if not server_name.startswith(PIPEWIRE_PREFIX):
        return None
    return server_name[len(PIPEWIRE_PREFIX):].strip(" )") or None


@dataclass(frozen=True)
class SinkInfo:
    name: str
    driver: str  # PulseAudio: "module-null-sink.c", "module-alsa-card.c"; pipewire-pulse: "PipeWire"
    null: bool  # plays into nothing: PulseAudio's module-null-sink, PipeWire's support.null-audio-sink


@dataclass(frozen=True)
class ServerInfo:
    name: str  # "pulseaudio" or "PulseAudio (on PipeWire 0.3.65)"
    version: str
    default_sink: str | None
    user_name: str = ""
    host_name: str = ""
    sinks: tuple[SinkInfo, ...] = ()  # empty: not asked (or the server has none)

    @property
    def only_null_sinks(self) -> bool:
        """Every output plays into nothing (a null sink, e.g. a headless session): nothing is heard."""
        return bool(self.sinks) and all(s.null for s in self.sinks)

    @property
    def kind(self) -> ServerKind:
        return server_kind(self.name)

    @property
    def display_name(self) -> str:
        if self.kind is ServerKind.PIPEWIRE:
            return f"PipeWire {pipewire_version(self.name) or '?'} (pipewire-pulse)"
        return f"PulseAudio {self.version}"


@dataclass(frozen=True)
class ModuleInfo:
    index: int
    name: str
    argument: str | None  # verbatim, quoting included; None when loaded without arguments


class ConnectOutcome(str, Enum):
    OK = "ok"
    ACCESS_DENIED = "access-denied"  # reached the server, which refused the credentials/cookie
    REFUSED = "refused"  # no server, stale socket file, or a directory the client cannot enter
    TIMEOUT = "timeout"  # accepted, then never answered
    FAILED = "failed"  # anything else (detail says what)


@dataclass(frozen=True)
class ConnectResult:
    outcome: ConnectOutcome
    detail: str  # libpulse's reason, or the server name on success
    server_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is ConnectOutcome.OK


class PulseUnreachable(ProbeUnavailable):
    """The server could not be reached; ``outcome`` says why (never TIMEOUT: that is ProbeTimeout)."""

    def __init__(self, reason: str, outcome: ConnectOutcome) -> None:
        super().__init__(reason)
        self.outcome = outcome


class PulseProbe(Protocol):
    """Bounded access to the pulse server. Errors: ``PulseUnreachable``, ``ProbeTimeout``."""

    def server_info(self, server: str | None = None) -> ServerInfo:
        """Who answers at ``server`` (None: libpulse's default, honouring PULSE_SERVER)."""
        ...

    def modules(self, server: str | None = None) -> tuple[ModuleInfo, ...]:
        """Loaded modules (on PipeWire also ``libpipewire-module-*`` entries)."""
        ...

    def load_module(self, name: str, args: str, server: str | None = None) -> int:
        """Load a module now (a fix step); its index. Raises ``ProbeUnavailable`` on failure."""
        ...

    def connect_test(self, server: str, cookie_path: str | None = None) -> ConnectResult:
        """Connect as ourselves to ``server`` with ``PULSE_COOKIE=cookie_path``; never raises."""
        ...

    def connect_as(self, uid: int, gid: int, socket_path: str,
                   cookie_path: str | None) -> ConnectResult:
        """Connect as ANOTHER uid (a user-namespace uid, like the container's) through
        ``socket_path``, with a private copy of ``cookie_path`` (None: no cookie).

        Raises ``ProbeUnavailable`` when the test itself cannot run (no podman, no userns).
        """
        ...

    def socket_accepts(self, path: str) -> bool:
        """Whether something listens on the unix socket ``path`` (a raw connect, no protocol)."""
        ...


def default_server(env: Mapping[str, str]) -> str:
    """What libpulse connects to when asked for the default, for messages."""
    if env.get("PULSE_SERVER"):
        return env["PULSE_SERVER"]
    runtime = env.get("PULSE_RUNTIME_PATH") or (
        os.path.join(env["XDG_RUNTIME_DIR"], "pulse") if env.get("XDG_RUNTIME_DIR") else None)
    return f"unix:{runtime}/native" if runtime else "the default pulse server"


def _reason_outcome(errno_: int) -> ConnectOutcome:
    if errno_ == PA_ERR_ACCESS:
        return ConnectOutcome.ACCESS_DENIED
    if errno_ in (PA_ERR_CONNECTIONREFUSED, PA_ERR_INVALIDSERVER):
        return ConnectOutcome.REFUSED
    if errno_ == PA_ERR_TIMEOUT:
        return ConnectOutcome.TIMEOUT
    return ConnectOutcome.FAILED


@contextmanager
def _libpulse_env(env: Mapping[str, str], overrides: Mapping[str, str | None],
                  wait_s: float) -> Iterator[None]:
    """Swap libpulse's env keys into os.environ (only those that differ), then restore."""
    wanted: dict[str, str | None] = {k: env.get(k) for k in LIBPULSE_ENV}
    wanted.update(overrides)
    if not _ENV_LOCK.acquire(timeout=wait_s):
        raise ProbeTimeout("another pulse connection attempt did not finish in time")
    saved: dict[str, str | None] = {}
    try:
        for key, value in wanted.items():
            if os.environ.get(key) != value:
                saved[key] = os.environ.get(key)
                _setenv(key, value)
        yield
    finally:
        for key, value in saved.items():
            _setenv(key, value)
        _ENV_LOCK.release()


def _setenv(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


class _Session:
    """One pulsectl connection with a real deadline and the real failure reason."""

    def __init__(self, pulsectl: Any, server: str | None) -> None:
        self._pulsectl = pulsectl
        self.pulse = pulsectl.Pulse("spotidoctor", server=server, connect=False)

    def connect(self, timeout: float) -> ConnectResult:
        from pulsectl import _pulsectl as c

        pulse = self.pulse
        pulse.connected = None
        try:
            c.pa.context_connect(pulse._ctx, pulse.server, c.PA_CONTEXT_NOAUTOSPAWN, None)
        except c.pa.CallError:
            pulse.connected = False
        deadline = time.monotonic() + timeout
        # pulsectl's own timed connect always waits the full timeout; poll in slices instead.
        while pulse.connected is None and time.monotonic() < deadline:
            pulse._pulse_poll(min(_POLL_SLICE_S, max(0.0, deadline - time.monotonic())))
        if pulse.connected:
            return ConnectResult(ConnectOutcome.OK, "connected")
        if pulse.connected is None:
            self._abandon(c)
            return ConnectResult(ConnectOutcome.TIMEOUT, f"no answer within {timeout:g}s")
        errno_ = int(c.pa.context_errno(pulse._ctx))
        return ConnectResult(_reason_outcome(errno_), str(c.pa.strerror(errno_)))

    def _abandon(self, c: Any) -> None:
        """Stop a connect that got no answer (what pulsectl does, but bounded)."""
        c.pa.context_disconnect(self.pulse._ctx)
        deadline = time.monotonic() + 1.0
        while self.pulse.connected is None and time.monotonic() < deadline:
            self.pulse._pulse_poll(_POLL_SLICE_S)

    def close(self) -> None:
        try:
            self.pulse.close()
        except Exception:  # closing a half-dead context must never hide the real result
            pass


NULL_SINK_DRIVER = "module-null-sink.c"  # PulseAudio (module-always-sink loads it too)
NULL_SINK_FACTORY = "support.null-audio-sink"  # PipeWire's factory.name for a null sink


def _sink_info(sink: Any) -> SinkInfo:
    driver = str(getattr(sink, "driver", "") or "")
    props = getattr(sink, "proplist", None) or {}
    null = driver == NULL_SINK_DRIVER or str(props.get("factory.name", "")) == NULL_SINK_FACTORY
    return SinkInfo(str(getattr(sink, "name", "") or ""), driver, null)


def _sink_name(name: object) -> str | None:
    """pipewire-pulse names a missing default sink ``@DEFAULT_SINK@`` (its placeholder), PulseAudio ''."""
    text = str(name or "")
    return None if not text or text == "@DEFAULT_SINK@" else text


_IMPORT_LOCK = threading.Lock()


@contextmanager
def _libpulse_soname() -> Iterator[None]:
    """pulsectl loads ``CDLL(ctypes.util.find_library('libpulse') or 'libpulse.so.0')`` when it
    is imported. On Linux that lookup runs ldconfig, then gcc with its linker, then ld, and
    finds nothing (it looks for "liblibpulse"): five processes, about a tenth of a healthy
    ``spotidoctor check``'s CPU, for the fallback it then uses anyway. Answer it directly."""
    import ctypes.util

    real = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        return "libpulse.so.0" if name == "libpulse" else real(name)

    if "pulsectl" in sys.modules:  # loaded already: nothing to look up
        yield
        return
    ctypes.util.find_library = find_library
    try:
        yield
    finally:
        ctypes.util.find_library = real


def _pulsectl() -> Any:
    try:
        with _IMPORT_LOCK, _libpulse_soname():
            import pulsectl
    except ImportError as exc:  # a broken install (libpulse.so.0 missing raises OSError below)
        raise ProbeUnavailable(f"pulsectl is not installed: {exc}") from None
    except OSError as exc:
        raise ProbeUnavailable(f"libpulse cannot be loaded: {exc}") from None
    return pulsectl


# Without any of these, libpulse finds "the default server" through pa_get_runtime_dir(),
# which creates ~/.config/pulse/<machine-id>-runtime and a /tmp/pulse-XXXX directory for it
# and leaves both behind. An explicit server ("unix:PATH") never touches the runtime dir.
_LOCATING_ENV = ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")
NO_DEFAULT_SERVER = ("XDG_RUNTIME_DIR is not set, so there is no default pulse server to ask (libpulse would "
                     "guess through ~/.config/pulse/*-runtime and leave /tmp/pulse-* behind)")


class PulsectlProbe:
    """The real probe. ``env`` is spotidoctor's environment (not necessarily os.environ)."""

    def __init__(self, env: Mapping[str, str], *, connect_timeout: float = CONNECT_TIMEOUT_S,
                 operation_timeout: float = OPERATION_TIMEOUT_S, runner: CommandRunner | None = None,
                 scratch_parent: str = "/tmp") -> None:
        self._env = dict(env)
        self._connect_timeout = connect_timeout
        self._operation_timeout = operation_timeout
        self._runner = runner
        self._scratch_parent = scratch_parent

    # -- bounded execution ---------------------------------------------------------------
    def _describe(self, server: str | None) -> str:
        return server or default_server(self._env)

    def _bounded(self, what: str, server: str | None, work: Callable[[_Session], T],
                 cookie: str | None = None, cookie_override: bool = False) -> T:
        """Connect, run ``work``, close: all inside a worker thread with one deadline."""
        if server is None and not any(self._env.get(k) for k in _LOCATING_ENV):
            raise PulseUnreachable(NO_DEFAULT_SERVER, ConnectOutcome.FAILED)
        pulsectl = _pulsectl()
        box: queue.Queue[tuple[bool, object]] = queue.Queue()
        overrides: dict[str, str | None] = {"PULSE_COOKIE": cookie} if cookie_override else {}

        def worker() -> None:
            session = None
            try:
                with _libpulse_env(self._env, overrides, self._connect_timeout):
                    session = _Session(pulsectl, server)
                    connected = session.connect(self._connect_timeout)
                if not connected.ok:
                    box.put((False, connected))
                    return
                box.put((True, work(session)))
            except BaseException as exc:  # handed to the caller's thread
                box.put((False, exc))
            finally:
                if session is not None:
                    session.close()

        thread = threading.Thread(target=worker, daemon=True, name=f"pulse {what}")
        thread.start()
        budget = 2 * self._connect_timeout + self._operation_timeout
        try:
            ok, value = box.get(timeout=budget)
        except queue.Empty:
            raise ProbeTimeout(f"the pulse server at {self._describe(server)} accepted the connection "
                               f"but did not answer {what} within {budget:g}s") from None
        if ok:
            return value  # type: ignore[return-value]
        if isinstance(value, ConnectResult):
            raise self._unreachable(server, value)
        if isinstance(value, ProbeUnavailable):
            raise value
        if isinstance(value, pulsectl.PulseError):
            raise ProbeUnavailable(f"{what} at {self._describe(server)} failed: {value}")
        assert isinstance(value, BaseException)
        raise value

    def _unreachable(self, server: str | None, result: ConnectResult) -> ProbeUnavailable:
        where = self._describe(server)
        if result.outcome is ConnectOutcome.TIMEOUT:
            return ProbeTimeout(f"the pulse server at {where} accepted the connection but did not "
                                f"answer within {self._connect_timeout:g}s")
        return PulseUnreachable(f"cannot connect to the pulse server at {where}: {result.detail}",
                                result.outcome)

    # -- the Protocol ----------------------------------------------------------------------
    def server_info(self, server: str | None = None) -> ServerInfo:
        def work(session: _Session) -> ServerInfo:
            info = session.pulse.server_info()
            sinks = tuple(_sink_info(s) for s in session.pulse.sink_list())
            return ServerInfo(str(info.server_name), str(info.server_version),
                              _sink_name(info.default_sink_name), str(info.user_name or ""),
                              str(info.host_name or ""), sinks)

        return self._bounded("server info", server, work)

    def modules(self, server: str | None = None) -> tuple[ModuleInfo, ...]:
        def work(session: _Session) -> tuple[ModuleInfo, ...]:
            return tuple(ModuleInfo(int(m.index), str(m.name), m.argument if m.argument else None)
                         for m in session.pulse.module_list())

        return self._bounded("the module list", server, work)

    def load_module(self, name: str, args: str, server: str | None = None) -> int:
        def work(session: _Session) -> int:
            return int(session.pulse.module_load(name, args))

        return self._bounded(f"load-module {name}", server, work)

    def connect_test(self, server: str, cookie_path: str | None = None) -> ConnectResult:
        def work(session: _Session) -> ConnectResult:
            name = str(session.pulse.server_info().server_name)
            return ConnectResult(ConnectOutcome.OK, name, name)

        try:
            return self._bounded("a test connection", server, work, cookie_path, cookie_override=True)
        except PulseUnreachable as exc:
            return ConnectResult(exc.outcome, exc.reason)
        except ProbeTimeout as exc:
            return ConnectResult(ConnectOutcome.TIMEOUT, exc.reason)
        except ProbeUnavailable as exc:
            return ConnectResult(ConnectOutcome.FAILED, exc.reason)

    def socket_accepts(self, path: str) -> bool:
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self._connect_timeout)
            try:
                sock.connect(path)
            except OSError:
                return False
        return True

    # -- a different uid -------------------------------------------------------------------
    def _cmd(self) -> CommandRunner:
        if self._runner is None:
            from spotidoctor.probes.command import SubprocessRunner

            self._runner = SubprocessRunner(self._env)
        return self._runner

    def connect_as(self, uid: int, gid: int, socket_path: str,
                   cookie_path: str | None) -> ConnectResult:
        runner = self._cmd()
        tools = {name: runner.which(name) for name in ("podman", "unshare", "mount", "setpriv", "pactl")}
        missing = sorted(name for name, path in tools.items() if path is None)
        if missing:
            raise ProbeUnavailable(f"cannot test as another uid: {', '.join(missing)} not found")
        scratch = tempfile.mkdtemp(prefix="spotidoctor-pulse-", dir=self._scratch_parent)
        try:
            argv = other_uid_argv(str(tools["podman"]), scratch, socket_path, cookie_path, uid, gid,
                                  str(tools["pactl"]))
            done = runner.run(argv, timeout=OTHER_UID_TIMEOUT_S)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        connecting = f"{SETUP_DONE} {uid}" in done.stderr
        if done.timed_out:
            if not connecting:
                raise ProbeUnavailable(f"cannot test as another uid: `podman unshare` did not finish "
                                       f"within {OTHER_UID_TIMEOUT_S:g}s")
            return ConnectResult(ConnectOutcome.TIMEOUT,
                                 f"pactl as uid {uid} got no answer within {OTHER_UID_TIMEOUT_S:g}s")
        if not connecting:
            raise ProbeUnavailable(f"cannot test as another uid: {_pactl_reason(done.stderr) or done.error_text()}")
        return classify_pactl(done.returncode, done.stdout, done.stderr)


# Runs as root of the rootless user namespace, in a private mount namespace ($1 scratch dir,
# $2 socket, $3 cookie or "", $4 uid, $5 gid, $6 pactl). The tmpfs makes the socket and a
# private cookie copy reachable for the other uid without exposing anything on the host.
OTHER_UID_SCRIPT = r"""set -e
d=$1 sock=$2 cookie=$3 uid=$4 gid=$5 pactl=$6
MARK="spotidoctor: connecting as uid $uid"
mount -t tmpfs -o mode=0755,size=256k spotidoctor "$d"
: > "$d/native"
mount --bind "$sock" "$d/native"
printf 'autospawn = no\nenable-shm = no\n' > "$d/client.conf"
mkdir -m 0700 "$d/home"
chown "$uid:$gid" "$d/home"
if [ -n "$cookie" ]; then
  cp "$cookie" "$d/cookie"
  chown "$uid:$gid" "$d/cookie"
  chmod 0600 "$d/cookie"
  set -- "PULSE_COOKIE=$d/cookie"
else
  set --
fi
echo "$MARK" >&2
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups env -i HOME="$d/home" \
  PULSE_SERVER="unix:$d/native" PULSE_CLIENTCONFIG="$d/client.conf" "$@" "$pactl" info
"""


def other_uid_argv(podman: str, scratch: str, socket_path: str, cookie_path: str | None, uid: int,
                   gid: int, pactl: str) -> tuple[str, ...]:
    """``podman unshare`` -> private mount ns -> the script above (arguments, never interpolated)."""
    return (podman, "unshare", "--", "unshare", "--mount", "--", "sh", "-c", OTHER_UID_SCRIPT,
            "spotidoctor-pulse-test", scratch, socket_path, cookie_path or "", str(uid), str(gid), pactl)


def _pactl_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines()  # minus podman's warnings and our marker
             if line.strip() and "level=warning" not in line and SETUP_DONE not in line]
    return lines[-1] if lines else ""


def classify_pactl(returncode: int, stdout: str, stderr: str) -> ConnectResult:
    """Turn ``pactl info`` output into an outcome."""
    if returncode == 0:
        name = next((line.split(":", 1)[1].strip() for line in stdout.splitlines()
                     if line.startswith("Server Name:")), "")
        return ConnectResult(ConnectOutcome.OK, name or "connected", name or None)
    reason = _pactl_reason(stderr) or f"exit status {returncode}"
    if "Access denied" in reason:
        return ConnectResult(ConnectOutcome.ACCESS_DENIED, reason)
    if "Connection refused" in reason:
        return ConnectResult(ConnectOutcome.REFUSED, reason)
    if "Timeout" in reason:
        return ConnectResult(ConnectOutcome.TIMEOUT, reason)
    return ConnectResult(ConnectOutcome.FAILED, reason)

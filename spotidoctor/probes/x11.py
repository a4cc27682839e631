"""X11 probe: bounded connections to an X server (python-xlib imported lazily).

Owned by the x11.* checks. The traps it avoids:
- python-xlib and libxcb wait forever on a server that accepts and never answers (and
  ``socket.setdefaulttimeout`` does not help: python-xlib waits in ``select`` first),
  so every operation starts with a raw connection-setup request on a socket with a
  timeout, and python-xlib itself runs in a worker thread with a deadline (its socket is
  shut down when the deadline passes);
- python-xlib ignores FamilyWild entries (``get_best_auth`` wants the family to match) and
  reads ``os.environ``, so the cookie is
  chosen by ``spotidoctor.probes.x11auth`` from *this probe's* environment and handed to it;
- ``has_extension('MIT-SHM')`` is always False (python-xlib has no MIT-SHM client module):
  use the server's extension list.

Results are frozen dataclasses; no Xlib object and no cookie byte ever leaves this module.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeVar

from spotidoctor.errors import ParseError, ProbeTimeout, ProbeUnavailable
from spotidoctor.probes import x11auth

__all__ = ["X11Probe", "XlibProbe", "SetupStatus", "Handshake", "ServerInfo", "HostEntry",
           "AccessControl", "DEFAULT_TIMEOUT_S"]

DEFAULT_TIMEOUT_S = 3.0
SETUP_CLOSED = "the server closed the connection during setup"
RESET_RETRIES = 3
RESET_PAUSE_S = 0.15
T = TypeVar("T")


class SetupStatus(str, Enum):
    SUCCESS = "success"  # the server accepted us (setup reply byte 1)
    FAILED = "failed"  # the server refused us, with a reason (byte 0): e.g. Authorization required
    AUTHENTICATE = "authenticate"  # the server wants another auth protocol (byte 2)
    REFUSED = "refused"  # connect(): nobody listens on the socket (a dead server's leftover)
    MISSING = "missing"  # no socket file


@dataclass(frozen=True)
class Handshake:
    """The outcome of the raw connection setup."""

    status: SetupStatus
    reason: str = ""  # the server's reason text, or the OS error
    auth_name: str = ""  # the protocol we offered ("" = no cookie found); never the data
    xauthority: str | None = None  # the file the cookie came from
    auth_problem: str = ""  # why no cookie could be read from ``xauthority`` (unreadable, truncated)

    @property
    def ok(self) -> bool:
        return self.status is SetupStatus.SUCCESS

    @property
    def authorization_required(self) -> bool:
        return self.status is SetupStatus.FAILED and "authoriz" in self.reason.lower()


@dataclass(frozen=True)
class ServerInfo:
    vendor: str
    release: int
    width: int  # of the default screen, in pixels
    height: int
    screens: int
    extensions: tuple[str, ...]

    @property
    def screen(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def mit_shm(self) -> bool:
        return "MIT-SHM" in self.extensions

    @property
    def security(self) -> bool:
        """The SECURITY extension is listed (what untrusted cookies come from)."""
        return "SECURITY" in self.extensions

    @property
    def xwayland(self) -> bool:
        # Recent Xwayland advertises the XWAYLAND extension.
        return "XWAYLAND" in self.extensions


_FAMILY_PREFIX = {x11auth.FAMILY_INTERNET: "INET", x11auth.FAMILY_INTERNET6: "INET6",
                  x11auth.FAMILY_SERVER_INTERPRETED: "SI", x11auth.FAMILY_LOCALHOST: "LOCAL",
                  1: "DNET", 2: "CHAOS"}


@dataclass(frozen=True)
class HostEntry:
    """One entry of the server's host access list (``xhost`` output)."""

    family: int
    name: bytes  # not secret: an address, or b"localuser\\0alice"

    @property
    def text(self) -> str:
        """As xhost prints it: ``LOCAL:``, ``INET:10.0.0.2``, ``SI:localuser:alice``."""
        prefix = _FAMILY_PREFIX.get(self.family, f"family{self.family}")
        return f"{prefix}:{self._address()}"

    def _address(self) -> str:
        if self.family == x11auth.FAMILY_INTERNET and len(self.name) == 4:
            return socket.inet_ntop(socket.AF_INET, self.name)
        if self.family == x11auth.FAMILY_INTERNET6 and len(self.name) == 16:
            return socket.inet_ntop(socket.AF_INET6, self.name)
        if self.family == x11auth.FAMILY_SERVER_INTERPRETED:
            return self.name.replace(b"\0", b":").decode("utf-8", errors="replace")
        return self.name.decode("utf-8", errors="replace")

    @property
    def is_local_grant(self) -> bool:
        """``LOCAL:`` — every process on this machine, any uid, any container."""
        return self.family == x11auth.FAMILY_LOCALHOST

    @property
    def xhost_spec(self) -> str:
        """The argument ``xhost`` takes for this entry (``local:``, ``inet:10.0.0.2``)."""
        return f"{self.text.split(':', 1)[0].lower()}:{self._address()}"

    @property
    def is_network_grant(self) -> bool:
        return self.family in (x11auth.FAMILY_INTERNET, x11auth.FAMILY_INTERNET6, 1, 2)


@dataclass(frozen=True)
class AccessControl:
    enabled: bool  # False after `xhost +`: anyone who reaches the socket may connect
    hosts: tuple[HostEntry, ...]


class X11Probe(Protocol):
    """What the x11.* checks and fix steps ask an X server. Every call is bounded."""

    def handshake(self, display: str, *, xauthority: str | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> Handshake:
        """Raw connection setup with the cookie from ``xauthority`` (default: the env's).

        Raises ``ProbeTimeout`` when the server accepts and never answers, and
        ``ProbeUnavailable`` for a display that is not a local unix socket.
        """
        ...

    def anonymous_handshake(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Handshake:
        """Raw connection setup offering no authorization at all, whatever XAUTHORITY holds:
        what a local client without a cookie meets. Raises like ``handshake``."""
        ...

    def server_info(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> ServerInfo:
        """Vendor, default screen size and extensions (``ProbeUnavailable`` if refused)."""
        ...

    def access_control(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> AccessControl:
        """The host access list and whether it is enforced (``xhost`` without arguments)."""
        ...

    def revoke(self, display: str, hosts: Sequence[HostEntry], *, enable_access_control: bool,
               timeout: float = DEFAULT_TIMEOUT_S) -> AccessControl:
        """Remove ``hosts`` (``xhost -local:``), optionally re-enable access control
        (``xhost -``); return the list afterwards."""
        ...

    def resource_manager(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """The X resources (``xrdb -query``: the root window's RESOURCE_MANAGER); "" when unset."""
        ...


# -- raw connection setup ------------------------------------------------------------------

def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def setup_request(auth_name: bytes, auth_data: bytes) -> bytes:
    """The 12-byte little-endian connection setup header plus padded auth fields."""
    header = struct.pack("<cxHHHHxx", b"l", 11, 0, len(auth_name), len(auth_data))
    return header + _pad4(auth_name) + _pad4(auth_data)


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def read_setup_reply(sock: socket.socket) -> tuple[SetupStatus, str]:
    """Byte 0: 0 = Failed (reason follows), 1 = Success, 2 = Authenticate."""
    head = _recv_exactly(sock, 8)
    if len(head) < 8:
        return SetupStatus.FAILED, SETUP_CLOSED
    code, reason_len = head[0], head[1]
    (extra_words,) = struct.unpack_from("<H", head, 6)
    body = _recv_exactly(sock, extra_words * 4)  # the whole reply: later requests follow it
    if code == 1:
        return SetupStatus.SUCCESS, ""
    if code == 2:
        return SetupStatus.AUTHENTICATE, body.rstrip(b"\0").decode("latin-1", errors="replace").strip()
    reason = body[:reason_len].decode("latin-1", errors="replace").strip()
    return SetupStatus.FAILED, reason or "the server refused the connection without a reason"


# Core protocol requests the revoke fix sends itself (X11 protocol, "ChangeHosts" etc.).
HOST_DELETE = 1
_X_ERRORS = {2: "BadValue", 10: "BadAccess", 16: "BadLength"}
SET_ACCESS_CONTROL_ENABLE = struct.pack("<BBH", 111, 1, 1)
_GET_INPUT_FOCUS = struct.pack("<BxH", 43, 1)  # any request with a reply: a round trip


def change_hosts_request(mode: int, host: HostEntry) -> bytes:
    address = _pad4(host.name)
    return struct.pack("<BBHBxH", 109, mode, 2 + len(address) // 4, host.family, len(host.name)) + address


def peer_uid(sock: socket.socket) -> int | None:
    """The uid that created the listening end of a connected unix socket (SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    return int(struct.unpack("3i", raw)[1])


def check_listener(sock: socket.socket, name: x11auth.DisplayName) -> None:
    """Before any cookie byte is sent: the server must be run by us or root (another user's
    server, or a fake that records cookies, at our display's socket gets nothing)."""
    owner = peer_uid(sock)
    if owner is not None and owner not in (os.getuid(), 0):
        raise ProbeUnavailable(f"X server {name.canonical} is run by uid {owner}, not you (uid {os.getuid()}) or "
                               "root: no cookie was sent to it")


def _raw_requests(name: x11auth.DisplayName, path: str, auth_name: bytes, auth_data: bytes,
                  requests: Sequence[bytes], timeout: float) -> None:
    """Connect, send ``requests`` and a round trip; raise ``ProbeUnavailable`` on X errors."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        check_listener(sock, name)
        sock.sendall(setup_request(auth_name, auth_data))
        status, reason = read_setup_reply(sock)
        if status is not SetupStatus.SUCCESS:
            raise ProbeUnavailable(f"X server {name.canonical} refused the connection: {reason}")
        sock.sendall(b"".join([*requests, _GET_INPUT_FOCUS]))
        errors = _read_until_reply(sock, len(requests) + 1)
    if errors:
        raise ProbeUnavailable(f"X server {name.canonical} rejected the change: {', '.join(errors)}")


def _read_until_reply(sock: socket.socket, sequence: int) -> list[str]:
    errors = []
    while True:
        packet = _recv_exactly(sock, 32)
        if len(packet) < 32:
            raise ProbeUnavailable("the X server closed the connection")
        (seq,) = struct.unpack_from("<H", packet, 2)
        if packet[0] == 0:
            errors.append(_X_ERRORS.get(packet[1], f"X error {packet[1]}"))
        elif packet[0] == 1:
            (extra,) = struct.unpack_from("<I", packet, 4)
            _recv_exactly(sock, extra * 4)
            if seq == sequence:
                return errors


# -- the real probe --------------------------------------------------------------------------

class _XlibAuth(threading.local):
    """Per-thread cookie handed to python-xlib, and where to put its socket (to abort it)."""

    auth: tuple[bytes, bytes] | None = None
    sock_box: list[socket.socket] | None = None


_XLIB_AUTH = _XlibAuth()
_PATCH_LOCK = threading.Lock()
_patched = False


def _install_auth_hook() -> None:
    """Make python-xlib use the cookie our probe chose (it looks get_auth up at call time)."""
    global _patched
    with _PATCH_LOCK:
        if _patched:
            return
        from Xlib.support import connect

        original = connect.get_auth

        def get_auth(sock: socket.socket, dname: str, protocol: str | None, host: str,
                     dno: int) -> tuple[bytes, bytes]:
            if _XLIB_AUTH.auth is None:  # someone else's Display(): keep python-xlib's behaviour
                return original(sock, dname, protocol, host, dno)  # type: ignore[no-any-return]
            if _XLIB_AUTH.sock_box is not None:
                _XLIB_AUTH.sock_box.append(sock)
            return _XLIB_AUTH.auth

        connect.get_auth = get_auth
        _patched = True


def _local_hostname() -> str:
    try:
        with open("/proc/sys/kernel/hostname", encoding="utf-8") as fh:
            return fh.read().strip() or socket.gethostname()
    except OSError:
        return socket.gethostname()


class XlibProbe:
    """The real X11 probe; ``env`` supplies XAUTHORITY and HOME (never ``os.environ``)."""

    def __init__(self, env: Mapping[str, str], *, socket_dir: str = x11auth.X11_SOCKET_DIR) -> None:
        self._env = dict(env)
        self._socket_dir = socket_dir  # tests point this at a private directory

    def _socket_path(self, name: x11auth.DisplayName) -> str:
        return f"{self._socket_dir}/X{name.number}"

    # -- helpers ------------------------------------------------------------------------
    def _display(self, display: str) -> x11auth.DisplayName:
        try:
            name = x11auth.parse_display(display)
        except ParseError as exc:
            raise ProbeUnavailable(str(exc)) from exc
        if not name.is_local:
            raise ProbeUnavailable(f"{display} is a TCP display; only local unix sockets are probed")
        return name

    def _auth(self, number: int, xauthority: str | None) -> tuple[bytes, bytes, str | None, str]:
        """(auth name, auth data, the file, why that file gave no cookie: "" when it was read)."""
        path = xauthority or x11auth.xauthority_path(self._env)
        if path is None:
            return b"", b"", None, ""
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > x11auth.MAX_XAUTHORITY_BYTES:  # never read: name the size instead
                    return b"", b"", path, (f"it is {size} bytes, larger than the "
                                            f"{x11auth.MAX_XAUTHORITY_BYTES // 1024} KiB spotidoctor reads (a normal "
                                            "one holds a few hundred bytes)")
                entries = x11auth.parse_xauthority(fh.read(x11auth.MAX_XAUTHORITY_BYTES + 1))
        except FileNotFoundError:
            return b"", b"", path, ""  # no file, no cookie: the plain "no cookie" case
        except OSError as exc:
            return b"", b"", path, exc.strerror or str(exc)
        except ParseError as exc:
            return b"", b"", path, str(exc)
        name, data = x11auth.best_auth(entries, number, _local_hostname())
        return name, data, path, ""

    def handshake(self, display: str, *, xauthority: str | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> Handshake:
        name = self._display(display)
        return self._retrying(name, self._auth(name.number, xauthority), timeout)

    def anonymous_handshake(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Handshake:
        return self._retrying(self._display(display), (b"", b"", None, ""), timeout)

    def _retrying(self, name: x11auth.DisplayName, auth: tuple[bytes, bytes, str | None, str],
                  timeout: float) -> Handshake:
        # An X server without -noreset resets when its last client leaves; a connection that
        # arrives during the reset is dropped. Try again briefly before calling it a failure.
        for attempt in range(RESET_RETRIES + 1):
            shake = self._handshake_once(name, auth, timeout)
            if shake.reason != SETUP_CLOSED or attempt == RESET_RETRIES:
                return shake
            time.sleep(RESET_PAUSE_S)
        raise AssertionError("unreachable")

    def _handshake_once(self, name: x11auth.DisplayName, auth: tuple[bytes, bytes, str | None, str],
                        timeout: float) -> Handshake:
        auth_name, auth_data, path, problem = auth
        offered = auth_name.decode("ascii", errors="replace")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self._socket_path(name))
            check_listener(sock, name)
            sock.sendall(setup_request(auth_name, auth_data))
            status, reason = read_setup_reply(sock)
        except FileNotFoundError as exc:
            return Handshake(SetupStatus.MISSING, exc.strerror or "no such file", offered, path)
        except ConnectionRefusedError as exc:
            return Handshake(SetupStatus.REFUSED, exc.strerror or "connection refused", offered, path)
        except TimeoutError as exc:
            raise ProbeTimeout(f"X server {name.canonical} ({self._socket_path(name)}) accepted the connection "
                               f"but did not answer within {timeout:g}s") from exc
        except (ConnectionResetError, BrokenPipeError):
            return Handshake(SetupStatus.FAILED, SETUP_CLOSED, offered, path)
        except OSError as exc:
            raise ProbeUnavailable(f"cannot connect to {self._socket_path(name)}: {exc.strerror or exc}") from exc
        finally:
            sock.close()
        return Handshake(status, reason, offered, path, problem)

    def _with_display(self, display: str, timeout: float, work: Callable[[object], T]) -> T:
        """Pre-probe, then run ``work(Xlib Display)`` in a thread with a deadline."""
        shake = self.handshake(display, timeout=timeout)
        if not shake.ok:
            raise ProbeUnavailable(f"X server {display} refused the connection: "
                                   f"{shake.reason or shake.status.value}")
        name = self._display(display)
        auth_name, auth_data, _, _ = self._auth(name.number, None)
        try:
            _install_auth_hook()
        except ImportError as exc:
            raise ProbeUnavailable(f"python-xlib is not installed: {exc}") from exc
        try:
            return _run_bounded(f"unix/:{name.number}", (auth_name, auth_data), timeout, work)
        except ProbeTimeout:
            raise
        except ProbeUnavailable as exc:
            if not _dropped(exc.__cause__):
                raise
            time.sleep(RESET_PAUSE_S)  # the server was resetting (see handshake): once more
            return _run_bounded(f"unix/:{name.number}", (auth_name, auth_data), timeout, work)

    def server_info(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> ServerInfo:
        return self._with_display(display, timeout, _server_info)

    def access_control(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> AccessControl:
        return self._with_display(display, timeout, _access_control)

    def resource_manager(self, display: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        return self._with_display(display, timeout, _resource_manager)

    def revoke(self, display: str, hosts: Sequence[HostEntry], *, enable_access_control: bool,
               timeout: float = DEFAULT_TIMEOUT_S) -> AccessControl:
        # Raw requests: python-xlib's ChangeHosts refuses family 252 (LOCAL:).
        name = self._display(display)
        auth_name, auth_data, _, _ = self._auth(name.number, None)
        requests = [change_hosts_request(HOST_DELETE, h) for h in hosts]
        if enable_access_control:
            requests.append(SET_ACCESS_CONTROL_ENABLE)
        try:
            _raw_requests(name, self._socket_path(name), auth_name, auth_data, requests, timeout)
        except TimeoutError as exc:
            raise ProbeTimeout(f"X server {name.canonical} stopped answering within {timeout:g}s") from exc
        except OSError as exc:
            raise ProbeUnavailable(f"cannot talk to {self._socket_path(name)}: {exc.strerror or exc}") from exc
        return self.access_control(display, timeout=timeout)


@dataclass
class _Outcome:
    value: object = None
    error: BaseException | None = None
    done: bool = False


def _run_bounded(dname: str, auth: tuple[bytes, bytes], timeout: float,
                 work: Callable[[object], T]) -> T:
    outcome = _Outcome()
    sockets: list[socket.socket] = []

    def target() -> None:
        _XLIB_AUTH.auth, _XLIB_AUTH.sock_box = auth, sockets
        try:
            from Xlib import display as xdisplay

            d = xdisplay.Display(dname)
            try:
                outcome.value = work(d)
            finally:
                d.close()
        except BaseException as exc:  # handed to the caller's thread
            outcome.error = exc
        finally:
            _XLIB_AUTH.auth, _XLIB_AUTH.sock_box = None, None
            outcome.done = True

    thread = threading.Thread(target=target, name=f"xlib {dname}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome.done:
        _abort(sockets)
        raise ProbeTimeout(f"X server {dname.removeprefix('unix/')} did not answer python-xlib "
                           f"within {timeout:g}s")
    if outcome.error is not None:
        raise ProbeUnavailable(f"X request failed: {type(outcome.error).__name__}: "
                               f"{outcome.error}") from outcome.error
    return outcome.value  # type: ignore[return-value]


def _dropped(error: BaseException | None) -> bool:
    """The server dropped the connection (python-xlib's ConnectionClosedError, or a reset)."""
    return isinstance(error, (ConnectionResetError, BrokenPipeError)) or \
        type(error).__name__ == "ConnectionClosedError"


def _abort(sockets: list[socket.socket]) -> None:
    """Shut the stuck thread's socket down so its select() returns and the thread ends."""
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _server_info(d: object) -> ServerInfo:
    from Xlib import display as xdisplay

    assert isinstance(d, xdisplay.Display)
    screen = d.screen()
    return ServerInfo(
        vendor=str(d.display.info.vendor),
        release=int(d.display.info.release_number),
        width=int(screen.width_in_pixels), height=int(screen.height_in_pixels),
        screens=int(d.screen_count()),
        extensions=tuple(sorted(str(e) for e in d.list_extensions())),
    )


def _access_control(d: object) -> AccessControl:
    from Xlib import X
    from Xlib import display as xdisplay

    assert isinstance(d, xdisplay.Display)
    reply = d.list_hosts()
    hosts = tuple(HostEntry(int(h.family), bytes(h.name)) for h in reply.hosts)
    return AccessControl(enabled=int(reply.mode) == X.EnableAccess, hosts=hosts)


MAX_RESOURCES = 1 << 20  # RESOURCE_MANAGER is a few KiB; read no more than this


def _resource_manager(d: object) -> str:
    from Xlib import Xatom
    from Xlib import display as xdisplay

    assert isinstance(d, xdisplay.Display)
    prop = d.screen(0).root.get_property(Xatom.RESOURCE_MANAGER, Xatom.STRING, 0, MAX_RESOURCES // 4)
    if prop is None or prop.format != 8:
        return ""
    value = prop.value
    data = value.encode("latin-1") if isinstance(value, str) else bytes(value)
    return data[:MAX_RESOURCES].decode("utf-8", errors="replace")

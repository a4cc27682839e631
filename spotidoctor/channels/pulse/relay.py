"""The audio filter's sockets: a playback-only relay in front of the user's pulse server.

``PulseFilter.start()`` creates a private directory (0700) in the user's runtime dir with
one listening socket in it (0666, so that the container's mapped uid may connect once the
socket file is bind-mounted into the container; nobody else can traverse the directory)
and serves it from one thread. For each client it opens a connection to the user's own
pulse socket as the user: the server authenticates the filter by its credentials (and the
user's cookie, when one is configured, read at connect time and never logged), so the
container needs no cookie and no server module of its own. What passes is decided per
command by ``Session`` (``policy.py``).

One thread, non-blocking sockets and an epoll loop; every buffer is bounded: above
``HIGH_WATER`` bytes waiting for one side, the filter stops reading the other, so a client
that floods or never reads only stalls itself. A protocol violation (a malformed or oversized
frame, shared memory, file descriptors from the client) ends that client's connection only.
"""
from __future__ import annotations

import array
import logging
import os
import select
import socket
import stat
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from spotidoctor.channels.pulse.frames import ProtocolViolation
from spotidoctor.channels.pulse.protocol import COOKIE_LENGTH
from spotidoctor.channels.pulse.session import Session

__all__ = ["PulseFilter", "FilterStats", "FilterError", "LOGGER_NAME", "default_upstream", "default_cookie",
           "MAX_CLIENTS", "HIGH_WATER"]

LOGGER_NAME = "spotidoctor.channels.pulse"
LOG = logging.getLogger(LOGGER_NAME)
READ_SIZE = 64 * 1024
HIGH_WATER = 256 * 1024
MAX_CLIENTS = 16
SOCKET_NAME = "native"
_ANCILLARY = socket.CMSG_SPACE(16 * array.array("i").itemsize)
_MSG_CTRUNC = int(socket.MSG_CTRUNC)
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_READABLE = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path minus its NUL


class FilterError(Exception):
    """The filter cannot start; the message says why and is meant for the user."""


@dataclass(frozen=True)
class FilterStats:
    """What the filter did so far (a snapshot)."""

    connections: int = 0  # clients relayed
    open_connections: int = 0
    turned_away: int = 0  # over the client limit, or the pulse server unreachable
    refused: Mapping[str, int] = field(default_factory=dict)  # command name -> refusals
    ended: Mapping[str, int] = field(default_factory=dict)  # protocol violation -> connections ended
    stripped_props: Mapping[str, int] = field(default_factory=dict)  # proplist key -> times dropped
    underflows: int = 0  # UNDERFLOW events the server sent (the player ran dry)
    dropped_blocks: int = 0  # audio frames for streams that were not the sender's
    bytes_from_client: int = 0
    bytes_from_server: int = 0

    @property
    def refusals(self) -> int:
        return sum(self.refused.values())

    def summary(self) -> str:
        """One line for the launcher."""
        text = f"audio filter: {self.connections} connection(s), {self.refusals} refused command(s)"
        if self.refused:
            text += " (" + ", ".join(f"{name} ×{n}" for name, n in sorted(self.refused.items())) + ")"
        if self.ended:
            text += f", {sum(self.ended.values())} connection(s) ended for protocol violations"
        return text


class _Link:
    """A client connection and its upstream connection (``events``: what epoll watches for each)."""

    def __init__(self, conn_id: int, client: socket.socket, server: socket.socket, session: Session) -> None:
        self.id = conn_id
        self.client = client
        self.server = server
        self.session = session
        self.client_events = _IN
        self.server_events = _IN
        self.creds_sent = False
        self.closed = False
        self.from_client = 0
        self.from_server = 0


def default_upstream(env: Mapping[str, str]) -> str | None:
    """The user's pulse socket as libpulse finds it (``unix:`` PULSE_SERVER, else the runtime dir)."""
    server = env.get("PULSE_SERVER", "")
    if server:
        return server[len("unix:"):] if server.startswith("unix:") else (server if server.startswith("/") else None)
    runtime = env.get("PULSE_RUNTIME_PATH") or (
        os.path.join(env["XDG_RUNTIME_DIR"], "pulse") if env.get("XDG_RUNTIME_DIR") else None)
    return os.path.join(runtime, "native") if runtime else None


def default_cookie(env: Mapping[str, str]) -> str | None:
    """The cookie file libpulse would send (PULSE_COOKIE, then the user's config), if it exists."""
    home = env.get("HOME", "")
    config = env.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else "")
    candidates = [env.get("PULSE_COOKIE", ""), os.path.join(config, "pulse", "cookie") if config else "",
                  os.path.join(home, ".pulse-cookie") if home else ""]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


def _private_parent(path: str) -> None:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise FilterError(f"cannot use {path} for the audio filter's socket: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise FilterError(f"{path} is not a directory (the audio filter's socket goes there)")
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise FilterError(f"{path} must be a directory of yours that others cannot write "
                          f"(owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o})")


def _close_fds(ancillary: list[tuple[int, int, bytes]]) -> bool:
    """Close every file descriptor that arrived; whether there was any."""
    found = False
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                found = True
                try:
                    os.close(fd)
                except OSError:
                    pass
    return found


class PulseFilter:
    """The playback-only relay; see the module docstring.

    ``upstream``: the user's pulse socket path. ``runtime_dir``: where the private socket
    directory is created (yours, not writable by others: ``$XDG_RUNTIME_DIR``).
    ``cookie_path``: a cookie to authenticate with besides the credentials (optional).
    """

    def __init__(self, upstream: str, *, runtime_dir: str, cookie_path: str | None = None,
                 max_clients: int = MAX_CLIENTS, log: logging.Logger = LOG) -> None:
        self.upstream = upstream
        self._runtime_dir = runtime_dir
        self._cookie_path = cookie_path
        self._max_clients = max_clients
        self._log = log
        self._lock = threading.Lock()
        self._links: dict[int, _Link] = {}
        self._next_id = 1
        self._totals = Counter[str]()
        self._refused = Counter[str]()
        self._ended = Counter[str]()
        self._stripped = Counter[str]()
        self._dir: str | None = None
        self._listener: socket.socket | None = None
        self._epoll: select.epoll | None = None
        self._targets: dict[int, tuple[_Link, bool] | str] = {}  # fd -> (link, is its client side) or a role
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def socket_path(self) -> str | None:
        return os.path.join(self._dir, SOCKET_NAME) if self._dir else None

    def start(self) -> str:
        """Listen and serve in a background thread; the socket path to mount into the container."""
        if self._thread is not None:
            raise FilterError("the audio filter is running already")
        if os.geteuid() == 0:
            raise FilterError("the audio filter does not run as root: start it as the user whose sound server it "
                              "guards")
        self._check_upstream()
        _private_parent(self._runtime_dir)
        try:
            self._dir = tempfile.mkdtemp(prefix="spotidoctor-pulse-", dir=self._runtime_dir)  # 0700
        except OSError as exc:
            raise FilterError(f"cannot create the audio filter's directory in {self._runtime_dir}: "
                              f"{exc.strerror}") from None
        path = os.path.join(self._dir, SOCKET_NAME)
        if len(os.fsencode(path)) > _SUN_PATH_MAX:
            self._remove_dir()
            raise FilterError(f"the socket path {path} is too long for a unix socket (at most {_SUN_PATH_MAX} bytes)")
        try:
            self._listen(path)
        except OSError as exc:
            self._close_sockets()
            self._remove_dir()
            raise FilterError(f"cannot listen on {path}: {exc.strerror}") from None
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="pulse-filter", daemon=True)
        self._thread.start()
        self._log.info("audio filter: listening on %s, relaying to %s", path, self.upstream)
        return path

    def stop(self, timeout: float = 5.0) -> FilterStats:
        """Stop serving, close every connection, remove the socket; the final statistics."""
        thread = self._thread
        if thread is not None and self._wake_w is not None:
            self._stopping = True
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass
            thread.join(timeout)
            if thread.is_alive():
                self._log.warning("audio filter: the relay thread did not stop within %gs", timeout)
        with self._lock:
            for link in list(self._links.values()):
                self._end(link, None)
        self._close_sockets()
        self._remove_dir()
        self._thread = None
        return self.stats()

    def __enter__(self) -> PulseFilter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> FilterStats:
        with self._lock:
            live = list(self._links.values())
            totals, refused, stripped = Counter(self._totals), Counter(self._refused), Counter(self._stripped)
            for link in live:
                self._add_session(link, totals, refused, stripped)
            return FilterStats(connections=totals["connections"], open_connections=len(live),
                               turned_away=totals["turned_away"], refused=dict(refused), ended=dict(self._ended),
                               stripped_props=dict(stripped), underflows=totals["underflows"],
                               dropped_blocks=totals["dropped_blocks"], bytes_from_client=totals["from_client"],
                               bytes_from_server=totals["from_server"])

    @staticmethod
    def _add_session(link: _Link, totals: Counter[str], refused: Counter[str], stripped: Counter[str]) -> None:
        refused.update(link.session.refused)
        stripped.update(link.session.stripped)
        totals["underflows"] += link.session.underflows
        totals["dropped_blocks"] += link.session.dropped_blocks
        totals["from_client"] += link.from_client
        totals["from_server"] += link.from_server

    def _check_upstream(self) -> None:
        try:
            info = os.stat(self.upstream)
        except OSError as exc:
            raise FilterError(f"no pulse server socket at {self.upstream}: {exc.strerror}") from None
        if not stat.S_ISSOCK(info.st_mode):
            raise FilterError(f"{self.upstream} is not a socket (expected the pulse server's)")

    def _listen(self, path: str) -> None:
        self._epoll = select.epoll()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        os.chmod(path, 0o666)  # inside our fresh 0700 directory: nobody can swap the file
        self._listener.listen(self._max_clients)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        for sock, role in ((self._listener, "accept"), (self._wake_r, "wake")):
            self._epoll.register(sock.fileno(), _IN)
            self._targets[sock.fileno()] = role

    def _close_sockets(self) -> None:
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._epoll is not None:
            self._epoll.close()
        self._listener = self._wake_r = self._wake_w = None
        self._epoll = None
        self._targets.clear()

    def _remove_dir(self) -> None:
        if self._dir is None:
            return
        try:
            os.unlink(os.path.join(self._dir, SOCKET_NAME))
        except FileNotFoundError:
            pass
        try:
            os.rmdir(self._dir)
        except OSError as exc:
            self._log.warning("audio filter: cannot remove %s: %s", self._dir, exc.strerror)
        self._dir = None

    # -- the loop -------------------------------------------------------------------------------
    def _serve(self) -> None:
        epoll = self._epoll
        assert epoll is not None
        while not self._stopping:
            ready = epoll.poll()
            with self._lock:
                for fd, mask in ready:
                    target = self._targets.get(fd)
                    if target == "accept":
                        self._accept()
                    elif isinstance(target, tuple) and not target[0].closed:
                        self._handle(target[0], target[1], mask)

    def _handle(self, link: _Link, client_side: bool, mask: int) -> None:
        try:
            if mask & _READABLE:
                self._read(link, client_side)
            if mask & _OUT and not link.closed:
                self._flush(link, client_side)
            if not link.closed:
                self._watch(link)
        except ProtocolViolation as exc:
            self._end(link, exc.reason, violation=True)
        except Exception as exc:  # a bug must cost one connection, never the filter
            self._log.error("audio filter: client %d: internal error (%s); connection closed", link.id,
                            type(exc).__name__)
            self._log.debug("audio filter: internal error", exc_info=True)
            self._end(link, None)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                self._log.warning("audio filter: cannot accept a client: %s", exc.strerror)
                return
            client.setblocking(False)
            if len(self._links) >= self._max_clients:
                self._turn_away(client, f"more than {self._max_clients} clients at once")
                continue
            server = self._connect_upstream(client)
            if server is not None:
                self._adopt(client, server)

    def _turn_away(self, client: socket.socket, why: str) -> None:
        self._log.warning("audio filter: turned a client away: %s", why)
        self._totals["turned_away"] += 1
        client.close()

    def _connect_upstream(self, client: socket.socket) -> socket.socket | None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.setblocking(False)
        try:
            server.connect(self.upstream)
        except BlockingIOError:
            server.close()
            self._turn_away(client, f"the pulse server at {self.upstream} is not accepting connections (busy)")
            return None
        except OSError as exc:
            server.close()
            self._turn_away(client, f"cannot reach the pulse server at {self.upstream}: {exc.strerror}")
            return None
        return server

    def _adopt(self, client: socket.socket, server: socket.socket) -> None:
        assert self._epoll is not None
        conn_id, self._next_id = self._next_id, self._next_id + 1
        link = _Link(conn_id, client, server, Session(conn_id, self._read_cookie(), self._log))
        self._links[conn_id] = link
        self._totals["connections"] += 1
        for sock, client_side in ((client, True), (server, False)):
            self._epoll.register(sock.fileno(), _IN)
            self._targets[sock.fileno()] = (link, client_side)
        self._log.debug("audio filter: client %d connected (%s)", conn_id, _peer(client))

    def _read_cookie(self) -> bytes | None:
        if not self._cookie_path:
            return None
        try:
            with open(self._cookie_path, "rb") as fh:
                data = fh.read(COOKIE_LENGTH)
        except OSError as exc:
            self._log.info("audio filter: cannot read the pulse cookie %s: %s (credentials only)",
                           self._cookie_path, exc.strerror)
            return None
        return data if len(data) == COOKIE_LENGTH else None

    # -- one connection ---------------------------------------------------------------------------
    def _read(self, link: _Link, client_side: bool) -> None:
        try:
            if client_side:
                data, ancillary, flags, _ = link.client.recvmsg(READ_SIZE, _ANCILLARY)
                if ancillary and _close_fds(ancillary) or flags & _MSG_CTRUNC:
                    raise ProtocolViolation("the client sent file descriptors")
            else:
                data = link.server.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(link, f"{'client' if client_side else 'server'} connection failed: {exc.strerror}")
            return
        if not data:
            self._flush(link, not client_side)  # what is left for the other side, as far as it takes it now
            self._end(link, None)
            return
        if client_side:
            link.from_client += len(data)
            link.session.from_client(data)
        else:
            link.from_server += len(data)
            link.session.from_server(data)
        self._flush(link, False)
        self._flush(link, True)

    def _flush(self, link: _Link, client_side: bool) -> None:
        pending = link.session.out_client if client_side else link.session.out_server
        if not pending or link.closed:
            return
        try:
            if client_side:
                sent = link.client.send(pending)
            elif not link.creds_sent:
                # The AUTH command goes first, with the user's credentials attached explicitly.
                creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
                sent = link.server.sendmsg([pending], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
                link.creds_sent = True
            else:
                sent = link.server.send(pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(link, f"{'client' if client_side else 'server'} connection failed: {exc.strerror}")
            return
        del pending[:sent]

    def _watch(self, link: _Link) -> None:
        """Watch what can make progress; stop reading a side whose output is backed up."""
        to_client, to_server = len(link.session.out_client), len(link.session.out_server)
        client = (0 if to_client > HIGH_WATER or to_server > HIGH_WATER else _IN) | (_OUT if to_client else 0)
        server = (0 if to_client > HIGH_WATER else _IN) | (_OUT if to_server else 0)
        if client != link.client_events or server != link.server_events:
            assert self._epoll is not None
            if client != link.client_events:
                self._epoll.modify(link.client.fileno(), client)
                link.client_events = client
            if server != link.server_events:
                self._epoll.modify(link.server.fileno(), server)
                link.server_events = server

    def _end(self, link: _Link, reason: str | None, violation: bool = False) -> None:
        if link.closed:
            return
        link.closed = True
        for sock in (link.client, link.server):
            self._targets.pop(sock.fileno(), None)
            if self._epoll is not None:
                try:
                    self._epoll.unregister(sock.fileno())
                except (OSError, ValueError):
                    pass
            sock.close()
        self._links.pop(link.id, None)
        self._add_session(link, self._totals, self._refused, self._stripped)
        if violation and reason:
            self._ended[reason] += 1
            self._log.warning("audio filter: client %d: connection ended: %s", link.id, reason)
        elif reason:
            self._log.info("audio filter: client %d: connection ended: %s", link.id, reason)
        else:
            self._log.debug("audio filter: client %d disconnected", link.id)


def _peer(sock: socket.socket) -> str:
    """pid/uid/gid of the peer, for the debug log."""
    try:
        pid, uid, gid = struct.unpack("iII", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return "peer unknown"
    return f"pid {pid}, uid {uid}, gid {gid}"

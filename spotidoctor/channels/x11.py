"""An untrusted X cookie for each launch, from the X SECURITY extension.

What ``xauth generate :n MIT-MAGIC-COOKIE-1 untrusted`` does, spoken over a bounded
connection (``x11wire``): the server makes a fresh MIT-MAGIC-COOKIE-1 whose clients are
*untrusted*. An untrusted client can open windows and draw in them, but cannot change the
host access list (``xhost +``), read or draw into trusted clients' windows or properties,
and is shown no extension beyond BIG-REQUESTS and XC-MISC: no XTEST or RECORD (input
injection, keylogging), no GLX (Spotify renders in software), no MIT-SHM, RENDER or XInput.

Lifetime: the cookie lives exactly as long as the launch.
- The server expires a generated authorization ``grace_s`` seconds after its last client
  disconnects (counted from its creation while nobody has used it yet).
- spotidoctor keeps one connection of its own open with the untrusted cookie (the holder)
  for the whole launch, so the timer never runs while spotidoctor runs, however Spotify
  opens and closes its connections.
- ``revoke()`` (the container stopped) sends SecurityRevokeAuthorization: the server forgets
  the cookie at once and disconnects every client still using it.
- If spotidoctor is killed, the kernel closes the holder; once the container's clients are
  gone too, the server expires the cookie ``grace_s`` seconds later. Nothing is left valid
  on the server, even though nobody revoked it. (Timeout 0, as in ``xauth ... timeout 0``,
  would keep it valid until the X server exits: never used here.)

The cookie file is written in FamilyWild form (the container has another host name), mode
0644 (the container's uid is a subordinate uid, i.e. "other") inside a 0700 directory of the
user, atomically and never through a symlink. Before any cookie byte is sent, the socket
files and the listening process must belong to the user or root (``x11socket``).
"""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from enum import Enum

from spotidoctor.channels import privatefile, x11socket
from spotidoctor.channels.x11security import (
    BAD_AUTHORIZATION,
    BAD_AUTHORIZATION_PROTOCOL,
    SECURITY,
    SecuritySupport,
    generate_request,
    parse_generate_reply,
    parse_version_reply,
    query_version_request,
    revoke_request,
    security_support,
)
from spotidoctor.channels.x11wire import ExtensionInfo, XRequestError, XServerGone, XWire
from spotidoctor.errors import ParseError, ProbeUnavailable, SpotidoctorError
from spotidoctor.exitcodes import ExitCode
from spotidoctor.probes import x11auth
from spotidoctor.probes.fs import RealFS

__all__ = ["UntrustedCookie", "UntrustedUnavailable", "UnsafeXServer", "SecuritySupport", "RevokeOutcome",
           "security_support", "query_security", "generate_request", "parse_generate_reply", "revoke_request",
           "UNTRUSTED_GRACE_S", "COOKIE_FILE_MODE", "UNTRUSTED_LIMITS", "CANNOT_UNTRUSTED"]

DEFAULT_TIMEOUT_S = 3.0
UNTRUSTED_GRACE_S = 10
COOKIE_FILE_MODE = 0o644

CANNOT_UNTRUSTED = "cannot make an untrusted X cookie for {display}: {reason}"
UNTRUSTED_LIMITS = ("Untrusted X clients see only the core protocol, BIG-REQUESTS and XC-MISC: no GLX "
                    "(Spotify renders in software), no MIT-SHM, RENDER, XInput, RandR, XTEST or RECORD.")


class UntrustedUnavailable(ProbeUnavailable):
    """The server cannot issue an untrusted cookie; the launch may fall back to the trusted one."""

    def __init__(self, display: str, reason: str) -> None:
        self.display = display
        super().__init__(CANNOT_UNTRUSTED.format(display=display, reason=reason))
        self.reason = reason


class UnsafeXServer(SpotidoctorError):
    """The X socket or server is not the user's (or root's): no cookie of any kind was sent."""

    exit_code = ExitCode.PROBLEMS


# -- talking to the user's server ----------------------------------------------------------------

def _hostname() -> str | None:
    try:
        with open(x11auth.HOSTNAME_FILE, encoding="utf-8") as fh:
            return x11auth.hostname_from(fh.read())
    except OSError:
        return x11auth.hostname_from(socket.gethostname())


def _user_auth(xauthority: str | None, number: int) -> tuple[bytes, bytes]:
    """The user's own cookie for the display (as libXau picks it); empty when there is none."""
    if not xauthority:
        return b"", b""
    try:
        with open(xauthority, "rb") as fh:
            entries = x11auth.parse_xauthority(fh.read(x11auth.MAX_XAUTHORITY_BYTES + 1))
    except FileNotFoundError:
        return b"", b""
    except OSError as exc:
        raise ProbeUnavailable(f"cannot read {xauthority}: {exc.strerror or exc}") from exc
    except ParseError as exc:
        raise ProbeUnavailable(f"cannot read a cookie from {xauthority}: {exc}") from exc
    return x11auth.best_auth(entries, number, _hostname())


@dataclass(frozen=True)
class _Server:
    """Where the display listens and whose it must be; opens connections after both checks."""

    name: x11auth.DisplayName
    socket_dir: str
    uid: int
    timeout: float

    @property
    def path(self) -> str:
        return f"{self.socket_dir}/X{self.name.number}"

    @property
    def label(self) -> str:
        return f"X server {self.name.canonical}"

    def check_files(self) -> None:
        problems = x11socket.ownership_problems(RealFS(), self.name.number, self.uid, self.socket_dir)
        if problems:
            raise UnsafeXServer(f"{self.label}: no cookie sent: " + "; ".join(problems))

    def _check_peer(self, sock: socket.socket) -> None:
        problem = x11socket.peer_problem(self.label, x11socket.peer_uid(sock), self.uid)
        if problem:
            raise UnsafeXServer(problem)

    def open(self, auth: tuple[bytes, bytes]) -> XWire:
        self.check_files()
        return XWire.connect(self.path, auth, timeout=self.timeout, label=self.label,
                             before_auth=self._check_peer)


def _server(display: str, uid: int | None, socket_dir: str, timeout: float) -> _Server:
    try:
        name = x11auth.parse_display(display)
    except ParseError as exc:
        raise ProbeUnavailable(str(exc)) from exc
    if not name.is_local:
        raise ProbeUnavailable(f"{display} is a TCP display; only local unix sockets are used")
    return _Server(name, socket_dir, os.getuid() if uid is None else uid, timeout)


def _security(wire: XWire) -> tuple[ExtensionInfo, SecuritySupport]:
    extension = wire.query_extension(SECURITY)
    version = None
    if extension.present:
        reply = wire.request(query_version_request(extension.major_opcode), "SecurityQueryVersion")
        version = parse_version_reply(reply)
    return extension, security_support(extension, version)


def query_security(display: str, xauthority: str | None, *, uid: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT_S,
                   socket_dir: str = x11auth.X11_SOCKET_DIR) -> SecuritySupport:
    """Ask the user's server (with the user's cookie) whether it can make untrusted cookies."""
    server = _server(display, uid, socket_dir, timeout)
    with server.open(_user_auth(xauthority, server.name.number)) as wire:
        return _security(wire)[1]


# -- the holder connection --------------------------------------------------------------------------

class _Holder:
    """spotidoctor's own connection with the untrusted cookie: keeps the server's expiry timer off."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.settimeout(None)
        self._thread = threading.Thread(target=self._drain, name="x11 cookie holder", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        # Read and drop what the server sends (MappingNotify reaches every client); ends when
        # the server closes the connection (revocation, exit) or close() shuts it down.
        try:
            while self._sock.recv(4096):
                pass
        except OSError:
            pass

    @property
    def connected(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(timeout=1.0)
        self._sock.close()


class RevokeOutcome(str, Enum):
    REVOKED = "revoked"
    EXPIRED = "had already expired"
    SERVER_GONE = "the X server is gone, and the cookie with it"


class UntrustedCookie:
    """One launch's untrusted cookie: ``create`` it, mount ``path``, ``revoke`` it at the end."""

    def __init__(self, server: _Server, xauthority: str | None, path: str, auth_id: int, grace_s: int,
                 holder: _Holder) -> None:
        self._server = server
        self._xauthority = xauthority
        self.path = path
        self.auth_id = auth_id
        self.grace_s = grace_s
        self._holder = holder
        self._outcome: RevokeOutcome | None = None

    def __repr__(self) -> str:  # the cookie bytes are nowhere in the object; say what it is
        return f"UntrustedCookie({self.display}, {self.path!r}, id={self.auth_id})"

    @property
    def display(self) -> str:
        return self._server.name.canonical

    @property
    def active(self) -> bool:
        """Not revoked, and the server still keeps spotidoctor's holder connection."""
        return self._outcome is None and self._holder.connected

    @classmethod
    def create(cls, display: str, xauthority: str | None, dest: str, *, uid: int | None = None,
               timeout: float = DEFAULT_TIMEOUT_S, grace_s: int = UNTRUSTED_GRACE_S,
               socket_dir: str = x11auth.X11_SOCKET_DIR) -> UntrustedCookie:
        """Make the cookie, hold it, write ``dest``.

        ``UntrustedUnavailable``: the server cannot make one (fall back to the trusted cookie).
        ``UnsafeXServer``: the socket or server is not the user's; nothing was sent.
        ``ProbeTimeout``/``ProbeUnavailable``: the server is hung, gone or refused us.
        ``privatefile.UnsafeDirectory``: ``dest``'s directory is not private (the cookie is revoked).
        """
        if grace_s <= 0:
            raise ValueError("grace_s must be positive: 0 would make a cookie that never expires")
        server = _server(display, uid, socket_dir, timeout)
        auth_id, cookie = cls._generate(server, xauthority, grace_s)
        try:
            holder = _Holder(server.open((x11auth.MIT_MAGIC_COOKIE, cookie)).detach())
        except BaseException:
            cls._revoke_quietly(server, xauthority, auth_id)
            raise
        made = cls(server, xauthority, dest, auth_id, grace_s, holder)
        try:
            privatefile.write_private(dest, _cookie_file(server.name.number, cookie), mode=COOKIE_FILE_MODE)
        except BaseException:
            made._stop_quietly()
            raise
        return made

    @staticmethod
    def _generate(server: _Server, xauthority: str | None, grace_s: int) -> tuple[int, bytes]:
        with server.open(_user_auth(xauthority, server.name.number)) as wire:
            extension, support = _security(wire)
            if not support.offered:
                raise UntrustedUnavailable(server.name.canonical, support.reason)
            try:
                reply = wire.request(generate_request(extension.major_opcode, timeout_s=grace_s),
                                     "SecurityGenerateAuthorization")
                return parse_generate_reply(reply)
            except XRequestError as exc:
                raise UntrustedUnavailable(server.name.canonical, _generate_failure(exc, extension)) from exc
            except ParseError as exc:
                raise UntrustedUnavailable(server.name.canonical, str(exc)) from exc

    @staticmethod
    def _revoke_quietly(server: _Server, xauthority: str | None, auth_id: int) -> None:
        try:
            _send_revoke(server, xauthority, auth_id)
        except SpotidoctorError:
            pass  # it still expires grace_s seconds after its last client (there is none)

    def _stop_quietly(self) -> None:
        try:
            self.revoke()
        except SpotidoctorError:
            pass

    def revoke(self) -> RevokeOutcome:
        """End the cookie now (idempotent). ``ProbeUnavailable`` if the server could not be told;
        the cookie then expires ``grace_s`` seconds after its last client disconnects."""
        if self._outcome is not None:
            return self._outcome
        self._holder.close()
        outcome = _send_revoke(self._server, self._xauthority, self.auth_id)
        self._outcome = outcome
        privatefile.remove_private(self.path)
        return outcome

    def __enter__(self) -> UntrustedCookie:
        return self

    def __exit__(self, *exc: object) -> None:
        self.revoke()


def _send_revoke(server: _Server, xauthority: str | None, auth_id: int) -> RevokeOutcome:
    try:
        wire = server.open(_user_auth(xauthority, server.name.number))
    except XServerGone:
        return RevokeOutcome.SERVER_GONE
    with wire:
        extension = wire.query_extension(SECURITY)
        if not extension.present:  # another server took the display number
            return RevokeOutcome.SERVER_GONE
        try:
            wire.checked(revoke_request(extension.major_opcode, auth_id), "SecurityRevokeAuthorization")
        except XRequestError as exc:
            if exc.code == extension.first_error + BAD_AUTHORIZATION:
                return RevokeOutcome.EXPIRED
            raise
    return RevokeOutcome.REVOKED


def _generate_failure(exc: XRequestError, extension: ExtensionInfo) -> str:
    if exc.code == extension.first_error + BAD_AUTHORIZATION_PROTOCOL:
        return "the X server cannot generate MIT-MAGIC-COOKIE-1 authorizations (BadAuthorizationProtocol)"
    return str(exc)


def _cookie_file(number: int, cookie: bytes) -> bytes:
    host = (_hostname() or "localhost").encode()
    entry = x11auth.XauthEntry(x11auth.FAMILY_WILD, host, str(number).encode(), x11auth.MIT_MAGIC_COOKIE, cookie)
    return x11auth.encode_xauthority([entry])

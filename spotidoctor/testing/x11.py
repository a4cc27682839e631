"""A fake X11 probe: canned answers, or canned failures (hung, refused, unauthorized).

    x11 = FakeX11.ok(hosts=(LOCAL,))
    ctx = make_context(tmp_path, env={"DISPLAY": ":0"}, x11=x11)
    FakeX11.hung()          # every call raises ProbeTimeout
    FakeX11.refused()       # handshake: Connection refused
    FakeX11.unauthorized()  # handshake: Authorization required

``revoke`` changes the canned access list like a real server would, so a test can apply
the unsafe fix and re-run the check.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from spotidoctor.errors import ProbeTimeout, ProbeUnavailable
from spotidoctor.probes.x11 import AccessControl, Handshake, HostEntry, ServerInfo, SetupStatus, X11Probe
from spotidoctor.probes.x11auth import FAMILY_INTERNET, FAMILY_LOCALHOST, FAMILY_SERVER_INTERPRETED

__all__ = ["FakeX11", "LOCAL", "INET", "SI_USER", "XVFB_INFO", "AUTH_REQUIRED"]

LOCAL = HostEntry(FAMILY_LOCALHOST, b"")
INET = HostEntry(FAMILY_INTERNET, bytes([10, 0, 0, 2]))
SI_USER = HostEntry(FAMILY_SERVER_INTERPRETED, b"localuser\0alice")
AUTH_REQUIRED = "Authorization required, but no authorization protocol specified"
XVFB_INFO = ServerInfo(vendor="The X.Org Foundation", release=12101007, width=1280, height=800, screens=1,
                       extensions=("BIG-REQUESTS", "MIT-SHM", "RANDR", "RENDER", "SECURITY", "XKEYBOARD"))

Answer = Handshake | ServerInfo | AccessControl | ProbeUnavailable


def _answer(value: Answer) -> Answer:
    if isinstance(value, ProbeUnavailable):
        raise value
    return value


@dataclass
class FakeX11:
    """Implements ``spotidoctor.probes.x11.X11Probe`` from canned values."""

    shake: Handshake | ProbeUnavailable = field(default_factory=lambda: Handshake(
        SetupStatus.SUCCESS, "", "MIT-MAGIC-COOKIE-1", "/home/alice/.Xauthority"))
    info: ServerInfo | ProbeUnavailable = XVFB_INFO
    access: AccessControl | ProbeUnavailable = field(default_factory=lambda: AccessControl(True, ()))
    # What a client offering no cookie meets: refused, as on a server that has a cookie.
    anonymous: Handshake | ProbeUnavailable = field(default_factory=lambda: Handshake(
        SetupStatus.FAILED, AUTH_REQUIRED))
    resources: str | ProbeUnavailable = ""  # RESOURCE_MANAGER, e.g. "Xft.dpi:\t192\n"
    calls: list[tuple[str, str]] = field(default_factory=list)

    # -- builders ------------------------------------------------------------------------
    @classmethod
    def ok(cls, *, info: ServerInfo = XVFB_INFO, hosts: Sequence[HostEntry] = (), enabled: bool = True,
           cookie: bool = True, open_to_all: bool = False) -> FakeX11:
        """``open_to_all``: the server has no cookie of its own and admits every local client
        (an X.Org server started with an empty ``-auth`` file)."""
        shake = Handshake(SetupStatus.SUCCESS, "", "MIT-MAGIC-COOKIE-1" if cookie else "",
                          "/home/alice/.Xauthority")
        # LOCAL: admits every local client; SI:localuser/localgroup admits the fake's own user (alice).
        admitted = open_to_all or not enabled or not cookie or \
            any(h.is_local_grant or h.family == FAMILY_SERVER_INTERPRETED for h in hosts)
        anonymous = Handshake(SetupStatus.SUCCESS) if admitted else Handshake(SetupStatus.FAILED, AUTH_REQUIRED)
        return cls(shake=shake, info=info, access=AccessControl(enabled, tuple(hosts)), anonymous=anonymous)

    @classmethod
    def hung(cls) -> FakeX11:
        timeout = ProbeTimeout("X server :0 (/tmp/.X11-unix/X0) accepted the connection but did not "
                               "answer within 3s")
        return cls(shake=timeout, info=timeout, access=timeout, anonymous=timeout)

    @classmethod
    def refused(cls) -> FakeX11:
        gone = ProbeUnavailable("X server :0 refused the connection: Connection refused")
        return cls(shake=Handshake(SetupStatus.REFUSED, "Connection refused", "MIT-MAGIC-COOKIE-1",
                                   "/home/alice/.Xauthority"), info=gone, access=gone,
                   anonymous=Handshake(SetupStatus.REFUSED, "Connection refused"))

    @classmethod
    def unauthorized(cls, *, cookie: bool = False) -> FakeX11:
        denied = ProbeUnavailable(f"X server :0 refused the connection: {AUTH_REQUIRED}")
        return cls(shake=Handshake(SetupStatus.FAILED, AUTH_REQUIRED, "MIT-MAGIC-COOKIE-1" if cookie else "",
                                   "/home/alice/.Xauthority"), info=denied, access=denied)

    # -- the X11Probe interface ------------------------------------------------------------
    def handshake(self, display: str, *, xauthority: str | None = None, timeout: float = 3.0) -> Handshake:
        self.calls.append(("handshake", display))
        answer = _answer(self.shake)
        assert isinstance(answer, Handshake)
        return replace(answer, xauthority=xauthority or answer.xauthority)

    def anonymous_handshake(self, display: str, *, timeout: float = 3.0) -> Handshake:
        self.calls.append(("anonymous_handshake", display))
        answer = _answer(self.anonymous)
        assert isinstance(answer, Handshake)
        return answer

    def server_info(self, display: str, *, timeout: float = 3.0) -> ServerInfo:
        self.calls.append(("server_info", display))
        answer = _answer(self.info)
        assert isinstance(answer, ServerInfo)
        return answer

    def access_control(self, display: str, *, timeout: float = 3.0) -> AccessControl:
        self.calls.append(("access_control", display))
        answer = _answer(self.access)
        assert isinstance(answer, AccessControl)
        return answer

    def revoke(self, display: str, hosts: Sequence[HostEntry], *, enable_access_control: bool,
               timeout: float = 3.0) -> AccessControl:
        self.calls.append(("revoke", display))
        current = self.access_control(display)
        self.access = AccessControl(current.enabled or enable_access_control,
                                    tuple(h for h in current.hosts if h not in hosts))
        return self.access

    def resource_manager(self, display: str, *, timeout: float = 3.0) -> str:
        self.calls.append(("resource_manager", display))
        if isinstance(self.resources, ProbeUnavailable):
            raise self.resources
        return self.resources


def _conforms(fake: FakeX11) -> X11Probe:  # mypy proves FakeX11 implements the Protocol
    return fake

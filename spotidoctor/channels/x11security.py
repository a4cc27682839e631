"""The X SECURITY extension on the wire, and what a server's answers mean (pure).

Requests as the X.Org server parses them (Xext/security.c; the field order of
SecurityGenerateAuthorization is the server's, which python-xlib's Xlib/ext/security.py also
follows): QueryVersion, GenerateAuthorization with a timeout and a trust level, and
RevokeAuthorization. Little-endian, for ``x11wire``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from spotidoctor.channels.x11wire import ExtensionInfo, pad4
from spotidoctor.errors import ParseError
from spotidoctor.probes import x11auth

__all__ = ["SecuritySupport", "security_support", "query_version_request", "parse_version_reply",
           "generate_request", "parse_generate_reply", "revoke_request", "SECURITY", "TRUST_UNTRUSTED",
           "BAD_AUTHORIZATION", "BAD_AUTHORIZATION_PROTOCOL"]

SECURITY = "SECURITY"
SECURITY_MAJOR = 1
X_SECURITY_QUERY_VERSION, X_SECURITY_GENERATE, X_SECURITY_REVOKE = 0, 1, 2
ATTR_TIMEOUT, ATTR_TRUST_LEVEL = 1, 2  # XSecurityTimeout, XSecurityTrustLevel (the value mask)
TRUST_UNTRUSTED = 1  # XSecurityClientUntrusted
BAD_AUTHORIZATION = 0  # XSecurityBadAuthorization, relative to the extension's first error
BAD_AUTHORIZATION_PROTOCOL = 1  # XSecurityBadAuthorizationProtocol


# -- what the server offers (pure) ---------------------------------------------------------------

@dataclass(frozen=True)
class SecuritySupport:
    offered: bool
    version: str | None  # "1.0"
    reason: str  # why untrusted cookies cannot be made; "" when they can

    @property
    def summary(self) -> str:
        return f"SECURITY {self.version} offered" if self.offered else self.reason


def security_support(extension: ExtensionInfo, version: tuple[int, int] | None) -> SecuritySupport:
    """Whether untrusted cookies can be made, from QueryExtension and SecurityQueryVersion."""
    if not extension.present:
        return SecuritySupport(False, None, "the X server does not offer the SECURITY extension")
    if version is None:
        return SecuritySupport(False, None, "the X server lists SECURITY but did not tell its version")
    text = f"{version[0]}.{version[1]}"
    if version[0] != SECURITY_MAJOR:
        return SecuritySupport(False, text, f"the X server's SECURITY extension is version {text}; "
                                            f"spotidoctor speaks version {SECURITY_MAJOR}.x")
    return SecuritySupport(True, text, "")


# -- requests (pure) ----------------------------------------------------------------------------

def query_version_request(opcode: int) -> bytes:
    return struct.pack("<BBHHH", opcode, X_SECURITY_QUERY_VERSION, 2, SECURITY_MAJOR, 0)


def generate_request(opcode: int, *, timeout_s: int, trust_level: int = TRUST_UNTRUSTED) -> bytes:
    """SecurityGenerateAuthorization for a server-made MIT-MAGIC-COOKIE-1."""
    name = pad4(x11auth.MIT_MAGIC_COOKIE)
    values = struct.pack("<II", timeout_s, trust_level)  # in value-mask bit order
    length = 3 + len(name) // 4 + len(values) // 4
    head = struct.pack("<BBHHHI", opcode, X_SECURITY_GENERATE, length, len(x11auth.MIT_MAGIC_COOKIE), 0,
                       ATTR_TIMEOUT | ATTR_TRUST_LEVEL)
    return head + name + values


def parse_generate_reply(reply: bytes) -> tuple[int, bytes]:
    """(authorization id, cookie bytes); ``ParseError`` on a reply too short for its own count."""
    if len(reply) < 32:
        raise ParseError("SecurityGenerateAuthorization reply is shorter than 32 bytes")
    auth_id, data_len = struct.unpack_from("<IH", reply, 8)
    if data_len == 0 or len(reply) < 32 + data_len:
        raise ParseError("SecurityGenerateAuthorization reply carries no cookie")
    return auth_id, reply[32:32 + data_len]


def revoke_request(opcode: int, auth_id: int) -> bytes:
    return struct.pack("<BBHI", opcode, X_SECURITY_REVOKE, 2, auth_id)


def parse_version_reply(reply: bytes) -> tuple[int, int]:
    major, minor = struct.unpack_from("<HH", reply, 8)
    return major, minor

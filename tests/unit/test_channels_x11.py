"""The untrusted-cookie channel against a fake X server (tests/fake_xserver.py), and its pure parts."""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotidoctor.channels import x11 as channel
from spotidoctor.channels.privatefile import UnsafeDirectory
from spotidoctor.channels.x11 import (
    COOKIE_FILE_MODE,
    UNTRUSTED_GRACE_S,
    RevokeOutcome,
    SecuritySupport,
    UntrustedCookie,
    UntrustedUnavailable,
    generate_request,
    parse_generate_reply,
    query_security,
    revoke_request,
    security_support,
)
from spotidoctor.channels.x11wire import ExtensionInfo, XSetupRefused, query_extension_request
from spotidoctor.errors import ParseError, ProbeTimeout
from spotidoctor.probes import x11auth
from tests import servers
from tests.fake_xserver import SECURITY_FIRST_ERROR, FakeXServer

NUMBER = 3
TRUSTED = bytes(range(16))


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sdx11-", dir="/tmp"))  # short: socket paths max 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def xauthority(tmp_path: Path) -> str:
    path = tmp_path / "Xauthority"
    path.write_bytes(x11auth.encode_xauthority([x11auth.XauthEntry(
        x11auth.FAMILY_WILD, b"host", str(NUMBER).encode(), x11auth.MIT_MAGIC_COOKIE, TRUSTED)]))
    return str(path)


@pytest.fixture
def dest(tmp_path: Path) -> str:
    return str(tmp_path / "run" / "Xauthority")


def fake(sock_dir: Path, **kw: object) -> FakeXServer:
    return FakeXServer(sock_dir / f"X{NUMBER}", TRUSTED, **kw)  # type: ignore[arg-type]


def make(sock_dir: Path, xauthority: str, dest: str, **kw: object) -> UntrustedCookie:
    return UntrustedCookie.create(f":{NUMBER}", xauthority, dest, socket_dir=str(sock_dir), timeout=2.0,
                                  **kw)  # type: ignore[arg-type]


# -- pure parts ---------------------------------------------------------------------------------

def test_security_support() -> None:
    present = ExtensionInfo(True, 137, 0, 150)
    assert security_support(present, (1, 0)) == SecuritySupport(True, "1.0", "")
    assert security_support(ExtensionInfo(False, 0, 0, 0), None) == SecuritySupport(
        False, None, "the X server does not offer the SECURITY extension")
    assert security_support(present, (2, 1)) == SecuritySupport(
        False, "2.1", "the X server's SECURITY extension is version 2.1; spotidoctor speaks version 1.x")
    assert not security_support(present, None).offered
    assert security_support(present, (1, 0)).summary == "SECURITY 1.0 offered"


def test_generate_request_layout_is_the_xorg_one() -> None:
    # opcode, minor 1, length, nbytesAuthProto, nbytesAuthData, valueMask, proto (padded), values
    data = generate_request(137, timeout_s=10)
    assert data[:12] == struct.pack("<BBHHHI", 137, 1, 3 + 5 + 2, 18, 0, 3)
    assert data[12:32] == x11auth.MIT_MAGIC_COOKIE + b"\0\0"
    assert data[32:] == struct.pack("<II", 10, 1)  # timeout, then trust level: untrusted
    assert len(data) == 4 * struct.unpack_from("<H", data, 2)[0]


def test_revoke_and_query_extension_requests() -> None:
    assert revoke_request(137, 0x401) == struct.pack("<BBHI", 137, 2, 2, 0x401)
    assert query_extension_request(b"SECURITY") == struct.pack("<BxHH2x", 98, 4, 8) + b"SECURITY"
    assert len(query_extension_request(b"GLX")) == 12


def test_parse_generate_reply() -> None:
    cookie = bytes(range(100, 116))
    good = struct.pack("<BxHIIH18x", 1, 5, 4, 0x401, 16) + cookie
    assert parse_generate_reply(good) == (0x401, cookie)
    with pytest.raises(ParseError, match="no cookie"):
        parse_generate_reply(good[:40])
    with pytest.raises(ParseError, match="shorter"):
        parse_generate_reply(good[:20])


def test_grace_zero_would_never_expire() -> None:
    assert 0 < UNTRUSTED_GRACE_S <= 60
    with pytest.raises(ValueError, match="never expires"):
        UntrustedCookie.create(":0", None, "/nonexistent/x", grace_s=0)


# -- against the fake server --------------------------------------------------------------------------

def test_create_writes_a_wild_cookie_and_holds_a_connection(sock_dir: Path, xauthority: str, dest: str) -> None:
    server = fake(sock_dir)
    try:
        cookie = make(sock_dir, xauthority, dest)
        (auth_id, generated), = server.auths.items()
        assert (generated.timeout, generated.trust) == (UNTRUSTED_GRACE_S, 1)
        assert cookie.auth_id == auth_id and cookie.path == dest and cookie.display == f":{NUMBER}"
        entries = x11auth.parse_xauthority(Path(dest).read_bytes())
        assert [(e.family, e.number, e.name, e.data) for e in entries] == [
            (x11auth.FAMILY_WILD, str(NUMBER).encode(), x11auth.MIT_MAGIC_COOKIE, generated.cookie)]
        assert os.stat(dest).st_mode & 0o777 == COOKIE_FILE_MODE
        assert os.stat(os.path.dirname(dest)).st_mode & 0o777 == 0o700
        assert server.setups == [TRUSTED, generated.cookie]  # the user's cookie, then the holder's
        assert server.clients_of(auth_id) == 1 and cookie.active
        assert generated.cookie.hex() not in repr(cookie) and TRUSTED.hex() not in repr(cookie)

        assert cookie.revoke() is RevokeOutcome.REVOKED
        assert server.revoked == [auth_id] and not os.path.exists(dest) and not cookie.active
        assert cookie.revoke() is RevokeOutcome.REVOKED and server.revoked == [auth_id]  # asked once
    finally:
        server.close()


def test_events_before_replies_are_skipped(sock_dir: Path, xauthority: str, dest: str) -> None:
    server = fake(sock_dir, event_before_replies=True)
    try:
        with make(sock_dir, xauthority, dest) as cookie:
            assert cookie.active
        assert len(server.revoked) == 1
    finally:
        server.close()


def test_revoke_of_an_expired_cookie(sock_dir: Path, xauthority: str, dest: str) -> None:
    server = fake(sock_dir)
    try:
        cookie = make(sock_dir, xauthority, dest)
        server.forget(cookie.auth_id)
        assert cookie.revoke() is RevokeOutcome.EXPIRED
    finally:
        server.close()


def test_revoke_when_the_server_is_gone(sock_dir: Path, xauthority: str, dest: str) -> None:
    server = fake(sock_dir)
    cookie = make(sock_dir, xauthority, dest)
    server.close()
    assert cookie.revoke() is RevokeOutcome.SERVER_GONE
    assert not os.path.exists(dest)


@pytest.mark.parametrize(("kw", "reason", "offered"), [
    ({"security": False}, "the X server does not offer the SECURITY extension", False),
    ({"version": (2, 0)}, "the X server's SECURITY extension is version 2.0; spotidoctor speaks version 1.x", False),
    ({"generate_error": SECURITY_FIRST_ERROR + 1},
     "the X server cannot generate MIT-MAGIC-COOKIE-1 authorizations (BadAuthorizationProtocol)", True),
    ({"generate_error": 11},
     "X server :3: SecurityGenerateAuthorization: the X server answered BadAlloc (request 137.1)", True),
])
def test_cannot_make_an_untrusted_cookie(sock_dir: Path, xauthority: str, dest: str, kw: dict[str, object],
                                         reason: str, offered: bool) -> None:
    server = fake(sock_dir, **kw)
    try:
        with pytest.raises(UntrustedUnavailable) as caught:
            make(sock_dir, xauthority, dest)
        assert str(caught.value) == f"cannot make an untrusted X cookie for :{NUMBER}: {reason}"
        assert caught.value.reason == reason
        assert not os.path.exists(dest) and server.auths == {}
        assert query_security(f":{NUMBER}", xauthority, socket_dir=str(sock_dir)).offered is offered
    finally:
        server.close()


def test_query_security_offered(sock_dir: Path, xauthority: str) -> None:
    server = fake(sock_dir)
    try:
        assert query_security(f":{NUMBER}", xauthority, socket_dir=str(sock_dir)) == SecuritySupport(True, "1.0", "")
    finally:
        server.close()


def test_wrong_user_cookie_is_a_clear_refusal(sock_dir: Path, tmp_path: Path, dest: str) -> None:
    server = fake(sock_dir)
    other = tmp_path / "other"
    other.write_bytes(x11auth.encode_xauthority([x11auth.XauthEntry(
        x11auth.FAMILY_WILD, b"h", str(NUMBER).encode(), x11auth.MIT_MAGIC_COOKIE, bytes(16))]))
    try:
        with pytest.raises(XSetupRefused, match="refused the connection: Invalid MIT-MAGIC-COOKIE-1 key") as caught:
            make(sock_dir, str(other), dest)
        assert bytes(16).hex() not in str(caught.value)
    finally:
        server.close()


def test_unsafe_destination_directory_revokes_the_new_cookie(sock_dir: Path, xauthority: str,
                                                             tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    server = fake(sock_dir)
    try:
        with pytest.raises(UnsafeDirectory, match="open to other users"):
            make(sock_dir, xauthority, str(shared / "Xauthority"))
        assert len(server.revoked) == 1 and server.auths == {}
        assert os.listdir(shared) == []
    finally:
        server.close()


def test_hung_server_times_out(sock_dir: Path, xauthority: str, dest: str) -> None:
    hung = servers.hung_unix_server(sock_dir / f"X{NUMBER}")
    try:
        with pytest.raises(ProbeTimeout, match=f"X server :{NUMBER} did not answer the connection setup"):
            UntrustedCookie.create(f":{NUMBER}", xauthority, dest, socket_dir=str(sock_dir), timeout=0.3)
    finally:
        hung.close()


def test_missing_server_and_bad_displays(sock_dir: Path, xauthority: str, dest: str) -> None:
    with pytest.raises(channel.ProbeUnavailable, match="nobody listens"):
        make(sock_dir, xauthority, dest)
    with pytest.raises(channel.ProbeUnavailable, match="TCP display"):
        UntrustedCookie.create("otherhost:0", xauthority, dest)
    with pytest.raises(channel.ProbeUnavailable, match="cannot be parsed|not of the form"):
        UntrustedCookie.create("garbage", xauthority, dest)


def test_unreadable_xauthority_is_a_clear_error(sock_dir: Path, tmp_path: Path, dest: str) -> None:
    broken = tmp_path / "broken"
    broken.write_bytes(b"\x01")
    server = fake(sock_dir)
    try:
        with pytest.raises(channel.ProbeUnavailable, match=f"cannot read a cookie from {broken}: .*truncated"):
            make(sock_dir, str(broken), dest)
    finally:
        server.close()

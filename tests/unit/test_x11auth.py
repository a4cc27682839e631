"""DISPLAY parsing, the Xauthority reader and the FamilyWild writer (pure functions)."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.errors import ParseError
from spotidoctor.probes.x11auth import (
    FAMILY_INTERNET,
    FAMILY_LOCAL,
    FAMILY_WILD,
    MIT_MAGIC_COOKIE,
    DisplayName,
    XauthEntry,
    best_auth,
    cookie_entries,
    digest,
    encode_xauthority,
    hostname_from,
    parse_display,
    parse_xauthority,
    wild_cookie_file,
    xauthority_path,
)

COOKIE = bytes(range(16))
OTHER_COOKIE = bytes(range(16, 32))


def entry(family: int = FAMILY_LOCAL, address: bytes = b"vm", number: bytes = b"0",
          name: bytes = MIT_MAGIC_COOKIE, data: bytes = COOKIE) -> XauthEntry:
    return XauthEntry(family, address, number, name, data)


# -- DISPLAY ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected", "local"), [
    pytest.param(":0", DisplayName(":0", None, "", 0, 0), True, id="plain"),
    pytest.param(":0.0", DisplayName(":0.0", None, "", 0, 0), True, id="screen"),
    pytest.param(":1.2", DisplayName(":1.2", None, "", 1, 2), True, id="screen-2"),
    pytest.param("unix:0", DisplayName("unix:0", None, "unix", 0, 0), True, id="unix-host"),
    pytest.param("unix/:0", DisplayName("unix/:0", "unix", "", 0, 0), True, id="unix-proto"),
    pytest.param("unix/unix:7", DisplayName("unix/unix:7", "unix", "unix", 7, 0), True, id="unix-unix"),
    pytest.param(":59535", DisplayName(":59535", None, "", 59535, 0), True, id="max-number"),
    pytest.param("host:0", DisplayName("host:0", None, "host", 0, 0), False, id="tcp-host"),
    pytest.param("localhost:10.0", DisplayName("localhost:10.0", None, "localhost", 10, 0), False,
                 id="ssh-forwarding"),
    pytest.param("tcp/host:0", DisplayName("tcp/host:0", "tcp", "host", 0, 0), False, id="tcp-proto"),
    pytest.param("tcp/:3", DisplayName("tcp/:3", "tcp", "", 3, 0), False, id="tcp-empty-host"),
    pytest.param("10.0.0.2:1", DisplayName("10.0.0.2:1", None, "10.0.0.2", 1, 0), False, id="ipv4"),
])
def test_parse_display_shapes(raw: str, expected: DisplayName, local: bool) -> None:
    name = parse_display(raw)
    assert name == expected
    assert name.is_local is local
    assert name.canonical == f":{expected.number}"
    assert name.socket_path == f"/tmp/.X11-unix/X{expected.number}"


@pytest.mark.parametrize("raw", [
    pytest.param("", id="empty"),
    pytest.param("garbage", id="garbage"),
    pytest.param(":", id="colon-only"),
    pytest.param(":99999999", id="number-too-big"),
    pytest.param(":59536", id="just-above-max"),
    pytest.param(":0.999", id="screen-too-big"),
    pytest.param(":0.", id="dangling-dot"),
    pytest.param(":-1", id="negative"),
    pytest.param(" :0", id="leading-space"),
    pytest.param(":0\n", id="trailing-newline"),
    pytest.param("unix/host:0", id="unix-with-host"),
    pytest.param("ftp/host:0", id="unknown-proto"),
    pytest.param("/private/tmp/com.apple.launchd.x/org.xquartz:0", id="launchd-path"),
    pytest.param(":١", id="arabic-digit"),
    pytest.param(":" + "9" * 40, id="huge-number"),
])
def test_parse_display_rejects(raw: str) -> None:
    with pytest.raises(ParseError):
        parse_display(raw)


@settings(max_examples=400)
@given(st.text(max_size=40))
def test_parse_display_raises_only_parse_error(raw: str) -> None:
    try:
        name = parse_display(raw)
    except ParseError:
        return
    assert 0 <= name.number <= 59535 and name.raw == raw


@given(st.integers(0, 59535), st.integers(0, 255), st.sampled_from(["", "unix", "unix/"]))
def test_parse_display_local_roundtrip(number: int, screen: int, prefix: str) -> None:
    raw = f"{prefix}:{number}.{screen}" if prefix != "unix" else f"unix:{number}.{screen}"
    name = parse_display(raw)
    assert (name.number, name.screen, name.is_local) == (number, screen, True)


# -- Xauthority reader ----------------------------------------------------------------------

def test_reader_reads_several_entries_in_order() -> None:
    entries = (entry(), entry(address=b"other", data=OTHER_COOKIE), entry(FAMILY_INTERNET, bytes([10, 0, 0, 2]), b"1"))
    assert parse_xauthority(encode_xauthority(entries)) == entries


def test_reader_matches_the_documented_layout() -> None:
    # xauth nlist prints it: `0100 0002 766d 0002 3731 0012 4d49... 0010 ...`
    data = (bytes.fromhex("0100 0002 766d 0002 3731 0012") + MIT_MAGIC_COOKIE
            + bytes.fromhex("0010") + COOKIE)
    assert parse_xauthority(data) == (entry(number=b"71"),)


@pytest.mark.parametrize(("data", "message"), [
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b"\x01", "truncated in entry 1 (family)", id="half-family"),
    pytest.param(b"\x01\x00", "entry 1 (address length)", id="no-address"),
    pytest.param(b"\x01\x00\x00\x05vm", "entry 1 (address: 5 bytes expected, 2 left)", id="short-address"),
    pytest.param(encode_xauthority([entry()])[:-1], "entry 1 (auth data", id="short-cookie"),
    pytest.param(encode_xauthority([entry(), entry()])[:-3], "entry 2", id="second-truncated"),
    pytest.param(b"\0" * (2 << 20), "larger than the 1024 KiB spotidoctor reads", id="huge"),
])
def test_reader_rejects_broken_files(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=r".*" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_xauthority(data)


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_reader_raises_only_parse_error(data: bytes) -> None:
    try:
        entries = parse_xauthority(data)
    except ParseError:
        return
    assert encode_xauthority(entries) == data  # whatever it accepts, it reads losslessly


entries_strategy = st.lists(st.builds(
    XauthEntry, st.sampled_from([FAMILY_LOCAL, FAMILY_WILD, FAMILY_INTERNET, 6, 5]),
    st.binary(max_size=12), st.sampled_from([b"0", b"1", b"71", b""]),
    st.sampled_from([MIT_MAGIC_COOKIE, b"XDM-AUTHORIZATION-1"]), st.binary(max_size=20)), min_size=1, max_size=6)


@given(entries_strategy)
def test_reader_roundtrips_encoded_entries(entries: list[XauthEntry]) -> None:
    assert parse_xauthority(encode_xauthority(entries)) == tuple(entries)


def test_cookie_bytes_never_appear_in_repr() -> None:
    secret = b"\x13\x37" * 8
    assert secret.hex() not in repr(entry(data=secret)) and repr(secret) not in repr(entry(data=secret))
    assert "13371337" not in entry(data=secret).describe()


# -- selection and the FamilyWild writer ----------------------------------------------------------

def test_cookie_entries_pick_this_host_and_wild_for_the_number() -> None:
    mine, wild = entry(number=b"1"), entry(FAMILY_WILD, b"x", b"1", data=OTHER_COOKIE)
    noise = [entry(address=b"otherhost", number=b"1"), entry(number=b"2"),
             entry(number=b"1", name=b"XDM-AUTHORIZATION-1"), entry(FAMILY_INTERNET, bytes([127, 0, 0, 1]), b"1")]
    assert cookie_entries([*noise, mine, wild], 1, "vm") == (mine, wild)
    assert cookie_entries([*noise, mine], 1, None)[0] == noise[0]  # host unknown: any local entry


def test_wild_file_layout() -> None:
    data = wild_cookie_file([entry(number=b"71")], 71, "vm")
    expected = (struct.pack(">H", 0xFFFF) + b"\x00\x02vm" + b"\x00\x0271" + b"\x00\x12" + MIT_MAGIC_COOKIE
                + b"\x00\x10" + COOKIE)
    assert data == expected
    assert parse_xauthority(data) == (XauthEntry(FAMILY_WILD, b"vm", b"71", MIT_MAGIC_COOKIE, COOKIE),)


def test_wild_file_needs_a_cookie() -> None:
    with pytest.raises(ParseError, match="no MIT-MAGIC-COOKIE-1 entry for display :3"):
        wild_cookie_file([entry(number=b"0")], 3, "vm")


def test_wild_file_keeps_one_entry_per_address() -> None:
    data = wild_cookie_file([entry(), entry(FAMILY_WILD, data=OTHER_COOKIE)], 0, "vm")
    assert [e.data for e in parse_xauthority(data)] == [COOKIE]


def test_best_auth() -> None:
    assert best_auth([entry(address=b"other"), entry()], 0, "vm") == (MIT_MAGIC_COOKIE, COOKIE)
    assert best_auth([entry(address=b"other")], 0, "vm") == (b"", b"")


def test_digest_compares_without_exposing() -> None:
    assert digest(COOKIE) == digest(bytes(range(16))) != digest(OTHER_COOKIE)
    assert COOKIE.hex() not in digest(COOKIE)


@pytest.mark.parametrize(("env", "home", "expected"), [
    ({"XAUTHORITY": "/run/user/1/gdm/Xauthority", "HOME": "/h"}, None, "/run/user/1/gdm/Xauthority"),
    ({"HOME": "/h"}, None, "/h/.Xauthority"),
    ({"XAUTHORITY": ""}, "/pw", "/pw/.Xauthority"),
    ({}, None, None),
])
def test_xauthority_path(env: dict[str, str], home: str | None, expected: str | None) -> None:
    assert xauthority_path(env, home) == expected


@pytest.mark.parametrize(("text", "expected"), [("vm\n", "vm"), ("", None), (None, None), ("  \n", None)])
def test_hostname_from(text: str | None, expected: str | None) -> None:
    assert hostname_from(text) == expected

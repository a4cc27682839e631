"""The relay's SASL state machine, fed the byte sequences real clients send (no I/O).

Client flavours (as their sources write them): libdbus sends ``AUTH EXTERNAL <hex uid>``
and, after ``OK``, ``NEGOTIATE_UNIX_FD`` then ``BEGIN``; GDBus >= 2.74 first asks with a bare
``AUTH``, then ``AUTH EXTERNAL`` without a uid and answers the empty ``DATA`` challenge with
``DATA `` (empty identity); sd-bus sends everything at once: ``AUTH EXTERNAL`` + ``DATA``,
``NEGOTIATE_UNIX_FD``, ``BEGIN`` (older sd-bus: ``AUTH EXTERNAL <hex uid>``).
"""
from __future__ import annotations

import pytest

from spotidoctor.channels.dbus.sasl import (
    MAX_COMMANDS,
    MAX_LINE,
    NO_FDS,
    REJECTED,
    UNKNOWN,
    Authenticated,
    Refused,
    Send,
    SendOk,
    ServerAuth,
    UpstreamRefused,
    is_guid,
    parse_upstream_ok,
    upstream_hello,
)

HELLO = b"l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00"  # the start of a Hello call: must pass untouched


def hexuid(uid: int) -> bytes:
    return str(uid).encode().hex().encode()


def test_libdbus_with_its_own_uid() -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0AUTH EXTERNAL " + hexuid(1500) + b"\r\n") == [SendOk()]
    assert auth.claimed_uid == "1500"
    assert auth.feed(b"NEGOTIATE_UNIX_FD\r\n") == [Send(NO_FDS)]
    assert NO_FDS.startswith("ERROR")
    assert auth.feed(b"BEGIN\r\n" + HELLO) == [Authenticated(HELLO)]
    assert auth.finished


def test_any_claimed_uid_is_accepted() -> None:
    for uid in (0, 1000, 101499, 4294967294):
        assert ServerAuth().feed(b"\0AUTH EXTERNAL " + hexuid(uid) + b"\r\n") == [SendOk()]


def test_gdbus_asks_for_mechanisms_then_sends_an_empty_identity() -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0") == []
    assert auth.feed(b"AUTH\r\n") == [Send(REJECTED)]
    assert REJECTED == "REJECTED EXTERNAL"
    assert auth.feed(b"AUTH EXTERNAL\r\n") == [Send("DATA")]
    assert auth.feed(b"DATA \r\n") == [SendOk()]
    assert auth.claimed_uid == ""
    assert auth.feed(b"NEGOTIATE_UNIX_FD\r\n") == [Send(NO_FDS)]
    assert auth.feed(b"BEGIN\r\n") == [Authenticated(b"")]


def test_sd_bus_pipelines_everything_and_is_answered_in_order() -> None:
    auth = ServerAuth()
    actions = auth.feed(b"\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n" + HELLO)
    assert actions == [Send("DATA"), SendOk(), Send(NO_FDS), Authenticated(HELLO)]


def test_older_sd_bus_pipelines_with_its_uid() -> None:
    actions = ServerAuth().feed(b"\0AUTH EXTERNAL " + hexuid(1500) + b"\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n")
    assert actions == [SendOk(), Send(NO_FDS), Authenticated(b"")]


def test_bytes_may_arrive_one_at_a_time() -> None:
    auth = ServerAuth()
    actions = []
    for byte in b"\0AUTH EXTERNAL " + hexuid(1500) + b"\r\nBEGIN\r\n" + HELLO:
        actions += auth.feed(bytes([byte]))
        if auth.finished:
            break
    assert actions == [SendOk(), Authenticated(b"")]  # the rest arrives later, in the splice phase


def test_data_with_a_uid_after_an_empty_challenge() -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0AUTH EXTERNAL\r\n") == [Send("DATA")]
    assert auth.feed(b"DATA " + hexuid(1500) + b"\r\n") == [SendOk()]


@pytest.mark.parametrize("line", [b"AUTH DBUS_COOKIE_SHA1 " + b"user".hex().encode(), b"AUTH ANONYMOUS",
                                  b"AUTH EXTERNAL " + b"root".hex().encode(), b"AUTH EXTERNAL 3g",
                                  b"AUTH EXTERNAL 313", b"AUTH EXTERNAL " + "١".encode().hex().encode()])
def test_other_mechanisms_and_bad_identities_are_rejected_and_may_retry(line: bytes) -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0" + line + b"\r\n") == [Send(REJECTED)]
    assert auth.feed(b"AUTH EXTERNAL " + hexuid(1500) + b"\r\n") == [SendOk()]


def test_cancel_and_error_go_back_to_the_start() -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0AUTH EXTERNAL\r\n") == [Send("DATA")]
    assert auth.feed(b"CANCEL\r\n") == [Send(REJECTED)]
    assert auth.feed(b"AUTH EXTERNAL " + hexuid(1) + b"\r\n") == [SendOk()]
    assert auth.feed(b"ERROR\r\n") == [Send(REJECTED)]
    assert auth.feed(b"BEGIN\r\n") == [Refused("BEGIN while waiting for AUTH")]


def test_unknown_or_misplaced_commands_get_error_and_the_state_stays() -> None:
    auth = ServerAuth()
    assert auth.feed(b"\0HELLO\r\n") == [Send(UNKNOWN)]
    assert auth.feed(b"NEGOTIATE_UNIX_FD\r\n") == [Send(UNKNOWN)]  # only after OK
    assert auth.feed(b"DATA\r\n") == [Send(UNKNOWN)]
    assert auth.feed(b"CANCEL\r\n") == [Send(UNKNOWN)]  # nothing to cancel yet
    assert auth.feed(b"AUTH EXTERNAL " + hexuid(1500) + b"\r\n") == [SendOk()]
    assert auth.feed(b"AUTH EXTERNAL " + hexuid(1500) + b"\r\n") == [Send(UNKNOWN)]  # after OK: only BEGIN
    assert auth.feed(b"BEGIN\r\n") == [Authenticated(b"")]


def test_begin_before_ok_ends_the_connection() -> None:
    assert ServerAuth().feed(b"\0BEGIN\r\n") == [Refused("BEGIN while waiting for AUTH")]
    auth = ServerAuth()
    assert auth.feed(b"\0AUTH EXTERNAL\r\nBEGIN\r\n") == [Send("DATA"), Refused("BEGIN while waiting for DATA")]
    assert auth.finished


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"l\x01\x00\x01", b"\x16\x03\x01\x02\x00"])
def test_garbage_first_byte_is_refused(data: bytes) -> None:
    assert ServerAuth().feed(data) == [Refused("the first byte was not NUL: not a D-Bus client")]


@pytest.mark.parametrize("line", [b"AUTH EXTERNAL \xff\xfe", b"AUTH\tEXTERNAL", b"\0AUTH", b"AUTH EXTERNAL\x1b[2J"])
def test_lines_that_are_not_printable_ascii_are_refused(line: bytes) -> None:
    assert ServerAuth().feed(b"\0" + line + b"\r\n") == [Refused("an authentication line that is not printable ASCII")]


def test_an_empty_line_is_refused() -> None:
    assert ServerAuth().feed(b"\0\r\n") == [Refused("an authentication line that is not printable ASCII")]


def test_overlong_lines_are_refused_with_or_without_their_end() -> None:
    reason = f"an authentication line longer than {MAX_LINE} bytes"
    auth = ServerAuth()
    assert auth.feed(b"\0AUTH EXTERNAL " + b"31" * MAX_LINE) == [Refused(reason)]
    assert auth.finished
    assert ServerAuth().feed(b"\0" + b"A" * (MAX_LINE + 1) + b"\r\n") == [Refused(reason)]
    assert ServerAuth().feed(b"\0" + b"A" * MAX_LINE + b"\r\n") == [Send(UNKNOWN)]  # the limit itself is fine


def test_the_number_of_commands_is_bounded() -> None:
    auth = ServerAuth()
    actions = auth.feed(b"\0" + b"AUTH\r\n" * (MAX_COMMANDS + 1))
    assert actions == [Send(REJECTED)] * MAX_COMMANDS + [Refused(f"more than {MAX_COMMANDS} authentication commands")]


def test_early_close_names_the_phase() -> None:
    auth = ServerAuth()
    assert auth.eof() == Refused("the client closed the connection while waiting for the NUL byte")
    auth.feed(b"\0AUTH EXTERNAL 31\r\n")
    assert auth.eof() == Refused("the client closed the connection while waiting for BEGIN")


def test_nothing_is_accepted_after_the_end() -> None:
    auth = ServerAuth()
    auth.feed(b"x")
    with pytest.raises(RuntimeError):
        auth.feed(b"\0AUTH\r\n")


def test_the_relays_own_authentication_upstream() -> None:
    assert upstream_hello(1613) == b"\0AUTH EXTERNAL 31363133\r\n"
    guid = "48228fdc35da28e7e83215016b160de4"
    assert parse_upstream_ok(b"OK " + guid.encode()) == guid and is_guid(guid)
    with pytest.raises(UpstreamRefused, match="rejected"):
        parse_upstream_ok(b"REJECTED EXTERNAL")
    for line in (b"OK", b"OK 123", b"OK " + guid.upper().encode(), b"DATA", b"\xff"):
        with pytest.raises(UpstreamRefused):
            parse_upstream_ok(line)

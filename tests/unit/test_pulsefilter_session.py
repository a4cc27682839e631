"""One filtered connection as pure protocol logic (``Session``): what it forwards, rewrites, answers
itself and ends on, byte for byte, without sockets."""
from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotidoctor.channels.pulse.frames import FrameReader, ProtocolViolation, packet_frame
from spotidoctor.channels.pulse.protocol import (
    DESCRIPTOR,
    ERR_ACCESS,
    ERR_VERSION,
    FLAG_MEMFD,
    FLAG_SHM,
    FRAME_SIZE_MAX,
    NO_TAG,
    PACKET_CHANNEL,
    Command,
)
from spotidoctor.channels.pulse.session import CLIENT_PACKET_MAX, MAX_PENDING, MAX_STREAMS, Session
from spotidoctor.channels.pulse.tagstruct import U32, Arbitrary, CVolume, Proplist, String, Value, decode, encode
from tests.pulsefake import OTHER_SINK_INPUT, VERSION, auth, block, command, packet, sink_input_entry

COOKIE = bytes(range(256))
LOG = logging.getLogger("test.pulsefilter")


def frames(data: bytes | bytearray) -> list[tuple[int, list[Value] | bytes]]:
    """A byte stream as (channel, decoded packet or audio payload) pairs."""
    found: list[tuple[int, list[Value] | bytes]] = []

    def on_data(piece: memoryview) -> None:
        channel, so_far = found[-1]
        assert isinstance(so_far, bytes)
        found[-1] = (channel, so_far + bytes(piece))

    reader = FrameReader(FRAME_SIZE_MAX, lambda frame: found.append((PACKET_CHANNEL, decode(frame[20:]))),
                         lambda channel, head: found.append((channel, b"")), on_data)
    reader.feed(bytes(data))
    assert reader.at_boundary
    return found


def drain(buf: bytearray) -> list[tuple[int, list[Value] | bytes]]:
    out = frames(buf)
    buf.clear()
    return out


def authed(cookie: bytes | None = COOKIE) -> Session:
    session = Session(1, cookie, LOG)
    session.from_client(auth(tag=1))
    session.from_server(packet(U32(Command.REPLY), U32(1), U32(VERSION | FLAG_SHM | FLAG_MEMFD)))
    drain(session.out_server)
    drain(session.out_client)
    return session


def with_stream(session: Session, tag: int = 2, channel: int = 4, sink_input: int = 40) -> Session:
    session.from_client(command(Command.CREATE_PLAYBACK_STREAM, tag, String(b"x"), Proplist(())))
    session.from_server(packet(U32(Command.REPLY), U32(tag), U32(channel), U32(sink_input), U32(4096)))
    drain(session.out_server)
    drain(session.out_client)
    return session


def refused_with(session: Session, tag: int) -> None:
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.ERROR), U32(tag), U32(ERR_ACCESS)])]
    assert not session.out_server


# -- AUTH -----------------------------------------------------------------------------------------

def test_auth_loses_its_shared_memory_bits_and_carries_the_users_cookie_both_ways() -> None:
    session = Session(1, COOKIE, LOG)
    session.from_client(auth(tag=9, flags=FLAG_SHM | FLAG_MEMFD, cookie=b"\x07" * 256))
    assert drain(session.out_server) == [(PACKET_CHANNEL, [U32(Command.AUTH), U32(9), U32(VERSION),
                                                           Arbitrary(COOKIE)])]
    session.from_server(packet(U32(Command.REPLY), U32(9), U32(VERSION | FLAG_SHM | FLAG_MEMFD)))
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.REPLY), U32(9), U32(VERSION)])]


def test_without_a_cookie_the_filter_sends_zeros_never_the_clients() -> None:
    session = Session(1, None, LOG)
    session.from_client(auth(cookie=b"\x07" * 256))
    [(_, values)] = drain(session.out_server)
    assert isinstance(values, list) and values[3] == Arbitrary(bytes(256))


def test_an_old_protocol_version_is_answered_with_a_version_error() -> None:
    session = Session(1, None, LOG)
    session.from_client(auth(tag=3, version=12, flags=0))
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.ERROR), U32(3), U32(ERR_VERSION)])]
    assert not session.out_server
    with pytest.raises(ProtocolViolation, match="before AUTH"):
        session.from_client(command(Command.GET_SERVER_INFO, 4))


def test_nothing_before_auth_and_no_second_auth() -> None:
    with pytest.raises(ProtocolViolation, match="GET_SERVER_INFO before AUTH"):
        Session(1, None, LOG).from_client(command(Command.GET_SERVER_INFO, 1))
    session = authed()
    session.from_client(auth(tag=5))
    refused_with(session, 5)


# -- refusals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, args", [
    (Command.LOAD_MODULE, [String(b"module-ladspa-sink"), String(b"plugin=/tmp/x.so")]),
    (Command.UNLOAD_MODULE, [U32(3)]),
    (Command.SET_DEFAULT_SINK, [String(b"other")]),
    (Command.KILL_CLIENT, [U32(1)]),
    (Command.SET_SINK_VOLUME, [U32(0), String(None), CVolume((65536,))]),
    (Command.CREATE_RECORD_STREAM, []),
    (Command.GET_MODULE_INFO_LIST, []),
    (Command.EXIT, []),
    (400, []),
])
def test_refused_commands_get_an_access_error_with_their_tag_and_are_counted(cmd: int, args: list[Value]) -> None:
    session = authed()
    session.from_client(command(cmd, 77, *args))
    refused_with(session, 77)
    assert sum(session.refused.values()) == 1


def test_refusals_are_logged_by_name_never_with_the_payload(caplog: pytest.LogCaptureFixture) -> None:
    session = authed()
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for tag in range(10):
            session.from_client(command(Command.LOAD_MODULE, tag, String(b"module-secret-name"), String(b"arg=SECRET")))
    assert session.refused == {"LOAD_MODULE": 10}
    assert len(caplog.records) == 5  # then counted only
    assert all("LOAD_MODULE" in r.getMessage() and "SECRET" not in r.getMessage() and "secret" not in r.getMessage()
               for r in caplog.records)


# -- the client's own streams -------------------------------------------------------------------------

def test_a_created_stream_is_the_clients_and_its_commands_pass() -> None:
    session = with_stream(authed(), channel=4, sink_input=40)
    assert session.streams == {4: 40}
    for tag, (cmd, args) in enumerate([(Command.CORK_PLAYBACK_STREAM, [U32(4)]),
                                       (Command.SET_SINK_INPUT_VOLUME, [U32(40), CVolume((30000, 30000))]),
                                       (Command.SET_SINK_INPUT_MUTE, [U32(40)]),
                                       (Command.GET_SINK_INPUT_INFO, [U32(40)]),
                                       (Command.DRAIN_PLAYBACK_STREAM, [U32(4)])], start=10):
        session.from_client(command(cmd, tag, *args))
        assert drain(session.out_server) == [(PACKET_CHANNEL, [U32(cmd), U32(tag), *args])]
    assert not session.out_client and not session.refused


@pytest.mark.parametrize("cmd, target", [
    (Command.SET_SINK_INPUT_VOLUME, 41), (Command.SET_SINK_INPUT_MUTE, 41), (Command.GET_SINK_INPUT_INFO, 41),
    (Command.CORK_PLAYBACK_STREAM, 5), (Command.DELETE_PLAYBACK_STREAM, 5), (Command.FLUSH_PLAYBACK_STREAM, 5),
])
def test_other_programs_streams_are_refused(cmd: int, target: int) -> None:
    session = with_stream(authed(), channel=4, sink_input=40)
    session.from_client(command(cmd, 50, U32(target)))
    refused_with(session, 50)


def test_a_deleted_or_killed_stream_is_no_longer_the_clients() -> None:
    session = with_stream(with_stream(authed(), tag=2, channel=4, sink_input=40), tag=3, channel=5, sink_input=50)
    session.from_client(command(Command.DELETE_PLAYBACK_STREAM, 9, U32(4)))
    session.from_server(command(Command.PLAYBACK_STREAM_KILLED, NO_TAG, U32(5)))
    assert session.streams == {}
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.PLAYBACK_STREAM_KILLED), U32(NO_TAG), U32(5)])]
    drain(session.out_server)
    session.from_client(command(Command.SET_SINK_INPUT_VOLUME, 10, U32(50), CVolume((1,))))
    refused_with(session, 10)


def test_a_failed_create_gives_the_client_nothing() -> None:
    session = authed()
    session.from_client(command(Command.CREATE_PLAYBACK_STREAM, 2, String(b"x")))
    session.from_server(packet(U32(Command.ERROR), U32(2), U32(ERR_ACCESS)))
    assert session.streams == {}
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.ERROR), U32(2), U32(ERR_ACCESS)])]


def test_stream_count_is_capped() -> None:
    session = authed()
    for channel in range(MAX_STREAMS):
        with_stream(session, tag=100 + channel, channel=channel, sink_input=1000 + channel)
    session.from_client(command(Command.CREATE_PLAYBACK_STREAM, 99, String(b"x")))
    refused_with(session, 99)


def test_the_sink_input_list_keeps_only_the_clients_entries() -> None:
    session = with_stream(authed(), channel=0, sink_input=100)
    session.from_client(command(Command.GET_SINK_INPUT_INFO_LIST, 20))
    assert drain(session.out_server) == [(PACKET_CHANNEL, [U32(Command.GET_SINK_INPUT_INFO_LIST), U32(20)])]
    session.from_server(packet(U32(Command.REPLY), U32(20), *sink_input_entry(OTHER_SINK_INPUT),
                               *sink_input_entry(100), *sink_input_entry(7)))
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.REPLY), U32(20), *sink_input_entry(100)])]


def test_a_sink_input_list_of_unknown_shape_is_withheld() -> None:
    session = authed()
    session.from_client(command(Command.GET_SINK_INPUT_INFO_LIST, 20))
    session.from_server(packet(U32(Command.REPLY), U32(20), *sink_input_entry(OTHER_SINK_INPUT)[:-1]))
    assert drain(session.out_client) == [(PACKET_CHANNEL, [U32(Command.ERROR), U32(20), U32(ERR_ACCESS)])]


# -- proplists --------------------------------------------------------------------------------------

def test_proplists_are_sanitised_before_they_reach_the_server() -> None:
    session = authed()
    evil = Proplist((("media.name", b"song\0"), ("filter.apply", b"ladspa-sink\0"),
                     ("filter.apply.ladspa-sink.parameters", b"plugin=/home/u/evil.so label=x\0")))
    session.from_client(command(Command.CREATE_PLAYBACK_STREAM, 2, String(b"x"), evil, U32(7)))
    assert drain(session.out_server) == [(PACKET_CHANNEL, [U32(Command.CREATE_PLAYBACK_STREAM), U32(2), String(b"x"),
                                                           Proplist((("media.name", b"song\0"),)), U32(7)])]
    session.from_client(command(Command.SET_CLIENT_NAME, 3, Proplist((("pipewire.access", b"unrestricted\0"),))))
    assert drain(session.out_server) == [(PACKET_CHANNEL, [U32(Command.SET_CLIENT_NAME), U32(3), Proplist(())])]
    assert session.stripped == {"filter.apply": 1, "filter.apply.ladspa-sink.parameters": 1, "pipewire.access": 1}


def test_an_unchanged_command_is_forwarded_byte_for_byte() -> None:
    session = authed()
    raw = command(Command.SET_CLIENT_NAME, 3, Proplist((("application.name", b"Spotify\0"),)))
    session.from_client(raw)
    assert bytes(session.out_server) == raw


# -- audio data -------------------------------------------------------------------------------------

def test_audio_passes_on_own_channels_in_any_pieces_and_is_dropped_elsewhere() -> None:
    session = with_stream(authed(), channel=4)
    audio = bytes(range(256)) * 300
    stream = block(4, audio) + block(9, b"other program's channel") + block(4, b"tail")
    for i in range(0, len(stream), 777):
        session.from_client(stream[i:i + 777])
    assert drain(session.out_server) == [(4, audio), (4, b"tail")]
    assert session.dropped_blocks == 1


def test_audio_from_the_server_is_dropped_and_server_events_pass_untouched() -> None:
    session = with_stream(authed(), channel=4)
    events = (command(Command.REQUEST, NO_TAG, U32(4), U32(8192)) + command(Command.UNDERFLOW, NO_TAG, U32(4))
              + command(Command.SUBSCRIBE_EVENT, NO_TAG, U32(0x10), U32(3)) + block(4, b"record data"))
    session.from_server(events)
    assert bytes(session.out_client) == events[:-len(block(4, b"record data"))]
    assert session.underflows == 1


# -- violations --------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, why", [
    (block(4, b"x", flags=0x80000000), "shared memory"),
    (block(4, b"x", flags=0x40000000), "shared memory"),
    (DESCRIPTOR.pack(FRAME_SIZE_MAX + 1, 4, 0, 0, 0), "a frame of"),
    (DESCRIPTOR.pack(0, PACKET_CHANNEL, 0, 0, 0), "a frame of 0 bytes"),
    (DESCRIPTOR.pack(CLIENT_PACKET_MAX + 1, PACKET_CHANNEL, 0, 0, 0), "a command of"),
    (DESCRIPTOR.pack(10, PACKET_CHANNEL, 0, 0, 1), "packet frame with flags"),
    (block(4, b"x", flags=7), "invalid flags"),
    (packet_frame(b"Lgarbage"), "malformed command"),
    (packet_frame(encode([String(b"no command")])), "without a command number"),
])
def test_bad_frames_end_the_connection(data: bytes, why: str) -> None:
    session = with_stream(authed(), channel=4)
    with pytest.raises(ProtocolViolation, match=why):
        session.from_client(data)


def test_a_reused_pending_tag_ends_the_connection() -> None:
    session = authed()
    session.from_client(command(Command.GET_SERVER_INFO, 5))
    with pytest.raises(ProtocolViolation, match="reuses tag 5"):
        session.from_client(command(Command.GET_SINK_INPUT_INFO_LIST, 5))


def test_unanswered_commands_are_bounded() -> None:
    session = authed()
    with pytest.raises(ProtocolViolation, match="unanswered"):
        for tag in range(MAX_PENDING + 1):
            session.from_client(command(Command.GET_SERVER_INFO, 1000 + tag))


def test_the_server_setting_up_shared_memory_ends_the_connection() -> None:
    session = authed()
    with pytest.raises(ProtocolViolation, match="ENABLE_SRBCHANNEL"):
        session.from_server(command(Command.ENABLE_SRBCHANNEL, NO_TAG, U32(0)))


def test_a_create_reply_is_tracked_only_for_its_own_tag() -> None:
    """A reply to another command that happens to start with two numbers grants nothing."""
    session = authed()
    session.from_client(command(Command.STAT, 8))
    session.from_server(packet(U32(Command.REPLY), U32(8), U32(OTHER_SINK_INPUT), U32(OTHER_SINK_INPUT), U32(0)))
    assert session.streams == {}
    drain(session.out_server)
    drain(session.out_client)
    session.from_client(command(Command.SET_SINK_INPUT_VOLUME, 9, U32(OTHER_SINK_INPUT), CVolume((1,))))
    refused_with(session, 9)


def test_frame_reader_hands_on_a_big_audio_frame_without_collecting_it() -> None:
    pieces: list[int] = []
    reader = FrameReader(64, lambda frame: None, lambda channel, head: None,
                         lambda piece: pieces.append(len(piece)))
    reader.feed(DESCRIPTOR.pack(1_000_000, 4, 0, 0, 0))
    for _ in range(100):
        reader.feed(bytes(10_000))
    assert sum(pieces) == 1_000_000 and max(pieces) == 10_000 and reader.at_boundary


def events_of(stream: bytes, cuts: list[int]) -> list[tuple[str, bytes]]:
    """What a FrameReader reports for ``stream`` fed in pieces cut at ``cuts`` (audio pieces joined)."""
    events: list[tuple[str, bytes]] = []

    def on_data(piece: memoryview) -> None:
        if events and events[-1][0] == "data":
            events[-1] = ("data", events[-1][1] + bytes(piece))
        else:
            events.append(("data", bytes(piece)))

    reader = FrameReader(FRAME_SIZE_MAX, lambda frame: events.append(("packet", bytes(frame))),
                         lambda channel, head: events.append(("block", bytes(head))), on_data)
    edges = [0, *sorted(set(cuts)), len(stream)]
    for start, stop in zip(edges, edges[1:], strict=False):
        reader.feed(stream[start:stop])
    assert reader.at_boundary
    return events


frame_lists = st.lists(st.one_of(
    st.binary(min_size=1, max_size=60).map(lambda b: ("packet", packet_frame(b))),
    st.tuples(st.integers(0, 40), st.binary(min_size=1, max_size=300)).map(lambda cb: ("block", block(*cb))),
), min_size=1, max_size=8)


@given(frame_lists, st.lists(st.integers(0, 3000), max_size=12))
@settings(max_examples=300, deadline=None)
def test_frame_reader_reports_the_same_however_the_bytes_are_cut(items: list[tuple[str, bytes]],
                                                                  cuts: list[int]) -> None:
    stream = b"".join(frame for _, frame in items)
    whole = events_of(stream, [])
    assert events_of(stream, [c for c in cuts if c < len(stream)]) == whole
    expected: list[tuple[str, bytes]] = []
    for kind, frame in items:
        expected += [("packet", frame)] if kind == "packet" else [("block", frame[:20]), ("data", frame[20:])]
    assert whole == expected

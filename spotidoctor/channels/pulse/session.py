"""One filtered connection as pure protocol logic: bytes in from either side, bytes out to either.

The relay (``relay.py``) owns the sockets; a ``Session`` decides. From the client it reads
every command whole, applies ``policy.CLIENT_RULES`` and either forwards the command (its
proplists sanitised) or answers it itself with ``PA_ERR_ACCESS`` and the command's tag. It
remembers which playback streams and sink inputs the client created (from the server's
replies to CREATE_PLAYBACK_STREAM), because a client may only touch those; audio data passes
only on those streams' channels. From the server it reads only the command number and tag
of each packet (events and the server's REQUESTs pass untouched), except for the replies it
has to read: AUTH (capability bits cleared), CREATE_PLAYBACK_STREAM and the sink input list.
"""
from __future__ import annotations

import logging
from collections import Counter
from enum import Enum

from spotidoctor.channels.pulse.frames import FrameReader, ProtocolViolation, packet_frame
from spotidoctor.channels.pulse.policy import SERVER_ENDS, Rule, reason_for, rule_for, sanitize_proplist
from spotidoctor.channels.pulse.protocol import (
    COOKIE_LENGTH,
    DESCRIPTOR_SIZE,
    ERR_ACCESS,
    ERR_VERSION,
    FRAME_SIZE_MAX,
    INVALID_INDEX,
    MIN_VERSION,
    NO_TAG,
    VERSION_MASK,
    Command,
    command_name,
)
from spotidoctor.channels.pulse.tagstruct import (
    U32,
    Arbitrary,
    Proplist,
    TagstructError,
    Value,
    decode,
    encode,
    peek_command,
)

__all__ = ["Session", "CLIENT_PACKET_MAX", "MAX_PENDING", "MAX_STREAMS", "sink_input_fields"]

# A player's commands are a few KiB (proplist values are capped at 64 KiB each by the protocol);
# commands are buffered whole, so they get a tighter cap than the protocol's 16 MiB frames.
CLIENT_PACKET_MAX = 1024 * 1024
MAX_PENDING = 1024  # commands forwarded and not yet answered by the server
MAX_STREAMS = 32  # playback streams per connection
LOGGED_PER_COMMAND = 5  # refusals of one command logged per connection (all are counted)
# Plain ints for the per-packet path (an IntEnum comparison costs a little more).
_REPLY, _ERROR, _UNDERFLOW, _KILLED = (int(c) for c in (Command.REPLY, Command.ERROR, Command.UNDERFLOW,
                                                        Command.PLAYBACK_STREAM_KILLED))


class _Pending(Enum):
    PLAIN = "plain"
    AUTH = "auth"
    CREATE = "create"
    SINK_INPUT_LIST = "sink-input-list"


def sink_input_fields(version: int) -> int:
    """Values per sink-input entry at ``version`` (protocol-native.c sink_input_fill_tagstruct)."""
    return 12 + (version >= 11) + (version >= 13) + (version >= 19) + 2 * (version >= 20) + (version >= 21)


def _u32(values: list[Value], index: int) -> int | None:
    value = values[index] if len(values) > index else None
    return value.value if isinstance(value, U32) else None


class Session:
    """The filter's state for one client connection; see the module docstring.

    Feed ``from_client`` / ``from_server`` with what arrived; send ``out_server`` /
    ``out_client`` (and delete what was sent). ``ProtocolViolation`` ends the connection.
    """

    def __init__(self, conn_id: int, cookie: bytes | None, log: logging.Logger,
                 client_packet_limit: int = CLIENT_PACKET_MAX) -> None:
        self.conn_id = conn_id
        self.out_server = bytearray()
        self.out_client = bytearray()
        self.refused: Counter[str] = Counter()
        self.stripped: Counter[str] = Counter()  # proplist keys removed
        self.underflows = 0
        self.dropped_blocks = 0  # audio frames on channels that are not this client's
        self._cookie = cookie if cookie is not None and len(cookie) == COOKIE_LENGTH else bytes(COOKIE_LENGTH)
        self._log = log
        self._authed = False
        self._client_version = 0
        self._version = 0  # negotiated: the lower of both sides'
        self._pending: dict[int, _Pending] = {}
        self._streams: dict[int, int] = {}  # playback channel -> its sink input index
        self._creating = 0
        self._pass_block = False
        self._client_frames = FrameReader(client_packet_limit, self._client_packet, self._client_block,
                                          self._client_data)
        self._server_frames = FrameReader(FRAME_SIZE_MAX, self._server_packet, self._server_block,
                                          lambda piece: None)

    # -- what the relay calls ----------------------------------------------------------------
    def from_client(self, data: bytes) -> None:
        self._client_frames.feed(data)

    def from_server(self, data: bytes) -> None:
        self._server_frames.feed(data)

    @property
    def streams(self) -> dict[int, int]:
        """The client's live playback streams: channel -> sink input index."""
        return dict(self._streams)

    # -- client -> server -----------------------------------------------------------------------
    def _client_packet(self, frame: bytes) -> None:
        try:
            values = decode(frame[DESCRIPTOR_SIZE:])
        except TagstructError as exc:
            raise ProtocolViolation(f"malformed command from the client ({exc})") from None
        command, tag = _u32(values, 0), _u32(values, 1)
        if command is None or tag is None:
            raise ProtocolViolation("a packet from the client without a command number and tag")
        if not self._authed and command != Command.AUTH:
            raise ProtocolViolation(f"{command_name(command)} before AUTH")
        rule = rule_for(command)
        if rule is Rule.REFUSE:
            self._refuse(command, tag, reason_for(command))
            return
        if tag in self._pending or tag == NO_TAG:
            raise ProtocolViolation(f"{command_name(command)} reuses tag {tag} of an unanswered command")
        if len(self._pending) >= MAX_PENDING:
            raise ProtocolViolation(f"more than {MAX_PENDING} unanswered commands")
        self._apply(rule, command, tag, values, frame)

    def _apply(self, rule: Rule, command: int, tag: int, values: list[Value], frame: bytes) -> None:
        if rule is Rule.AUTH:
            self._auth(tag, values)
            return
        if rule is Rule.OWN_STREAM and _u32(values, 2) not in self._streams:
            self._refuse(command, tag, "not a playback stream of this client")
            return
        if rule is Rule.OWN_SINK_INPUT and _u32(values, 2) not in self._streams.values():
            self._refuse(command, tag, "not a sink input of this client")
            return
        if rule is Rule.CREATE_PLAYBACK and len(self._streams) + self._creating >= MAX_STREAMS:
            self._refuse(command, tag, f"more than {MAX_STREAMS} playback streams")
            return
        if command == Command.DELETE_PLAYBACK_STREAM:
            self._forget_stream(_u32(values, 2))
        if rule is Rule.CREATE_PLAYBACK:
            self._creating += 1
        self._pending[tag] = {Rule.CREATE_PLAYBACK: _Pending.CREATE,
                              Rule.LIST_OWN_SINK_INPUTS: _Pending.SINK_INPUT_LIST}.get(rule, _Pending.PLAIN)
        self.out_server += self._sanitized(command, values, frame)

    def _forget_stream(self, channel: int | None) -> None:
        if channel is not None:
            self._streams.pop(channel, None)

    def _sanitized(self, command: int, values: list[Value], frame: bytes) -> bytes:
        """The frame to forward: as it came, or re-encoded without the proplist keys it may not set."""
        changed = False
        for i, value in enumerate(values):
            if isinstance(value, Proplist):
                kept, dropped = sanitize_proplist(value)
                if dropped:
                    values[i], changed = kept, True
                    self.stripped.update(dropped)
                    self._log.info("audio filter: client %d: %s: dropped proplist keys %s", self.conn_id,
                                   command_name(command), ", ".join(sorted(set(dropped))))
        return packet_frame(encode(values)) if changed else frame

    def _auth(self, tag: int, values: list[Value]) -> None:
        if self._authed:
            self._refuse(Command.AUTH, tag, "a second AUTH")
            return
        version = _u32(values, 2)
        cookie = values[3] if len(values) == 4 else None
        if version is None or not isinstance(cookie, Arbitrary) or len(cookie.data) != COOKIE_LENGTH:
            raise ProtocolViolation("malformed AUTH from the client")
        if version & VERSION_MASK < MIN_VERSION:
            self._answer_error(tag, ERR_VERSION)
            self._count_refusal(Command.AUTH, f"protocol version {version & VERSION_MASK} is older than "
                                              f"{MIN_VERSION}")
            return
        self._authed = True
        self._client_version = version & VERSION_MASK
        self._pending[tag] = _Pending.AUTH
        # No capability bits: the server then never offers shared memory or memfds, so all audio
        # and no file descriptor crosses the socket. The cookie is the user's (never the client's).
        auth = encode([U32(Command.AUTH), U32(tag), U32(self._client_version), Arbitrary(self._cookie)])
        self.out_server += packet_frame(auth)

    def _client_block(self, channel: int, head: bytes) -> None:
        self._pass_block = channel in self._streams
        if self._pass_block:
            self.out_server += head
            return
        self.dropped_blocks += 1
        if self.dropped_blocks == 1:
            self._log.warning("audio filter: client %d: dropped audio for channel %d (not its stream)",
                              self.conn_id, channel)

    def _client_data(self, piece: memoryview) -> None:
        if self._pass_block:
            self.out_server += piece

    def _refuse(self, command: int, tag: int, why: str) -> None:
        self._answer_error(tag, ERR_ACCESS)
        self._count_refusal(command, why)

    def _answer_error(self, tag: int, error: int) -> None:
        self.out_client += packet_frame(encode([U32(Command.ERROR), U32(tag), U32(error)]))

    def _count_refusal(self, command: int, why: str) -> None:
        name = command_name(command)
        self.refused[name] += 1
        count = self.refused[name]
        if count <= LOGGED_PER_COMMAND:
            more = " (further refusals of it are counted, not logged)" if count == LOGGED_PER_COMMAND else ""
            self._log.warning("audio filter: client %d: refused %s: %s%s", self.conn_id, name, why, more)

    # -- server -> client -----------------------------------------------------------------------
    def _server_packet(self, frame: bytes) -> None:
        head = peek_command(frame, DESCRIPTOR_SIZE)
        if head is None:
            raise ProtocolViolation("a packet from the server without a command number and tag")
        command, tag = head
        if command == _REPLY or command == _ERROR:
            self._server_answer(command, tag, frame)
            return
        if command in SERVER_ENDS:
            raise ProtocolViolation(f"the server sent {command_name(command)} (shared memory)")
        if command == _UNDERFLOW:
            self.underflows += 1
        elif command == _KILLED:
            self._forget_stream(_u32(self._server_values(frame[DESCRIPTOR_SIZE:]), 2))
        self.out_client += frame  # events and REQUESTs pass as they came

    def _server_answer(self, command: int, tag: int, frame: bytes) -> None:
        kind = self._pending.pop(tag, _Pending.PLAIN)
        if kind is _Pending.CREATE:
            self._creating -= 1
        if command == _REPLY and kind is not _Pending.PLAIN:
            handler = {_Pending.AUTH: self._auth_reply, _Pending.CREATE: self._create_reply,
                       _Pending.SINK_INPUT_LIST: self._sink_input_list}[kind]
            frame = packet_frame(handler(tag, frame[DESCRIPTOR_SIZE:]))
        self.out_client += frame

    def _server_values(self, payload: bytes) -> list[Value]:
        try:
            return decode(payload)
        except TagstructError as exc:
            raise ProtocolViolation(f"malformed reply from the server ({exc})") from None

    def _auth_reply(self, tag: int, payload: bytes) -> bytes:
        version = _u32(self._server_values(payload), 2)
        if version is None:
            raise ProtocolViolation("malformed AUTH reply from the server")
        self._version = min(self._client_version, version & VERSION_MASK)
        return encode([U32(Command.REPLY), U32(tag), U32(version & VERSION_MASK)])

    def _create_reply(self, tag: int, payload: bytes) -> bytes:
        values = self._server_values(payload)
        channel, sink_input = _u32(values, 2), _u32(values, 3)
        if channel is None or sink_input is None:
            raise ProtocolViolation("malformed CREATE_PLAYBACK_STREAM reply from the server")
        if sink_input != INVALID_INDEX:
            self._streams[channel] = sink_input
        return payload

    def _sink_input_list(self, tag: int, payload: bytes) -> bytes:
        values = self._server_values(payload)
        entries, width = values[2:], sink_input_fields(self._version)
        if len(entries) % width or any(not isinstance(entries[i], U32) for i in range(0, len(entries), width)):
            self._log.warning("audio filter: client %d: a sink input list of an unexpected shape was "
                              "withheld", self.conn_id)
            return encode([U32(Command.ERROR), U32(tag), U32(ERR_ACCESS)])
        own = set(self._streams.values())
        kept = [value for i in range(0, len(entries), width) if _u32(entries, i) in own
                for value in entries[i:i + width]]
        return encode([*values[:2], *kept])

    def _server_block(self, channel: int, head: bytes) -> None:
        # Audio from the server belongs to record or upload streams, which are never created.
        self.dropped_blocks += 1

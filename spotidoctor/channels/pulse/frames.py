"""Incremental framing of a native-protocol byte stream, with bounded buffering.

A packet is collected whole (up to ``packet_limit`` bytes) because it must be read before it
may pass; audio data (a memblock frame) is handed on in pieces as it arrives, so a frame of
up to the protocol's 16 MiB never sits in memory. Anything PulseAudio's own reader
(pstream.c) would reject, and anything that speaks of shared memory, is a ``ProtocolViolation``.

The common case — whole frames in one read — takes no copy into an intermediate buffer:
playback with a small buffer means a few hundred frames a second through this code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spotidoctor.channels.pulse.protocol import (
    DESCRIPTOR,
    DESCRIPTOR_SIZE,
    FLAG_SEEK_MASK,
    FLAG_SHM_MASK,
    FRAME_SIZE_MAX,
    PACKET_CHANNEL,
    SEEK_RELATIVE_END,
)

__all__ = ["ProtocolViolation", "Descriptor", "FrameReader", "packet_frame"]

_unpack_from = DESCRIPTOR.unpack_from
_NOT_SEEK = ~FLAG_SEEK_MASK & 0xFFFFFFFF


class ProtocolViolation(Exception):
    """Ends the connection: ``reason`` says why (never quotes the payload)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Descriptor:
    length: int
    channel: int
    offset_hi: int
    offset_lo: int
    flags: int

    def pack(self) -> bytes:
        return DESCRIPTOR.pack(self.length, self.channel, self.offset_hi, self.offset_lo, self.flags)


def packet_frame(payload: bytes) -> bytes:
    """A packet frame: its descriptor (channel -1, no flags) and the payload."""
    return DESCRIPTOR.pack(len(payload), PACKET_CHANNEL, 0, 0, 0) + payload


def _check(length: int, channel: int, flags: int, packet_limit: int) -> None:
    if flags & FLAG_SHM_MASK:
        raise ProtocolViolation("a frame refers to shared memory")
    if not 0 < length <= FRAME_SIZE_MAX:
        raise ProtocolViolation(f"a frame of {length} bytes (1 to {FRAME_SIZE_MAX} allowed)")
    if channel == PACKET_CHANNEL:
        if flags:
            raise ProtocolViolation("a packet frame with flags")
        if length > packet_limit:
            raise ProtocolViolation(f"a command of {length} bytes (at most {packet_limit})")
    elif (flags & FLAG_SEEK_MASK) > SEEK_RELATIVE_END or (flags & _NOT_SEEK):
        raise ProtocolViolation("an audio frame with invalid flags")


class FrameReader:
    """Feed bytes in any pieces; the callbacks see whole packets and audio data as it comes.

    ``on_packet(frame)`` gets a packet frame, descriptor included; ``on_block(channel,
    descriptor)`` when an audio frame starts, then ``on_data(piece)`` for its payload (in
    order, possibly in several pieces).
    """

    def __init__(self, packet_limit: int, on_packet: Callable[[bytes], None],
                 on_block: Callable[[int, bytes], None], on_data: Callable[[memoryview], None]) -> None:
        self._limit = packet_limit
        self._on_packet = on_packet
        self._on_block = on_block
        self._on_data = on_data
        self._buf = bytearray()  # a partial descriptor, or a partial packet frame
        self._frame_len = 0  # > 0 while a packet frame (descriptor + payload) is being collected
        self._block_left = 0  # > 0 while an audio frame's payload is passing

    @property
    def at_boundary(self) -> bool:
        """No frame is half read (what an orderly end of stream looks like)."""
        return not self._buf and not self._frame_len and not self._block_left

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._buf or self._frame_len or self._block_left:
                pos = self._resume(data, pos)
            elif end - pos < DESCRIPTOR_SIZE:
                self._buf += data[pos:]
                return
            else:
                pos = self._frame(data, pos, end)

    def _frame(self, data: bytes, pos: int, end: int) -> int:
        """Handle the frame starting at ``pos``; where the next one starts (``end``: none yet)."""
        fields: tuple[int, int, int, int, int] = _unpack_from(data, pos)
        length, channel, _, _, flags = fields
        _check(length, channel, flags, self._limit)
        start, stop = pos + DESCRIPTOR_SIZE, pos + DESCRIPTOR_SIZE + length
        if channel == PACKET_CHANNEL:
            if stop <= end:
                self._on_packet(data[pos:stop])
                return stop
            self._buf += data[pos:]
            self._frame_len = stop - pos
            return end
        self._on_block(channel, data[pos:start])
        if stop <= end:
            self._on_data(memoryview(data)[start:stop])
            return stop
        if start < end:
            self._on_data(memoryview(data)[start:end])
        self._block_left = stop - end
        return end

    def _resume(self, data: bytes, pos: int) -> int:
        """Continue the frame a previous piece began; where ``data`` goes on after that step."""
        end = len(data)
        if self._block_left:
            take = min(self._block_left, end - pos)
            self._block_left -= take
            self._on_data(memoryview(data)[pos:pos + take])
            return pos + take
        if self._frame_len:
            take = min(self._frame_len - len(self._buf), end - pos)
            self._buf += data[pos:pos + take]
            if len(self._buf) == self._frame_len:
                frame = bytes(self._buf)
                self._buf.clear()
                self._frame_len = 0
                self._on_packet(frame)
            return pos + take
        # A partial descriptor: complete it, then go on like a frame that came whole.
        take = min(DESCRIPTOR_SIZE - len(self._buf), end - pos)
        self._buf += data[pos:pos + take]
        if len(self._buf) == DESCRIPTOR_SIZE:
            head = bytes(self._buf)
            self._buf.clear()
            fields: tuple[int, int, int, int, int] = _unpack_from(head)
            length, channel, _, _, flags = fields
            _check(length, channel, flags, self._limit)
            if channel == PACKET_CHANNEL:
                self._buf += head
                self._frame_len = DESCRIPTOR_SIZE + length
            else:
                self._on_block(channel, head)
                self._block_left = length
        return pos + take

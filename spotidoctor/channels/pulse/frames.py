"""Incremental framing of a native-protocol byte stream, with bounded buffering.

A packet is collected whole (up to ``packet_limit`` bytes) because it must be read before it
may pass; audio data (a memblock frame) is handed on in pieces as it arrives, so a frame of
up to the protocol's 16 MiB never sits in memory. Anything PulseAudio's own reader
(pstream.c) would reject, and anything that speaks of shared memory, is a ``ProtocolViolation``.
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


def _checked(desc: Descriptor, packet_limit: int) -> Descriptor:
    if desc.flags & FLAG_SHM_MASK:
        raise ProtocolViolation("a frame refers to shared memory")
    if not 0 < desc.length <= FRAME_SIZE_MAX:
        raise ProtocolViolation(f"a frame of {desc.length} bytes (1 to {FRAME_SIZE_MAX} allowed)")
    if desc.channel == PACKET_CHANNEL:
        if desc.flags:
            raise ProtocolViolation("a packet frame with flags")
        if desc.length > packet_limit:
            raise ProtocolViolation(f"a command of {desc.length} bytes (at most {packet_limit})")
    elif (desc.flags & FLAG_SEEK_MASK) > SEEK_RELATIVE_END or (desc.flags & ~FLAG_SEEK_MASK):
        raise ProtocolViolation("an audio frame with invalid flags")
    return desc


class FrameReader:
    """Feed bytes in any pieces; the callbacks see whole packets and audio data as it comes.

    ``on_packet(payload)``; ``on_block(descriptor)`` when an audio frame starts, then
    ``on_data(piece)`` for its payload (in order, possibly in several pieces).
    """

    def __init__(self, packet_limit: int, on_packet: Callable[[bytes], None],
                 on_block: Callable[[Descriptor], None], on_data: Callable[[memoryview], None]) -> None:
        self._limit = packet_limit
        self._on_packet = on_packet
        self._on_block = on_block
        self._on_data = on_data
        self._buf = bytearray()
        self._packet_len = 0  # > 0 while a packet's payload is being collected
        self._block_left = 0  # > 0 while an audio frame's payload is passing

    @property
    def at_boundary(self) -> bool:
        """No frame is half read (what an orderly end of stream looks like)."""
        return not self._buf and not self._packet_len and not self._block_left

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            if self._block_left:
                take = min(self._block_left, end - pos)
                self._block_left -= take
                self._on_data(view[pos:pos + take])
                pos += take
            elif self._packet_len:
                take = min(self._packet_len - len(self._buf), end - pos)
                self._buf += view[pos:pos + take]
                pos += take
                if len(self._buf) == self._packet_len:
                    payload = bytes(self._buf)
                    self._buf.clear()
                    self._packet_len = 0
                    self._on_packet(payload)
            else:
                take = min(DESCRIPTOR_SIZE - len(self._buf), end - pos)
                self._buf += view[pos:pos + take]
                pos += take
                if len(self._buf) == DESCRIPTOR_SIZE:
                    self._start_frame(Descriptor(*DESCRIPTOR.unpack(self._buf)))

    def _start_frame(self, raw: Descriptor) -> None:
        self._buf.clear()
        desc = _checked(raw, self._limit)
        if desc.channel == PACKET_CHANNEL:
            self._packet_len = desc.length
        else:
            self._block_left = desc.length
            self._on_block(desc)

"""A fake pulse server and client helpers: just enough of the native protocol for the audio
filter's unit tests (the integration tests use real PulseAudio and pipewire-pulse).

The fake server answers AUTH with capability bits set (so tests see the filter clear them),
CREATE_PLAYBACK_STREAM with a fresh channel and sink input (and a REQUEST), the sink input
list with one entry of the client's and one of another program's, everything else with an
empty REPLY; it records every packet, every audio frame and the credentials of each read.
"""
from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

from spotidoctor.channels.pulse.frames import Descriptor, packet_frame
from spotidoctor.channels.pulse.protocol import (
    DESCRIPTOR,
    DESCRIPTOR_SIZE,
    FLAG_MEMFD,
    FLAG_SHM,
    NO_TAG,
    PACKET_CHANNEL,
    Command,
)
from spotidoctor.channels.pulse.session import sink_input_fields
from spotidoctor.channels.pulse.tagstruct import (
    U32,
    Arbitrary,
    Boolean,
    ChannelMap,
    CVolume,
    FormatInfo,
    Proplist,
    SampleSpec,
    String,
    Usec,
    Value,
    decode,
    encode,
)

VERSION = 35
OTHER_SINK_INPUT = 555  # another program's stream in the fake's sink input list


def packet(*values: Value) -> bytes:
    return packet_frame(encode(values))


def command(cmd: int, tag: int, *args: Value) -> bytes:
    return packet(U32(cmd), U32(tag), *args)


def auth(tag: int = 1, version: int = VERSION, flags: int = FLAG_SHM | FLAG_MEMFD,
         cookie: bytes = b"\x07" * 256) -> bytes:
    return command(Command.AUTH, tag, U32(version | flags), Arbitrary(cookie))


def block(channel: int, data: bytes, flags: int = 0) -> bytes:
    return DESCRIPTOR.pack(len(data), channel, 0, 0, flags) + data


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return bytes(data)


def read_frame(sock: socket.socket) -> tuple[Descriptor, bytes]:
    desc = Descriptor(*DESCRIPTOR.unpack(recv_exactly(sock, DESCRIPTOR_SIZE)))
    return desc, recv_exactly(sock, desc.length)


def read_packet(sock: socket.socket) -> list[Value]:
    desc, payload = read_frame(sock)
    assert desc.channel == PACKET_CHANNEL, desc
    return decode(payload)


def closed(sock: socket.socket) -> bool:
    """Whether the peer closed the connection (reads what is left until EOF)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def sink_input_entry(index: int, version: int = VERSION) -> list[Value]:
    values: list[Value] = [U32(index), String(b"stream"), U32(0xFFFFFFFF), U32(3), U32(0), SampleSpec(3, 2, 44100),
                           ChannelMap((1, 2)), CVolume((65536, 65536)), Usec(0), Usec(0), String(b"speex"),
                           String(b"protocol-native.c"), Boolean(False), Proplist((("media.name", b"x\0"),)),
                           Boolean(False), Boolean(True), Boolean(True), FormatInfo(1, Proplist(()))]
    return values[:sink_input_fields(version)]


@dataclass
class Received:
    """What the fake server got on one connection."""

    packets: list[list[Value]] = field(default_factory=list)
    audio: dict[int, bytearray] = field(default_factory=dict)
    creds: list[tuple[int, int, int]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    def commands(self) -> list[int]:
        return [int(p[0].value) for p in self.packets if isinstance(p[0], U32)]


class FakeServer:
    """Listens on ``path``; one thread per connection."""

    def __init__(self, path: Path, reply_flags: int = FLAG_SHM | FLAG_MEMFD) -> None:
        self.path = path
        self.reply_flags = reply_flags
        self.connections: list[Received] = []
        self.socks: list[socket.socket] = []
        self._next_channel = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind(str(path))
        self._sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._sock.close()
        for sock in self.socks:
            sock.close()

    def push(self, index: int, data: bytes) -> None:
        """Send ``data`` to the client of connection ``index`` (an event from the server)."""
        self.socks[index].sendall(data)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.connections) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connections

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            received = Received()
            with self._lock:
                self.connections.append(received)
                self.socks.append(conn)
            threading.Thread(target=self._serve, args=(conn, received), daemon=True).start()

    def _read(self, conn: socket.socket, count: int, received: Received) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk, ancillary, _, _ = conn.recvmsg(count - len(data), socket.CMSG_SPACE(12))
            if not chunk:
                raise EOFError
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    received.creds.append(struct.unpack("iII", raw[:12]))
            data += chunk
        return bytes(data)

    def _serve(self, conn: socket.socket, received: Received) -> None:
        try:
            while True:
                desc = Descriptor(*DESCRIPTOR.unpack(self._read(conn, DESCRIPTOR_SIZE, received)))
                payload = self._read(conn, desc.length, received)
                if desc.channel != PACKET_CHANNEL:
                    received.audio.setdefault(desc.channel, bytearray()).extend(payload)
                    continue
                values = decode(payload)
                received.packets.append(values)
                conn.sendall(self._answer(values))
        except (EOFError, OSError):
            pass
        finally:
            received.closed.set()

    def _answer(self, values: list[Value]) -> bytes:
        cmd, tag = values[0], values[1]
        assert isinstance(cmd, U32) and isinstance(tag, U32)
        reply = [U32(Command.REPLY), tag]
        if cmd.value == Command.AUTH:
            return packet(*reply, U32(VERSION | self.reply_flags))
        if cmd.value == Command.SET_CLIENT_NAME:
            return packet(*reply, U32(3))
        if cmd.value == Command.CREATE_PLAYBACK_STREAM:
            with self._lock:
                channel, self._next_channel = self._next_channel, self._next_channel + 1
            return (packet(*reply, U32(channel), U32(100 + channel), U32(4096))
                    + command(Command.REQUEST, NO_TAG, U32(channel), U32(4096)))
        if cmd.value == Command.GET_SINK_INPUT_INFO_LIST:
            own = [100 + c for c in range(self._next_channel)]
            return packet(*reply, *[v for index in [*own, OTHER_SINK_INPUT] for v in sink_input_entry(index)])
        return packet(*reply)

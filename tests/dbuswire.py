"""A minimal D-Bus client over the raw wire protocol, for tests and benchmarks (stdlib only).

Enough for: authenticating like libdbus (``AUTH EXTERNAL <hex uid>``), ``Hello``,
``RequestName``, calling a method and waiting for its reply, and serving as a stand-in
service that answers every method call with an empty return (so ``Peer.Ping``, ``PlayPause``
...). Little-endian only, argument types ``s``/``o``/``g``/``u`` only.

It also runs as a script, which is how a test starts a stand-in as another uid (the file is
passed to ``python3 -c``): ``serve NAME...`` connects to ``$DBUS_SESSION_BUS_ADDRESS``
(``unix:path=`` only), owns the names, prints ``owned NAMES`` and then ``call MEMBER PATH``
for each method call it answers, until stdin closes or it is killed.
"""
from __future__ import annotations

import os
import select
import socket
import struct
import sys
import threading
from dataclasses import dataclass, field

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
NO_REPLY_EXPECTED = 1
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE = 1, 2, 3, 4, 5, 6, 7, 8
FIELD_TYPES = {PATH: "o", INTERFACE: "s", MEMBER: "s", ERROR_NAME: "s", REPLY_SERIAL: "u", DESTINATION: "s",
               SENDER: "s", SIGNATURE: "g"}
BUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def align(self, n: int) -> None:
        self.data += b"\0" * (-len(self.data) % n)

    def value(self, sig: str, value: object) -> None:
        if sig == "u":
            self.align(4)
            self.data += struct.pack("<I", value)
        elif sig in ("s", "o"):
            raw = str(value).encode()
            self.align(4)
            self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        elif sig == "g":
            raw = str(value).encode()
            self.data += bytes([len(raw)]) + raw + b"\0"
        else:
            raise ValueError(f"type {sig!r} is not supported")


def marshal(kind: int, serial: int, fields: dict[int, object], body_sig: str = "", args: tuple[object, ...] = (),
            flags: int = 0) -> bytes:
    body = _Writer()
    for sig, arg in zip(body_sig, args, strict=True):
        body.value(sig, arg)
    if body_sig:
        fields = {**fields, SIGNATURE: body_sig}
    header = _Writer()
    header.data += struct.pack("<cBBBII", b"l", kind, flags, 1, len(body.data), serial)
    array = _Writer()
    for code, value in fields.items():
        array.align(8)
        array.data += bytes([code])
        array.value("g", FIELD_TYPES[code])
        array.value(FIELD_TYPES[code], value)
    header.data += struct.pack("<I", len(array.data))
    header.align(8)  # the array's first struct is 8-aligned (the length ends at 16)
    header.data += array.data
    header.align(8)
    return bytes(header.data + body.data)


@dataclass
class Message:
    kind: int
    flags: int
    serial: int
    fields: dict[int, object] = field(default_factory=dict)
    body: bytes = b""

    def get(self, code: int) -> object:
        return self.fields.get(code)

    def first_string(self) -> str:
        (length,) = struct.unpack_from("<I", self.body, 0)
        return self.body[4:4 + length].decode()

    def first_uint(self) -> int:
        return int(struct.unpack_from("<I", self.body, 0)[0])


def _read_value(data: bytes, offset: int, sig: str) -> tuple[object, int]:
    if sig == "u":
        offset += -offset % 4
        return struct.unpack_from("<I", data, offset)[0], offset + 4
    if sig in ("s", "o"):
        offset += -offset % 4
        (length,) = struct.unpack_from("<I", data, offset)
        return data[offset + 4:offset + 4 + length].decode(), offset + 5 + length
    if sig == "g":
        length = data[offset]
        return data[offset + 1:offset + 1 + length].decode(), offset + 2 + length
    raise ValueError(f"type {sig!r} is not supported")


def parse(data: bytes) -> Message:
    endian, kind, flags, _, body_len, serial, fields_len = struct.unpack_from("<cBBBIII", data, 0)
    assert endian == b"l", "big-endian peers are not supported"
    fields: dict[int, object] = {}
    offset, end = 16, 16 + fields_len
    while offset < end:
        offset += -offset % 8
        code = data[offset]
        sig, offset = _read_value(data, offset + 1, "g")
        fields[code], offset = _read_value(data, offset, str(sig))
    body_start = end + (-end % 8)
    return Message(kind, flags, serial, fields, data[body_start:body_start + body_len])


class Connection:
    """One authenticated connection; ``claim_uid`` is what ``AUTH EXTERNAL`` says (as libdbus does)."""

    def __init__(self, path: str, claim_uid: int | None = None, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._buffer = b""
        self._serial = 0
        self._authenticate(os.getuid() if claim_uid is None else claim_uid)
        self.unique_name = self.call(*BUS, "Hello").first_string()

    def _authenticate(self, uid: int) -> None:
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(uid).encode().hex().encode() + b"\r\n")
        while b"\r\n" not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        if not line.startswith(b"OK "):
            raise ConnectionError(f"authentication failed: {line!r}")
        self.sock.sendall(b"BEGIN\r\n")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the bus closed the connection")
        self._buffer += chunk

    def receive(self) -> Message:
        while len(self._buffer) < 16:
            self._fill()
        total = self._message_size()
        while len(self._buffer) < total:
            self._fill()
        data, self._buffer = self._buffer[:total], self._buffer[total:]
        return parse(data)

    def _message_size(self) -> int:
        (body_len,) = struct.unpack_from("<I", self._buffer, 4)
        (fields_len,) = struct.unpack_from("<I", self._buffer, 12)
        header_end = 16 + fields_len
        return header_end + (-header_end % 8) + body_len

    def has_message(self) -> bool:
        """A whole message is already buffered (``select`` on the socket would not say so)."""
        return len(self._buffer) >= 16 and len(self._buffer) >= self._message_size()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def call_bytes(self, destination: str, path: str, interface: str, member: str, body_sig: str = "",
                   args: tuple[object, ...] = ()) -> tuple[int, bytes]:
        serial = self.next_serial()
        fields: dict[int, object] = {PATH: path, INTERFACE: interface, MEMBER: member, DESTINATION: destination}
        return serial, marshal(METHOD_CALL, serial, fields, body_sig, args)

    def call(self, destination: str, path: str, interface: str, member: str, body_sig: str = "",
             args: tuple[object, ...] = ()) -> Message:
        """Call and wait for the reply (a METHOD_RETURN or an ERROR); other messages are dropped."""
        serial, data = self.call_bytes(destination, path, interface, member, body_sig, args)
        self.send(data)
        while True:
            message = self.receive()
            if message.kind in (METHOD_RETURN, ERROR) and message.get(REPLY_SERIAL) == serial:
                return message

    def request_name(self, name: str) -> int:
        reply = self.call(*BUS, "RequestName", "su", (name, 4))
        if reply.kind == ERROR:
            raise PermissionError(f"RequestName {name}: {reply.get(ERROR_NAME)}")
        return reply.first_uint()

    def answer(self, call: Message) -> None:
        fields: dict[int, object] = {REPLY_SERIAL: call.serial}
        if call.get(SENDER):
            fields[DESTINATION] = call.get(SENDER)
        self.send(marshal(METHOD_RETURN, self.next_serial(), fields))

    def close(self) -> None:
        self.sock.close()


class StandIn:
    """A service in a thread of the test process: owns ``names``, answers every call, records them."""

    def __init__(self, path: str, names: tuple[str, ...]) -> None:
        self.conn = Connection(path)
        self.conn.sock.settimeout(None)
        for name in names:
            if self.conn.request_name(name) != 1:
                raise RuntimeError(f"{name} is taken")
        self.calls: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while True:
                message = self.conn.receive()
                if message.kind == METHOD_CALL:
                    self.calls.append((f"{message.get(INTERFACE)}.{message.get(MEMBER)}", str(message.get(PATH))))
                    if not message.flags & NO_REPLY_EXPECTED:
                        self.conn.answer(message)
        except OSError:
            return

    def close(self) -> None:
        self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        self._thread.join(5)


def _serve_main(names: list[str]) -> None:
    address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    assert address.startswith("unix:path="), address
    conn = Connection(address[len("unix:path="):])
    for name in names:
        if conn.request_name(name) not in (1, 4):
            sys.exit(f"{name} is taken")
    print(f"owned {' '.join(names)} as uid {os.getuid()}", flush=True)
    conn.sock.settimeout(None)
    while True:
        ready, _, _ = select.select([conn.sock, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.buffer.read1(1):
            return
        if conn.sock in ready:
            message = conn.receive()
            while True:
                if message.kind == METHOD_CALL:
                    print(f"call {message.get(INTERFACE)}.{message.get(MEMBER)} {message.get(PATH)}", flush=True)
                    if not message.flags & NO_REPLY_EXPECTED:
                        conn.answer(message)
                if not conn.has_message():
                    break
                message = conn.receive()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve_main(sys.argv[2:])

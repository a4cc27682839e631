"""A fake X server on a unix socket that speaks just enough X11 for spotidoctor's own requests:
connection setup (cookie checked), QueryExtension, GetInputFocus and the SECURITY extension
(QueryVersion, GenerateAuthorization, RevokeAuthorization). Little-endian clients only.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

SECURITY_OPCODE = 137
SECURITY_FIRST_ERROR = 150
MAPPING_NOTIFY = 34


def _pad(n: int) -> int:
    return n + (-n % 4)


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


@dataclass
class Generated:
    timeout: int
    trust: int
    cookie: bytes
    clients: list[socket.socket] = field(default_factory=list)


class FakeXServer:
    def __init__(self, path: Path, cookie: bytes, *, security: bool = True, version: tuple[int, int] = (1, 0),
                 generate_error: int | None = None, event_before_replies: bool = False) -> None:
        self.path = path
        self.cookie = cookie
        self.security = security
        self.version = version
        self.generate_error = generate_error
        self.event_before_replies = event_before_replies
        self.auths: dict[int, Generated] = {}
        self.revoked: list[int] = []
        self.setups: list[bytes] = []  # auth data each client offered
        self._next_id = 0x400
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def forget(self, auth_id: int) -> None:
        """The server's timer expired it."""
        with self._lock:
            self.auths.pop(auth_id, None)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._setup(conn):
                self._requests(conn)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def _setup(self, conn: socket.socket) -> bool:
        head = _read(conn, 12)
        name_len, data_len = struct.unpack_from("<HH", head, 6)
        body = _read(conn, _pad(name_len) + _pad(data_len))
        data = body[_pad(name_len):_pad(name_len) + data_len]
        self.setups.append(data)
        with self._lock:
            untrusted = next((g for g in self.auths.values() if g.cookie == data), None)
            if untrusted is not None:
                untrusted.clients.append(conn)
        if data != self.cookie and untrusted is None:
            reason = b"Invalid MIT-MAGIC-COOKIE-1 key"
            conn.sendall(struct.pack("<BBHHH", 0, len(reason), 11, 0, _pad(len(reason)) // 4)
                         + reason + b"\0" * (_pad(len(reason)) - len(reason)))
            return False
        conn.sendall(struct.pack("<BxHHH", 1, 11, 0, 2) + bytes(8))
        return True

    def _requests(self, conn: socket.socket) -> None:
        seq = 0
        while True:
            opcode, minor, length = struct.unpack("<BBH", _read(conn, 4))
            body = _read(conn, length * 4 - 4)
            seq = (seq + 1) & 0xFFFF
            if self.event_before_replies:
                conn.sendall(struct.pack("<BxH", MAPPING_NOTIFY, seq) + bytes(28))
            conn.sendall(self._answer(opcode, minor, body, seq))

    def _answer(self, opcode: int, minor: int, body: bytes, seq: int) -> bytes:
        if opcode == 98:
            (n,) = struct.unpack_from("<H", body, 0)
            present = self.security and body[4:4 + n] == b"SECURITY"
            return reply(seq, struct.pack("<BBBB", present, SECURITY_OPCODE if present else 0, 0,
                                          SECURITY_FIRST_ERROR if present else 0))
        if opcode == 43:
            return reply(seq, b"")
        if opcode == SECURITY_OPCODE and minor == 0:
            return reply(seq, struct.pack("<HH", *self.version))
        if opcode == SECURITY_OPCODE and minor == 1:
            return self._generate(body, seq)
        if opcode == SECURITY_OPCODE and minor == 2:
            return self._revoke(body, seq)
        return error(seq, 1, opcode, minor)

    def _generate(self, body: bytes, seq: int) -> bytes:
        if self.generate_error is not None:
            return error(seq, self.generate_error, SECURITY_OPCODE, 1)
        name_len, data_len, mask = struct.unpack_from("<HHI", body, 0)
        values = body[4 + 4 + _pad(name_len) + _pad(data_len):]
        assert mask == 3, mask
        timeout, trust = struct.unpack_from("<II", values)
        cookie = os.urandom(16)
        with self._lock:
            self._next_id += 1
            auth_id = self._next_id
            self.auths[auth_id] = Generated(timeout, trust, cookie)
        extra = struct.pack("<IH18x", auth_id, len(cookie))
        return struct.pack("<BxHI", 1, seq, 4) + extra + cookie

    def _revoke(self, body: bytes, seq: int) -> bytes:
        (auth_id,) = struct.unpack_from("<I", body, 0)
        with self._lock:
            generated = self.auths.pop(auth_id, None)
        if generated is None:
            return error(seq, SECURITY_FIRST_ERROR, SECURITY_OPCODE, 2)
        self.revoked.append(auth_id)
        for client in generated.clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return b""  # no reply: the client's round trip (GetInputFocus) follows

    def clients_of(self, auth_id: int) -> int:
        with self._lock:
            generated = self.auths.get(auth_id)
            return 0 if generated is None else len(generated.clients)


def reply(seq: int, payload: bytes) -> bytes:
    return struct.pack("<BxHI", 1, seq, 0) + payload + bytes(24 - len(payload))


def error(seq: int, code: int, major: int, minor: int) -> bytes:
    return struct.pack("<BBHIHB21x", 0, code, seq, 0, minor, major)

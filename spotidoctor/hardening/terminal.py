"""Filter the container's output before it reaches the user's terminal.

A compromised Spotify could write escape sequences to stdout: OSC 52 sets the clipboard,
OSC 0/2 the window title, DCS/APC/PM/SOS strings reach terminal extensions, CSI sequences
move the cursor to overwrite spotidoctor's own messages, and old terminals answer some
queries by typing into the shell. Only text reaches the terminal:

- kept: printable characters (any UTF-8, invalid bytes become U+FFFD), ``\\n`` and ``\\t``;
- removed whole: CSI (``ESC [`` or C1 ``0x9b``) with its parameters; OSC, DCS, SOS, PM and
  APC strings up to their terminator (BEL, ``ESC \\``, ST ``0x9c``), CAN or SUB; other
  ``ESC`` sequences (``ESC ( B``, ``ESC c``); a bare ESC;
- removed: every other C0 control, DEL and every C1 control (U+0080..U+009F), whether sent as
  UTF-8 or as raw 8-bit bytes;
- ``\\r``: ``\\r\\n`` becomes ``\\n`` and a lone ``\\r`` a newline, so nothing printed can be
  overwritten on screen (progress bars turn into lines).

Streaming: state survives between ``feed`` calls, so a sequence split across reads is still
removed. Memory is bounded: a string sequence is skipped, never stored; an unterminated one
is abandoned after ``max_string`` characters or at a newline (what follows is shown as text,
which is inert once its introducer is gone), and an incomplete sequence at the end of a read
is kept only up to ``MAX_PENDING`` characters.
"""
from __future__ import annotations

import codecs
import os
import re

__all__ = ["TerminalFilter", "filter_bytes", "relay", "MAX_STRING", "MAX_PENDING"]

MAX_STRING = 64 * 1024  # characters of an OSC/DCS/... string skipped before it is abandoned
MAX_PENDING = 64  # characters of an incomplete CSI or ESC sequence carried to the next read
_ERRORS = "spotidoctor-terminal"

# Runs of characters that need no decision: not C0 (but \t \n), not DEL, not C1.
_PLAIN = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]+")
_CSI_BODY = re.compile(r"[\x30-\x3f]*[\x20-\x2f]*")
_ESC_BODY = re.compile(r"[\x20-\x2f]*")
_STRING_END = re.compile(r"[\x07\x9c\x18\x1a\n\x1b]")
_STRING_INTRODUCERS = "]PX^_"  # after ESC: OSC, DCS, SOS, PM, APC
_C1_STRINGS = "\x9d\x90\x98\x9e\x9f"  # the same as C1 controls


def _c1_bytes(error: UnicodeError) -> tuple[str, int]:
    """Invalid UTF-8: raw 8-bit C1 bytes become their C1 characters (then removed), the rest U+FFFD."""
    assert isinstance(error, UnicodeDecodeError)
    byte = error.object[error.start]
    return (chr(byte) if 0x80 <= byte <= 0x9F else "\ufffd"), error.start + 1


codecs.register_error(_ERRORS, _c1_bytes)


class TerminalFilter:
    """``feed(bytes) -> bytes`` for each read, ``finish() -> bytes`` at the end of the stream."""

    def __init__(self, *, max_string: int = MAX_STRING) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors=_ERRORS)
        self._max_string = max_string
        self._pending = ""  # an incomplete sequence (or a final \r) from the last read
        self._in_string = 0  # > 0: inside an OSC/DCS/... string, that many characters skipped + 1

    def feed(self, data: bytes) -> bytes:
        return self._text(self._decoder.decode(data)).encode("utf-8")

    def finish(self) -> bytes:
        text = self._text(self._decoder.decode(b"", final=True))
        tail = "\n" if self._pending == "\r" else ""
        self._pending, self._in_string = "", 0
        return (text + tail).encode("utf-8")

    # -- the state machine over decoded text -------------------------------------------------
    def _text(self, text: str) -> str:
        if self._pending:
            text, self._pending = self._pending + text, ""
        out: list[str] = []
        pos, end = 0, len(text)
        if self._in_string:
            pos = self._skip_string(text, 0)
        while pos < end:
            plain = _PLAIN.match(text, pos)
            if plain:
                out.append(plain.group())
                pos = plain.end()
                continue
            pos = self._control(text, pos, out)
        return "".join(out)

    def _control(self, text: str, pos: int, out: list[str]) -> int:
        char = text[pos]
        if char == "\r":
            if pos + 1 == len(text):
                self._pending = "\r"  # \r\n or a lone \r: the next read tells
                return pos + 1
            if text[pos + 1] != "\n":
                out.append("\n")
            return pos + 1
        if char == "\x1b":
            return self._escape(text, pos)
        if char == "\x9b":
            return self._csi(text, pos, pos + 1)
        if char in _C1_STRINGS:
            self._in_string = 1
            return self._skip_string(text, pos + 1)
        return pos + 1  # any other C0, DEL or C1: dropped

    def _escape(self, text: str, pos: int) -> int:
        if pos + 1 == len(text):
            self._pending = "\x1b"
            return pos + 1
        nxt = text[pos + 1]
        if nxt == "[":
            return self._csi(text, pos, pos + 2)
        if nxt in _STRING_INTRODUCERS:
            self._in_string = 1
            return self._skip_string(text, pos + 2)
        body = _ESC_BODY.match(text, pos + 1)
        assert body is not None
        after = body.end()
        if after == len(text):
            return self._keep_incomplete(text, pos)
        if "\x30" <= text[after] <= "\x7e":
            return after + 1  # ESC [intermediates] final: a complete escape sequence
        return after  # malformed: drop ESC and intermediates, look at the rest as text

    def _csi(self, text: str, start: int, body_start: int) -> int:
        body = _CSI_BODY.match(text, body_start)
        assert body is not None
        after = body.end()
        if after == len(text):
            return self._keep_incomplete(text, start)
        if "\x40" <= text[after] <= "\x7e":
            return after + 1
        return after  # malformed (a control inside): dropped up to it

    def _keep_incomplete(self, text: str, start: int) -> int:
        if len(text) - start <= MAX_PENDING:
            self._pending = text[start:]
        return len(text)  # longer than any real sequence: dropped

    def _skip_string(self, text: str, pos: int) -> int:
        """Inside a string sequence: skip to its terminator; stay inside if none is here."""
        stop = _STRING_END.search(text, pos)
        if stop is None:
            self._in_string += len(text) - pos
            if self._in_string > self._max_string:
                self._in_string = 0  # abandoned: what follows is inert text
            return len(text)
        self._in_string = 0
        char = stop.group()
        if char == "\n":
            return stop.start()  # the newline itself is kept
        if char != "\x1b":
            return stop.end()  # BEL, ST, CAN, SUB
        if stop.end() == len(text):
            self._in_string, self._pending = 1, "\x1b"  # ESC \ split across reads?
            return len(text)
        return stop.end() + 1 if text[stop.end()] == "\\" else stop.start()


def filter_bytes(data: bytes) -> bytes:
    """The whole of ``data`` at once."""
    filt = TerminalFilter()
    return filt.feed(data) + filt.finish()


def relay(src_fd: int, dst_fd: int, *, chunk: int = 65536) -> int:
    """Copy ``src_fd`` to ``dst_fd`` through a filter until end of file; return the bytes read."""
    filt = TerminalFilter()
    total = 0
    while True:
        data = os.read(src_fd, chunk)
        if not data:
            break
        total += len(data)
        _write_all(dst_fd, filt.feed(data))
    _write_all(dst_fd, filt.finish())
    return total


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
